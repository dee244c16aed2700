// What the operator writes on a worker is its job's alone, and a running Job is
// never wedged by a rendering it cannot take (issue 10, items 1 and 5):
// - two hub namespaces with the same job name in one shared workloadNamespace
//   get distinct worker objects, and deleting one leaves the other's;
// - a worker object of the job's name that carries another job's uid is not
//   taken over: the job says so in a condition until it is gone;
// - a ComputeCluster change that renders the Job differently (the store's
//   endpoint) leaves the running Job alone with WorkloadUpToDate=False, no
//   new epoch and no error loop; it goes when the rendering matches again.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1Service } from "@kubernetes/client-node";
import { defaultTopology } from "../../scripts/sandbox/topology.ts";
import type { TrainingJob } from "../../src/api/trainingjob.ts";
import { LABEL_JOB_UID, namespaceTag } from "../../src/workload/names.ts";
import { patchCluster } from "../support/failover.ts";
import { withOperator } from "../support/operator.ts";
import { clients, eventually, uniqueName } from "../support/sandbox.ts";
import { aTrainingJob } from "../support/trainingjob.ts";
import { TrainingJobs, workloadOf } from "../support/trainingjobs.ts";

const SHARED = uniqueName("shared-ml");
const S3 = () => `http://127.0.0.1:${defaultTopology().s3Port}`;

function onAws(name: string): TrainingJob {
  return aTrainingJob(name)
    .replicas(1)
    .accelerator("trainium1", 16)
    .with((j) => {
      j.spec.placement.clouds = ["aws"];
      j.spec.template.metadata = { annotations: { "sandbox.crosscloud.dev/run-for": "900s" } };
    })
    .obj();
}

function condition(job: TrainingJob, type: string) {
  return job.status?.conditions?.find((c) => c.type === type);
}

describe("worker objects", { timeout: 300_000 }, () => {
  const research = new TrainingJobs(uniqueName("research"));
  const { tjs } = withOperator("workers", {}, async (jobs) => {
    await patchCluster("aws-sim", { workloadNamespace: "" });
    await patchCluster("aws-sim", { checkpointStore: { s3: { bucket: "ckpt-aws-sim", endpoint: S3() } } } as never);
    for (const [list, name] of [
      [jobs, "train"],
      [research, "train"],
      [jobs, "squatted"],
      [jobs, "steady"],
    ] as const) {
      await list.deleteAndWait(name).catch(() => {});
    }
    await research.deleteNamespace();
    await clients("aws-sim")
      .core.deleteNamespace({ name: SHARED })
      .catch(() => {});
  });

  it("gives two hub namespaces' jobs of one name their own objects in a shared workload namespace", async () => {
    await research.createNamespace();
    await patchCluster("aws-sim", { workloadNamespace: SHARED });
    const ml = await tjs.create(onAws("train"));
    const other = await research.create(onAws("train"));
    await tjs.waitForPhase("train", "Running", [], 120_000);
    await research.waitForPhase("train", "Running", [], 120_000);

    const mine = await workloadOf("aws-sim", ml.metadata.uid ?? "");
    const theirs = await workloadOf("aws-sim", other.metadata.uid ?? "");
    assert.deepEqual(
      mine.jobs.map((j) => `${j.metadata?.namespace}/${j.metadata?.name}`),
      [`${SHARED}/train-${namespaceTag(tjs.namespace)}-e1`],
    );
    assert.deepEqual(
      theirs.jobs.map((j) => `${j.metadata?.namespace}/${j.metadata?.name}`),
      [`${SHARED}/train-${namespaceTag(research.namespace)}-e1`],
    );
    assert.equal(mine.services.length, 1);
    assert.equal(theirs.services.length, 1);

    await research.deleteAndWait("train", 90_000);
    const left = await workloadOf("aws-sim", ml.metadata.uid ?? "");
    assert.equal(left.jobs.length, 1, "the other namespace's Job is still there");
    assert.equal(left.services.length, 1, "and so is its Service");
    assert.equal((await tjs.get("train")).status?.phase, "Running");
    await tjs.deleteAndWait("train", 90_000);
    await patchCluster("aws-sim", { workloadNamespace: "" });
  });

  it("does not take over a worker object that carries another job's uid", async () => {
    const aws = clients("aws-sim").core;
    await aws.createNamespace({ body: { metadata: { name: tjs.namespace } } }).catch(() => {});
    const squatter: V1Service = {
      metadata: { name: "squatted-e1", namespace: tjs.namespace, labels: { [LABEL_JOB_UID]: "someone-else" } },
      spec: { clusterIP: "None", selector: { app: "someone-else" } },
    };
    await aws.createNamespacedService({ namespace: tjs.namespace, body: squatter });
    await tjs.create(onAws("squatted"));
    const refused = await eventually(
      "a condition naming the object that is another job's",
      () => tjs.get("squatted"),
      (j) => condition(j, "ReconcileError")?.status === "True",
      90_000,
    );
    assert.match(condition(refused, "ReconcileError")?.message ?? "", /Service .*squatted-e1 on aws-sim belongs to/);
    const kept = await aws.readNamespacedService({ namespace: tjs.namespace, name: "squatted-e1" });
    assert.equal(kept.metadata?.labels?.[LABEL_JOB_UID], "someone-else", "the Service is left as it was");
    assert.deepEqual(kept.spec?.selector, { app: "someone-else" });

    await aws.deleteNamespacedService({ namespace: tjs.namespace, name: "squatted-e1" });
    const running = await tjs.waitForPhase("squatted", "Running", [], 120_000);
    assert.equal(condition(running, "ReconcileError"), undefined);
    await tjs.deleteAndWait("squatted", 90_000);
  });

  it("leaves a running Job alone when only its rendering changed, and says so", async () => {
    await tjs.create(onAws("steady"));
    const running = await tjs.waitForPhase("steady", "Running", [], 120_000);
    const before = (await workloadOf("aws-sim", running.metadata.uid ?? "")).jobs[0];

    // Another spelling of the same S3 server: the pods' AWS_ENDPOINT_URL_S3 would differ.
    const other = S3().replace("127.0.0.1", "localhost");
    await patchCluster("aws-sim", { checkpointStore: { s3: { bucket: "ckpt-aws-sim", endpoint: other } } } as never);
    const outdated = await eventually(
      "WorkloadUpToDate=False",
      () => tjs.get("steady"),
      (j) => condition(j, "WorkloadUpToDate")?.status === "False",
      60_000,
    );
    assert.equal(condition(outdated, "WorkloadUpToDate")?.reason, "AppliesAtNextEpoch");
    assert.equal(outdated.status?.epoch, running.status?.epoch, "no new epoch");
    assert.equal(outdated.status?.phase, "Running");
    assert.equal(condition(outdated, "ReconcileError"), undefined, "no error loop");
    const after = (await workloadOf("aws-sim", running.metadata.uid ?? "")).jobs[0];
    assert.equal(after?.metadata?.uid, before?.metadata?.uid, "the same worker Job runs on");
    const events = await tjs.events("steady");
    assert.equal(events.filter((e) => e.reason === "AppliesAtNextEpoch").length, 1);

    await patchCluster("aws-sim", { checkpointStore: { s3: { bucket: "ckpt-aws-sim", endpoint: S3() } } } as never);
    await eventually(
      "the condition to go once the rendering matches again",
      () => tjs.get("steady"),
      (j) => condition(j, "WorkloadUpToDate") === undefined,
      60_000,
    );
  });
});
