// The Kueue model (table tests, src/kueue/workload.ts): the Workload a queued
// job gets, which accelerator options an admission allows, how a Workload's
// status reads, and the status the operator writes back as its owner.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { TrainingJob } from "../../src/api/trainingjob.ts";
import type { Condition } from "../../src/controller/conditions.ts";
import {
  admissionOf,
  admittedTypes,
  finishedStatus,
  queueOf,
  releasedStatus,
  renderWorkload,
  requestHashOf,
  type Workload,
  workloadNameOf,
} from "../../src/kueue/workload.ts";
import { aTrainingJob } from "../support/trainingjob.ts";

const queued = (labels: Record<string, string> = { "kueue.x-k8s.io/queue-name": "team-a" }) =>
  aTrainingJob("llama")
    .replicas(4)
    .accelerator("nvidia-h100", 8)
    .with((j) => {
      j.metadata.labels = labels;
    });

const NOW = new Date("2026-12-02T12:00:00Z");
const EARLIER = "2026-12-02T11:00:00.000Z";

function wl(status: Workload["status"], extra: Partial<Workload["spec"]> = {}): Workload {
  const w = renderWorkload(queued().obj());
  return {
    ...w,
    metadata: { ...w.metadata, generation: 2 },
    spec: { ...w.spec, ...extra },
    ...(status ? { status } : {}),
  };
}

const c = (type: string, status: "True" | "False", reason: string, message = ""): Condition => ({
  type,
  status,
  reason,
  message,
  lastTransitionTime: EARLIER,
});

const admission = (flavor: string) => ({
  clusterQueue: "team-a-cq",
  podSetAssignments: [{ name: "replicas", flavors: { "nvidia.com/gpu": flavor }, count: 4 }],
});

