// Why a placement's workload cannot start on its worker, in words that name
// the cause and what to change: the worker refused the Job (an admission
// webhook, a ValidatingAdmissionPolicy, a ResourceQuota, an invalid object),
// the Job controller cannot create its pods (FailedCreate: Pod Security, a
// quota, a webhook on pods), an image cannot be pulled, or pods cannot be
// scheduled although placement found room for them. Pure.

import type { CoreV1Event, V1Job, V1Pod } from "@kubernetes/client-node";
import { BLOCKED, type BlockedReason } from "../../api/conditions.ts";

/** One cause that keeps the workload from starting, as the WorkloadBlocked condition and its event carry it. */
export interface WorkloadProblem {
  readonly reason: BlockedReason;
  readonly message: string;
}

/**
 * How long pods may be missing or unschedulable before that counts as a problem: the Job controller
 * and the scheduler normally act within a second, and a pod that waits a moment for its node is not one.
 */
export const PROBLEM_GRACE_MS = 5_000;

/** Where the workload is, for messages. */
export interface WorkloadPlace {
  readonly cluster: string;
  readonly namespace: string;
  readonly nodeGroup?: string;
}

/** Which admission step said no, and what to do about it. */
interface Refusal {
  readonly by: string;
  readonly advice: string;
}

/** The admission step a server message names, with the advice for it; undefined when it names none. */
export function refusalIn(serverMessage: string, where: WorkloadPlace): Refusal | undefined {
  const on = `namespace ${where.namespace} on ${where.cluster}`;
  const webhook = /admission webhook "([^"]+)" denied the request/.exec(serverMessage);
  if (webhook) {
    return {
      by: `admission webhook ${webhook[1]}`,
      advice: `change spec.template (or the job's labels) so that the webhook accepts it, or ask the admins of ${where.cluster} to allow it`,
    };
  }
  const policy = /ValidatingAdmissionPolicy '([^']+)'(?: with binding '([^']+)')? denied request/.exec(serverMessage);
  if (policy) {
    return {
      by: `ValidatingAdmissionPolicy ${policy[1]}`,
      advice: `change spec.template (or the job's labels) so that the policy accepts it, or ask the admins of ${where.cluster} to allow it`,
    };
  }
  const quota = /exceeded quota: ([^,\s]+)/.exec(serverMessage);
  if (quota) {
    return {
      by: `ResourceQuota ${quota[1]}`,
      advice: `raise or free ResourceQuota ${quota[1]} in ${on}, or ask for less (spec.replicas, the resources in spec.template)`,
    };
  }
  if (/violates PodSecurity/.test(serverMessage)) {
    return {
      by: "Pod Security admission",
      advice: `make spec.template meet the Pod Security level enforced on ${on} (the message lists the fields), or have the namespace's pod-security.kubernetes.io/enforce label lowered`,
    };
  }
  return undefined;
}

/** The Status a Kubernetes API error carries: its code, reason and message. */
function apiStatus(err: unknown): { code?: number; reason?: string; message: string } {
  const e = err as { code?: unknown; body?: unknown; message?: unknown } | undefined;
  let body = e?.body;
  if (typeof body === "string") {
    try {
      body = JSON.parse(body);
    } catch {
      body = { message: body };
    }
  }
  const status = (body ?? {}) as { reason?: unknown; message?: unknown };
  return {
    ...(typeof e?.code === "number" ? { code: e.code } : {}),
    ...(typeof status.reason === "string" ? { reason: status.reason } : {}),
    message: typeof status.message === "string" ? status.message : String(e?.message ?? err),
  };
}

/**
 * The worker's refusal of an applied workload object, from the API error: an admission webhook, a
 * ValidatingAdmissionPolicy, a ResourceQuota or Pod Security said no, or the server found the object
 * invalid (422). Undefined for any other error (RBAC, a server error, no answer), which stays a
 * reconcile error.
 */
