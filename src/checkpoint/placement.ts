// Pure functions the controller calls for checkpoints: the env a placement's
// trainer container gets (API.md, "Env given to the trainer container") and
// the per-store summary `status.checkpoint` shows.

import { type EpochFence, isStale } from "./fence.ts";
import { stepDir } from "./manifest.ts";
import type { CommittedStep } from "./steps.ts";

export interface EnvVar {
  readonly name: string;
  readonly value: string;
}

export interface PlacementCheckpoint {
  /** The store of the cluster the placement runs on, under the job's prefix (no trailing slash). */
  readonly checkpointUri: string;
  /** The newest committed step in that store to resume from; absent on a fresh start. */
  readonly resumeStep?: number;
  readonly epoch: number;
  readonly cloud: string;
  readonly cluster: string;
  readonly accelerator: string;
}

/** The CROSSCLOUD_* variables for the trainer container, in a stable order. */
export function checkpointEnv(p: PlacementCheckpoint): EnvVar[] {
  const uri = p.checkpointUri.replace(/\/+$/, "");
  const env: EnvVar[] = [{ name: "CROSSCLOUD_CHECKPOINT_URI", value: uri }];
  if (p.resumeStep !== undefined) {
    env.push({ name: "CROSSCLOUD_RESUME_STEP", value: String(p.resumeStep) });
    env.push({ name: "CROSSCLOUD_RESUME_URI", value: `${uri}/${stepDir(p.resumeStep)}` });
  }
  env.push(
    { name: "CROSSCLOUD_EPOCH", value: String(p.epoch) },
    { name: "CROSSCLOUD_CLOUD", value: p.cloud },
    { name: "CROSSCLOUD_CLUSTER", value: p.cluster },
    { name: "CROSSCLOUD_ACCELERATOR", value: p.accelerator },
  );
  return env;
}

/** What one store holds, as read by readSteps. */
export interface StoreCheckpoints {
  readonly cluster: string;
  readonly uri: string;
  readonly committed: readonly CommittedStep[];
}

/** One entry of status.checkpoint.stores. */
export interface StoreStatus {
  readonly cluster: string;
  readonly uri: string;
  readonly latestStep?: number;
  /** When the latest step's manifest arrived in this store (RFC 3339). */
  readonly committedAt?: string;
}

export interface CheckpointStatus {
  /** The newest step committed in any store; absent when none is. */
  readonly latestStep?: number;
  readonly stores: readonly StoreStatus[];
}

/** The newest non-stale committed step, or undefined. */
export function newestCommitted(committed: readonly CommittedStep[], fence?: EpochFence): CommittedStep | undefined {
  let best: CommittedStep | undefined;
  for (const c of committed) {
    if (isStale(c.manifest, fence)) continue;
    if (!best || c.manifest.step > best.manifest.step) best = c;
  }
  return best;
}

/** status.checkpoint from what each store holds; stale-epoch steps never count. */
export function summariseCheckpoints(stores: readonly StoreCheckpoints[], fence?: EpochFence): CheckpointStatus {
  const entries = stores.map((s): StoreStatus => {
    const newest = newestCommitted(s.committed, fence);
    if (!newest) return { cluster: s.cluster, uri: s.uri };
    return {
      cluster: s.cluster,
      uri: s.uri,
      latestStep: newest.manifest.step,
      committedAt: newest.committedAt.toISOString(),
    };
  });
  const steps = entries.flatMap((e) => (e.latestStep === undefined ? [] : [e.latestStep]));
  return steps.length > 0 ? { latestStep: Math.max(...steps), stores: entries } : { stores: entries };
}
