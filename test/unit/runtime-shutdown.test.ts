// onShutdown in a real child process: SIGTERM aborts, runs the cleanup and
// exits 0; a cleanup past the timeout exits 1; a second signal exits 1 at once.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { describe, it } from "node:test";

const child = join(import.meta.dirname, "..", "support", "runtime-shutdown-child.ts");

async function start(mode: string) {
  const proc = spawn(process.execPath, [child, mode], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  proc.stdout.on("data", (d: Buffer) => {
    out += d.toString();
  });
  proc.stderr.on("data", (d: Buffer) => {
    out += d.toString();
  });
  while (!out.includes("ready")) await once(proc.stdout, "data");
  const exited = once(proc, "exit").then(([code]) => code as number | null);
  return { proc, exited, output: () => out };
}

describe("onShutdown", () => {
  it("SIGTERM aborts the controller, awaits the cleanup, exits 0", async () => {
    const c = await start("50");
    const t0 = Date.now();
    c.proc.kill("SIGTERM");
    assert.equal(await c.exited, 0);
    assert.match(c.output(), /aborted=true\ncleaned\n/);
    assert.ok(Date.now() - t0 >= 50, "exits only after the cleanup");
  });

  it("SIGINT works the same way", async () => {
    const c = await start("0");
    c.proc.kill("SIGINT");
    assert.equal(await c.exited, 0);
    assert.match(c.output(), /cleaned/);
  });

  it("a cleanup that does not finish in time exits 1 and says why", async () => {
    const c = await start("hang");
    c.proc.kill("SIGTERM");
    assert.equal(await c.exited, 1);
    assert.match(c.output(), /did not finish within 300 ms/);
  });

  it("a second signal exits 1 at once", async () => {
    const c = await start("hang");
    c.proc.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 50));
    c.proc.kill("SIGTERM");
    assert.equal(await c.exited, 1);
    assert.match(c.output(), /again during shutdown/);
  });
});
