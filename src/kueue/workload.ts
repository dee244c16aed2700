// A TrainingJob queued through Kueue (label kueue.x-k8s.io/queue-name): the
// Kueue Workload (kueue.x-k8s.io/v1beta2) the operator creates and owns for
// it, what the operator reads of that Workload's status, and the status
// changes it writes back as the Workload's owner (as Kueue's own job
// integrations do). Pure.
//
// The model (docs/kueue.md): Kueue decides whether and when a job runs, the
// operator where. The Workload has one pod set, `replicas`, of spec.replicas
// pods, each asking for the devices of the job's first accelerator option
// (nvidia.com/gpu or aws.amazon.com/neuron, perReplica of them) and nothing
// else, so a ClusterQueue's quota is counted in devices. A ResourceFlavor named
// like an accelerator type (nvidia-h100, trainium1, ...) admits the job onto
// that type: placement then uses only the options of that type. Options whose
// device resource or count differ from the first's are not used while queued.

import { createHash } from "node:crypto";
import type { TrainingJob } from "../api/trainingjob.ts";
import { ACCELERATOR_TYPES, type AcceleratorType, deviceResourceOf } from "../catalog/instance-types.ts";
import { type Condition, setCondition } from "../controller/conditions.ts";

export const KUEUE_GROUP = "kueue.x-k8s.io";
export const KUEUE_VERSION = "v1beta2";
export const WORKLOADS = { group: KUEUE_GROUP, version: KUEUE_VERSION, plural: "workloads" } as const;
export const PRIORITY_CLASSES = { group: KUEUE_GROUP, version: KUEUE_VERSION, plural: "workloadpriorityclasses" };
/** The label that queues a job, as on Kueue's own integrations. */
export const QUEUE_NAME_LABEL = "kueue.x-k8s.io/queue-name";
export const PRIORITY_CLASS_LABEL = "kueue.x-k8s.io/priority-class";
/** Kueue's finalizer on an admitted Workload; the owner removes it when the job is gone. */
export const KUEUE_FINALIZER = "kueue.x-k8s.io/resource-in-use";
/** On the Workload: the TrainingJob's uid (Kueue's integrations label theirs so), and the hash of what it asks. */
export const JOB_UID_LABEL = "kueue.x-k8s.io/job-uid";
export const REQUEST_HASH_ANNOTATION = "training.crosscloud.dev/kueue-request-hash";
export const POD_SET = "replicas";

export interface Workload {
  apiVersion: string;
  kind: "Workload";
  metadata: {
    name: string;
    namespace: string;
    uid?: string;
    generation?: number;
    resourceVersion?: string;
    deletionTimestamp?: Date;
    finalizers?: string[];
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: {
      apiVersion: string;
      kind: string;
      name: string;
      uid: string;
      controller?: boolean;
      blockOwnerDeletion?: boolean;
    }[];
  };
  spec: {
    queueName?: string;
    priority?: number;
    priorityClassRef?: { group: string; kind: string; name: string };
    active?: boolean;
    podSets: {
      name: string;
      count: number;
      template: { spec: { restartPolicy: string; containers: { name: string; resources: object }[] } };
    }[];
  };
  status?: {
    conditions?: Condition[];
    admission?: {
      clusterQueue: string;
      podSetAssignments: { name: string; flavors?: Record<string, string>; count?: number }[];
    };
    requeueState?: { count?: number; requeueAt?: string };
  };
}

/** The LocalQueue a job is queued on (its kueue.x-k8s.io/queue-name label), or undefined: not queued. */
export function queueOf(job: TrainingJob): string | undefined {
  const q = job.metadata.labels?.[QUEUE_NAME_LABEL];
  return q === undefined || q === "" ? undefined : q;
}

/** The Workload's name: trainingjob-<name>-<5 hex of the uid>, at most 253 characters. */
export function workloadNameOf(job: TrainingJob): string {
  const hash = createHash("sha256")
    .update(job.metadata.uid ?? "")
    .digest("hex")
    .slice(0, 5);
  return `trainingjob-${(job.metadata.name ?? "").slice(0, 253 - 18)}-${hash}`;
}

/** What the Workload asks Kueue for: the first option's device resource and count per replica. */
export interface KueueRequest {
  readonly resource: string;
  readonly perReplica: number;
  readonly replicas: number;
}

export function requestOf(job: TrainingJob): KueueRequest {
  const first = job.spec.accelerators[0];
  if (!first) throw new Error("spec.accelerators is empty: a queued job needs at least one accelerator option");
  return { resource: deviceResourceOf(first.type), perReplica: first.perReplica, replicas: job.spec.replicas };
}

/** The options a queued job may use: those asking what the Workload asked for, and of the admitted type when the flavor names one. */
export function admittedTypes(job: TrainingJob, flavors: readonly string[]): Set<AcceleratorType> {
  const r = requestOf(job);
  const named = flavors.filter((f): f is AcceleratorType => (ACCELERATOR_TYPES as readonly string[]).includes(f));
  return new Set(
    job.spec.accelerators
      .filter((a) => deviceResourceOf(a.type) === r.resource && a.perReplica === r.perReplica)
      .map((a) => a.type)
      .filter((t) => named.length === 0 || named.includes(t)),
  );
}

function requestHash(r: KueueRequest, queue: string, priority: string | undefined): string {
  return createHash("sha256")
    .update(JSON.stringify([r.resource, r.perReplica, r.replicas, queue, priority ?? ""]))
    .digest("hex")
    .slice(0, 16);
}

/** The hash a Workload for this job carries: a different one means the job now asks something else. */
export function requestHashOf(job: TrainingJob): string {
  return requestHash(requestOf(job), queueOf(job) ?? "", job.metadata.labels?.[PRIORITY_CLASS_LABEL]);
}

