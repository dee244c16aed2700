// The operator SIGKILLed at each failpoint of a move (CROSSCLOUD_FAILPOINTS,
// as operator-ha.test.ts does for a launch): a new operator process carries
// the move on from what status and the workers show, to exactly one epoch
// running and exactly one failover record.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { TrainingJob } from "../../src/api/trainingjob.ts";
import { movedAndRunning, patchCluster } from "../support/failover.ts";
import { type OperatorProcess, prepareHub, startOperator, waitClustersReady } from "../support/operator.ts";
import { eventually, uniqueName } from "../support/sandbox.ts";
import { aTrainingJob } from "../support/trainingjob.ts";
import { TrainingJobs, workloadOf } from "../support/trainingjobs.ts";

const FAILPOINTS = ["failover.before-place", "launch.before-job", "failover.after-launch"] as const;

function movable(name: string): TrainingJob {
  return aTrainingJob(name)
    .replicas(1)
    .accelerator("trainium1", 16)
    .accelerator("nvidia-h100", 8)
    .with((j) => {
      j.spec.placement.strategy = "Preference";
      j.spec.failover.drainCheckpointTimeout = "1s";
      j.spec.template.metadata = { annotations: { "sandbox.crosscloud.dev/run-for": "900s" } };
    })
    .obj();
}

describe("an operator killed during a move", { timeout: 600_000 }, () => {
  const tjs = new TrainingJobs(uniqueName("failover-crash"));
  let operator: OperatorProcess | undefined;

  before(async () => {
    await prepareHub();
    await tjs.createNamespace();
  });
  after(async () => {
    await operator?.stop();
    await patchCluster("aws-sim", { drain: false });
    await tjs.deleteNamespace();
  });

  // The next operator waits out the Lease of the one killed at the failpoint: a short one keeps that quick.
  const SHORT_LEASE = { LEASE_DURATION_MS: "4000", RENEW_DEADLINE_MS: "3000", RETRY_PERIOD_MS: "500" };

  for (const fp of FAILPOINTS) {
    it(`converges after a SIGKILL at ${fp}: one epoch running, one failover record`, async () => {
      const name = fp.replaceAll(".", "-");
      operator = startOperator(`crash-${name}-1`, SHORT_LEASE);
      await waitClustersReady();
      const job = await tjs.create(movable(name));
      const placed = await tjs.waitForPhase(name, "Running");
      assert.equal(placed.status?.placement?.cluster, "aws-sim");
      await operator.stop();

      // This one dies at the failpoint while moving the job off the drained cluster.
      operator = startOperator(`crash-${name}-2`, { ...SHORT_LEASE, CROSSCLOUD_FAILPOINTS: fp });
      await patchCluster("aws-sim", { drain: true });
      const exit = await operator.exited;
      assert.equal(exit.signal, "SIGKILL", `the operator should die at ${fp}:\n${operator.logs().slice(-2000)}`);

      operator = startOperator(`crash-${name}-3`, SHORT_LEASE);
      const moved = await eventually(`${name} moved after the crash`, () => tjs.get(name), movedAndRunning(2), 120_000);
      assert.equal(moved.status?.failovers?.length, 1);
      assert.equal(moved.status?.placement?.cluster, "azure-sim");
      const [aws, azure] = await Promise.all([
        workloadOf("aws-sim", job.metadata.uid ?? ""),
        workloadOf("azure-sim", job.metadata.uid ?? ""),
      ]);
      await eventually(
        "epoch 1 gone from aws-sim",
        () => workloadOf("aws-sim", job.metadata.uid ?? ""),
        (w) => w.jobs.length === 0,
        30_000,
      );
      assert.equal(azure.jobs.length, 1, "exactly one Job on azure-sim");
      assert.equal(azure.jobs[0]?.metadata?.labels?.["training.crosscloud.dev/epoch"], "2");
      assert.ok(
        aws.jobs.every((j) => j.metadata?.deletionTimestamp),
        "no live Job left on aws-sim",
      );
      // A settled operator leaves the job as it is: still one record a little later.
      await new Promise((r) => setTimeout(r, 3_000));
      const later = await tjs.get(name);
      assert.equal(later.status?.failovers?.length, 1);
      assert.equal(later.status?.epoch, 2);
      await patchCluster("aws-sim", { drain: false });
      await tjs.deleteAndWait(name);
      await operator.stop();
      operator = undefined;
    });
  }
});
