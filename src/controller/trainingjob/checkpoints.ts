// Keeps a running job's checkpoints replicated: in the background (never
// inside a reconcile pass), one replication pass at a time per job, from the
// store of its placement to the stores of the other clusters it may move to,
// then a summary of what each store holds for status.checkpoint. The stores
// are listed per store, not per job (src/checkpoint/store-listers.ts): a pass
// runs when a scan found one of the job's lines changed.

import {
  AGENT_REPORTS_DIR,
  type AgentReport,
  type ReportCache,
  readAgentReports,
} from "../../checkpoint/agent/report.ts";
import type { EpochFence, EpochStart } from "../../checkpoint/fence.ts";
import { checkpointIntervalSeconds, type JobReplicationMetrics } from "../../checkpoint/metrics.ts";
import { type OpenStoreOptions, openStore } from "../../checkpoint/open-store.ts";
import { type CheckpointStatus, newestCommitted, summariseCheckpoints } from "../../checkpoint/placement.ts";
import { replicateCheckpoints } from "../../checkpoint/replicate.ts";
import { type CommittedStep, readSteps, type StepReader } from "../../checkpoint/steps.ts";
import { type LineRef, StoreListers } from "../../checkpoint/store-listers.ts";
import type { Logger } from "../../runtime/logger.ts";
import { uploadLag } from "./checkpoint-conditions.ts";
import { type LargeStep, largePending, stepBytes } from "./replication-jobs.ts";

export interface StoreTarget {
  readonly cluster: string;
  readonly uri: string;
  readonly options: OpenStoreOptions;
}

export interface SyncPlan {
  readonly epoch: number;
  readonly resumedFromStep?: number;
  /** The job's moves (failovers.ts lineage): which older-epoch steps are still on its line. */
  readonly lineage?: readonly EpochStart[];
  readonly source: StoreTarget;
  readonly destinations: readonly StoreTarget[];
  readonly keep: number;
  /** DCP steps newer than this (the placement's start) are committed by the operator. */
  readonly placedAt?: Date;
  /**
   * The checkpoint agents commit the steps (spec.checkpoint.localDir), once every replica's part is in:
   * the operator commits none, since a DCP step's `.metadata` (rank 0's) arrives before the other parts.
   */
  readonly agentsCommit?: boolean;
  /** Steps larger than this many bytes are left to replicate Jobs (replication-jobs.ts); absent: none is. */
  readonly jobAbove?: number;
}

export interface SyncResult {
  readonly status: CheckpointStatus;
  /** When the pass finished. */
  readonly at: Date;
  /** Steps that failed to replicate in the last pass, as "step N to <cluster>: why". */
  readonly failures: readonly string[];
  /** Why the last pass failed as a whole (a store that cannot be listed, say); `status` is then the pass before's. */
  readonly error?: string;
  /** With plan.jobAbove: the steps above it that some destination lacks, for replicate Jobs. */
  readonly large?: readonly LargeStep[];
  /** The checkpoint agents' reports of the plan's epoch in the source line, by replica index. */
  readonly agents?: readonly AgentReport[];
}

export interface CheckpointSyncOptions {
  readonly logger: Logger;
  /** Replication metrics and store requests; each job's lag series is removed when the job is forgotten. */
  readonly metrics?: JobReplicationMetrics;
  /** Called when a pass finished, so the job is reconciled and its status written. */
  readonly onResult: (key: string) => void;
  /** Time between two scans of one store; a job whose pass failed tries again after this long. Default 10 s. */
  readonly intervalMs?: number;
  /** A line newly watched waits at most this long for its store's scan; default 200 ms. */
  readonly firstScanMs?: number;
}

/** What CheckpointSync knows of one job. */
interface JobSync {
  /** Its epoch and source store: a pass of another one is ended. */
  readonly identity: string;
  plan: SyncPlan;
  /** Its lines, source first, in the stores of the plan's targets. */
  lines: LineRef[];
  running?: AbortController;
  lastStart: number;
  /** The plan and its lines' versions when its last pass started: nothing new, no pass. */
  seen?: string;
  result?: SyncResult;
  /** Agent reports read, by key, as listed when read: one is read again only when listed differently. */
  reports: ReportCache;
}

/**
 * Replication passes of every active job, fed by one lister per store (StoreListers): a store is
 * listed once per interval for all its jobs, and a job's pass runs when one of its lines changed (or
 * its plan did, or its last pass failed and the interval has passed), reading what the stores hold
 * from the listers, so a job with nothing new sends no request of its own.
 */
export class CheckpointSync {
  readonly #o: CheckpointSyncOptions;
  readonly #stores: StoreListers;
  readonly #jobs = new Map<string, JobSync>();
  /** The jobs of each line, by `<handle> <line>`. */
  readonly #watchers = new Map<string, Set<string>>();