describe("renderWorkload", () => {
  it("one pod set of spec.replicas pods asking only for the first option's devices, owned by the job", () => {
    const w = renderWorkload(queued().obj());
    assert.equal(w.apiVersion, "kueue.x-k8s.io/v1beta2");
    assert.equal(w.metadata.namespace, "ml");
    assert.equal(w.metadata.name, workloadNameOf(queued().obj()));
    assert.match(w.metadata.name, /^trainingjob-llama-[0-9a-f]{5}$/);
    assert.equal(w.spec.queueName, "team-a");
    assert.deepEqual(w.spec.podSets, [
      {
        name: "replicas",
        count: 4,
        template: {
          spec: {
            restartPolicy: "Never",
            containers: [
              {
                name: "trainer",
                resources: { requests: { "nvidia.com/gpu": "8" }, limits: { "nvidia.com/gpu": "8" } },
              },
            ],
          },
        },
      },
    ]);
    assert.deepEqual(w.metadata.ownerReferences, [
      {
        apiVersion: "training.crosscloud.dev/v1alpha1",
        kind: "TrainingJob",
        name: "llama",
        uid: "uid-llama",
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
    assert.equal(w.spec.priority, undefined);
  });

  it("Trainium asks for aws.amazon.com/neuron; a priority class gives priority and its reference", () => {
    const job = aTrainingJob("t").replicas(2).accelerator("trainium1", 16).obj();
    job.metadata.labels = { "kueue.x-k8s.io/queue-name": "q", "kueue.x-k8s.io/priority-class": "high" };
    const w = renderWorkload(job, { name: "high", value: 1000 });
    assert.deepEqual(w.spec.podSets[0]?.template.spec.containers[0]?.resources, {
      requests: { "aws.amazon.com/neuron": "16" },
      limits: { "aws.amazon.com/neuron": "16" },
    });
    assert.equal(w.spec.priority, 1000);
    assert.deepEqual(w.spec.priorityClassRef, { group: "kueue.x-k8s.io", kind: "WorkloadPriorityClass", name: "high" });
  });

  const hashCases: { name: string; change: (j: TrainingJob) => void; same: boolean }[] = [
    {
      name: "an image change",
      change: (j) => (j.spec.accelerators[0] = { type: "nvidia-h100", perReplica: 8, image: "x" }),
      same: true,
    },
    { name: "replicas", change: (j) => (j.spec.replicas = 8), same: false },
    {
      name: "devices per replica",
      change: (j) => (j.spec.accelerators[0] = { type: "nvidia-h100", perReplica: 4 }),
      same: false,
    },
    { name: "the queue", change: (j) => (j.metadata.labels = { "kueue.x-k8s.io/queue-name": "team-b" }), same: false },
    {
      name: "the priority class",
      change: (j) => (j.metadata.labels = { ...j.metadata.labels, "kueue.x-k8s.io/priority-class": "high" }),
      same: false,
    },
  ];
  for (const tc of hashCases)
    it(`the request hash ${tc.same ? "keeps" : "changes"} with ${tc.name}`, () => {
      const job = queued().obj();
      const changed = structuredClone(job);
      tc.change(changed);
      assert.equal(requestHashOf(changed) === requestHashOf(job), tc.same);
    });

  it("queueOf: the label, or undefined when absent or empty", () => {
    assert.equal(queueOf(queued().obj()), "team-a");
    assert.equal(queueOf(queued({}).obj()), undefined);
    assert.equal(queueOf(queued({ "kueue.x-k8s.io/queue-name": "" }).obj()), undefined);
  });
});

describe("admittedTypes: which options an admission allows", () => {
  const job = aTrainingJob("mix")
    .replicas(4)
    .accelerator("nvidia-b200", 8)
    .accelerator("nvidia-h100", 8)
    .accelerator("nvidia-a100", 4)
    .accelerator("trainium1", 16)
    .obj();
  const cases: { name: string; flavors: string[]; types: string[] }[] = [
    { name: "a flavor named like a type: that type only", flavors: ["nvidia-h100"], types: ["nvidia-h100"] },
    {
      name: "a generic flavor: every option asking the same devices",
      flavors: ["default"],
      types: ["nvidia-b200", "nvidia-h100"],
    },
    { name: "no flavor", flavors: [], types: ["nvidia-b200", "nvidia-h100"] },
    { name: "a type with another device count: none", flavors: ["nvidia-a100"], types: [] },
  ];
  for (const tc of cases)
    it(tc.name, () => assert.deepEqual([...admittedTypes(job, tc.flavors)].sort(), tc.types.sort()));
});

describe("admissionOf", () => {
  const cases: { name: string; wl: Workload; want: ReturnType<typeof admissionOf> }[] = [
    {
      name: "new: Pending, waiting for Kueue",
      wl: wl(undefined),
      want: { state: "Pending", reason: "Pending", message: "waiting for Kueue to reserve quota" },
    },
    {
      name: "no quota: Kueue's reason and message",
      wl: wl({
        conditions: [
          c(
            "QuotaReserved",
            "False",
            "Pending",
            "couldn't assign flavors to pod set replicas: insufficient quota for nvidia.com/gpu in flavor nvidia-h100, previously considered podsets requests (0) + current podset request (32) > maximum capacity (16)",
          ),
        ],
      }),
      want: {
        state: "Pending",
        reason: "Pending",
        message:
          "couldn't assign flavors to pod set replicas: insufficient quota for nvidia.com/gpu in flavor nvidia-h100, previously considered podsets requests (0) + current podset request (32) > maximum capacity (16)",
      },
    },
    {
      name: "admitted: the ClusterQueue and flavors",
      wl: wl({
        admission: admission("nvidia-h100"),
        conditions: [c("QuotaReserved", "True", "QuotaReserved"), c("Admitted", "True", "Admitted")],
      }),
      want: { state: "Admitted", clusterQueue: "team-a-cq", flavors: ["nvidia-h100"] },
    },
    {
      name: "quota reserved, checks pending: not yet admitted",
      wl: wl({
        admission: admission("nvidia-h100"),
        conditions: [c("QuotaReserved", "True", "QuotaReserved"), c("Admitted", "False", "NoChecks")],
      }),
      want: { state: "Pending", reason: "AdmissionChecks", message: "quota reserved; waiting for admission checks" },
    },
    {
      name: "evicted while reserved: the owner must stop it",
      wl: wl({
        admission: admission("nvidia-h100"),
        conditions: [
          c("QuotaReserved", "True", "QuotaReserved"),
          c("Admitted", "True", "Admitted"),
          c(
            "Evicted",
            "True",
            "Preempted",
            "Preempted to accommodate a workload (UID: x) due to prioritization in the ClusterQueue",
          ),
        ],
      }),
      want: {
        state: "Evicted",
        reason: "Preempted",
        message: "Preempted to accommodate a workload (UID: x) due to prioritization in the ClusterQueue",
        reserved: true,
      },
    },
    {
      name: "evicted and given back: Pending again",
      wl: wl({ conditions: [c("QuotaReserved", "False", "Pending", "Preempted"), c("Evicted", "True", "Preempted")] }),
      want: { state: "Pending", reason: "Pending", message: "Preempted" },
    },
    {
      name: "given back by the owner: the Requeued reason, until Kueue writes its own message",
      wl: wl({
        conditions: [
          c("QuotaReserved", "False", "Pending", "not placed"),
          c("Requeued", "True", "NoPlacement", "not placed"),
        ],
      }),
      want: { state: "Pending", reason: "NoPlacement", message: "not placed" },
    },
    {
      name: "given back, then tried by Kueue: Kueue's reason",
      wl: wl({
        conditions: [
          c("QuotaReserved", "False", "Pending", "insufficient quota"),
          c("Requeued", "True", "NoPlacement", "not placed"),
        ],
      }),
      want: { state: "Pending", reason: "Pending", message: "insufficient quota" },
    },
    {
      name: "deactivated",
      wl: wl(undefined, { active: false }),
      want: { state: "Pending", reason: "Inactive", message: "the Workload is deactivated" },
    },
    {
      name: "finished",
      wl: wl({ conditions: [c("Finished", "True", "Succeeded")] }),
      want: { state: "Finished", reason: "Succeeded" },
    },
  ];
  for (const tc of cases) it(tc.name, () => assert.deepEqual(admissionOf(tc.wl), tc.want));
});

describe("the status the owner writes", () => {
  const admitted = wl({
    admission: admission("nvidia-h100"),
    conditions: [
      c("QuotaReserved", "True", "QuotaReserved"),
      c("Admitted", "True", "Admitted"),
      c("Evicted", "True", "Preempted", "p"),
    ],
    requeueState: { count: 1 },
  });
  const byType = (s: Workload["status"]) => Object.fromEntries((s?.conditions ?? []).map((x) => [x.type, x]));

  it("after a preemption: no admission, QuotaReserved and Admitted False, Requeued True, Evicted kept", () => {
    const s = releasedStatus(admitted, { reason: "Preempted", message: "p", requeue: true }, NOW);
    assert.equal(s.admission, undefined);
    const conds = byType(s);
    assert.deepEqual(conds.QuotaReserved, {
      type: "QuotaReserved",
      status: "False",
      reason: "Pending",
      message: "p",
      observedGeneration: 2,
      lastTransitionTime: NOW.toISOString(),
    });
    assert.equal(conds.Admitted?.status, "False");
    assert.equal(conds.Requeued?.status, "True");
    assert.equal(conds.Requeued?.reason, "Preempted");
    assert.equal(conds.Evicted?.lastTransitionTime, EARLIER, "Evicted is Kueue's: kept as it was");
    assert.deepEqual(s.requeueState, { count: 1 }, "no backoff asked: requeueState as it was");
  });

  it("after another eviction reason: Requeued False (Kueue decides)", () => {
    const s = releasedStatus(admitted, { reason: "InactiveWorkload", message: "deactivated", requeue: false }, NOW);
    assert.equal(byType(s).Requeued?.status, "False");
  });

  it("after a failed placement: a backoff in requeueState, counted", () => {
    const s = releasedStatus(admitted, { reason: "NoPlacement", message: "m", requeue: true, backoffMs: 120_000 }, NOW);
    assert.deepEqual(s.requeueState, { count: 2, requeueAt: "2026-12-02T12:02:00.000Z" });
  });

  it("finished: Finished True with the job's outcome, other conditions kept", () => {
    const s = finishedStatus(admitted, "Succeeded", "TrainingJob succeeded", NOW);
    assert.equal(byType(s).Finished?.status, "True");
    assert.equal(byType(s).Finished?.reason, "Succeeded");
    assert.equal(byType(s).QuotaReserved?.status, "True");
  });
});
