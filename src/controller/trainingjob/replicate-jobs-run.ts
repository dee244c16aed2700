// Runs the replicate Jobs of a job's large steps on its source cluster, from
// the replication pass's result: creates the Jobs the plan allows (bounded
// per cluster), leaves running ones alone, and turns a failed one into a
// failure of the CheckpointReplicated condition, deleting it after a backoff
// so the next pass creates it again. The condition and status.checkpoint come
// from what the stores hold, so they read the same for both paths.

import type { V1Job } from "@kubernetes/client-node";
import type { ComputeCluster } from "../../api/computecluster.ts";
import type { TrainingJob } from "../../api/trainingjob.ts";
import type { WorkerCluster } from "../../clusters/registry.ts";
import { podIdentity, podsGetStoreSecret, storeEnv } from "../../clusters/stores.ts";
import { workloadName } from "../../workload/names.ts";
import { deleteJob } from "./cleanup.ts";
import type { PassContext } from "./context.ts";
import { workerNamespace } from "./launch.ts";
import {
  jobRefusal,
  type ReplicateStore,
  renderReplicateJob,
  replicateJobName,
  replicateStepOf,
} from "./replicate-job.ts";
import { type LargeStep, planReplication, processReplicationJobSettings } from "./replication-jobs.ts";
import type { StatusBuilder } from "./status.ts";
import { createOrClaim, ensureNamespace } from "./worker-writes.ts";

/** What a replicate Job's pod is given to reach a cluster's store. */
export function replicateStore(cc: ComputeCluster, uri: string, credentials: Record<string, string> | undefined) {
  const { env } = storeEnv(cc, undefined);
  const given = credentials && podsGetStoreSecret(cc) ? { credentials } : {};
  return { cluster: cc.metadata.name ?? "", cloud: cc.spec.cloud, uri, env, ...given } satisfies ReplicateStore;
}

const said = new Set<string>();
/** Logs a message once per process and key. */
function once(ctx: PassContext, key: string, message: string, fields: Record<string, unknown>): void {
  if (said.has(key)) return;
  said.add(key);
  ctx.o.logger.info(message, fields);
}

/**
 * The size above which the job's steps go to replicate Jobs, or undefined when none can run: no
 * operator image (OPERATOR_IMAGE), or stores a Job's pod cannot be given (jobRefusal).
 */
export function jobThreshold(ctx: PassContext, stores: readonly ReplicateStore[]): number | undefined {
  if (!ctx.o.operatorImage) {
    once(ctx, "no-image", "OPERATOR_IMAGE is not set: every checkpoint step is replicated in-process", {});
    return undefined;
  }
  const clash = jobRefusal(stores);
  if (clash) {
    once(ctx, `clash ${stores.map((s) => s.cluster).join(" ")}`, "large steps replicated in-process", { why: clash });
    return undefined;
  }
  return processReplicationJobSettings().thresholdBytes;
}

export interface ReplicateJobsInput {
  readonly cc: ComputeCluster;
  /** The placement's epoch. */
  readonly epoch: number;
  readonly source: ReplicateStore;
  readonly destinations: readonly ReplicateStore[];
  readonly large: readonly LargeStep[];
}

/** How many times the replicate Job of a step ("<TrainingJob uid>/<step>") was deleted to run again. */
const retries = new Map<string, number>();
const BASE_BACKOFF_MS = 30_000;
const MAX_BACKOFF_MS = 10 * 60_000;

/** The wait after a replicate Job's n-th failure (n >= 1) before it is run again: 30 s doubling, at most 10 min. */
export function retryBackoffMs(failures: number): number {
  return Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** Math.max(0, failures - 1));
}

/** Creates and watches the replicate Jobs of `input.large`; returns failures ("step N to <clusters>: why"). */
export async function runReplicateJobs(
  ctx: PassContext,
  job: TrainingJob,
  b: StatusBuilder,
  input: ReplicateJobsInput,
): Promise<string[]> {
  const image = ctx.o.operatorImage;
  const worker = ctx.o.registry.get(input.cc.metadata.name ?? "");
  if (!worker || !image || input.large.length === 0) return [];
  const namespace = workerNamespace(job, input.cc);
  const ref = { namespace: job.metadata.namespace ?? "", name: job.metadata.name ?? "", uid: job.metadata.uid ?? "" };
  const workload = workloadName(ref, input.epoch, namespace);
  const existing = new Map<number, V1Job>();
  for (const s of input.large) {
    const found = worker.jobs.get(namespace, replicateJobName(workload, s.step));
    if (found && replicateStepOf(found.metadata?.labels) === s.step) existing.set(s.step, found);
  }
  const running = worker.jobs.list().filter((j) => replicateStepOf(j.metadata?.labels) !== undefined && !finished(j));
  const plan = planReplication({
    steps: input.large,
    settings: processReplicationJobSettings(),
    image,
    withJob: new Set(existing.keys()),
    runningOnCluster: running.length,
  });
  const failures: string[] = [];
  for (const step of plan.byJob) {
    const j = existing.get(step);
    const failure = j ? await retryFailed(worker, b, j, `${ref.uid}/${step}`) : undefined;
    if (failure) failures.push(`step ${step} to ${missingIn(input.large, step)}: ${failure}`);
  }
  for (const step of plan.create) {
    const s = input.large.find((l) => l.step === step);
    if (s) await createJob(ctx, job, b, worker, { ...input, image, namespace, workload, ref, step: s });
  }
  forgetRetries(ref.uid, new Set(input.large.map((l) => l.step)));
  return failures;
}

