// Deleting a TrainingJob calls only the worker clusters the job used (issue
// 10, item 2): with azure-sim's API server frozen (sandbox partition: it
// accepts connections and never answers) and not yet marked unreachable, a
// job that ran on aws-sim only is deleted in far less than one worker deadline
// (WORKER_REQUEST_TIMEOUT_MS, 20 s here), its workload on aws-sim removed.
// Before, deletion visited every connected cluster and waited the whole
// deadline on the frozen one, again at each retry until its heartbeat failed.

import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { heal, partition } from "../../scripts/sandbox/faults.ts";
import { getCluster, waitReachable } from "../support/failover.ts";
import { withOperator } from "../support/operator.ts";
import { eventually } from "../support/sandbox.ts";
import { aTrainingJob } from "../support/trainingjob.ts";
import { workloadOf } from "../support/trainingjobs.ts";

const DEADLINE_MS = 20_000;

describe("deleting a job while an unrelated worker hangs", { timeout: 300_000 }, () => {
  const { tjs } = withOperator(
    "deletion",
    { WORKER_REQUEST_TIMEOUT_MS: String(DEADLINE_MS), CHECKPOINT_INTERVAL_MS: "2000" },
    async (jobs) => {
      await heal("azure-sim");
      await jobs.deleteAndWait("bystander").catch(() => {});
    },
  );
  afterEach(async () => {
    await heal("azure-sim");
    await waitReachable("azure-sim", "True", 90_000);
  });

  it("is not delayed by a worker the job never used", async () => {
    const created = await tjs.create(
      aTrainingJob("bystander")
        .replicas(1)
        .accelerator("trainium1", 16)
        .with((j) => {
          j.spec.placement.clouds = ["aws"];
          j.spec.placement.clusters = ["aws-sim"];
          j.spec.template.metadata = { annotations: { "sandbox.crosscloud.dev/run-for": "900s" } };
        })
        .obj(),
    );
    const running = await tjs.waitForPhase("bystander", "Running", [], 120_000);
    assert.equal(running.status?.placement?.cluster, "aws-sim");
    assert.equal((await workloadOf("aws-sim", created.metadata.uid ?? "")).jobs.length, 1);

    await partition("azure-sim");
    const started = Date.now();
    await tjs.delete("bystander");
    await eventually(
      "the TrainingJob gone from the hub",
      () =>
        tjs.get("bystander").then(
          () => false,
          (err: { code?: number }) => err.code === 404,
        ),
      (gone) => gone,
      2 * DEADLINE_MS,
    );
    const took = Date.now() - started;
    // azure-sim was not yet known to hang: the deletion did not wait for it to be marked.
    const azure = await getCluster("azure-sim");
    const reachable = azure.status?.conditions?.find((c) => c.type === "Reachable");
    assert.equal(reachable?.status, "True", "azure-sim is not marked unreachable yet");
    assert.ok(took < DEADLINE_MS / 2, `deleted after ${took}ms; a call to the hung worker would take ${DEADLINE_MS}ms`);
    const left = await workloadOf("aws-sim", created.metadata.uid ?? "");
    assert.deepEqual(
      [left.jobs.length, left.services.length],
      [0, 0],
      "its workload on aws-sim, the cluster it used, is removed",
    );
  });
});
