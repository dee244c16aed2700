// The replication phase: starts (in the background, checkpoints.ts) a pass
// from the store of the cluster the job's steps are written in to the stores
// of the other clusters it may move to, and reports the last finished pass in
// status.checkpoint and the CheckpointReplicated condition.

import type { ComputeCluster } from "../../api/computecluster.ts";
import type { TrainingJob } from "../../api/trainingjob.ts";
import type { EpochStart } from "../../checkpoint/fence.ts";
import { checkpointUri, storeOptions } from "../../clusters/stores.ts";
import { replicatedCondition, type StoreTarget } from "./checkpoints.ts";
import { keyOf, type PassContext } from "./context.ts";
import type { StatusBuilder } from "./status.ts";

export interface SyncSource {
  /** The cluster whose store the job's steps are written to. */
  readonly cluster: ComputeCluster;
  /** The epoch writing there, and the moves that fence older epochs' steps. */
  readonly epoch: number;
  readonly lineage: readonly EpochStart[];
  /** When that epoch was placed: uncommitted DCP steps older than this are left alone. */
  readonly placedAt?: string;
}

export async function syncCheckpoints(
  ctx: PassContext,
  job: TrainingJob,
  b: StatusBuilder,
  from: SyncSource,
): Promise<void> {
  const cc = from.cluster;
  const allowed = job.spec.placement;
  const target = async (c: ComputeCluster): Promise<StoreTarget> => ({
    cluster: c.metadata.name ?? "",
    uri: checkpointUri(c, job),
    options: storeOptions(c, await ctx.secrets.of(c, b.now)),
  });
  const others = ctx.o.clusters
    .list()
    .filter((c) => c.metadata.name !== cc.metadata.name && !c.spec.paused && allowed.clouds.includes(c.spec.cloud))
    .filter((c) => !allowed.clusters?.length || allowed.clusters.includes(c.metadata.name ?? ""));
  const result = ctx.o.checkpoints.poke(keyOf(job), {
    epoch: from.epoch,
    lineage: from.lineage,
    source: await target(cc),
    destinations: await Promise.all(others.map(target)),
    keep: job.spec.checkpoint.keep,
    ...(from.placedAt ? { placedAt: new Date(from.placedAt) } : {}),
  });
  if (!result) return;
  b.status.checkpoint = {
    ...(result.status.latestStep !== undefined ? { latestStep: result.status.latestStep } : {}),
    stores: result.status.stores.map((s) => ({ ...s })),
  };
  b.condition(replicatedCondition(result, cc.metadata.name ?? ""));
}