/** Forgets the retries of the TrainingJob `uid`'s steps that are not pending any more: they arrived. */
function forgetRetries(uid: string, pending: ReadonlySet<number>): void {
  for (const key of retries.keys())
    if (key.startsWith(`${uid}/`) && !pending.has(Number(key.slice(uid.length + 1)))) retries.delete(key);
}

function missingIn(large: readonly LargeStep[], step: number): string {
  return large.find((l) => l.step === step)?.missingIn.join(", ") ?? "";
}

function finished(j: V1Job): boolean {
  return (j.status?.conditions ?? []).some(
    (c) => (c.type === "Complete" || c.type === "Failed") && c.status === "True",
  );
}

/** A Job that completed this long ago while its step is still missing did not copy it (a lister lags less). */
export const COMPLETE_GRACE_MS = 60_000;

/**
 * What went wrong with a replicate Job whose step some store still lacks, and since when: it failed,
 * or it completed more than COMPLETE_GRACE_MS ago; undefined while it runs (or just completed).
 */
export function replicateJobTrouble(j: V1Job, now: Date): { why: string; since: number } | undefined {
  const { name = "", namespace = "" } = j.metadata ?? {};
  const at = (c: { lastTransitionTime?: Date | string }) => Date.parse(String(c.lastTransitionTime ?? "")) || 0;
  const conditions = j.status?.conditions ?? [];
  const failed = conditions.find((c) => c.type === "Failed" && c.status === "True");
  if (failed) {
    const why = `${failed.reason ?? "Failed"}: ${failed.message ?? "see its pods' logs"}`;
    return { why: `replicate Job ${namespace}/${name} failed (${why})`, since: at(failed) };
  }
  const complete = conditions.find((c) => c.type === "Complete" && c.status === "True");
  if (complete && now.getTime() - at(complete) > COMPLETE_GRACE_MS) {
    return { why: `replicate Job ${namespace}/${name} completed without the step arriving`, since: at(complete) };
  }
  return undefined;
}

/** A Job's trouble, and the Job deleted once its backoff has passed (the next pass runs it again). */
async function retryFailed(
  worker: WorkerCluster,
  b: StatusBuilder,
  j: V1Job,
  key: string,
): Promise<string | undefined> {
  const trouble = replicateJobTrouble(j, b.now);
  if (!trouble) return undefined;
  const count = (retries.get(key) ?? 0) + 1;
  const why = `${trouble.why} on ${worker.name}`;
  if (j.metadata?.deletionTimestamp) return why;
  const wait = retryBackoffMs(count);
  if (b.now.getTime() - trouble.since < wait) return `${why}; it runs again ${Math.round(wait / 1000)}s after that`;
  await deleteJob(worker, j);
  retries.set(key, count);
  b.event({ type: "Normal", reason: "ReplicationJobRetried", message: `${why}: deleted, to run again` });
  return why;
}

interface CreateInput extends ReplicateJobsInput {
  readonly image: string;
  readonly namespace: string;
  readonly workload: string;
  readonly ref: { readonly namespace: string; readonly name: string; readonly uid: string };
  readonly step: LargeStep;
}

async function createJob(
  ctx: PassContext,
  job: TrainingJob,
  b: StatusBuilder,
  worker: WorkerCluster,
  c: CreateInput,
): Promise<void> {
  const identity = podIdentity(c.cc);
  const rendered = renderReplicateJob({
    job: c.ref,
    epoch: c.epoch,
    step: c.step.step,
    stepEpoch: c.step.epoch,
    namespace: c.namespace,
    workload: c.workload,
    image: c.image,
    source: c.source,
    destinations: c.destinations.filter((d) => c.step.missingIn.includes(d.cluster)),
    ...(identity.serviceAccountName ? { serviceAccountName: identity.serviceAccountName } : {}),
  });
  await ensureNamespace(ctx, worker, c.namespace);
  if (rendered.secret) await createOrClaim(job, worker, rendered.secret);
  await createOrClaim(job, worker, rendered.job);
  const { name } = rendered.job.metadata ?? {};
  b.event({
    type: "Normal",
    reason: "ReplicationJobCreated",
    message: `step ${c.step.step} (${c.step.bytes} bytes) is replicated to ${c.step.missingIn.join(", ")} by Job ${c.namespace}/${name} on ${worker.name}`,
  });
}
