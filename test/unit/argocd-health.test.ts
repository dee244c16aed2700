// The Argo CD health checks of deploy/argocd/resource_customizations, run by
// a real Lua 5.1 interpreter (the language version of the VM Argo CD embeds)
// over the cases of each health_test.yaml, without the libraries Argo CD
// withholds from scripts (string, math, io, os, debug, coroutine).

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { type HealthStatus, healthCases, healthChecks } from "./argocd-cases.ts";

const LUA = process.env.LUA ?? "lua5.1";

/** A JSON value as a Lua table constructor, the shape Argo CD hands its scripts (arrays 1-based, null absent). */
export function toLua(value: unknown): string {
  if (value === null || value === undefined) return "nil";
  if (typeof value === "string") return JSON.stringify(value); // JSON string escapes are valid Lua 5.1 escapes for these
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return `{${value.map(toLua).join(", ")}}`;
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== null && v !== undefined);
  return `{${entries.map(([k, v]) => `[${JSON.stringify(k)}] = ${toLua(v)}`).join(", ")}}`;
}

function health(script: string, obj: unknown): HealthStatus {
  const chunk = `
    local f = assert(loadfile(${JSON.stringify(script)}))
    local env = {}
    for k, v in pairs(_G) do env[k] = v end
    for _, lib in ipairs({ "string", "math", "io", "os", "debug", "coroutine" }) do env[lib] = nil end
    env.obj = ${toLua(obj)}
    setfenv(f, env)
    local hs = f()
    io.write(hs.status, "\\n", hs.message or "")`;
  const r = spawnSync(LUA, ["-e", chunk], { encoding: "utf8" });
  if (r.error) throw new Error(`cannot run ${LUA} (install Debian's lua5.1, as .ci/run does): ${r.error.message}`);
  assert.equal(r.status, 0, r.stderr);
  const [status = "", ...message] = r.stdout.split("\n");
  return { status, message: message.join("\n") };
}

describe("Argo CD health checks in Lua 5.1", () => {
  it("runs on Lua 5.1", () => {
    const r = spawnSync(LUA, ["-v"], { encoding: "utf8" });
    assert.match(`${r.stdout}${r.stderr}`, /^Lua 5\.1/);
  });

  it("has a test for every file in each testdata/ and covers both kinds", () => {
    const cases = healthCases();
    for (const { group, kind, dir } of healthChecks()) {
      const tested = cases.filter((c) => c.group === group && c.kind === kind).map((c) => c.inputPath);
      const files = readdirSync(join(dir, "testdata")).map((f) => `testdata/${f}`);
      assert.deepEqual([...tested].sort(), files.sort(), `${group}/${kind}`);
    }
    const kinds = new Set(cases.map((c) => `${c.group}/${c.kind}`));
    assert.ok(kinds.has("training.crosscloud.dev/TrainingJob") && kinds.has("training.crosscloud.dev/ComputeCluster"));
  });

  for (const c of healthCases()) {
    it(`${c.group}/${c.kind} ${c.inputPath}`, () => {
      assert.deepEqual(health(c.script, c.object), c.expected);
    });
  }
});
