// What the operator keeps of a worker's objects in its informers: each object
// cut down, before it is cached, to the fields some reader uses (the readers
// are named at each function; a field a reader starts to use must be added
// here, or it reads as absent). Pure.

import type {
  CoreV1Event,
  V1Container,
  V1ContainerStatus,
  V1Job,
  V1Node,
  V1ObjectMeta,
  V1OwnerReference,
  V1Pod,
  V1PodCondition,
} from "@kubernetes/client-node";
import { DOMAIN_LABELS } from "../catalog/instance-types.ts";
import { LABELS as NODE_LABELS } from "../catalog/node-labels.ts";
import {
  COMPLETION_INDEX_ANNOTATION,
  LABEL_EPOCH,
  LABEL_JOB_NAME,
  LABEL_JOB_NAMESPACE,
  LABEL_JOB_UID,
} from "../workload/names.ts";

/** The Job controller's events saying it could not create a Job's pods (admission, quota, a webhook). */
export const FAILED_CREATE_FIELDS = "involvedObject.kind=Job,reason=FailedCreate";

/** Pods that can hold capacity: those that have not finished. */
export const CAPACITY_POD_FIELDS = "status.phase!=Succeeded,status.phase!=Failed";

/** The identity every cached object keeps: what the cache and the handlers key on. */
function identity(m: V1ObjectMeta | undefined): V1ObjectMeta {
  return defined({ name: m?.name, namespace: m?.namespace, uid: m?.uid, resourceVersion: m?.resourceVersion });
}

/** The object without its undefined fields, so a cut object compares equal to the same cut of an equal one. */
function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** Only the given keys of `labels`; undefined when none is there. */
function pick(labels: Readonly<Record<string, string>> | undefined, keys: readonly string[]) {
  const kept = Object.fromEntries(keys.filter((k) => labels?.[k] !== undefined).map((k) => [k, labels?.[k] ?? ""]));
  return Object.keys(kept).length > 0 ? kept : undefined;
}

/**
 * A pod as free capacity reads it (src/controller/computecluster/capacity.ts: its node, phase and the
 * resources its containers request, and its TrainingJob uid and epoch labels for the nodes a placement
 * holds) and give-back (src/controller/trainingjob/give-back.ts: also whether a DaemonSet owns it).
 */
export function capacityPod(pod: V1Pod): V1Pod {
  const daemonSet = pod.metadata?.ownerReferences?.filter((o) => o.kind === "DaemonSet").map(ownerRef);
  const requests = (c: V1Container): V1Container =>
    defined({ name: c.name, resources: c.resources?.requests ? { requests: c.resources.requests } : undefined });
  return {
    metadata: defined({
      ...identity(pod.metadata),
      labels: pick(pod.metadata?.labels, [LABEL_JOB_UID, LABEL_EPOCH]),
      ownerReferences: daemonSet?.length ? daemonSet : undefined,
    }),
    spec: defined({ nodeName: pod.spec?.nodeName, containers: (pod.spec?.containers ?? []).map(requests) }),
    status: defined({ phase: pod.status?.phase }),
  };
}

function ownerRef(o: V1OwnerReference): V1OwnerReference {
  return { apiVersion: o.apiVersion, kind: o.kind, name: o.name, uid: o.uid };
}

/**
 * A pod of a managed Job as job status reads it (src/controller/trainingjob/: observe.ts, report.ts,
 * workload-problems.ts, blocked.ts, failover-trigger.ts, and the operator's enqueue by label): its
 * TrainingJob labels, times, phase, reason, conditions, and each container's name, image and
 * waiting or terminated state; and as UltraServer pinning reads it (ultraserver-pins.ts): its
 * completion index and its scheduling gates, the only part of its spec kept.
 */
