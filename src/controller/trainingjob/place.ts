// Places a TrainingJob: maps the hub's ComputeClusters to the placement
// snapshot, runs placeJob, and records the decision in status and an event.

import type { ComputeCluster, NodeGroupStatus } from "../../api/computecluster.ts";
import type { TrainingJob } from "../../api/trainingjob.ts";
import {
  type Candidate,
  type ClusterSnapshot,
  type DomainSnapshot,
  type ExcludedGroup,
  type PlacementDecision,
  type PlacementRequest,
  placeJob,
} from "../../placement/index.ts";
import { isTrue } from "../conditions.ts";

export function placementRequest(job: TrainingJob): PlacementRequest {
  const { replicas, accelerators, placement } = job.spec;
  return {
    replicas,
    accelerators: accelerators.map((a) => ({ type: a.type, perReplica: a.perReplica })),
    clouds: placement.clouds,
    clusters: placement.clusters,
    capacityType: placement.capacityType,
    strategy: placement.strategy,
    topology: placement.topology ?? "None",
  };
}

/** status.placement's domainKey and domains from the winner: only when domains decided the placement. */
export function placementDomains(winner: Candidate): { domainKey?: string; domains?: string[] } {
  return winner.domains ? { domainKey: winner.domains.key, domains: [...winner.domains.names] } : {};
}

/** Nodes promised to one job not yet holding them: in the domains it was placed in, when known. */
interface DomainPromise {
  readonly key: string;
  readonly nodes: number;
  readonly domains?: readonly string[];
}

/**
 * Nodes promised to jobs that are placed but not yet running (Starting, or FailingOver to a new
 * placement), or waiting for a scale-up, by
 * "<cluster>/<nodeGroup>": the ComputeCluster's freeNodes does not show them until their pods
 * land, and without this two jobs placed in one burst could both be given the same free nodes.
 * Jobs being deleted promise nothing: their pods are going.
 */
export function nodesInFlight(
  jobs: readonly TrainingJob[],
  except?: string,
  live: LiveCapacity = new Map(),
): Map<string, number> {
  const inFlight = new Map<string, number>();
  for (const [key, n] of [...promisedToStarting(jobs, except, live), ...nodesAwaitingScaleUp(jobs, except)]) {
    inFlight.set(key, (inFlight.get(key) ?? 0) + n);
  }
  return inFlight;
}

/**
 * What a worker's informers show now, by cluster name: its node groups' nodes and free nodes, and the
 * pods of each placement ("<job uid>/<epoch>") that hold a node, both from the same pods. For a
 * cluster in it, placement counts these instead of its ComputeCluster's status (written up to a
 * second or so later) and the replicas a job reports running (which the Job controller reports
 * later still): a job's pods then count once, as not free, from the moment they are bound.
 */
export type LiveCapacity = ReadonlyMap<
  string,
  { readonly groups: readonly NodeGroupStatus[]; readonly bound: ReadonlyMap<string, number> }
>;

function startingPromises(
  jobs: readonly TrainingJob[],
  except: string | undefined,
  live: LiveCapacity,
): DomainPromise[] {
  const promises: DomainPromise[] = [];
  for (const j of jobs) {
    const p = j.status?.placement;
    const phase = j.status?.phase;
    if (!p || j.metadata.uid === except || j.metadata.deletionTimestamp) continue;
    if (phase !== "Starting" && phase !== "FailingOver") continue;
    const bound = live.get(p.cluster ?? "")?.bound.get(`${j.metadata.uid}/${j.status?.epoch ?? 1}`);
    const holding = live.has(p.cluster ?? "") ? (bound ?? 0) : (j.status?.replicas?.running ?? 0);
    const nodes = Math.max(0, j.spec.replicas - holding);
    promises.push({ key: `${p.cluster}/${p.nodeGroup}`, nodes, ...(p.domains?.length ? { domains: p.domains } : {}) });
  }
  return promises;
}

