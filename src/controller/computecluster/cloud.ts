// What the cloud says about a worker's node groups, merged into the capacity
// its nodes show: bounds and desired size (EKS scalingConfig, AKS count and
// min/max), autoscaler ownership, capacity and instance type where the nodes
// don't say, and groups with no node yet, so placement can grow them. The
// merge is pure; `CloudNodeGroups` fetches through the provider, cached briefly.

import type { NodeGroupStatus } from "../../api/computecluster.ts";
import { type CapacityType, type Catalog, formatPrice, type Micros } from "../../catalog/index.ts";
import type { AcceleratorType } from "../../catalog/instance-types.ts";
import { isTimeout } from "../../providers/errors.ts";
import type { NodeGroup, NodeGroupProvider } from "../../providers/types.ts";
import type { ConditionInput } from "../conditions.ts";

/** The cloud's facts about one group that capacity needs. */
export type CloudGroup = Pick<
  NodeGroup,
  "name" | "instanceType" | "capacityType" | "minSize" | "maxSize" | "desiredSize" | "autoscalerOwned"
>;

/** One listing of the cloud's groups, or why it failed (`timedOut`: the cloud did not answer in time). */
export type CloudListing =
  | { readonly ok: true; readonly groups: readonly CloudGroup[] }
  | { readonly ok: false; readonly message: string; readonly timedOut?: boolean };

/** Without a cloud's word a group can neither grow nor shrink: its size is what is there. */
function withoutCloud(g: NodeGroupStatus): NodeGroupStatus {
  return { minSize: 0, maxSize: g.nodes ?? 0, desiredSize: g.nodes ?? 0, ...g };
}

function priceOf(catalog: Catalog, prices: ReadonlyMap<string, Micros>, type: string, capacity: CapacityType) {
  const price = catalog.price(type, capacity, prices);
  return price ? { pricePerHour: formatPrice(price.perNodeHour) } : {};
}

/** A group the nodes show, with the cloud's bounds; the cloud's Spot wins over nodes without a spot label. */
function mergeOne(
  kube: NodeGroupStatus,
  cloud: CloudGroup,
  catalog: Catalog,
  prices: ReadonlyMap<string, Micros>,
): NodeGroupStatus {
  const capacityType = cloud.capacityType === "Spot" ? "Spot" : (kube.capacityType ?? cloud.capacityType);
  const repriced = capacityType !== kube.capacityType;
  return {
    ...kube,
    capacityType,
    minSize: cloud.minSize,
    maxSize: cloud.maxSize,
    desiredSize: cloud.desiredSize,
    autoscaled: (kube.autoscaled ?? false) || cloud.autoscalerOwned,
    ...(repriced ? priceOf(catalog, prices, kube.instanceType ?? cloud.instanceType, capacityType) : {}),
  };
}

/** A group the cloud has but no node shows yet; undefined when its instance type carries no known accelerator. */
function fromCloudOnly(
  cloud: CloudGroup,
  catalog: Catalog,
  prices: ReadonlyMap<string, Micros>,
): NodeGroupStatus | undefined {
  const entry = catalog.get(cloud.instanceType);
  if (!entry) return undefined;
  return {
    name: cloud.name,
    instanceType: cloud.instanceType,
    accelerator: entry.accelerator as AcceleratorType,
    devicesPerNode: entry.devices,
    capacityType: cloud.capacityType,
    nodes: 0,
    readyNodes: 0,
    freeNodes: 0,
    minSize: cloud.minSize,
    maxSize: cloud.maxSize,
    desiredSize: cloud.desiredSize,
    autoscaled: cloud.autoscalerOwned,
    // No node yet, so no domain known: an empty list says the group's nodes come in domains.
    ...(entry.domainLabel ? { domains: [] } : {}),
    ...priceOf(catalog, prices, cloud.instanceType, cloud.capacityType),
  };
}

/**
 * The node groups of status: every group the nodes show (with the cloud's
 * bounds where the cloud knows it, else fixed at its node count), plus the
 * cloud's accelerator groups that have no node yet. `cloud` undefined: no cloud data.
 */
export function mergeNodeGroups(
  kube: readonly NodeGroupStatus[],
  cloud: readonly CloudGroup[] | undefined,
  catalog: Catalog,
  prices: ReadonlyMap<string, Micros> = new Map(),
): NodeGroupStatus[] {
  const byName = new Map((cloud ?? []).map((c) => [c.name, c]));
  const merged = kube.map((k) => {
    const c = byName.get(k.name ?? "");
    return c ? mergeOne(k, c, catalog, prices) : withoutCloud(k);
  });
  const seen = new Set(kube.map((k) => k.name));
  for (const c of cloud ?? []) {
    if (seen.has(c.name)) continue;
    const g = fromCloudOnly(c, catalog, prices);
    if (g) merged.push(g);
  }
  return merged.sort((a, b) => (a.name ?? "").localeCompare(b.name ?? ""));
}

/**
 * The cloud's facts as the last status recorded them, for a pass whose
 * cloud call failed: bounds stay as last seen rather than collapsing to the
 * node count. Only groups that status recorded from the cloud count.
 */
