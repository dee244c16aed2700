// Giving back node groups the operator grew for a job. A scale-up is recorded
// in status.grownNodeGroups with the size the operator found; once the job no
// longer needs the group (it finished, moved to another group, or gave up on
// the scale-up), the group is scaled back down to what still runs or is placed
// there, never below the size the operator found, and never while another job
// is growing it. The cloud chooses which nodes go (see docs/placement.md).

import { createHash } from "node:crypto";
import type { V1Node, V1Pod } from "@kubernetes/client-node";
import type { TrainingJob, TrainingJobStatus } from "../../api/trainingjob.ts";
import { nodeFactsFromLabels } from "../../catalog/index.ts";
import type { NodeGroupProvider } from "../../providers/types.ts";
import { LABEL_JOB_UID } from "../../workload/names.ts";
import type { PassContext } from "./context.ts";
import type { StatusBuilder } from "./status.ts";

export type GrownNodeGroup = NonNullable<TrainingJobStatus["grownNodeGroups"]>[number];

/** What decides a give-back's size. */
export interface GiveBackInput {
  /** The desired size the operator found before it grew the group. */
  readonly fromSize: number;
  /** The group's desired size now. */
  readonly current: number;
  /** Nodes of the group where a pod other than this job's runs (DaemonSets aside). */
  readonly busyNodes: number;
  /** Replicas (one node each) of other unfinished jobs placed on the group. */
  readonly placedElsewhere: number;
}

/** The size to scale the group down to, or undefined when it should keep its size (pure). */
export function giveBackSize(i: GiveBackInput): number | undefined {
  const keep = Math.max(i.fromSize, i.busyNodes, i.placedElsewhere);
  return keep < i.current ? keep : undefined;
}

/** Records a scale-up of `nodeGroup` (the first one's fromSize stays: that is what the operator found). */
export function recordGrowth(b: StatusBuilder, g: GrownNodeGroup): void {
  const list = b.status.grownNodeGroups ?? [];
  const same = list.find((x) => x.cluster === g.cluster && x.nodeGroup === g.nodeGroup);
  const entry = same ? { ...same, toSize: g.toSize, at: g.at } : g;
  b.status.grownNodeGroups = [...list.filter((x) => x !== same), entry].slice(-16);
}

/**
 * Gives back every grown group the job does not use any more: all of them once it finished or is being
 * deleted (`all`), else those that are neither its placement's group nor the one it waits to grow.
 * A group whose give-back fails is kept in the list and tried again at the next pass.
 */
export async function giveBackGroups(ctx: PassContext, job: TrainingJob, b: StatusBuilder, all = false): Promise<void> {
  const grown = b.status.grownNodeGroups ?? [];
  if (grown.length === 0) return;
  const inUse = (g: GrownNodeGroup) =>
    !all &&
    [b.status.placement, b.status.scaleUp].some((p) => p?.cluster === g.cluster && p?.nodeGroup === g.nodeGroup);
  const kept: GrownNodeGroup[] = [];
  for (const g of grown) {
    if (inUse(g) || !(await giveBack(ctx, job, b, g))) kept.push(g);
  }
  b.status.grownNodeGroups = kept.length > 0 ? kept : undefined;
}

/** True when the group needs nothing more from this job (given back, or nothing to give back). */
async function giveBack(ctx: PassContext, job: TrainingJob, b: StatusBuilder, g: GrownNodeGroup): Promise<boolean> {
  const cluster = g.cluster ?? "";
  const cc = ctx.o.clusters.get(undefined, cluster);
  const provider = cc ? ctx.o.providers?.for(cc) : undefined;
  if (!provider) return true; // the cluster or its cloud API is gone: nothing the operator can give back
  // A cloud that is slow or busy is not waited on: the group is kept and given back at a later pass.
  const done = await ctx.scale.gated(cluster, () => giveBackExclusive(ctx, job, b, g, provider));
  return done === true;
}