export function refusalOf(err: unknown, where: WorkloadPlace): WorkloadProblem | undefined {
  const s = apiStatus(err);
  if (s.code === undefined || s.code < 400 || s.code >= 500) return undefined;
  const text = s.message.slice(0, 800);
  const refusal = refusalIn(s.message, where);
  const head = `${where.cluster} refused the workload in namespace ${where.namespace}`;
  if (refusal)
    return { reason: BLOCKED.JobRefused, message: `${head}: ${refusal.by} said: ${text}; ${refusal.advice}` };
  if (s.code === 422 && s.reason === "Invalid") {
    return {
      reason: BLOCKED.JobRefused,
      message: `${head}: its API server found it invalid: ${text}; fix the field it names in spec.template`,
    };
  }
  return undefined;
}

/** A pod of the Job exists for every replica that has not succeeded, not counting failed pods. */
function podsPresent(pods: readonly V1Pod[]): number {
  return pods.filter((p) => p.status?.phase !== "Failed" && !p.metadata?.deletionTimestamp).length;
}

/**
 * True when the Job has been there longer than the grace and some replica has no pod: the Job
 * controller could not create it (then the Job's FailedCreate events say why). A suspended or
 * finished Job has no pods to create.
 */
export function podsMissing(job: V1Job | undefined, pods: readonly V1Pod[], desired: number, now: Date): boolean {
  if (!job || job.spec?.suspend) return false;
  if (job.status?.conditions?.some((c) => (c.type === "Complete" || c.type === "Failed") && c.status === "True"))
    return false;
  const created = new Date(job.metadata?.creationTimestamp ?? now).getTime();
  if (now.getTime() - created < PROBLEM_GRACE_MS) return false;
  return podsPresent(pods) + (job.status?.succeeded ?? 0) < desired;
}

/**
 * A FailedCreate event last seen longer ago than this is not taken as the cause of pods missing now: a
 * refusal that goes on is reported again by the Job controller (its event recorder repeats an event at
 * least every 5 min), while an old one may be from a cause fixed since.
 */
export const FAILED_CREATE_FRESH_MS = 10 * 60_000;

function seenAt(e: CoreV1Event): number {
  const t = e.series?.lastObservedTime ?? e.lastTimestamp ?? e.eventTime ?? e.metadata?.creationTimestamp;
  return t ? new Date(t).getTime() : 0;
}

/** The message of the newest of a Job's FailedCreate events seen within FAILED_CREATE_FRESH_MS. */
export function recentFailedCreate(events: readonly CoreV1Event[], now: Date): string | undefined {
  const recent = events.filter((e) => now.getTime() - seenAt(e) <= FAILED_CREATE_FRESH_MS);
  return recent.sort((x, y) => seenAt(y) - seenAt(x))[0]?.message;
}

/** The newest FailedCreate message, as the Job controller writes it ("Error creating: pods ... is forbidden: ..."). */
export function podsRefused(failedCreate: string, missing: number, where: WorkloadPlace): WorkloadProblem {
  const text = failedCreate.replace(/^Error creating: /, "").slice(0, 800);
  const refusal = refusalIn(text, where);
  const head = `${where.cluster} refuses the Job's pods (${missing} missing)`;
  const advice = refusal
    ? `${refusal.by} said: ${text}; ${refusal.advice}`
    : `${text}; fix what it names in spec.template, or on ${where.cluster}`;
  return { reason: BLOCKED.PodsRefused, message: `${head}: ${advice}` };
}

const PULL_REASONS = new Set(["ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"]);
const CONFIG_REASONS = new Set(["CreateContainerConfigError", "CreateContainerError"]);

/** Where a container's image comes from in the TrainingJob, for the advice. */
export type ImageField = (container: string) => string;

/** The first pod container waiting on an image it cannot pull or a config it cannot build. */
function waitingContainer(pods: readonly V1Pod[], reasons: ReadonlySet<string>) {
  for (const pod of pods) {
    if (pod.metadata?.deletionTimestamp) continue;
    const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
    const s = statuses.find((c) => reasons.has(c.state?.waiting?.reason ?? ""));
    if (s) return { pod, status: s, count: pods.filter((p) => hasWaiting(p, reasons)).length };
  }
  return undefined;
}

