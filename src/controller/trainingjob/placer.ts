// Decides placements one at a time against free capacity (counted from the
// worker informers at that moment: LiveCapacity in place.ts) minus the nodes
// promised to placed jobs whose pods are not bound yet, minus the
// placements already decided but not yet visible in the informer (assumed
// placements, as Kueue's scheduler assumes a workload until its cache shows
// it), and the scale-ups decided but not yet recorded, so two jobs that need
// the same group to grow ask for enough nodes for both. Without this, jobs placed close together, as when a whole cluster is
// lost and its jobs move at once, could each be given the same free nodes.

import type { ComputeCluster, NodeGroupStatus } from "../../api/computecluster.ts";
import type { TrainingJob } from "../../api/trainingjob.ts";
import type { Catalog } from "../../catalog/index.ts";
import type { ClusterRegistry, WorkerCluster } from "../../clusters/registry.ts";
import type { ExcludedGroup, PlacementDecision } from "../../placement/index.ts";
import type { Informer } from "../../runtime/informer.ts";
import { boundPodsByPlacement, nodeGroupsFrom } from "../computecluster/capacity.ts";
import { type AssumedNodes, decidePlacement, type LiveCapacity } from "./place.ts";

/** An assumed placement is dropped after this long even if the informer never shows it. */
export const ASSUME_TTL_MS = 60_000;

/** What placement counts on one worker from its informers: free nodes by group, pods bound per placement. */
interface WorkerCapacity {
  readonly groups: NodeGroupStatus[];
  readonly bound: Map<string, number>;
}

interface Assumed {
  readonly cluster: string;
  readonly nodeGroup: string;
  readonly nodes: number;
  readonly epoch: number;
  readonly at: number;
  /** Placed on free nodes, or waiting for the group to grow. */
  readonly kind: "placed" | "scaling";
}

export interface PlacerOptions {
  readonly jobs: Informer<TrainingJob>;
  readonly clusters: Informer<ComputeCluster>;
  /** Workers whose synced informers give the free nodes and bound pods of now (LiveCapacity). */
  readonly registry?: ClusterRegistry;
  readonly catalog?: Catalog;
}

export class Placer {
  readonly #o: PlacerOptions;
  /** By job uid. */
  readonly #assumed = new Map<string, Assumed>();
  /** Each worker's capacity as last counted, with the informers' change counts it was counted at. */
  readonly #liveCache = new Map<
    string,
    { worker: WorkerCluster; nodes: number; pods: number; value: WorkerCapacity }
  >();

  constructor(options: PlacerOptions) {
    this.#o = options;
  }

  /**
   * The decision for `job`, against the informers' snapshot minus every other job's assumed
   * placement. Synchronous, so no other decision interleaves with it; when it has a winner that
   * fits now or after a scale-up, that winner is assumed for the job (epoch `epoch`) until the
   * informer shows the placement (or the Scaling status).
   */
  decide(job: TrainingJob, exclude: readonly ExcludedGroup[], epoch: number, now: Date): PlacementDecision {
    const uid = job.metadata.uid ?? "";
    this.#expire(now);
    const decision = decidePlacement(
      job,
      this.#o.clusters.list(),
      this.#o.jobs.list(),
      exclude,
      this.#assumedNodes(uid),
      now,
      this.#live(),
    );
    const w = decision.winner;
    if (w) {
      this.#assumed.set(uid, {
        cluster: w.cluster,
        nodeGroup: w.nodeGroup,
        nodes: job.spec.replicas,
        epoch,
        at: now.getTime(),
        kind: w.fit === "Now" ? "placed" : "scaling",
      });
    } else {
      this.#assumed.delete(uid);
    }
    return decision;
  }

  /** What the synced worker informers show now, by cluster: counted once, from the same pods. */
  #live(): LiveCapacity {
    const live = new Map<string, WorkerCapacity>();
    const { registry, catalog } = this.#o;
    if (!registry || !catalog) return live;
    for (const name of registry.names()) {
      const w = registry.get(name);
      if (!w?.nodes.synced || !w.pods.synced) continue;
      // Counted again only when the worker's nodes or pods changed since the last decision.
      const at = { worker: w, nodes: w.nodes.changes, pods: w.pods.changes };
      const cached = this.#liveCache.get(name);
      if (cached && cached.worker === at.worker && cached.nodes === at.nodes && cached.pods === at.pods) {
        live.set(name, cached.value);
        continue;
      }
      const pods = w.pods.list();
      const value = { groups: nodeGroupsFrom(w.nodes.list(), pods, catalog), bound: boundPodsByPlacement(pods) };
      this.#liveCache.set(name, { ...at, value });
      live.set(name, value);
    }
    return live;
  }

  /** Nodes decided for jobs other than `except` on the group that the informer does not show yet. */
  assumedOn(cluster: string, nodeGroup: string, except: string): number {
    let n = 0;
    for (const [uid, a] of this.#assumed)
      if (uid !== except && a.cluster === cluster && a.nodeGroup === nodeGroup) n += a.nodes;
    return n;
  }

  /** Forgets the job's assumption (its status write failed, or it was deleted). */
  forget(uid: string): void {
    this.#assumed.delete(uid);
  }

  /** Nodes assumed for other jobs, by kind and "<cluster>/<nodeGroup>". */
  #assumedNodes(except: string): AssumedNodes {
    const placed = new Map<string, number>();
    const scaling = new Map<string, number>();
    for (const [uid, a] of this.#assumed) {
      if (uid === except) continue;
      const into = a.kind === "placed" ? placed : scaling;
      const key = `${a.cluster}/${a.nodeGroup}`;
      into.set(key, (into.get(key) ?? 0) + a.nodes);
    }
    return { placed, scaling };
  }

  /** Drops assumptions the informer now shows (or that are too old, or whose job is gone). */
  #expire(now: Date): void {
    const byUid = new Map(this.#o.jobs.list().map((j) => [j.metadata.uid ?? "", j]));
    for (const [uid, a] of this.#assumed) {
      const job = byUid.get(uid);
      const s = job?.status;
      const seen =
        a.kind === "placed"
          ? s?.placement?.cluster === a.cluster && s.placement.nodeGroup === a.nodeGroup && (s.epoch ?? 0) >= a.epoch
          : s?.phase === "Scaling" && s.scaleUp?.cluster === a.cluster && s.scaleUp.nodeGroup === a.nodeGroup;
      if (!job || seen || now.getTime() - a.at > ASSUME_TTL_MS) this.#assumed.delete(uid);
    }
  }
}
