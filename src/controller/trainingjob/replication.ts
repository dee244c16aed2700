// The replication phase: starts (in the background, checkpoints.ts) a pass
// from the store of the cluster the job's steps are written in to the stores
// of the other clusters it may move to, runs the replicate Jobs of the steps
// too large for it (replicate-jobs-run.ts), and reports the last finished pass
// in status.checkpoint and the CheckpointReplicated condition.

import type { ComputeCluster } from "../../api/computecluster.ts";
import type { TrainingJob } from "../../api/trainingjob.ts";
import type { EpochStart } from "../../checkpoint/fence.ts";
import { checkpointUri, storeOptions } from "../../clusters/stores.ts";
import type { ConditionInput } from "../conditions.ts";
import {
  processUploadStuckMs,
  REPLICATED,
  replicatedCondition,
  UPLOADED,
  uploadStatus,
} from "./checkpoint-conditions.ts";
import { errorMessage, type StoreTarget, type SyncResult } from "./checkpoints.ts";
import { keyOf, type PassContext } from "./context.ts";
import type { ReplicateStore } from "./replicate-job.ts";
import { jobThreshold, replicateStore, runReplicateJobs } from "./replicate-jobs-run.ts";
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

/** Starts (or keeps going) the job's replication; with `report` false its result is not written to `b` yet. */
export async function syncCheckpoints(
  ctx: PassContext,
  job: TrainingJob,
  b: StatusBuilder,
  from: SyncSource,
  { report = true }: { readonly report?: boolean } = {},
): Promise<void> {
  const cc = from.cluster;
  const allowed = job.spec.placement;
  // A store whose credentials cannot be read concerns its cluster only: it is left out of the pass
  // and named in the condition; the other stores go on replicating.
  const unavailable: string[] = [];
  // What a replicate Job's pod would be given for each store (replicate-jobs-run.ts).
  const forJobs = new Map<string, ReplicateStore>();
  const target = async (c: ComputeCluster): Promise<StoreTarget | undefined> => {
    try {
      const credentials = await ctx.secrets.of(c, b.now);
      const uri = checkpointUri(c, job);
      forJobs.set(c.metadata.name ?? "", replicateStore(c, uri, credentials));
      return { cluster: c.metadata.name ?? "", uri, options: storeOptions(c, credentials) };
    } catch (err) {
      unavailable.push(`${c.metadata.name}: ${errorMessage(err)}`);
      return undefined;
    }
  };
  const others = ctx.o.clusters
    .list()
    .filter((c) => c.metadata.name !== cc.metadata.name && !c.spec.paused && allowed.clouds.includes(c.spec.cloud))
    .filter((c) => !allowed.clusters?.length || allowed.clusters.includes(c.metadata.name ?? ""));
  const source = await target(cc);
  const destinations = (await Promise.all(others.map(target))).filter((t): t is StoreTarget => t !== undefined);
  if (!source) {
    if (!report) return;
    reportReplication(b, {
      type: "CheckpointReplicated",
      status: "False",
      reason: REPLICATED.StoreUnavailable,
      message: `no replication: the store of ${unavailable.join("; ")}`,
    });
    return;
  }
  const stores = [source, ...destinations].flatMap((t) => forJobs.get(t.cluster) ?? []);
  const jobAbove = jobThreshold(ctx, stores);
  const result = ctx.o.checkpoints.poke(keyOf(job), {
    epoch: from.epoch,
    lineage: from.lineage,
    source,
    destinations,
    keep: job.spec.checkpoint.keep,
    ...(from.placedAt ? { placedAt: new Date(from.placedAt) } : {}),
    ...(job.spec.checkpoint.localDir ? { agentsCommit: true } : {}),
    ...(jobAbove !== undefined ? { jobAbove } : {}),
  });
  if (!report) return;
  if (!result) {
    // No pass has finished yet; a store left out is said at once.
    if (unavailable.length > 0)
      reportReplication(b, replicatedCondition({ status: { stores: [] }, at: b.now, failures: [] }, "", unavailable));
    return;
  }
  if (result.error === undefined || result.status.stores.length > 0) {
    b.status.checkpoint = {
      ...(result.status.latestStep !== undefined ? { latestStep: result.status.latestStep } : {}),
      stores: result.status.stores.map((s) => ({ ...s })),
    };
  }
  if (job.spec.checkpoint.localDir) reportUploads(b, result, cc.metadata.name ?? "", job.spec.replicas);
  const [sourceStore, ...destinationStores] = stores;
  const jobFailures =
    result.large && sourceStore
      ? await runReplicateJobs(ctx, job, b, {
          cc,
          epoch: from.epoch,
          source: sourceStore,
          destinations: destinationStores,
          large: result.large,
        }).catch((err: unknown) => [`replicate Jobs on ${cc.metadata.name}: ${errorMessage(err)}`])
      : [];
  const failures = [...result.failures, ...jobFailures];
  reportReplication(b, replicatedCondition({ ...result, failures }, cc.metadata.name ?? "", unavailable));
}

/** The condition, and a Warning event when replication fails or leaves a store out for a new cause. */
function reportReplication(b: StatusBuilder, c: ConditionInput): void {
  const trouble: string[] = [REPLICATED.ReplicationFailed, REPLICATED.StoreUnavailable];
  const before = b.status.conditions?.find((x) => x.type === c.type);
  if (trouble.includes(c.reason) && (before?.reason !== c.reason || before.message !== c.message))
    b.event({ type: "Warning", reason: c.reason, message: c.message });
  b.condition(c);
}

/** With the checkpoint agent: status.checkpoint.agents and CheckpointUploaded, and a Warning event when an upload is stuck. */
function reportUploads(b: StatusBuilder, result: SyncResult, sourceCluster: string, replicas: number): void {
  const committedStep = result.status.stores.find((s) => s.cluster === sourceCluster)?.latestStep;
  const { agents, condition } = uploadStatus({
    reports: result.agents ?? [],
    replicas,
    ...(committedStep !== undefined ? { committedStep } : {}),
    now: b.now,
    stuckAfterMs: processUploadStuckMs(),
  });
  const { agents: _before, ...rest } = b.status.checkpoint ?? {};
  b.status.checkpoint = { ...rest, ...(agents.length > 0 ? { agents } : {}) };
  const before = b.status.conditions?.find((x) => x.type === condition.type);
  if (
    condition.reason === UPLOADED.UploadStuck &&
    (before?.reason !== condition.reason || before.message !== condition.message)
  )
    b.event({ type: "Warning", reason: "CheckpointUploadStuck", message: condition.message });
  b.condition(condition);
}
