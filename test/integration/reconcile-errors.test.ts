// A reconcile error that repeats is seen on the TrainingJob, not only in the
// operator's log: a job placed on a cluster whose store credentials Secret is
// missing gets the condition ReconcileError naming the Secret and the field,
// and a Warning event, and the ComputeCluster shows CheckpointStoreReady=False;
// once the Secret reference is fixed the job runs and both conditions clear.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { getCluster, patchCluster } from "../support/failover.ts";
import { withOperator } from "../support/operator.ts";
import { eventually } from "../support/sandbox.ts";
import { aTrainingJob } from "../support/trainingjob.ts";

const STORE = { s3: { bucket: "ckpt-aws-sim" } };

describe("a reconcile error", { timeout: 240_000 }, () => {
  const { tjs } = withOperator("errors", {}, async (jobs) => {
    await patchCluster("aws-sim", {
      checkpointStore: { ...STORE, credentialsSecretRef: { namespace: "crosscloud-system", name: "aws-sim-store" } },
    } as never);
    await jobs.deleteAndWait("broken").catch(() => {});
  });

  it("becomes a condition and an event naming the cause, and goes when it is fixed", async () => {
    await patchCluster("aws-sim", {
      checkpointStore: { ...STORE, credentialsSecretRef: { namespace: "crosscloud-system", name: "no-such-secret" } },
    } as never);
    await tjs.create(
      aTrainingJob("broken")
        .replicas(1)
        .accelerator("trainium1", 16)
        .with((j) => {
          j.spec.placement.clouds = ["aws"];
          j.spec.template.metadata = { annotations: { "sandbox.crosscloud.dev/run-for": "900s" } };
        })
        .obj(),
    );
    const failing = await eventually(
      "the ReconcileError condition",
      () => tjs.get("broken"),
      (j) => j.status?.conditions?.some((c) => c.type === "ReconcileError" && c.status === "True") === true,
      60_000,
    );
    const condition = failing.status?.conditions?.find((c) => c.type === "ReconcileError");
    // The cluster it concerns says so too.
    const cc = await eventually(
      "aws-sim's CheckpointStoreReady=False",
      () => getCluster("aws-sim"),
      (c) => c.status?.conditions?.some((x) => x.type === "CheckpointStoreReady" && x.status === "False") === true,
      30_000,
    );
    const store = cc.status?.conditions?.find((x) => x.type === "CheckpointStoreReady");
    assert.equal(store?.reason, "CredentialsUnavailable");
    assert.match(store?.message ?? "", /crosscloud-system\/no-such-secret/);
    assert.match(condition?.message ?? "", /crosscloud-system\/no-such-secret/);
    assert.match(condition?.message ?? "", /spec\.checkpointStore\.credentialsSecretRef of ComputeCluster aws-sim/);
    const events = await eventually(
      "a ReconcileFailed event",
      () => tjs.events("broken"),
      (es) => es.some((e) => e.reason === "ReconcileFailed" && e.type === "Warning"),
      30_000,
    );
    assert.equal(
      events.filter((e) => e.reason === "ReconcileFailed").length,
      1,
      "one event while the cause stays the same",
    );

    await patchCluster("aws-sim", {
      checkpointStore: { ...STORE, credentialsSecretRef: { namespace: "crosscloud-system", name: "aws-sim-store" } },
    } as never);
    const running = await tjs.waitForPhase("broken", "Running", [], 120_000);
    await eventually(
      "aws-sim's CheckpointStoreReady=True again",
      () => getCluster("aws-sim"),
      (c) => c.status?.conditions?.some((x) => x.type === "CheckpointStoreReady" && x.status === "True") === true,
      30_000,
    );
    assert.equal(
      running.status?.conditions?.some((c) => c.type === "ReconcileError"),
      false,
      "the condition is gone once the pass succeeds",
    );
  });
});