  constructor(options: CheckpointSyncOptions) {
    this.#o = options;
    this.#stores = new StoreListers({
      intervalMs: this.#interval(),
      ...(options.firstScanMs !== undefined ? { firstScanMs: options.firstScanMs } : {}),
      onChange: (ref) => {
        for (const key of this.#watchers.get(lineId(ref)) ?? []) this.#maybeStart(key);
      },
      onRequest: (store, operation) => options.metrics?.storeRequest(store, operation),
    });
  }

  /** The stores and their listers (tests and benchmarks read and scan them). */
  get stores(): StoreListers {
    return this.#stores;
  }

  /** The last finished pass's result, and a new pass started when one is due. Never waits for I/O. */
  poke(key: string, plan: SyncPlan): SyncResult | undefined {
    // A new epoch or source (the job moved) ends the old pass at once: it could still copy steps that
    // the old epoch commits after the move, and its result describes the old placement.
    const identity = `${plan.epoch}|${plan.source.uri}`;
    const before = this.#jobs.get(key);
    if (before && before.identity !== identity) this.forget(key);
    const job: JobSync = this.#jobs.get(key) ?? { identity, plan, lines: [], lastStart: 0, reports: new Map() };
    this.#jobs.set(key, job);
    job.plan = plan;
    try {
      this.#watch(key, job, [plan.source, ...plan.destinations]);
    } catch (err) {
      // A store that cannot even be opened (a bad URI or options): the job's condition says why.
      job.result = {
        status: job.result?.status ?? { stores: [] },
        at: new Date(),
        failures: [],
        error: errorMessage(err),
      };
      return job.result;
    }
    this.#maybeStart(key);
    return job.result;
  }

  /** Stops the job's pass (if any), stops watching its lines and forgets it. */
  forget(key: string): void {
    this.#o.metrics?.forgetJob(key);
    const job = this.#jobs.get(key);
    if (!job) return;
    job.running?.abort();
    this.#watch(key, job, []);
    this.#jobs.delete(key);
  }

  stopAll(): void {
    for (const key of [...this.#jobs.keys()]) this.forget(key);
    this.#stores.stopAll();
  }

  /** The newest committed step of a line that the fence allows, read now through the shared clients. */
  async newestStep(uri: string, options: OpenStoreOptions, fence: EpochFence): Promise<ResumePoint | undefined> {
    const { committed } = await this.#stores.read(this.#stores.ref(uri, options));
    return resumePoint(committed, fence);
  }

  #interval(): number {
    return this.#o.intervalMs ?? 10_000;
  }

  /** Watches the lines of `targets` for the job, and stops watching those it no longer has. */
  #watch(key: string, job: JobSync, targets: readonly StoreTarget[]): void {
    const lines = targets.map((t) => this.#stores.ref(t.uri, t.options));
    const next = new Map(lines.map((ref) => [lineId(ref), ref]));
    const before = new Map(job.lines.map((ref) => [lineId(ref), ref]));
    for (const [id, ref] of next) {
      if (before.has(id)) continue;
      this.#stores.watch(ref);
      this.#watchers.set(id, (this.#watchers.get(id) ?? new Set()).add(key));
    }
    for (const [id, ref] of before) {
      if (next.has(id)) continue;
      this.#stores.unwatch(ref);
      const jobs = this.#watchers.get(id);
      jobs?.delete(key);
      if (jobs?.size === 0) this.#watchers.delete(id);
    }
    job.lines = lines;
  }

  /** Starts the job's pass when none runs and something is new to it; each of its lines must have been listed. */
  #maybeStart(key: string): void {
    const job = this.#jobs.get(key);
    if (!job || job.running) return;
    const versions = job.lines.map((ref) => this.#stores.version(ref));
    if (versions.some((v) => v === undefined)) return;
    const state = `${planDigest(job.plan)} ${versions.join(",")}`;
    const failed = job.result !== undefined && (job.result.error !== undefined || job.result.failures.length > 0);
    const retry = failed && Date.now() - job.lastStart >= this.#interval();
    if (state === job.seen && !retry) return;
    job.seen = state;
    this.#start(key, job);
  }

  #start(key: string, job: JobSync): void {
    const abort = new AbortController();
    job.running = abort;
    job.lastStart = Date.now();
    void this.#pass(key, job, abort.signal)
      .then((result) => {
        if (abort.signal.aborted) return;
        this.#o.logger.debug("checkpoint pass", {
          job: key,
          latestStep: result.status.latestStep,
          failures: result.failures.length,
        });
        job.result = result;
        this.#o.onResult(key);
      })
      .catch((err: unknown) => {
        if (abort.signal.aborted) return;
        const error = errorMessage(err);
        this.#o.logger.warn("checkpoint pass failed", { job: key, error });
        // Kept as the result, so the job's condition says so, instead of only the log.
        job.result = { status: job.result?.status ?? { stores: [] }, at: new Date(), failures: [], error };
        this.#o.onResult(key);
      })
      .finally(() => {
        if (job.running === abort) job.running = undefined;
      });
  }

  async #pass(key: string, job: JobSync, signal: AbortSignal): Promise<SyncResult> {
    const { plan, lines } = job;
    const [source, ...destinations] = lines.map((ref) => ref.store);
    if (!source) throw new Error("no source store");
    const byStore = new Map(lines.map((ref) => [ref.store, ref]));
    // What each store holds comes from its lister: no request unless the line was written since.
    const stepsOf: StepReader = (store, s) => {
      const ref = byStore.get(store);
      return ref ? this.#stores.steps(ref, s) : readSteps(store, s);
    };
    const fence: EpochFence = {
      activeEpoch: plan.epoch,
      ...(plan.resumedFromStep !== undefined ? { resumedFromStep: plan.resumedFromStep } : {}),
      ...(plan.lineage ? { lineage: plan.lineage } : {}),
    };
    const report = await replicateCheckpoints({
      source,
      destinations,
      fence,
      keep: plan.keep,
      ...(plan.agentsCommit ? {} : { commitDcp: { notBefore: plan.placedAt } }),
      ...(plan.jobAbove !== undefined ? { only: (m) => stepBytes(m.files) <= (plan.jobAbove ?? 0) } : {}),
      metrics: this.#o.metrics?.forJob(key),
      stepsOf,
      signal,
    });
    const clusterOf = new Map([plan.source, ...plan.destinations].map((t) => [t.uri.replace(/\/+$/, ""), t.cluster]));
    const failures = report.results
      .filter((r) => r.outcome === "failed")
      .map(
        (r) =>
          `step ${r.step} to ${clusterOf.get(r.destination.replace(/\/+$/, "")) ?? r.destination}: ${r.error?.message ?? "failed"}`,
      );
    const targets = [plan.source, ...plan.destinations];
    const stores = await Promise.all(
      targets.map(async (t, i) => ({
        cluster: t.cluster,
        uri: t.uri,
        committed: (await stepsOf(lines[i]?.store ?? source, signal)).committed,
      })),
    );
    const interval = checkpointIntervalSeconds((stores[0]?.committed ?? []).map((c) => c.manifest));
    this.#o.metrics?.forJob(key).checkpointInterval(interval);
    const large = plan.jobAbove !== undefined ? { large: largePending(stores, fence, plan.jobAbove, plan.keep) } : {};
    // The agents' reports in the source line: only those listed anew are read.
    const read = await readAgentReports(
      source,
      this.#stores.listed(lines[0] as LineRef, AGENT_REPORTS_DIR),
      job.reports,
    );
    job.reports = read.cache;
    const agents = read.reports.filter((r) => r.epoch === plan.epoch);
    const committed = newestCommitted(stores[0]?.committed ?? [], fence)?.manifest.step;
    this.#o.metrics?.forJob(key).uploadLag(new Map(agents.map((r) => [r.index, uploadLag(r, committed)])));
    const reports = agents.length > 0 ? { agents } : {};
    return { status: summariseCheckpoints(stores, fence), at: new Date(), failures, ...large, ...reports };
  }
}

