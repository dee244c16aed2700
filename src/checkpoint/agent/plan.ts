// The agent's pure decisions, table-tested: which local steps are finished for
// this replica and which are still in progress, the manifest a set of part
// records makes (only once every replica's part of this epoch is there), and
// which committed local steps retention deletes.

import type { Manifest, ManifestFile } from "../manifest.ts";

/** A `step-<N>/` directory in the local checkpoint dir, as scanned. */
export interface LocalStep {
  readonly step: number;
  /** `step-<N>/.done` exists: the trainer marked the step finished on this node. */
  readonly done: boolean;
  /** `step-<N>/.metadata` exists: PyTorch DCP's rank 0 wrote it after every rank's shards. */
  readonly metadata: boolean;
}

/** Where this replica is with a local step. */
export type LocalStepState =
  /** Finished on disk and not yet uploaded by this agent: upload it. */
  | "ready"
  /** Not finished yet (the trainer is still writing, or rank 0 has not finished it): look again later. */
  | "waiting"
  /** Uploaded by this agent (its part record is written) or committed in the store: nothing to do. */
  | "uploaded";

export interface ScanFacts {
  /** This pod's replica index. */
  readonly index: number;
  /** Steps whose part record this agent wrote, or that are committed in the store. */
  readonly uploaded: ReadonlySet<number>;
  /** Steps rank 0 finished (its part record or `.metadata` is in the store); only read for other replicas. */
  readonly finishedByRank0: ReadonlySet<number>;
}

/** A step is finished for a replica on its `.done` or `.metadata`, and for replicas other than 0 also once rank 0 finished it. */
export function localStepState(local: LocalStep, facts: ScanFacts): LocalStepState {
  if (facts.uploaded.has(local.step)) return "uploaded";
  if (local.done || local.metadata) return "ready";
  if (facts.index !== 0 && facts.finishedByRank0.has(local.step)) return "ready";
  return "waiting";
}

/** Every local step's state, ascending by step. */
export function planScan(steps: readonly LocalStep[], facts: ScanFacts): { step: number; state: LocalStepState }[] {
  return [...steps].sort((a, b) => a.step - b.step).map((s) => ({ step: s.step, state: localStepState(s, facts) }));
}

/** What one replica uploaded for a step: `<uri>/step-<N>/.crosscloud/parts/<index>.json`. */
export interface PartRecord {
  readonly epoch: number;
  readonly index: number;
  readonly files: readonly ManifestFile[];
}

export type ManifestPlan =
  | { readonly ok: true; readonly manifest: Manifest }
  | { readonly ok: false; readonly missing: readonly number[]; readonly conflict?: string };

/**
 * The step's manifest from its part records: only when every index 0..replicas-1 has a part of `epoch`
 * (parts of other epochs are ignored); `files` is their union. Two parts naming one path with different
 * content is a conflict, never committed.
 */
export function manifestFromParts(
  step: number,
  epoch: number,
  replicas: number,
  parts: readonly PartRecord[],
  createdAt: string,
): ManifestPlan {
  const byIndex = new Map(parts.filter((p) => p.epoch === epoch).map((p) => [p.index, p]));
  const missing = [...Array(replicas).keys()].filter((i) => !byIndex.has(i));
  if (missing.length > 0) return { ok: false, missing };
  const files = new Map<string, ManifestFile>();
  for (const i of [...byIndex.keys()].sort((a, b) => a - b)) {
    for (const f of (byIndex.get(i) as PartRecord).files) {
      const seen = files.get(f.path);
      if (seen && (seen.size !== f.size || seen.sha256 !== f.sha256)) {
        const conflict = `${f.path} was uploaded by two replicas with different content (replica ${i} is one)`;
        return { ok: false, missing: [], conflict };
      }
      files.set(f.path, f);
    }
  }
  return { ok: true, manifest: { step, epoch, createdAt, files: [...files.values()] } };
}

/**
 * Local steps retention deletes: of the local steps committed in the store, all but the newest `keep`.
 * A step not committed (waiting, uploading, or waiting for other replicas' parts) is never deleted.
 */
export function localStepsToDelete(local: readonly number[], committed: ReadonlySet<number>, keep: number): number[] {
  const through = local.filter((s) => committed.has(s)).sort((a, b) => b - a);
  return through.slice(Math.max(keep, 0)).sort((a, b) => a - b);
}
