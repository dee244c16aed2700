// Which committed steps of a job are replicated by the operator's own pass and
// which by a replicate Job on the source cluster: steps above a size threshold
// get a Job (bounded in number per source cluster), the others stay in-process.
// Pure: settings from the environment, then a plan from what the stores and the
// worker hold.

import { type EpochFence, isStale } from "../../checkpoint/fence.ts";
import { sameCommit } from "../../checkpoint/manifest.ts";
import type { StoreCheckpoints } from "../../checkpoint/placement.ts";

const GiB = 2 ** 30;

export interface ReplicationJobSettings {
  /** Steps whose files add up to more than this many bytes are replicated by a Job. */
  readonly thresholdBytes: number;
  /** Replicate Jobs running at once on one source cluster, over every TrainingJob. */
  readonly perCluster: number;
}

export const DEFAULT_REPLICATION_JOB_SETTINGS: ReplicationJobSettings = { thresholdBytes: GiB, perCluster: 2 };

/** Reads REPLICATION_JOB_THRESHOLD_BYTES (default 1 GiB) and REPLICATION_JOBS_PER_CLUSTER (default 2). */
export function replicationJobSettings(env: Readonly<Record<string, string | undefined>>): ReplicationJobSettings {
  return {
    thresholdBytes:
      wholeNumber(env, "REPLICATION_JOB_THRESHOLD_BYTES", 0) ?? DEFAULT_REPLICATION_JOB_SETTINGS.thresholdBytes,
    perCluster: wholeNumber(env, "REPLICATION_JOBS_PER_CLUSTER", 1) ?? DEFAULT_REPLICATION_JOB_SETTINGS.perCluster,
  };
}

let fromProcess: ReplicationJobSettings | undefined;
/** replicationJobSettings(process.env), read once; main.ts calls it at start so a bad value stops the start. */
export function processReplicationJobSettings(): ReplicationJobSettings {
  fromProcess ??= replicationJobSettings(process.env);
  return fromProcess;
}

/** A whole-number setting of the environment: undefined when unset or blank; an error naming it when bad. */
export function wholeNumber(
  env: Readonly<Record<string, string | undefined>>,
  name: string,
  min: number,
): number | undefined {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === "") return undefined;
  const n = /^[0-9]+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min) {
    throw new Error(`${name} must be a whole number >= ${min} (bytes or a count, no unit), got ${JSON.stringify(raw)}`);
  }
  return n;
}

/** A committed step of the source that some destination does not hold yet. */
export interface PendingStep {
  readonly step: number;
  /** The sum of its files' sizes, from its manifest. */
  readonly bytes: number;
}

/** A step above the threshold that some destination lacks: what a replicate Job copies. */
export interface LargeStep extends PendingStep {
  /** The epoch that wrote it (the Job's fence: the operator's own has already let it through). */
  readonly epoch: number;
  /** The destinations (clusters) that do not hold this commit. */
  readonly missingIn: readonly string[];
}

/**
 * The source's (first store's) live steps larger than `above` bytes that some other store lacks,
 * newest first: the non-stale ones, only the newest `keep` when given, as the replicator chooses.
 */
export function largePending(
  stores: readonly StoreCheckpoints[],
  fence: EpochFence,
  above: number,
  keep?: number,
): LargeStep[] {
  const [source, ...destinations] = stores;
  const live = (source?.committed ?? [])
    .map((c) => c.manifest)
    .filter((m) => !isStale(m, fence))
    .sort((a, b) => b.step - a.step)
    .slice(0, keep ?? Number.POSITIVE_INFINITY);
  const out: LargeStep[] = [];
  for (const m of live) {
    const bytes = stepBytes(m.files);
    if (bytes <= above) continue;
    const missingIn = destinations
      .filter((d) => !d.committed.some((c) => c.manifest.step === m.step && sameCommit(m, c.manifest)))
      .map((d) => d.cluster);
    if (missingIn.length > 0) out.push({ step: m.step, bytes, epoch: m.epoch, missingIn });
  }
  return out;
}

export interface ReplicationPlanInput {
  readonly steps: readonly PendingStep[];
  readonly settings: ReplicationJobSettings;
  /** The operator's image; undefined: no Job can be run, every step stays in-process. */
  readonly image: string | undefined;
  /** Steps of this job that have a replicate Job on the source cluster already (running or finished). */
  readonly withJob: ReadonlySet<number>;
  /** Replicate Jobs still running on the source cluster, of every TrainingJob (this one's included). */
  readonly runningOnCluster: number;
  /** Why this job's stores cannot be given to a Job (their credentials collide); undefined: they can. */
  readonly refusal?: string;
}

export interface ReplicationPlan {
  /** Replicated by the operator's pass, newest first. */
  readonly inProcess: readonly number[];
  /** Left to the Job that already exists for them. */
  readonly byJob: readonly number[];
  /** A Job is to be created for each now. */
  readonly create: readonly number[];
  /** Above the threshold, waiting for room on the source cluster (perCluster). */
  readonly waiting: readonly number[];
}

/** Splits the pending steps between the operator's pass and replicate Jobs; every list is newest first. */
export function planReplication(input: ReplicationPlanInput): ReplicationPlan {
  const newestFirst = [...input.steps].sort((a, b) => b.step - a.step);
  const large = (s: PendingStep) =>
    input.image !== undefined && input.refusal === undefined && s.bytes > input.settings.thresholdBytes;
  const inProcess = newestFirst.filter((s) => !large(s) && !input.withJob.has(s.step)).map((s) => s.step);
  const byJob = newestFirst.filter((s) => input.withJob.has(s.step)).map((s) => s.step);
  let room = Math.max(0, input.settings.perCluster - input.runningOnCluster);
  const create: number[] = [];
  const waiting: number[] = [];
  for (const s of newestFirst) {
    if (!large(s) || input.withJob.has(s.step)) continue;
    if (room > 0) {
      create.push(s.step);
      room--;
    } else waiting.push(s.step);
  }
  return { inProcess, byJob, create, waiting };
}

/** The bytes of a step's files, from its manifest. */
export function stepBytes(files: readonly { readonly size: number }[]): number {
  return files.reduce((sum, f) => sum + f.size, 0);
}
