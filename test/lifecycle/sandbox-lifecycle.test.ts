// The sandbox's own lifecycle, run with no sandbox up: an `up` killed midway
// leaves processes behind that the next `up` cleans away before it starts
// afresh; `down` leaves no process and no listening port, even after parts of
// the sandbox crashed.

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { CoreV1Api } from "@kubernetes/client-node";
import { REPO_ROOT, STATE_DIR } from "../../scripts/sandbox/paths.ts";
import { listeningPorts, Processes } from "../../scripts/sandbox/processes.ts";
import { kubeConfigFor, sandboxPorts } from "../../scripts/sandbox/sandbox.ts";
import { defaultTopology } from "../../scripts/sandbox/topology.ts";
import { eventually } from "../support/sandbox.ts";

const cli = join(REPO_ROOT, "scripts/sandbox/cli.ts");
const sandbox = (...args: string[]) =>
  spawnSync(process.execPath, [cli, ...args], {
    encoding: "utf8",
    timeout: 300_000,
    stdio: ["ignore", "pipe", "pipe"],
  });

/** Any process on the machine, recorded or not, whose arguments name this sandbox's state directory. */
function sandboxProcessesOnMachine(): string[] {
  const commands: string[] = [];
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      commands.push(readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " "));
    } catch {
      // exited meanwhile
    }
  }
  return commands.filter((cmd) => cmd.includes(STATE_DIR) && !cmd.includes("cli.ts"));
}

describe("sandbox lifecycle", { timeout: 600_000 }, () => {
  // A test that fails midway must not leave its sandbox running: the next run's would find its ports taken.
  after(() => {
    sandbox("down");
  });

  it("an up killed midway is cleaned up by the next up, and down leaves nothing behind", async () => {
    assert.equal(sandbox("status", "--expect-down").status, 0, "the sandbox is down before the test");

    const first = spawn(process.execPath, [cli, "up"], { stdio: "ignore" });
    const processes = new Processes(STATE_DIR);
    await eventually(
      "the first up to start the API servers",
      async () => processes.alive().map((r) => r.name),
      (names) => names.filter((n) => n.endsWith("kube-apiserver")).length === 3,
      120_000,
    );
    first.kill("SIGKILL");
    const orphans = processes.alive();
    assert.ok(orphans.length >= 4, "the killed up left its processes running");

    const second = sandbox("up");
    assert.equal(second.status, 0, `the second up succeeds:\n${second.stderr}`);
    for (const orphan of orphans) {
      assert.ok(!processes.alive().some((r) => r.pid === orphan.pid), `${orphan.name} (pid ${orphan.pid}) was stopped`);
    }
    const nodes = await kubeConfigFor("aws-sim").makeApiClient(CoreV1Api).listNode();
    const awsNodes = (defaultTopology().clusters.find((c) => c.name === "aws-sim")?.nodeGroups ?? []).reduce(
      (n, g) => n + g.count,
      0,
    );
    assert.equal(nodes.items.length, awsNodes, `aws-sim has its ${awsNodes} nodes once, not twice`);

    // Parts of the sandbox crash; down still cleans everything.
    const etcd = processes.alive().find((r) => r.name === "etcd");
    assert.ok(etcd);
    process.kill(etcd.pid, "SIGKILL");

    const stopped = sandbox("down");
    assert.equal(stopped.status, 0, `down succeeds:\n${stopped.stdout}${stopped.stderr}`);
    const open = listeningPorts();
    assert.deepEqual(
      sandboxPorts(defaultTopology()).filter((p) => open.has(p)),
      [],
      "no sandbox port listens",
    );
    assert.deepEqual(sandboxProcessesOnMachine(), [], "no sandbox process runs");
    assert.ok(!existsSync(join(STATE_DIR, "pids")) || readdirSync(join(STATE_DIR, "pids")).length === 0);
  });
});
