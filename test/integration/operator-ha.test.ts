// The operator as a highly available process: killed with SIGKILL in the middle
// of a launch it creates no duplicate when it comes back, and of two replicas
// exactly one leads, the other taking over when the leader dies.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CoordinationV1Api } from "@kubernetes/client-node";
import { type OperatorProcess, prepareHub, startOperator, waitClustersReady } from "../support/operator.ts";
import { clients, eventually, uniqueName } from "../support/sandbox.ts";
import { aTrainingJob } from "../support/trainingjob.ts";
import { TrainingJobs, workloadOf } from "../support/trainingjobs.ts";

const LEASE = { namespace: "crosscloud-system", name: "crosscloud-operator-leader" };
const LEASE_DURATION_MS = 4_000;
const leases = clients("hub").kubeConfig.makeApiClient(CoordinationV1Api);
const holder = async () => (await leases.readNamespacedLease(LEASE)).spec?.holderIdentity ?? "";

function shortJob(name: string) {
  return aTrainingJob(name)
    .replicas(2)
    .accelerator("trainium1", 16)
    .with((j) => {
      j.spec.template.metadata = { annotations: { "sandbox.crosscloud.dev/run-for": "2s" } };
    })
    .obj();
}

describe("operator availability", { timeout: 300_000 }, () => {
  const tjs = new TrainingJobs(uniqueName("ha"));
  const running: OperatorProcess[] = [];
  const start = (identity: string, env: NodeJS.ProcessEnv = {}) => {
    const p = startOperator(identity, { LEASE_DURATION_MS: String(LEASE_DURATION_MS), ...env });
    running.push(p);
    return p;
  };

  before(async () => {
    await prepareHub();
    await tjs.createNamespace();
  });
  after(async () => {
    await Promise.all(running.map((p) => p.stop("SIGKILL")));
    await tjs.deleteNamespace();
  });

  it("restarts after a SIGKILL between creating the worker Service and its Job without duplicating anything", async () => {
    const crashing = start("crash-a", { CROSSCLOUD_FAILPOINTS: "launch.before-job" });
    await waitClustersReady();
    const created = await tjs.create(shortJob("interrupted"));
    const exit = await crashing.exited;
    assert.equal(exit.signal, "SIGKILL", `the failpoint killed the operator:\n${crashing.logs().slice(-2000)}`);
    const uid = created.metadata.uid ?? "";
    const half = await workloadOf("aws-sim", uid);
    assert.equal(half.services.length, 1, "the Service was created before the crash");
    assert.equal(half.jobs.length, 0, "the Job was not");

    start("crash-b");
    const done = await tjs.waitForPhase("interrupted", "Succeeded");
    assert.equal(done.status?.epoch, 1, "the same placement, not a second one");
    const whole = await workloadOf("aws-sim", uid);
    assert.deepEqual(
      whole.jobs.map((j) => j.metadata?.name),
      ["interrupted-e1"],
    );
    assert.deepEqual(
      whole.services.map((s) => s.metadata?.name),
      ["interrupted-e1"],
    );
    assert.equal((await workloadOf("azure-sim", uid)).jobs.length, 0, "nothing on the other cluster");
    await Promise.all(running.splice(0).map((p) => p.stop()));
  });

  it("runs one leader of two replicas, and the other takes over within the lease duration when it is killed", async () => {
    const a = start("replica-a");
    const b = start("replica-b");
    const first = await eventually("a leader", holder, (h) => h === "replica-a" || h === "replica-b", 30_000);
    const [leader, standby] = first === "replica-a" ? [a, b] : [b, a];
    // Only the leader works: the standby logs no reconcile.
    await waitClustersReady();
    assert.ok(!standby.logs().includes('"msg":"leading"'), "the standby does not lead");

    const killedAt = Date.now();
    await leader.stop("SIGKILL");
    await eventually("the standby to take the Lease", holder, (h) => h === standby.identity, 20_000);
    const takeoverMs = Date.now() - killedAt;
    // The Lease expires LEASE_DURATION_MS after the last renewal; the standby retries every 500 ms.
    assert.ok(takeoverMs < 2 * LEASE_DURATION_MS, `took over in ${takeoverMs} ms`);

    await tjs.create(shortJob("after-takeover"));
    await tjs.waitForPhase("after-takeover", "Succeeded");
    assert.ok(standby.logs().includes('"msg":"leading"'));
  });
});