async function giveBackExclusive(
  ctx: PassContext,
  job: TrainingJob,
  b: StatusBuilder,
  g: GrownNodeGroup,
  provider: NodeGroupProvider,
): Promise<boolean> {
  const cluster = g.cluster ?? "";
  const nodeGroup = g.nodeGroup ?? "";
  const here = (p: { cluster?: string; nodeGroup?: string } | undefined) =>
    p?.cluster === cluster && p?.nodeGroup === nodeGroup;
  return ctx.scale.exclusive(cluster, nodeGroup, async () => {
    const others = ctx.o.jobs.list().filter((j) => j.metadata.uid !== job.metadata.uid);
    // Another job growing the same group, or just placed or scaling there (decided, not yet in its
    // status): its growth is its own to give back, and it may count on this one's; this one waits.
    if (others.some((j) => here(j.status?.scaleUp))) return false;
    if (ctx.placer.assumedOn(cluster, nodeGroup, job.metadata.uid ?? "") > 0) return false;
    const placedElsewhere = others
      .filter((j) => here(j.status?.placement) && !["Succeeded", "Failed"].includes(j.status?.phase ?? ""))
      .reduce((n, j) => n + j.spec.replicas, 0);
    const worker = ctx.o.registry.get(cluster);
    const busyNodes = worker ? busyNodesOf(worker.nodes.list(), worker.pods.list(), nodeGroup, job, ctx) : 0;
    try {
      const call = ctx.o.signal ? { signal: ctx.o.signal } : {};
      const current = await provider.getNodeGroup(nodeGroup, call);
      const size = giveBackSize({
        fromSize: g.fromSize ?? 0,
        current: current.desiredSize,
        busyNodes,
        placedElsewhere,
      });
      if (size === undefined) return true;
      const token = giveBackToken(job.metadata.uid ?? "", g);
      await provider.scaleNodeGroup(nodeGroup, size, token, call);
      b.event({
        type: "Normal",
        reason: "ScaledDown",
        message: `gave back ${cluster}/${nodeGroup}: asked for ${size} nodes (was ${current.desiredSize}; the operator found ${g.fromSize} and grew it to ${g.toSize} for this job)`,
      });
      return true;
    } catch (err) {
      b.event({
        type: "Warning",
        reason: "ScaleDownFailed",
        message: `giving back ${cluster}/${nodeGroup} failed, will try again: ${(err as Error).message}`.slice(0, 1000),
      });
      return false;
    }
  });
}

/** Nodes of `nodeGroup` on which a pod of another job or workload (not a DaemonSet's, not finished) runs. */
function busyNodesOf(
  nodes: readonly V1Node[],
  pods: readonly V1Pod[],
  nodeGroup: string,
  job: TrainingJob,
  ctx: PassContext,
): number {
  const inGroup = new Set(
    nodes
      .filter((n) => nodeFactsFromLabels(n.metadata?.labels ?? {}, ctx.o.catalog).nodeGroup === nodeGroup)
      .map((n) => n.metadata?.name ?? ""),
  );
  const busy = new Set<string>();
  for (const p of pods) {
    const node = p.spec?.nodeName ?? "";
    if (!inGroup.has(node) || ["Succeeded", "Failed"].includes(p.status?.phase ?? "")) continue;
    if (p.metadata?.labels?.[LABEL_JOB_UID] === job.metadata.uid) continue;
    if (p.metadata?.ownerReferences?.some((o) => o.kind === "DaemonSet")) continue;
    busy.add(node);
  }
  return busy.size;
}

/** One token per give-back of one growth: a retried pass never shrinks twice. */
function giveBackToken(uid: string, g: GrownNodeGroup): string {
  const digest = createHash("sha256").update(`${uid}/${g.cluster}/${g.nodeGroup}/${g.at}/down`).digest("hex");
  return `crosscloud-${digest.slice(0, 32)}`;
}