function hasWaiting(pod: V1Pod, reasons: ReadonlySet<string>): boolean {
  const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
  return !pod.metadata?.deletionTimestamp && statuses.some((c) => reasons.has(c.state?.waiting?.reason ?? ""));
}

/** Pods that wait on an image that cannot be pulled, or on a container config that cannot be built. */
export function containerProblem(
  pods: readonly V1Pod[],
  where: WorkloadPlace,
  imageField: ImageField,
): WorkloadProblem | undefined {
  const pull = waitingContainer(pods, PULL_REASONS);
  if (pull) {
    const w = pull.status.state?.waiting;
    const image = pull.status.image || "(none)";
    return {
      reason: BLOCKED.ImagePullFailed,
      message: `image ${image} of container ${pull.status.name} on ${where.cluster} cannot be pulled (${pull.count} pod(s)): ${w?.reason}${w?.message ? `: ${w.message}` : ""}; fix ${imageField(pull.status.name)}, or the image pull secret in spec.template`,
    };
  }
  const config = waitingContainer(pods, CONFIG_REASONS);
  if (config) {
    const w = config.status.state?.waiting;
    return {
      reason: BLOCKED.ContainerConfigError,
      message: `container ${config.status.name} on ${where.cluster} cannot be created (${config.count} pod(s)): ${w?.reason}${w?.message ? `: ${w.message}` : ""}; fix what it names in spec.template (a Secret or ConfigMap it refers to must exist in namespace ${where.namespace})`,
    };
  }
  return undefined;
}

/** The PodScheduled=False/Unschedulable condition of a pending pod, if it has been so longer than the grace. */
function unschedulable(pod: V1Pod, now: Date) {
  if (pod.status?.phase !== "Pending" || pod.metadata?.deletionTimestamp) return undefined;
  const c = pod.status.conditions?.find((x) => x.type === "PodScheduled");
  if (c?.status !== "False" || c.reason !== "Unschedulable") return undefined;
  const since = new Date(c.lastTransitionTime ?? pod.metadata?.creationTimestamp ?? now).getTime();
  return now.getTime() - since >= PROBLEM_GRACE_MS ? c : undefined;
}

/** Pods the scheduler cannot place although placement found room on the node group, with the scheduler's message. */
export function schedulingProblem(
  pods: readonly V1Pod[],
  where: WorkloadPlace,
  now: Date,
): WorkloadProblem | undefined {
  const stuck = pods.map((p) => unschedulable(p, now)).filter((c) => c !== undefined);
  const first = stuck[0];
  if (!first) return undefined;
  const group = where.nodeGroup ? `node group ${where.nodeGroup}` : "its node group";
  return {
    reason: BLOCKED.Unschedulable,
    message: `${stuck.length} pod(s) cannot be scheduled on ${where.cluster}, although placement found room on ${group}: ${first.message ?? "no message"}; check the nodeSelector, affinity, tolerations and resource requests of spec.template against that group's nodes (if its nodes went away, the job moves after spec.failover.unschedulableTimeout)`,
  };
}

/** What a placed workload's Job and pods show, and the newest FailedCreate message of the Job if it was read. */
export interface WorkloadView {
  readonly job: V1Job | undefined;
  readonly pods: readonly V1Pod[];
  readonly desired: number;
  readonly failedCreate?: string;
  readonly imageField: ImageField;
  readonly now: Date;
}

/**
 * The one problem to report, most fundamental first: pods that cannot be created, then containers
 * that cannot start, then pods that cannot be scheduled. Undefined when nothing is wrong.
 */
export function workloadProblem(view: WorkloadView, where: WorkloadPlace): WorkloadProblem | undefined {
  const { job, pods, desired, now } = view;
  if (view.failedCreate && podsMissing(job, pods, desired, now)) {
    const missing = desired - podsPresent(pods) - (job?.status?.succeeded ?? 0);
    return podsRefused(view.failedCreate, missing, where);
  }
  return containerProblem(pods, where, view.imageField) ?? schedulingProblem(pods, where, now);
}