export function managedPod(pod: V1Pod): V1Pod {
  const m = pod.metadata;
  const s = pod.status;
  const gates = pod.spec?.schedulingGates;
  return {
    metadata: defined({
      ...identity(m),
      labels: pick(m?.labels, [LABEL_JOB_UID, LABEL_EPOCH, LABEL_JOB_NAME, LABEL_JOB_NAMESPACE]),
      annotations: pick(m?.annotations, [COMPLETION_INDEX_ANNOTATION]),
      creationTimestamp: m?.creationTimestamp,
      deletionTimestamp: m?.deletionTimestamp,
    }),
    ...(gates?.length ? { spec: { containers: [], schedulingGates: gates.map((g) => ({ name: g.name })) } } : {}),
    status: defined({
      phase: s?.phase,
      reason: s?.reason,
      conditions: s?.conditions?.map(podCondition),
      initContainerStatuses: s?.initContainerStatuses?.map(containerStatus),
      containerStatuses: s?.containerStatuses?.map(containerStatus),
    }),
  };
}

function podCondition(c: V1PodCondition): V1PodCondition {
  return defined({
    type: c.type,
    status: c.status,
    reason: c.reason,
    message: c.message,
    lastTransitionTime: c.lastTransitionTime,
  });
}

function containerStatus(c: V1ContainerStatus): V1ContainerStatus {
  const waiting = c.state?.waiting;
  const terminated = c.state?.terminated;
  // The type asks for fields no reader uses (imageID, ready, restartCount): they are left out.
  return {
    name: c.name,
    image: c.image,
    state: defined({
      waiting: waiting ? defined({ reason: waiting.reason, message: waiting.message }) : undefined,
      terminated: terminated ? defined({ reason: terminated.reason, exitCode: terminated.exitCode }) : undefined,
    }),
  } as V1ContainerStatus;
}

/**
 * A node as capacity and give-back read it (src/controller/computecluster/capacity.ts,
 * src/catalog/node-labels.ts): the labels that say its instance type, node group, capacity type and
 * domain (NVLink clique, Trn2 UltraServer), whether it is cordoned, and its Ready condition's status.
 */
export function cachedNode(node: V1Node): V1Node {
  const ready = node.status?.conditions?.find((c) => c.type === "Ready");
  return {
    metadata: defined({
      ...identity(node.metadata),
      labels: pick(node.metadata?.labels, [...Object.values(NODE_LABELS), ...DOMAIN_LABELS]),
    }),
    spec: defined({ unschedulable: node.spec?.unschedulable }),
    status: { conditions: ready ? [{ type: ready.type, status: ready.status }] : [] },
  };
}

/**
 * A managed worker Job without what no reader uses: its pod template (the bulk of it: the rendered
 * containers, env and volumes) and managedFields. Its labels and annotations (the operator's own
 * hashes and resume step), suspend and status are read by src/controller/trainingjob/ (launch,
 * observe, blocked, fence, run-policy).
 */
export function cachedJob(job: V1Job): V1Job {
  const { managedFields: _managed, ...metadata } = job.metadata ?? {};
  const { template: _template, ...spec } = job.spec ?? ({} as NonNullable<V1Job["spec"]>);
  return defined({
    apiVersion: job.apiVersion,
    kind: job.kind,
    metadata,
    spec: spec as NonNullable<V1Job["spec"]>,
    status: job.status,
  });
}

/**
 * A Job's FailedCreate event as blocked.ts reads it (recentFailedCreate in workload-problems.ts): the
 * Job it is about, its message and the times it was seen.
 */
export function failedCreateEvent(e: CoreV1Event): CoreV1Event {
  const o = e.involvedObject;
  return defined({
    metadata: defined({ ...identity(e.metadata), creationTimestamp: e.metadata?.creationTimestamp }),
    involvedObject: defined({ kind: o?.kind, name: o?.name, namespace: o?.namespace, uid: o?.uid }),
    reason: e.reason,
    message: e.message,
    lastTimestamp: e.lastTimestamp,
    eventTime: e.eventTime,
    series: e.series?.lastObservedTime ? { lastObservedTime: e.series.lastObservedTime } : undefined,
  }) as CoreV1Event;
}
