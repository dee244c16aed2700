// The Argo CD health checks of deploy/argocd/health/, run by a real Lua 5.1
// interpreter (the Lua Argo CD embeds) against fixtures of real status objects.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { REPO_ROOT } from "../../scripts/sandbox/paths.ts";

const LUA = process.env.LUA ?? "lua5.1";
const fixtures = join(REPO_ROOT, "test/fixtures/argocd");

/** A JSON value as a Lua table constructor, the shape Argo CD hands its scripts (arrays 1-based, null absent). */
export function toLua(value: unknown): string {
  if (value === null || value === undefined) return "nil";
  if (typeof value === "string") return JSON.stringify(value); // JSON string escapes are valid Lua 5.1 escapes for these
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return `{${value.map(toLua).join(", ")}}`;
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== null && v !== undefined);
  return `{${entries.map(([k, v]) => `[${JSON.stringify(k)}] = ${toLua(v)}`).join(", ")}}`;
}

function health(script: string, obj: unknown): { status: string; message: string } {
  const chunk = `
    local f = assert(loadfile(${JSON.stringify(script)}))
    setfenv(f, setmetatable({ obj = ${toLua(obj)} }, { __index = _G }))
    local hs = f()
    io.write(hs.status, "\\n", hs.message or "")`;
  const r = spawnSync(LUA, ["-e", chunk], { encoding: "utf8" });
  if (r.error) throw new Error(`cannot run ${LUA} (install Debian's lua5.1, as .ci/run does): ${r.error.message}`);
  assert.equal(r.status, 0, r.stderr);
  const [status = "", ...message] = r.stdout.split("\n");
  return { status, message: message.join("\n") };
}

describe("Argo CD health checks", () => {
  it("runs on Lua 5.1", () => {
    const r = spawnSync(LUA, ["-v"], { encoding: "utf8" });
    assert.match(`${r.stdout}${r.stderr}`, /^Lua 5\.1/);
  });

  for (const file of readdirSync(fixtures).filter((f) => f.endsWith(".yaml"))) {
    it(file.replace(".yaml", ""), () => {
      const { expect, object } = parse(readFileSync(join(fixtures, file), "utf8")) as {
        expect: { status: string; message: string };
        object: { kind: string };
      };
      const script = join(REPO_ROOT, "deploy/argocd/health", `${object.kind.toLowerCase()}.lua`);
      const got = health(script, object);
      assert.equal(got.status, expect.status);
      assert.ok(got.message.includes(expect.message), `message "${got.message}" includes "${expect.message}"`);
    });
  }
});
