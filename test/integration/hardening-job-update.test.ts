// A running worker Job is never wedged by an update it cannot take (issue 10,
// item 1), on the sandbox's real API servers:
// - the Job spec fields the operator counts as changeable (MUTABLE_JOB_FIELDS)
//   are ones aws-sim's API server lets an existing Job change, and the other
//   fields the operator renders (completionMode, podFailurePolicy, the pod
//   template) are refused (422), checked by server-side dry-run updates;
// - a running job whose pod template's image is edited rolls to epoch 2 with
//   the new image (event NewEpoch), no error loop; its accelerators cannot be
//   edited while it is placed (the CRD says to suspend it first);
// - a running job whose Job update the worker refuses (a
//   ValidatingAdmissionPolicy added after the launch) is still observed: it
//   reaches Succeeded, with WorkloadUpToDate=False/UpdateRefused naming the
//   policy while the update is refused, and no ReconcileError.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { AdmissionregistrationV1Api, type V1Job } from "@kubernetes/client-node";
import type { TrainingJob } from "../../src/api/trainingjob.ts";
import { instanceType } from "../../src/catalog/instance-types.ts";
import { MUTABLE_JOB_FIELDS } from "../../src/workload/job-hashes.ts";
import { LABEL_EPOCH, LABEL_JOB_NAME } from "../../src/workload/names.ts";
import { renderWorkload } from "../../src/workload/render.ts";
import { withOperator } from "../support/operator.ts";
import { clients, eventually, uniqueName } from "../support/sandbox.ts";
import { aTrainingJob } from "../support/trainingjob.ts";
import { workloadOf } from "../support/trainingjobs.ts";

const aws = clients("aws-sim");

function onAws(name: string, runFor: string) {
  return aTrainingJob(name)
    .replicas(1)
    .accelerator("trainium1", 16)
    .with((j) => {
      j.spec.placement.clouds = ["aws"];
      j.spec.template.metadata = { annotations: { "sandbox.crosscloud.dev/run-for": runFor } };
    });
}

/** The API status code of a failed request (422: invalid), or 0 when it succeeded. */
async function codeOf(p: Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    await p;
    return { code: 0, message: "" };
  } catch (err) {
    const e = err as { code?: number; body?: string; message?: string };
    return { code: e.code ?? -1, message: String(e.body ?? e.message) };
  }
}