function promisedToStarting(jobs: readonly TrainingJob[], except: string | undefined, live: LiveCapacity) {
  const promised = new Map<string, number>();
  for (const { key, nodes } of startingPromises(jobs, except, live))
    promised.set(key, (promised.get(key) ?? 0) + nodes);
  return promised;
}

/**
 * Nodes promised to Starting or FailingOver jobs placed in known domains, by "<cluster>/<nodeGroup>":
 * the rest of a group's promised nodes (jobs placed without domains, decisions not yet in the
 * informer, scale-ups) may land in any of its domains (see domainSnapshots).
 */
export function promisedToDomains(
  jobs: readonly TrainingJob[],
  except?: string,
  live: LiveCapacity = new Map(),
): Map<string, DomainPromise[]> {
  const byGroup = new Map<string, DomainPromise[]>();
  for (const p of startingPromises(jobs, except, live)) {
    if (!p.domains || p.nodes === 0) continue;
    byGroup.set(p.key, [...(byGroup.get(p.key) ?? []), p]);
  }
  return byGroup;
}

/**
 * A group's domains less the nodes promised there: a promise placed in known domains comes off each
 * of them (its pods may land in any), every other promised node off every domain, each domain's free
 * nodes never below 0 nor above the group's. Conservative: a job waits rather than being given nodes
 * that another job's pending pods may take.
 */
function domainSnapshots(
  domains: NodeGroupStatus["domains"],
  promised: number,
  attributed: readonly DomainPromise[],
  groupFree: number,
): { domains?: DomainSnapshot[] } {
  if (domains === undefined) return {};
  const list = domains.filter((d) => d.key && d.name);
  if (list.length === 0) return { domains: [] }; // a domain group none of whose nodes shows its domain yet
  const unattributed = Math.max(0, promised - attributed.reduce((n, p) => n + p.nodes, 0));
  return {
    domains: list.map((d) => {
      const name = d.name ?? "";
      const here = attributed.filter((p) => p.domains?.includes(name)).reduce((n, p) => n + p.nodes, 0);
      const free = Math.min(groupFree, Math.max(0, (d.freeNodes ?? 0) - unattributed - here));
      return { key: d.key ?? "", name, nodes: d.nodes ?? 0, readyNodes: d.readyNodes ?? 0, freeNodes: free };
    }),
  };
}

/** Nodes that jobs in phase Scaling wait for, by the group they asked to grow. */
export function nodesAwaitingScaleUp(jobs: readonly TrainingJob[], except?: string): Map<string, number> {
  const awaiting = new Map<string, number>();
  for (const j of jobs) {
    const s = j.status?.scaleUp;
    if (!s || j.status?.placement || j.metadata.uid === except || j.metadata.deletionTimestamp) continue;
    if (j.status?.phase !== "Scaling") continue;
    const key = `${s.cluster}/${s.nodeGroup}`;
    awaiting.set(key, (awaiting.get(key) ?? 0) + j.spec.replicas);
  }
  return awaiting;
}

/** A status older than this is not trusted for placement: the operator has not heard from the worker. */
export const HEARTBEAT_STALE_MS = 60_000;

function heartbeatFresh(cc: ComputeCluster, now: Date): boolean {
  const at = Date.parse(cc.status?.lastHeartbeatTime ?? "");
  return Number.isFinite(at) && now.getTime() - at <= HEARTBEAT_STALE_MS;
}

/**
 * One ComputeCluster as placement sees it. `inFlight` (all promised nodes) comes out of the free
 * nodes; the part of `awaitingScaleUp` that the free nodes cannot cover counts as nodes already
 * there, so a second scale-up of the same group asks for more on top of the first. A cluster whose
 * last heartbeat is older than HEARTBEAT_STALE_MS counts as not ready.
 */
