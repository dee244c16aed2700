// The tools the tests run (helm, promtool, umoci, and test/harness's kstatus
// and lua-health, built from the Go module proxy; python, a venv with
// test/python/requirements.txt from PyPI), cached by version by
// scripts/tools/build-tools.sh. A test asks for a tool by name; a missing one
// is built then (npm test builds them all before the sandboxes).

import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "../../scripts/sandbox/paths.ts";

export type Tool = "helm" | "promtool" | "umoci" | "kstatus" | "lua-health" | "python";

const scripts = join(REPO_ROOT, "scripts", "tools");

/** The path of `tool`, built first when it is not in the cache. */
export function toolPath(tool: Tool): string {
  const path = execFileSync(join(scripts, "tool-path.sh"), [tool], { encoding: "utf8" }).trim();
  if (existsSync(path)) return path;
  const target = tool === "kstatus" || tool === "lua-health" ? "harness" : tool;
  execFileSync(join(scripts, "build-tools.sh"), [target], { stdio: ["ignore", "inherit", "inherit"] });
  if (!existsSync(path)) throw new Error(`scripts/tools/build-tools.sh ${target} did not produce ${path}`);
  return path;
}

/** Runs `tool` with `args` (and `input` on stdin); never throws for a non-zero exit. */
export function runTool(
  tool: Tool,
  args: readonly string[],
  options: { input?: string; env?: NodeJS.ProcessEnv } = {},
) {
  const r = spawnSync(toolPath(tool), args, {
    encoding: "utf8",
    input: options.input,
    env: { ...process.env, ...options.env },
    timeout: 300_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