/** The Workload for a queued job, owned by it (controller reference), with the priority Kueue will use when given. */
export function renderWorkload(job: TrainingJob, priority?: { name: string; value: number }): Workload {
  const r = requestOf(job);
  const devices = { [r.resource]: String(r.perReplica) };
  return {
    apiVersion: `${KUEUE_GROUP}/${KUEUE_VERSION}`,
    kind: "Workload",
    metadata: {
      name: workloadNameOf(job),
      namespace: job.metadata.namespace ?? "default",
      labels: { [JOB_UID_LABEL]: job.metadata.uid ?? "", "app.kubernetes.io/managed-by": "crosscloud-operator" },
      annotations: { [REQUEST_HASH_ANNOTATION]: requestHashOf(job) },
      ownerReferences: [
        {
          apiVersion: job.apiVersion,
          kind: job.kind,
          name: job.metadata.name ?? "",
          uid: job.metadata.uid ?? "",
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      queueName: queueOf(job) ?? "",
      ...(priority
        ? {
            priority: priority.value,
            priorityClassRef: { group: KUEUE_GROUP, kind: "WorkloadPriorityClass", name: priority.name },
          }
        : {}),
      podSets: [
        {
          name: POD_SET,
          count: r.replicas,
          template: {
            spec: {
              restartPolicy: "Never",
              containers: [{ name: "trainer", resources: { requests: devices, limits: devices } }],
            },
          },
        },
      ],
    },
  };
}

/** Where a Workload stands, as the operator acts on it. */
export type Admission =
  | { readonly state: "Pending"; readonly reason: string; readonly message: string }
  | { readonly state: "Admitted"; readonly clusterQueue: string; readonly flavors: string[] }
  | { readonly state: "Evicted"; readonly reason: string; readonly message: string; readonly reserved: boolean }
  | { readonly state: "Finished"; readonly reason: string };

const cond = (wl: Workload, type: string) => wl.status?.conditions?.find((c) => c.type === type);
const isTrue = (wl: Workload, type: string) => cond(wl, type)?.status === "True";

export function admissionOf(wl: Workload): Admission {
  const finished = cond(wl, "Finished");
  if (finished?.status === "True") return { state: "Finished", reason: finished.reason };
  const reserved = wl.status?.admission !== undefined || isTrue(wl, "QuotaReserved");
  const evicted = cond(wl, "Evicted");
  if (evicted?.status === "True" && reserved)
    return { state: "Evicted", reason: evicted.reason, message: evicted.message, reserved };
  if (isTrue(wl, "Admitted") && wl.status?.admission) {
    const flavors = wl.status.admission.podSetAssignments.flatMap((a) => Object.values(a.flavors ?? {}));
    return { state: "Admitted", clusterQueue: wl.status.admission.clusterQueue, flavors: [...new Set(flavors)] };
  }
  const quota = cond(wl, "QuotaReserved");
  if (quota?.status === "True") {
    return { state: "Pending", reason: "AdmissionChecks", message: "quota reserved; waiting for admission checks" };
  }
  if (wl.spec.active === false) return { state: "Pending", reason: "Inactive", message: "the Workload is deactivated" };
  // Given back by its owner (after an eviction, or unplaced): the Requeued reason says why, until
  // Kueue's next attempt writes its own message.
  const requeued = cond(wl, "Requeued");
  const why = requeued && requeued.message === quota?.message ? requeued.reason : undefined;
  return {
    state: "Pending",
    reason: why ?? quota?.reason ?? "Pending",
    message: quota?.message || "waiting for Kueue to reserve quota",
  };
}

/**
 * The status an owner writes when its job no longer uses the quota it was admitted with (Kueue's
 * jobs do the same once stopped): no admission, QuotaReserved and Admitted False, and Requeued.
 * After an eviction: Requeued True for preemption (Kueue queues it again), False otherwise (Kueue
 * decides, as for its own jobs). After a failed placement: Requeued True after a backoff
 * (requeueState), so Kueue admits other work meanwhile rather than holding the quota.
 */
export function releasedStatus(
  wl: Workload,
  why: { reason: string; message: string; requeue: boolean; backoffMs?: number },
  now: Date,
): NonNullable<Workload["status"]> {
  const g = wl.metadata.generation;
  let conditions = setCondition(
    wl.status?.conditions,
    { type: "QuotaReserved", status: "False", reason: "Pending", message: why.message },
    g,
    now,
  );
  if (cond(wl, "Admitted"))
    conditions = setCondition(
      conditions,
      { type: "Admitted", status: "False", reason: "NoReservation", message: "The workload has no reservation" },
      g,
      now,
    );
  const requeued = {
    type: "Requeued",
    status: why.requeue ? "True" : "False",
    reason: why.reason,
    message: why.message,
  } as const;
  conditions = setCondition(conditions, requeued, g, now);
  const status: NonNullable<Workload["status"]> = { ...wl.status, conditions };
  delete status.admission;
  if (why.backoffMs !== undefined) {
    status.requeueState = {
      count: (wl.status?.requeueState?.count ?? 0) + 1,
      requeueAt: new Date(now.getTime() + why.backoffMs).toISOString(),
    };
  }
  return status;
}

/** The status of a Workload whose job finished: Finished True (Succeeded or Failed), which frees its quota. */
export function finishedStatus(wl: Workload, reason: "Succeeded" | "Failed", message: string, now: Date) {
  const finished = { type: "Finished", status: "True", reason, message } as const;
  return { ...wl.status, conditions: setCondition(wl.status?.conditions, finished, wl.metadata.generation, now) };
}
