// The Argo CD health checks of deploy/argocd/resource_customizations, run in
// gopher-lua, the Lua VM Argo CD embeds, by test/harness's lua-health (the
// object converted and the libraries opened as Argo CD does), compared with
// the expectations of each health_test.yaml.

import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { runTool } from "../support/tools.ts";
import { CUSTOMIZATIONS, type HealthStatus, healthCases } from "./argocd-cases.ts";

interface Line {
  group: string;
  kind: string;
  inputPath: string;
  status?: string;
  message?: string;
  error?: string;
}

describe("Argo CD health checks in gopher-lua", () => {
  const cases = healthCases();
  let got = new Map<string, Line>();

  before(() => {
    const r = runTool("lua-health", [CUSTOMIZATIONS]);
    assert.equal(r.status, 0, `lua-health failed:\n${r.stderr}\n${r.stdout}`);
    const lines = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Line);
    got = new Map(lines.map((l) => [`${l.group}/${l.kind}/${l.inputPath}`, l]));
  });

  it("runs every case of every health_test.yaml, and only those", () => {
    assert.deepEqual([...got.keys()].sort(), cases.map((c) => `${c.group}/${c.kind}/${c.inputPath}`).sort());
  });

  for (const c of cases) {
    it(`${c.group}/${c.kind} ${c.inputPath}`, () => {
      const line = got.get(`${c.group}/${c.kind}/${c.inputPath}`);
      assert.ok(line, "lua-health printed no line for this case");
      assert.equal(line.error, undefined);
      const health: HealthStatus = { status: line.status ?? "", message: line.message ?? "" };
      assert.deepEqual(health, c.expected);
    });
  }
});

describe("lua-health runs scripts as Argo CD does", () => {
  /** Runs `script` over one object in a throwaway resource_customizations directory. */
  function runScript(script: string): Line {
    const root = mkdtempSync(join(tmpdir(), "lua-health-"));
    try {
      const dir = join(root, "example.com", "Widget");
      mkdirSync(join(dir, "testdata"), { recursive: true });
      writeFileSync(join(dir, "health.lua"), script);
      writeFileSync(join(dir, "health_test.yaml"), "tests:\n  - inputPath: testdata/w.yaml\n");
      writeFileSync(join(dir, "testdata", "w.yaml"), "kind: Widget\nstatus:\n  ready: 3\n  items: []\n");
      const r = runTool("lua-health", [root]);
      return JSON.parse(r.stdout.trim()) as Line;
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }

  it("withholds the string library, as Argo CD does without useOpenLibs", () => {
    const line = runScript('return { status = "Healthy", message = string.lower("X") }');
    assert.match(line.error ?? "", /string/);
  });

  it("hands over numbers as numbers, arrays as tables, and turns an unknown status into Unknown", () => {
    assert.deepEqual(
      runScript('return { status = "Healthy", message = "n=" .. (obj.status.ready + 1) .. " #" .. #obj.status.items }'),
      {
        group: "example.com",
        kind: "Widget",
        inputPath: "testdata/w.yaml",
        status: "Healthy",
        message: "n=4 #0",
      },
    );
    const bad = runScript('return { status = "Fine" }');
    assert.equal(bad.status, "Unknown");
    assert.equal(bad.message, "Lua returned an invalid health status");
  });
});
