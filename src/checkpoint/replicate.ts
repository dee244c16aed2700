// The replicator: finds the committed steps in the active placement's store
// and replicates each to the other stores (newest first, stale epochs
// skipped), then applies retention. One pass per call; the caller decides how
// often to run it (the operator on every new step, the `replicate` command in
// a loop or once as a Job).

import { type BudgetHolder, type CopyBudget, processCopyBudget } from "./copy-budget.ts";
import type { CopyMode } from "./copy-file.ts";
import { CheckpointError, isAbort } from "./errors.ts";
import type { EventSink, ReplicationEvent } from "./events.ts";
import { type EpochFence, isStale } from "./fence.ts";
import { type Manifest, sameCommit } from "./manifest.ts";
import type { ReplicationMetrics } from "./metrics.ts";
import { replicateStep, type StepContext } from "./replicate-step.ts";
import { applyRetention } from "./retention.ts";
import { Slots } from "./slots.ts";
import { commitDcpSteps, readSteps, type StepReader } from "./steps.ts";
import type { ObjectStore } from "./store.ts";
import { formatStoreUri } from "./uri.ts";

const MiB = 2 ** 20;

export interface ReplicateOptions {
  /** The store of the active placement, where training writes. */
  readonly source: ObjectStore;
  /** The stores of the other eligible clusters. */
  readonly destinations: readonly ObjectStore[];
  /** The active epoch (and resume point): steps of a stale epoch are never replicated. */
  readonly fence: EpochFence;
  /** Replicate only the newest `keep` steps, then prune every store to `keep`; default: every step, no pruning. */
  readonly keep?: number;
  /**
   * Of those, replicate only the steps this accepts (the `--step` of a replicate Job; the operator's
   * pass leaves out the steps its Jobs copy); default every one.
   */
  readonly only?: (manifest: Manifest) => boolean;
  /**
   * Commit PyTorch DCP steps (`.metadata` written, no manifest) in the source
   * with the active epoch before replicating; `notBefore` is the placement's
   * start (older uncommitted steps are left alone). Default: not done.
   */
  readonly commitDcp?: { readonly notBefore?: Date };
  /** This pass's cap on part buffers held at once (its memory <= concurrency x part size); default 8. */
  readonly concurrency?: number;
  /**
   * Where part buffers and part copies come from, shared with every other
   * pass that uses it; default the process's one budget (processCopyBudget(),
   * sized by CHECKPOINT_BUFFER_MIB and CHECKPOINT_PART_COPIES).
   */
  readonly budget?: CopyBudget;
  /** Files copied at once per destination; default 4. */
  readonly fileConcurrency?: number;
  /** Preferred part size in bytes, raised where the destination's part count limit needs it; default 16 MiB. */
  readonly partSize?: number;
  /** Files up to this size are copied with one PUT; default: the part size. */
  readonly multipartThreshold?: number;
  /** Default "stream"; see CopyMode. */
  readonly copyMode?: CopyMode;
  /**
   * What a store holds; default readSteps (a listing and a read of every manifest, each time asked).
   * The operator gives its listers' view. When given, a step whose commit a destination already holds
   * (by that view) is skipped without asking the destination.
   */
  readonly stepsOf?: StepReader;
  readonly metrics?: ReplicationMetrics;
  readonly onEvent?: EventSink;
  readonly signal?: AbortSignal;
  /** The clock, for lag; default the system's. */
  readonly now?: () => Date;
}

export interface StepResult {
  readonly destination: string;
  readonly step: number;
  readonly outcome: "committed" | "already-replicated" | "failed";
  readonly error?: Error;
}

export interface ReplicationReport {
  readonly results: readonly StepResult[];
  readonly bytesRead: number;
  readonly bytesWritten: number;
  readonly dcpCommitted: readonly number[];
  readonly deleted: readonly { readonly store: string; readonly step: number }[];
}

/**
 * One replication pass. Rejects only on an abort or a failure to read the source; a step that fails is
 * reported. With no destinations (every other store left out) it only commits DCP steps and applies
 * retention on the source.
 */