describe("what an existing worker Job takes in an update", () => {
  const namespace = uniqueName("job-update");
  let created: V1Job;

  before(async () => {
    await aws.core.createNamespace({ body: { metadata: { name: namespace } } });
    const job = aTrainingJob("fields").replicas(2).accelerator("trainium1", 16).obj();
    job.metadata = { ...job.metadata, namespace, uid: "fields-uid" };
    const option = job.spec.accelerators[0];
    assert.ok(option);
    const w = renderWorkload({
      job,
      epoch: 1,
      option,
      target: {
        cluster: "aws-sim",
        namespace,
        cloud: "aws",
        nodeGroup: "trn1",
        instanceType: instanceType("trn1.32xlarge"),
        capacityType: "OnDemand",
      },
      checkpointUri: `s3://ckpt-aws-sim/${namespace}/fields`,
    });
    // Suspended: no pod is made, and suspend itself is among the fields to change.
    const body = { ...w.job, spec: { ...w.job.spec, suspend: true } } as V1Job;
    created = await eventually(
      "the rendered Job created",
      () => aws.batch.createNamespacedJob({ namespace, body }),
      Boolean,
      30_000,
    );
  });
  after(async () => {
    await aws.core.deleteNamespace({ name: namespace }).catch(() => {});
  });

  /** A server-side dry-run update of the created Job with `change` made to its spec. */
  const update = async (change: (spec: NonNullable<V1Job["spec"]>) => void) => {
    const name = created.metadata?.name ?? "";
    // Read afresh: the Job controller writes the Job's status (a new resourceVersion).
    const body = await aws.batch.readNamespacedJob({ name, namespace });
    if (body.spec) change(body.spec);
    return codeOf(aws.batch.replaceNamespacedJob({ name, namespace, body, dryRun: "All" }));
  };

  const changes: Record<(typeof MUTABLE_JOB_FIELDS)[number], (s: NonNullable<V1Job["spec"]>) => void> = {
    suspend: (s) => {
      s.suspend = false;
    },
    parallelism: (s) => {
      s.parallelism = 1;
    },
    backoffLimit: (s) => {
      s.backoffLimit = 9;
    },
    activeDeadlineSeconds: (s) => {
      s.activeDeadlineSeconds = 600;
    },
    ttlSecondsAfterFinished: (s) => {
      s.ttlSecondsAfterFinished = 60;
    },
  };
  for (const field of MUTABLE_JOB_FIELDS) {
    it(`accepts a change of ${field}, which the operator applies to a running Job`, async () => {
      const r = await update(changes[field]);
      assert.equal(r.code, 0, r.message);
    });
  }

  const fixed: [string, (s: NonNullable<V1Job["spec"]>) => void][] = [
    [
      "completionMode",
      (s) => {
        s.completionMode = "NonIndexed";
      },
    ],
    [
      "podFailurePolicy",
      (s) => {
        s.podFailurePolicy = { rules: [] };
      },
    ],
    [
      "the pod template's image",
      (s) => {
        const c = s.template.spec?.containers[0];
        if (c) c.image = "example.com/other:2";
      },
    ],
  ];
  for (const [name, change] of fixed) {
    it(`refuses a change of ${name} (422), which the operator therefore never applies`, async () => {
      const r = await update(change);
      assert.equal(r.code, 422, r.message);
    });
  }
});