export function clusterSnapshot(
  cc: ComputeCluster,
  inFlight: ReadonlyMap<string, number> = new Map(),
  awaitingScaleUp: ReadonlyMap<string, number> = new Map(),
  now: Date = new Date(),
  live?: readonly NodeGroupStatus[],
  inDomains: ReadonlyMap<string, readonly DomainPromise[]> = new Map(),
): ClusterSnapshot {
  // The informers' counts, when given, for the groups the status has (its bounds and prices stay).
  const counts = (g: NodeGroupStatus) => {
    // A group the informers show no node of has none now.
    const from = live ? (live.find((x) => x.name === g.name && x.instanceType === g.instanceType) ?? {}) : g;
    return {
      nodes: from.nodes ?? 0,
      readyNodes: from.readyNodes ?? 0,
      freeNodes: from.freeNodes ?? 0,
      domains: from.domains,
    };
  };
  return {
    name: cc.metadata.name ?? "",
    cloud: cc.spec.cloud,
    ready: isTrue(cc.status?.conditions, "Ready") && heartbeatFresh(cc, now),
    // A draining cluster takes no new placements, as a paused one.
    paused: cc.spec.paused || cc.spec.drain === true,
    nodeGroups: (cc.status?.nodeGroups ?? []).flatMap((g) => {
      const key = `${cc.metadata.name}/${g.name}`;
      const promised = inFlight.get(key) ?? 0;
      const awaiting = awaitingScaleUp.get(key) ?? 0;
      const c = counts(g);
      const free = c.freeNodes;
      const shortfall = Math.max(0, awaiting - Math.max(0, free - (promised - awaiting)));
      return g.name && g.instanceType && g.accelerator && g.capacityType
        ? [
            {
              name: g.name,
              instanceType: g.instanceType,
              accelerator: g.accelerator,
              devicesPerNode: g.devicesPerNode ?? 0,
              capacityType: g.capacityType,
              nodes: c.nodes + shortfall,
              readyNodes: c.readyNodes,
              freeNodes: Math.max(0, free - promised),
              minSize: g.minSize ?? 0,
              maxSize: g.maxSize ?? c.nodes,
              desiredSize: g.desiredSize ?? c.nodes,
              autoscalerOwned: g.autoscaled ?? false,
              ...(g.pricePerHour ? { pricePerHour: g.pricePerHour } : {}),
              ...domainSnapshots(c.domains, promised, inDomains.get(key) ?? [], Math.max(0, free - promised)),
            },
          ]
        : [];
    }),
  };
}

/** Nodes of decisions not yet visible in the informer, by "<cluster>/<nodeGroup>" (placer.ts). */
export interface AssumedNodes {
  /** Placed on nodes that are free now. */
  readonly placed: ReadonlyMap<string, number>;
  /** Waiting for the group to grow (a scale-up asked or about to be asked for). */
  readonly scaling: ReadonlyMap<string, number>;
}

export function decidePlacement(
  job: TrainingJob,
  clusters: readonly ComputeCluster[],
  jobs: readonly TrainingJob[] = [],
  exclude: readonly ExcludedGroup[] = [],
  assumed: AssumedNodes = { placed: new Map(), scaling: new Map() },
  now: Date = new Date(),
  live: LiveCapacity = new Map(),
): PlacementDecision {
  const add = (into: Map<string, number>, from: ReadonlyMap<string, number>) => {
    for (const [key, n] of from) into.set(key, (into.get(key) ?? 0) + n);
  };
  const inFlight = nodesInFlight(jobs, job.metadata.uid, live);
  add(inFlight, assumed.placed);
  add(inFlight, assumed.scaling);
  const awaiting = nodesAwaitingScaleUp(jobs, job.metadata.uid);
  add(awaiting, assumed.scaling);
  const inDomains = promisedToDomains(jobs, job.metadata.uid, live);
  return placeJob(
    { ...placementRequest(job), ...(exclude.length > 0 ? { exclude } : {}) },
    clusters.map((cc) =>
      clusterSnapshot(cc, inFlight, awaiting, now, live.get(cc.metadata.name ?? "")?.groups, inDomains),
    ),
  );
}