/** A line's id among the watched ones. */
function lineId(ref: Pick<LineRef, "handle" | "line">): string {
  return `${ref.handle} ${ref.line}`;
}

/** What of a plan makes a pass differ: a change runs one even when no store changed. */
function planDigest(plan: SyncPlan): string {
  const targets = [plan.source, ...plan.destinations].map((t) => `${t.cluster}=${t.uri}`);
  targets.push(...targets.splice(1).sort());
  return JSON.stringify([
    plan.epoch,
    plan.resumedFromStep,
    plan.lineage,
    plan.keep,
    plan.placedAt,
    plan.agentsCommit,
    plan.jobAbove,
    targets,
  ]);
}

/** An error's message, for a condition: one line, bounded. */
export function errorMessage(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/\s+/g, " ").slice(0, 500);
}

/** A step to resume from, with when the training code committed it (its manifest's createdAt). */
export interface ResumePoint {
  readonly step: number;
  readonly createdAt?: Date;
}

/** The newest committed step in a store that the fence allows; undefined when there is none. */
export async function newestStep(
  uri: string,
  options: OpenStoreOptions,
  fence: EpochFence,
): Promise<ResumePoint | undefined> {
  return resumePoint((await readSteps(openStore(uri, options))).committed, fence);
}

function resumePoint(committed: readonly CommittedStep[], fence: EpochFence): ResumePoint | undefined {
  const newest = newestCommitted(committed, fence)?.manifest;
  if (!newest) return undefined;
  const createdAt = new Date(newest.createdAt);
  return { step: newest.step, ...(Number.isFinite(createdAt.getTime()) ? { createdAt } : {}) };
}
