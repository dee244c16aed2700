// Replica 0's commit of a step: once every replica's part record of this
// epoch is in the store, the manifest (the union of their files, each with
// its size and SHA-256) is written create-only; never before.

import { CheckpointError } from "../errors.ts";
import {
  DCP_METADATA_NAME,
  manifestKey,
  RESERVED_DIR,
  serializeManifest,
  stepDir,
  validateManifest,
} from "../manifest.ts";
import { listAll, type ObjectStore } from "../store.ts";
import { manifestFromParts, type PartRecord } from "./plan.ts";
import { partKey, readPartRecord } from "./upload-step.ts";

export type CommitOutcome =
  | { readonly state: "committed" }
  | { readonly state: "already-committed" }
  | { readonly state: "waiting"; readonly missing: readonly number[] };

export interface CommitContext {
  readonly store: ObjectStore;
  readonly epoch: number;
  readonly replicas: number;
  readonly now: () => Date;
  readonly signal?: AbortSignal;
}

/** Commits `step` when every part is there; says which replicas it still waits for otherwise. */
export async function commitFromParts(ctx: CommitContext, step: number): Promise<CommitOutcome> {
  const { store, signal } = ctx;
  if (await isCommitted(store, step, signal)) return { state: "already-committed" };
  const parts = await readParts(store, step, signal);
  const plan = manifestFromParts(step, ctx.epoch, ctx.replicas, parts, ctx.now().toISOString());
  if (!plan.ok && plan.conflict) {
    throw new CheckpointError(
      { code: "InvalidManifest", key: manifestKey(step), issues: [plan.conflict] },
      plan.conflict,
    );
  }
  if (!plan.ok) return { state: "waiting", missing: plan.missing };
  const checked = validateManifest(plan.manifest, step);
  if (!checked.ok) {
    const message = `step-${step}'s parts make no valid manifest: ${checked.issues.join("; ")}`;
    throw new CheckpointError({ code: "InvalidManifest", key: manifestKey(step), issues: checked.issues }, message);
  }
  const body = Buffer.from(serializeManifest(checked.manifest));
  return (await store.putIfAbsent(manifestKey(step), body, signal))
    ? { state: "committed" }
    : { state: "already-committed" };
}

export async function isCommitted(store: ObjectStore, step: number, signal?: AbortSignal): Promise<boolean> {
  return (await store.head(manifestKey(step), signal)) !== undefined;
}

/** Rank 0 finished the step: its part record or the DCP `.metadata` is in the store. */
export async function finishedByRank0(store: ObjectStore, step: number, signal?: AbortSignal): Promise<boolean> {
  if (await store.head(partKey(step, 0), signal)) return true;
  return (await store.head(`${stepDir(step)}/${DCP_METADATA_NAME}`, signal)) !== undefined;
}

async function readParts(store: ObjectStore, step: number, signal?: AbortSignal): Promise<PartRecord[]> {
  const listed = await listAll(store, `${stepDir(step)}/${RESERVED_DIR}/parts/`, signal);
  const parts: PartRecord[] = [];
  for (const o of listed) {
    const record = await readPartRecord(store, o.key, signal);
    if (record && o.key === partKey(step, record.index)) parts.push(record);
  }
  return parts;
}

/** True when this replica's part record of `epoch` is already in the store (an earlier run wrote it). */
export async function hasOwnPart(store: ObjectStore, step: number, index: number, epoch: number, signal?: AbortSignal) {
  if (!(await store.head(partKey(step, index), signal))) return false;
  return (await readPartRecord(store, partKey(step, index), signal))?.epoch === epoch;
}
