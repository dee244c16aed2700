// Keeps a running job's checkpoints replicated: in the background (never
// inside a reconcile pass), one replication pass at a time per job, from the
// store of its placement to the stores of the other clusters it may move to,
// then a summary of what each store holds for status.checkpoint.

import type { EpochFence, EpochStart } from "../../checkpoint/fence.ts";
import type { JobReplicationMetrics } from "../../checkpoint/metrics.ts";
import { type OpenStoreOptions, openStore } from "../../checkpoint/open-store.ts";
import { type CheckpointStatus, newestCommitted, summariseCheckpoints } from "../../checkpoint/placement.ts";
import { replicateCheckpoints } from "../../checkpoint/replicate.ts";
import { readSteps } from "../../checkpoint/steps.ts";
import type { Logger } from "../../runtime/logger.ts";
import type { ConditionInput } from "../conditions.ts";

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
}

export interface SyncResult {
  readonly status: CheckpointStatus;
  /** When the pass finished. */
  readonly at: Date;
  /** Steps that failed to replicate in the last pass, as "step N to <cluster>: why". */
  readonly failures: readonly string[];
  /** Why the last pass failed as a whole (a store that cannot be listed, say); `status` is then the pass before's. */
  readonly error?: string;
}

export interface CheckpointSyncOptions {
  readonly logger: Logger;
  /** Replication metrics; each job's lag series is removed when the job is forgotten. */
  readonly metrics?: JobReplicationMetrics;
  /** Called when a pass finished, so the job is reconciled and its status written. */
  readonly onResult: (key: string) => void;
  /** Pause between passes of one job. Default 10 s. */
  readonly intervalMs?: number;
}

export class CheckpointSync {
  readonly #o: CheckpointSyncOptions;
  readonly #running = new Map<string, AbortController>();
  readonly #results = new Map<string, SyncResult>();
  readonly #lastStart = new Map<string, number>();
  /** The epoch and source of each job's running or last pass. */
  readonly #planOf = new Map<string, string>();

  constructor(options: CheckpointSyncOptions) {
    this.#o = options;
  }

  /** The last finished pass's result, and a new pass started when one is due. Never waits for I/O. */
  poke(key: string, plan: SyncPlan): SyncResult | undefined {
    // A new epoch or source (the job moved) ends the old pass at once: it could still copy steps that
    // the old epoch commits after the move, and its result describes the old placement.
    const identity = `${plan.epoch}|${plan.source.uri}`;
    if (this.#planOf.has(key) && this.#planOf.get(key) !== identity) this.forget(key);
    this.#planOf.set(key, identity);
    const due = Date.now() - (this.#lastStart.get(key) ?? 0) >= (this.#o.intervalMs ?? 10_000);
    if (!this.#running.has(key) && due) this.#start(key, plan);
    return this.#results.get(key);
  }

  /** Stops the job's pass (if any) and forgets it. */
  forget(key: string): void {
    this.#o.metrics?.forgetJob(key);
    this.#running.get(key)?.abort();
    this.#running.delete(key);
    this.#results.delete(key);
    this.#lastStart.delete(key);
    this.#planOf.delete(key);
  }

  stopAll(): void {
    for (const key of [...this.#running.keys()]) this.forget(key);
  }

  #start(key: string, plan: SyncPlan): void {
    const abort = new AbortController();
    this.#running.set(key, abort);
    this.#lastStart.set(key, Date.now());
    void this.#pass(key, plan, abort.signal)
      .then((result) => {
        if (abort.signal.aborted) return;
        this.#o.logger.debug("checkpoint pass", {
          job: key,
          latestStep: result.status.latestStep,
          failures: result.failures.length,
        });
        this.#results.set(key, result);
        this.#o.onResult(key);
      })
      .catch((err: unknown) => {
        if (abort.signal.aborted) return;
        const error = errorMessage(err);
        this.#o.logger.warn("checkpoint pass failed", { job: key, error });
        // Kept as the result, so the job's condition says so, instead of only the log.
        const before = this.#results.get(key);
        this.#results.set(key, { status: before?.status ?? { stores: [] }, at: new Date(), failures: [], error });
        this.#o.onResult(key);
      })
      .finally(() => {
        if (this.#running.get(key) === abort) this.#running.delete(key);
      });
  }

  async #pass(key: string, plan: SyncPlan, signal: AbortSignal): Promise<SyncResult> {
    const open = (t: StoreTarget) => openStore(t.uri, t.options);
    const source = open(plan.source);
    const destinations = plan.destinations.map(open);
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
      commitDcp: { notBefore: plan.placedAt },
      metrics: this.#o.metrics?.forJob(key),
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
        committed: (await readSteps(i === 0 ? source : (destinations[i - 1] ?? source), signal)).committed,
      })),
    );
    return { status: summariseCheckpoints(stores, fence), at: new Date(), failures };
  }
}

/** An error's message, for a condition: one line, bounded. */
export function errorMessage(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/\s+/g, " ").slice(0, 500);
}

/** Reasons of the CheckpointReplicated condition. */
export const REPLICATED = {
  Replicated: "Replicated",
  Replicating: "Replicating",
  NoCheckpoint: "NoCheckpoint",
  /** Steps failed to copy, or the whole pass failed. */
  ReplicationFailed: "ReplicationFailed",
  /** A store's credentials cannot be had: that store is left out (or, for the job's own, no pass runs). */
  StoreUnavailable: "StoreUnavailable",
} as const;

/**
 * CheckpointReplicated: whether every other store holds the newest step of the placement's store.
 * `unavailable` names the stores left out of the pass ("<cluster>: why").
 */
export function replicatedCondition(
  result: SyncResult,
  sourceCluster: string,
  unavailable: readonly string[] = [],
): ConditionInput {
  if (result.error !== undefined) {
    return {
      type: "CheckpointReplicated",
      status: "False",
      reason: REPLICATED.ReplicationFailed,
      message: `the last replication pass failed: ${result.error}`,
    };
  }
  if (unavailable.length > 0) {
    return {
      type: "CheckpointReplicated",
      status: "False",
      reason: REPLICATED.StoreUnavailable,
      message: `left out of replication until its store can be reached: ${unavailable.join("; ")}`,
    };
  }
  const stores = result.status.stores;
  const source = stores.find((s) => s.cluster === sourceCluster)?.latestStep;
  if (source === undefined) {
    return {
      type: "CheckpointReplicated",
      status: "Unknown",
      reason: "NoCheckpoint",
      message: `no committed step in ${sourceCluster}'s store yet`,
    };
  }
  const behind = stores.filter((s) => s.cluster !== sourceCluster && (s.latestStep ?? -1) < source);
  if (result.failures.length > 0) {
    return {
      type: "CheckpointReplicated",
      status: "False",
      reason: "ReplicationFailed",
      message: result.failures.slice(0, 3).join("; "),
    };
  }
  if (behind.length > 0) {
    const where = behind.map((s) => `${s.cluster} has ${s.latestStep ?? "none"}`).join(", ");
    return {
      type: "CheckpointReplicated",
      status: "False",
      reason: "Replicating",
      message: `step ${source} is being replicated: ${where}`,
    };
  }
  return {
    type: "CheckpointReplicated",
    status: "True",
    reason: "Replicated",
    message: `step ${source} is in every store`,
  };
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
  const { committed } = await readSteps(openStore(uri, options));
  const newest = newestCommitted(committed, fence)?.manifest;
  if (!newest) return undefined;
  const createdAt = new Date(newest.createdAt);
  return { step: newest.step, ...(Number.isFinite(createdAt.getTime()) ? { createdAt } : {}) };
}