describe("a running job's Job that needs an update", { timeout: 300_000 }, () => {
  const policy = uniqueName("freeze-jobs");
  const admission = aws.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  const { tjs } = withOperator("job-update", { CHECKPOINT_INTERVAL_MS: "1000" }, async (jobs) => {
    await admission.deleteValidatingAdmissionPolicyBinding({ name: policy }).catch(() => {});
    await admission.deleteValidatingAdmissionPolicy({ name: policy }).catch(() => {});
    for (const name of ["edited", "frozen"]) await jobs.deleteAndWait(name).catch(() => {});
  });

  it("rolls to epoch 2 with the new image when the pod template's image changes while it runs", async () => {
    const created = await tjs.create(onAws("edited", "900s").obj());
    const running = await tjs.waitForPhase("edited", "Running", [], 120_000);
    assert.equal(running.status?.epoch, 1);

    // The accelerator options cannot change while the job is placed: the CRD refuses it.
    const option = await codeOf(
      tjs.patch("edited", {
        spec: { accelerators: [{ type: "trainium1", perReplica: 16, image: "example.com/train:neuron-2" }] },
      }),
    );
    assert.equal(option.code, 422, option.message);
    assert.match(option.message, /spec\.accelerators cannot change while the job is placed/);

    await tjs.patch("edited", {
      spec: { template: { spec: { containers: [{ name: "trainer", image: "example.com/train:2" }] } } },
    });
    const rolled = await eventually(
      "epoch 2 Running",
      () => tjs.get("edited"),
      (j) => j.status?.epoch === 2 && j.status.phase === "Running",
      120_000,
    );
    assert.equal(
      rolled.status?.conditions?.find((c) => c.type === "ReconcileError"),
      undefined,
      "no error loop",
    );
    const w = await workloadOf("aws-sim", created.metadata.uid ?? "");
    assert.deepEqual(
      w.jobs.map((j) => j.metadata?.labels?.[LABEL_EPOCH]),
      ["2"],
      "epoch 1's Job is gone",
    );
    assert.equal(w.jobs[0]?.spec?.template.spec?.containers[0]?.image, "example.com/train:2");
    const pods = w.pods.filter((p) => p.metadata?.labels?.[LABEL_EPOCH] === "2");
    assert.ok(pods.length > 0, "epoch 2 has pods");
    for (const p of pods) assert.equal(p.spec?.containers[0]?.image, "example.com/train:2");
    const events = await tjs.eventMatching("edited", "a NewEpoch event", (e) => e.reason === "NewEpoch");
    assert.equal(events.filter((e) => e.reason === "NewEpoch").length, 1);
    await tjs.deleteAndWait("edited", 90_000);
  });

  it("still observes a running Job whose update the worker refuses, to Succeeded, and says why", async () => {
    await tjs.create(onAws("frozen", "60s").obj());
    await tjs.waitForPhase("frozen", "Running", [], 120_000);
    // Added after the launch: no update of this job's worker Jobs (deletion's own updates aside).
    await admission.createValidatingAdmissionPolicy({
      body: {
        metadata: { name: policy },
        spec: {
          failurePolicy: "Fail",
          matchConstraints: {
            resourceRules: [{ apiGroups: ["batch"], apiVersions: ["v1"], operations: ["UPDATE"], resources: ["jobs"] }],
          },
          matchConditions: [{ name: "not-deleting", expression: "!has(object.metadata.deletionTimestamp)" }],
          validations: [{ expression: "false", message: "Jobs here are frozen: no updates" }],
        },
      },
    });
    await admission.createValidatingAdmissionPolicyBinding({
      body: {
        metadata: { name: policy },
        spec: {
          policyName: policy,
          validationActions: ["Deny"],
          matchResources: {
            namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": tjs.namespace } },
            objectSelector: { matchLabels: { [LABEL_JOB_NAME]: "frozen" } },
          },
        },
      },
    });
    // A policy takes effect once the API server has loaded it: until then the update is let through.
    // A field the worker Job can take (backoffLimit), so the operator applies it.
    let limit = 4;
    const updateRefused = (j: TrainingJob) =>
      j.status?.conditions?.some((c) => c.type === "WorkloadUpToDate" && c.reason === "UpdateRefused") === true;
    await eventually(
      "WorkloadUpToDate=False, UpdateRefused",
      async () => {
        const j = await tjs.get("frozen");
        if (updateRefused(j)) return j;
        limit += 1; // the policy was not loaded yet, and the last change went through: change it again
        await tjs.patch("frozen", { spec: { runPolicy: { backoffLimit: limit } } });
        await new Promise((r) => setTimeout(r, 1_500));
        return tjs.get("frozen");
      },
      updateRefused,
      60_000,
    );
    // The passes after the last edit write their status: observedGeneration follows the edits.
    const refused = await eventually(
      "the status of the last edit, still UpdateRefused",
      () => tjs.get("frozen"),
      (j) => updateRefused(j) && j.status?.observedGeneration === j.metadata.generation,
      30_000,
    );
    const condition = refused.status?.conditions?.find((c) => c.type === "WorkloadUpToDate");
    assert.equal(condition?.status, "False");
    assert.match(
      condition?.message ?? "",
      new RegExp(`ValidatingAdmissionPolicy ${policy} said: .*frozen: no updates`),
    );
    assert.match(condition?.message ?? "", /left as it is and still observed/);
    assert.equal(refused.status?.phase, "Running");
    assert.equal(
      refused.status?.conditions?.find((c) => c.type === "ReconcileError"),
      undefined,
    );
    assert.equal(
      refused.status?.conditions?.find((c) => c.type === "WorkloadBlocked"),
      undefined,
    );

    const done = await tjs.waitForPhase("frozen", "Succeeded", [], 120_000);
    assert.equal(done.status?.epoch, 1, "the same epoch ran to the end");
    assert.ok(done.status?.completionTime, "its end is recorded");
    const events = await tjs.events("frozen");
    assert.equal(events.filter((e) => e.reason === "UpdateRefused" && e.type === "Warning").length, 1);
  });
});