export function lastKnownCloudGroups(old: readonly NodeGroupStatus[] | undefined): CloudGroup[] {
  return (old ?? []).flatMap((g) =>
    g.name && g.instanceType && g.maxSize !== undefined && g.desiredSize !== undefined
      ? [
          {
            name: g.name,
            instanceType: g.instanceType,
            capacityType: g.capacityType ?? "OnDemand",
            minSize: g.minSize ?? 0,
            maxSize: g.maxSize,
            desiredSize: g.desiredSize,
            autoscalerOwned: g.autoscaled ?? false,
          },
        ]
      : [],
  );
}

/** The CloudAPIReachable condition for a listing (undefined: the cluster names no cloud cluster). */
export function cloudCondition(listing: CloudListing | undefined, cloud: string): ConditionInput {
  if (!listing) {
    return {
      type: "CloudAPIReachable",
      status: "Unknown",
      reason: "NoCloudCluster",
      message: "spec names no EKS or AKS cluster: node group sizes come from the nodes only and cannot grow",
    };
  }
  if (listing.ok) {
    return {
      type: "CloudAPIReachable",
      status: "True",
      reason: "Listed",
      message: `the ${cloud} API listed ${listing.groups.length} node groups`,
    };
  }
  return {
    type: "CloudAPIReachable",
    status: "False",
    reason: listing.timedOut ? "CloudAPITimeout" : "CloudAPIError",
    message: `${listing.message}; node group bounds are the last ones seen, capacity still comes from the nodes`,
  };
}

export interface CloudNodeGroupsOptions {
  /** A listing younger than this is reused. Default 5 s. */
  readonly maxAgeMs?: number;
  /** How long `list` waits for a listing in flight before it answers with what it has. Default 2 s. */
  readonly waitMs?: number;
  /** Aborts the listings in flight (the operator stopping or losing its Lease). */
  readonly signal?: AbortSignal;
  readonly now?: () => number;
}

interface ClusterListings {
  /** The last listing that finished. */
  last?: { readonly at: number; readonly listing: CloudListing };
  /** The listing in flight, and when it started. */
  inFlight?: { readonly since: number; readonly done: Promise<CloudListing> };
}

/**
 * Lists each cluster's groups through its provider, reusing a listing younger than `maxAgeMs`.
 * A caller never waits longer than `waitMs`: a listing still running then goes on in the background
 * (bounded by the provider's call deadline, CLOUD_CALL_TIMEOUT_MS) and the caller gets the last
 * listing that finished, or, when none has, a timed-out one saying how long the cloud has not
 * answered. At most one listing per cluster is in flight: a slow cloud holds no caller, and callers
 * of one cluster share its listing.
 */
export class CloudNodeGroups {
  readonly #clusters = new Map<string, ClusterListings>();
  readonly #maxAgeMs: number;
  readonly #waitMs: number;
  readonly #signal: AbortSignal | undefined;
  readonly #now: () => number;

  constructor(options: CloudNodeGroupsOptions = {}) {
    this.#maxAgeMs = options.maxAgeMs ?? 5_000;
    this.#waitMs = options.waitMs ?? 2_000;
    this.#signal = options.signal;
    this.#now = options.now ?? Date.now;
  }

  async list(cluster: string, provider: NodeGroupProvider): Promise<CloudListing> {
    const entry = this.#clusters.get(cluster) ?? {};
    this.#clusters.set(cluster, entry);
    if (entry.last && !entry.inFlight && this.#now() - entry.last.at < this.#maxAgeMs) return entry.last.listing;
    entry.inFlight ??= this.#start(cluster, entry, provider);
    const flight = entry.inFlight;
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), this.#waitMs);
    });
    const listing = await Promise.race([flight.done, waited]);
    clearTimeout(timer);
    if (listing) return listing;
    if (entry.last) return entry.last.listing;
    const secondsWaited = Number(((this.#now() - flight.since) / 1000).toFixed(1));
    return {
      ok: false,
      timedOut: true,
      message: `the ${provider.cloud} API has not answered listing the node groups of ${cluster} for ${secondsWaited}s (still waiting, within the call's deadline)`,
    };
  }

  #start(cluster: string, entry: ClusterListings, provider: NodeGroupProvider): ClusterListings["inFlight"] & {} {
    const since = this.#now();
    const done = provider.listNodeGroups(this.#signal ? { signal: this.#signal } : {}).then(
      (groups): CloudListing => ({ ok: true, groups }),
      (err: unknown): CloudListing => ({
        ok: false,
        message: err instanceof Error ? err.message : String(err),
        ...(isTimeout(err) ? { timedOut: true } : {}),
      }),
    );
    void done.then((listing) => {
      // A cluster forgotten (or invalidated) meanwhile keeps its newer entry.
      if (this.#clusters.get(cluster) !== entry) return;
      entry.last = { at: this.#now(), listing };
      entry.inFlight = undefined;
    });
    return { since, done };
  }

  /** Forgets a cluster's listing, so the next pass asks the cloud again (after a scale request). */
  invalidate(cluster: string): void {
    const entry = this.#clusters.get(cluster);
    // A listing in flight may have started before the change: the next pass starts a new one.
    if (entry) this.#clusters.set(cluster, entry.last ? { last: { ...entry.last, at: -Infinity } } : {});
  }
}