export async function replicateCheckpoints(options: ReplicateOptions): Promise<ReplicationReport> {
  const settings = validate(options);
  const { source, signal, fence } = options;
  const emit: EventSink = options.onEvent ?? (() => {});
  const stepsOf = options.stepsOf ? { stepsOf: options.stepsOf } : {};
  const dcpCommitted = options.commitDcp
    ? await commitDcpSteps(source, {
        epoch: fence.activeEpoch,
        notBefore: options.commitDcp.notBefore,
        signal,
        ...stepsOf,
      })
    : [];
  for (const step of dcpCommitted) emit({ type: "dcp-committed", step });
  const steps = await chooseSteps(source, options, emit);
  const tally = { bytesRead: 0, bytesWritten: 0 };
  const slots = new Slots(settings.concurrency);
  const budget = (options.budget ?? processCopyBudget()).holder();
  const results = await Promise.all(
    options.destinations.map((d) => replicateTo(d, steps, { ...settings, slots, budget, tally, emit }, options)),
  );
  const deleted: { store: string; step: number }[] = [];
  if (options.keep !== undefined) {
    for (const store of [source, ...options.destinations]) {
      const removed = await applyRetention(store, { keep: options.keep, fence, signal, onEvent: emit, ...stepsOf });
      deleted.push(...removed.map((step) => ({ store: formatStoreUri(store.uri), step })));
    }
  }
  return { results: results.flat(), ...tally, dcpCommitted, deleted };
}

/** The source's committed, non-stale steps to replicate, newest first. */
async function chooseSteps(source: ObjectStore, options: ReplicateOptions, emit: EventSink): Promise<Manifest[]> {
  const { committed, invalid } = await (options.stepsOf ?? readSteps)(source, options.signal);
  for (const i of invalid)
    emit({ type: "step-skipped", step: i.step, reason: "invalid-manifest", detail: i.issues.join("; ") });
  const newestFirst = committed.map((c) => c.manifest).sort((a, b) => b.step - a.step);
  const live: Manifest[] = [];
  for (const m of newestFirst) {
    if (isStale(m, options.fence)) {
      emit({
        type: "step-skipped",
        step: m.step,
        reason: "stale-epoch",
        detail: `epoch ${m.epoch} < ${options.fence.activeEpoch}`,
      });
    } else if (options.keep !== undefined && live.length >= options.keep) {
      emit({ type: "step-skipped", step: m.step, reason: "beyond-keep" });
    } else live.push(m);
  }
  return options.only ? live.filter((m) => options.only?.(m)) : live;
}

interface Settings {
  readonly concurrency: number;
  readonly fileConcurrency: number;
  readonly partSize: number;
  readonly multipartThreshold: number;
  readonly copyMode: CopyMode;
}

interface Shared extends Settings {
  readonly slots: Slots;
  readonly budget: BudgetHolder;
  readonly tally: { bytesRead: number; bytesWritten: number };
  readonly emit: EventSink;
}

async function replicateTo(
  destination: ObjectStore,
  steps: readonly Manifest[],
  shared: Shared,
  options: ReplicateOptions,
): Promise<StepResult[]> {
  const src = formatStoreUri(options.source.uri);
  const dst = formatStoreUri(destination.uri);
  const stepBytes = { written: 0 };
  const ctx: StepContext = {
    ...shared,
    source: options.source,
    destination,
    signal: options.signal,
    onEvent: shared.emit,
    count: (kind, bytes) => {
      if (kind === "read") shared.tally.bytesRead += bytes;
      else {
        shared.tally.bytesWritten += bytes;
        stepBytes.written += bytes;
      }
      (kind === "read" ? options.metrics?.bytesRead : options.metrics?.bytesWritten)?.(src, dst, bytes);
    },
  };
  const held = await heldCommits(destination, options);
  const results: StepResult[] = [];
  for (const manifest of steps) {
    const there = held.get(manifest.step);
    if (there && sameCommit(manifest, there)) {
      shared.emit({ type: "step-skipped", destination: dst, step: manifest.step, reason: "already-replicated" });
      results.push({ destination: dst, step: manifest.step, outcome: "already-replicated" });
      continue;
    }
    stepBytes.written = 0;
    results.push(await replicateOne(ctx, manifest, { src, dst, stepBytes, shared, options }));
  }
  return results;
}

