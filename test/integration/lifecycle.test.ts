// The TrainingJob lifecycle on a worker cluster, end to end: the operator runs
// as a process against the sandbox's hub, kwok plays the workers' pods.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { TrainingJobPhase } from "../../src/api/trainingjob.ts";
import { type OperatorProcess, prepareHub, startOperator, waitClustersReady } from "../support/operator.ts";
import { eventually, uniqueName } from "../support/sandbox.ts";
import { aTrainingJob } from "../support/trainingjob.ts";
import { TrainingJobs, workloadOf } from "../support/trainingjobs.ts";

/** A Trainium-first job whose fake pods run for `runFor`. */
function trainiumJob(name: string, runFor: string, annotations: Record<string, string> = {}) {
  return aTrainingJob(name)
    .replicas(2)
    .accelerator("trainium1", 16)
    .accelerator("nvidia-h100", 8)
    .with((j) => {
      j.spec.template.metadata = { annotations: { "sandbox.crosscloud.dev/run-for": runFor, ...annotations } };
    });
}

describe("TrainingJob lifecycle", { timeout: 600_000 }, () => {
  const tjs = new TrainingJobs(uniqueName("life"));
  let operator: OperatorProcess;

  before(async () => {
    await prepareHub();
    await tjs.createNamespace();
    operator = startOperator("lifecycle-operator");
    await waitClustersReady();
  });
  after(async () => {
    await operator.stop();
    await tjs.deleteNamespace();
  });

  it("goes Pending to Running to Succeeded, with conditions and events at each step", async () => {
    await tjs.create(trainiumJob("happy", "4s").obj());
    const seen: TrainingJobPhase[] = [];
    await tjs.waitForPhase("happy", "Running", seen);
    const done = await tjs.waitForPhase("happy", "Succeeded", seen);
    assert.deepEqual(seen.slice(-2), ["Running", "Succeeded"]);
    const status = done.status ?? {};
    assert.equal(status.placement?.cluster, "aws-sim");
    assert.equal(status.placement?.accelerator, "trainium1");
    assert.equal(status.epoch, 1);
    assert.equal(status.observedGeneration, done.metadata.generation);
    assert.match(status.placement?.reason ?? "", /aws-sim\/trn1/);
    const conditions = Object.fromEntries((status.conditions ?? []).map((c) => [c.type, c]));
    assert.equal(conditions.Placed?.status, "True");
    assert.equal(conditions.Succeeded?.status, "True");
    assert.equal(conditions.Running?.status, "False");
    assert.ok(status.startTime && status.completionTime);
    // Events follow the status write that they describe. Placed and launched in one pass: one Placed
    // event that says both.
    const wanted = ["Placed", "Running", "Succeeded"];
    const events = await eventually(
      `events ${wanted.join(", ")}`,
      () => tjs.events("happy"),
      (es) => wanted.every((r) => es.some((e) => e.reason === r)),
      10_000,
    );
    const placed = events.find((e) => e.reason === "Placed");
    assert.match(
      placed?.message ?? "",
      /^epoch 1: chose aws-sim\/trn1 .*; created Job and Service .* on aws-sim, starting from scratch/,
    );
    assert.ok(!events.some((e) => e.reason === "Launched"), "a separate Launched event for the same pass");
  });

  it("retries a failing pod, then fails the job with the pod's reason and exit code", async () => {
    const job = trainiumJob("crashy", "60s", {
      "sandbox.crosscloud.dev/fail-after": "1s",
      "sandbox.crosscloud.dev/exit-code": "3",
      "sandbox.crosscloud.dev/fail-reason": "CUDAError",
    })
      .replicas(1)
      .with((j) => {
        j.spec.runPolicy.backoffLimit = 1;
      })
      .obj();
    await tjs.create(job);
    const failed = await tjs.waitForPhase("crashy", "Failed");
    const condition = failed.status?.conditions?.find((c) => c.type === "Failed");
    assert.equal(condition?.reason, "BackoffLimitExceeded");
    assert.match(condition?.message ?? "", /CUDAError, exit code 3/);
    assert.equal(failed.status?.replicas?.failed, 2, "the first failure was retried once (backoffLimit 1)");
    const events = await tjs.events("crashy");
    assert.ok(events.some((e) => e.reason === "PodFailed" && e.type === "Warning" && /exit code 3/.test(e.message)));
  });

  it("stops the pods when suspended and starts them again on resume", async () => {
    const created = await tjs.create(trainiumJob("pausable", "120s").obj());
    await tjs.waitForPhase("pausable", "Running");
    await tjs.patch("pausable", { spec: { suspend: true } });
    const suspended = await tjs.waitForPhase("pausable", "Suspended");
    assert.equal(suspended.status?.conditions?.find((c) => c.type === "Suspended")?.status, "True");
    await eventually(
      "the worker's pods to be gone",
      () => workloadOf("aws-sim", created.metadata.uid ?? ""),
      (w) => w.pods.length === 0,
    );
    await tjs.patch("pausable", { spec: { suspend: false } });
    const resumed = await tjs.waitForPhase("pausable", "Running");
    assert.equal(resumed.status?.epoch, 1, "resuming keeps the placement");
    assert.equal(resumed.status?.readyReplicas, "2/2");
  });

  it("leaves nothing on the worker when a running job is deleted", async () => {
    const created = await tjs.create(trainiumJob("doomed", "120s").obj());
    await tjs.waitForPhase("doomed", "Running");
    const uid = created.metadata.uid ?? "";
    assert.ok((await workloadOf("aws-sim", uid)).pods.length > 0);
    await tjs.delete("doomed");
    await eventually(
      "the TrainingJob to be gone",
      () =>
        tjs.get("doomed").then(
          () => false,
          () => true,
        ),
      (gone) => gone,
    );
    const left = await workloadOf("aws-sim", uid);
    assert.deepEqual(
      { jobs: left.jobs.length, services: left.services.length, pods: left.pods.length },
      { jobs: 0, services: 0, pods: 0 },
    );
  });

  it("fails a job past activeDeadlineSeconds and stops its pods", async () => {
    const created = await tjs.create(
      trainiumJob("slow", "300s")
        .with((j) => {
          j.spec.runPolicy.activeDeadlineSeconds = 4;
        })
        .obj(),
    );
    const failed = await tjs.waitForPhase("slow", "Failed");
    assert.equal(failed.status?.conditions?.find((c) => c.type === "Failed")?.reason, "DeadlineExceeded");
    await eventually(
      "the pods to be stopped",
      () => workloadOf("aws-sim", created.metadata.uid ?? ""),
      (w) => w.pods.length === 0,
    );
  });

  it("removes the worker resources ttlSecondsAfterFinished after the job finished", async () => {
    const created = await tjs.create(
      trainiumJob("brief", "1s")
        .with((j) => {
          j.spec.runPolicy.ttlSecondsAfterFinished = 2;
        })
        .obj(),
    );
    await tjs.waitForPhase("brief", "Succeeded");
    const uid = created.metadata.uid ?? "";
    await eventually(
      "the workload to be removed",
      () => workloadOf("aws-sim", uid),
      (w) => w.jobs.length === 0 && w.services.length === 0,
    );
    assert.equal((await tjs.get("brief")).status?.phase, "Succeeded", "the TrainingJob itself stays");
  });
});
