// Retention: which committed steps a store keeps (`keep` newest non-stale
// ones, so never the newest committed step) and deleting the rest, manifest
// first, so a half-deleted step is never taken for a committed one.

import { CheckpointError } from "./errors.ts";
import type { EventSink } from "./events.ts";
import { type EpochFence, isStale } from "./fence.ts";
import { DCP_METADATA_NAME, MANIFEST_NAME, stepDir } from "./manifest.ts";
import { readSteps, type StepReader } from "./steps.ts";
import type { ObjectStore } from "./store.ts";
import { formatStoreUri } from "./uri.ts";

export interface RetentionChoice {
  /** Steps kept, newest first. */
  readonly keep: readonly number[];
  /** Steps to delete, newest first. */
  readonly remove: readonly number[];
  /** Steps of a fenced epoch: neither counted nor deleted (left for inspection). */
  readonly stale: readonly number[];
}

/** Chooses what to keep among a store's committed steps. `keep` must be an integer >= 1. */
export function chooseRetention(
  committed: readonly { readonly step: number; readonly epoch: number }[],
  keep: number,
  fence?: EpochFence,
): RetentionChoice {
  if (!Number.isSafeInteger(keep) || keep < 1) {
    throw new CheckpointError({ code: "InvalidOptions", field: "keep" }, `keep must be an integer >= 1, got ${keep}`);
  }
  const newestFirst = [...committed].sort((a, b) => b.step - a.step);
  const live = newestFirst.filter((s) => !isStale(s, fence)).map((s) => s.step);
  const stale = newestFirst.filter((s) => isStale(s, fence)).map((s) => s.step);
  return { keep: live.slice(0, keep), remove: live.slice(keep), stale };
}

export interface RetentionOptions {
  readonly keep: number;
  readonly fence?: EpochFence;
  readonly signal?: AbortSignal;
  readonly onEvent?: EventSink;
  /** Where the store's steps come from; default readSteps. */
  readonly stepsOf?: StepReader;
}

/** Applies chooseRetention to `store`; resolves with the steps deleted. */
export async function applyRetention(store: ObjectStore, options: RetentionOptions): Promise<number[]> {
  const { committed, all } = await (options.stepsOf ?? readSteps)(store, options.signal);
  const choice = chooseRetention(
    committed.map((c) => c.manifest),
    options.keep,
    options.fence,
  );
  for (const step of choice.remove) {
    const objects = all.find((s) => s.step === step)?.objects ?? [];
    const first = [`${stepDir(step)}/${MANIFEST_NAME}`, `${stepDir(step)}/${DCP_METADATA_NAME}`];
    for (const key of first) await store.delete(key, options.signal);
    for (const o of objects) if (!first.includes(o.key)) await store.delete(o.key, options.signal);
    options.onEvent?.({ type: "step-deleted", store: formatStoreUri(store.uri), step });
  }
  return [...choice.remove];
}