/**
 * The commits a destination holds by `options.stepsOf`, by step; empty without it, or when it cannot
 * say (each step then asks the destination itself, and fails there if the store does).
 */
async function heldCommits(destination: ObjectStore, options: ReplicateOptions): Promise<Map<number, Manifest>> {
  if (!options.stepsOf) return new Map();
  try {
    const { committed } = await options.stepsOf(destination, options.signal);
    return new Map(committed.map((c) => [c.manifest.step, c.manifest]));
  } catch (err) {
    if (isAbort(err) || options.signal?.aborted) throw err;
    return new Map();
  }
}

/** Replicates one step to one destination, turning its outcome into a result, an event and metrics. */
async function replicateOne(
  ctx: StepContext,
  manifest: Manifest,
  run: { src: string; dst: string; stepBytes: { written: number }; shared: Shared; options: ReplicateOptions },
): Promise<StepResult> {
  const { src, dst, options } = run;
  const now = options.now ?? (() => new Date());
  const started = now().getTime();
  const step = manifest.step;
  try {
    const outcome = await replicateStep(ctx, manifest);
    const event: ReplicationEvent =
      outcome === "committed"
        ? { type: "step-committed", destination: dst, step, bytesWritten: run.stepBytes.written }
        : { type: "step-skipped", destination: dst, step, reason: "already-replicated" };
    run.shared.emit(event);
    if (outcome === "committed") {
      options.metrics?.stepReplicated(src, dst, (now().getTime() - started) / 1000);
      options.metrics?.lag(src, dst, (now().getTime() - Date.parse(manifest.createdAt)) / 1000);
    }
    return { destination: dst, step, outcome };
  } catch (err) {
    if (isAbort(err) || options.signal?.aborted) throw err;
    const error = err instanceof Error ? err : new Error(String(err));
    run.shared.emit({ type: "step-failed", destination: dst, step, error: error.message });
    options.metrics?.stepFailed(src, dst, err instanceof CheckpointError ? err.detail.code : "Error");
    return { destination: dst, step, outcome: "failed", error };
  }
}

function validate(o: ReplicateOptions): Settings {
  const partSize = o.partSize ?? 16 * MiB;
  const settings: Settings = {
    concurrency: o.concurrency ?? 8,
    fileConcurrency: o.fileConcurrency ?? 4,
    partSize,
    multipartThreshold: o.multipartThreshold ?? partSize,
    copyMode: o.copyMode ?? "stream",
  };
  for (const field of ["concurrency", "fileConcurrency", "partSize", "multipartThreshold"] as const) {
    const v = settings[field];
    if (!Number.isSafeInteger(v) || v < 1) invalid(field, `must be an integer >= 1, got ${v}`);
  }
  if (settings.copyMode !== "stream" && settings.copyMode !== "prefer-server-side") {
    invalid("copyMode", `must be "stream" or "prefer-server-side", got ${JSON.stringify(settings.copyMode)}`);
  }
  if (!Number.isSafeInteger(o.fence.activeEpoch) || o.fence.activeEpoch < 1) {
    invalid("fence.activeEpoch", `must be an integer >= 1, got ${o.fence.activeEpoch}`);
  }
  if (o.keep !== undefined && (!Number.isSafeInteger(o.keep) || o.keep < 1))
    invalid("keep", `must be an integer >= 1, got ${o.keep}`);
  return settings;
}

function invalid(field: string, why: string): never {
  throw new CheckpointError({ code: "InvalidOptions", field }, `replication option ${field} ${why}`);
}
