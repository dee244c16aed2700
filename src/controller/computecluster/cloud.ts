// What the cloud says about a worker's node groups, merged into the capacity
// its nodes show: bounds and desired size (EKS scalingConfig, AKS count and
// min/max), autoscaler ownership, capacity and instance type where the nodes
// don't say, and groups with no node yet, so placement can grow them. The
// merge is pure; `CloudNodeGroups` fetches through the provider, cached briefly.

import type { NodeGroupStatus } from "../../api/computecluster.ts";
import { type Catalog, formatPrice, type Micros } from "../../catalog/index.ts";
import type { AcceleratorType } from "../../catalog/instance-types.ts";
import type { NodeGroup, NodeGroupProvider } from "../../providers/types.ts";
import type { ConditionInput } from "../conditions.ts";

/** The cloud's facts about one group that capacity needs. */
export type CloudGroup = Pick<
  NodeGroup,
  "name" | "instanceType" | "capacityType" | "minSize" | "maxSize" | "desiredSize" | "autoscalerOwned"
>;

/** One listing of the cloud's groups, or why it failed. */
export type CloudListing =
  | { readonly ok: true; readonly groups: readonly CloudGroup[] }
  | { readonly ok: false; readonly message: string };

/** Without a cloud's word a group can neither grow nor shrink: its size is what is there. */
function withoutCloud(g: NodeGroupStatus): NodeGroupStatus {
  return { minSize: 0, maxSize: g.nodes ?? 0, desiredSize: g.nodes ?? 0, ...g };
}

function priceOf(catalog: Catalog, prices: ReadonlyMap<string, Micros>, type: string, capacity: "OnDemand" | "Spot") {
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
    reason: "CloudAPIError",
    message: `${listing.message}; node group bounds are the last ones seen, capacity still comes from the nodes`,
  };
}

/** Lists each cluster's groups through its provider, reusing a listing younger than `maxAgeMs`. */
export class CloudNodeGroups {
  readonly #cache = new Map<string, { at: number; listing: CloudListing }>();
  readonly #maxAgeMs: number;
  readonly #now: () => number;

  constructor(maxAgeMs = 5_000, now: () => number = Date.now) {
    this.#maxAgeMs = maxAgeMs;
    this.#now = now;
  }

  async list(cluster: string, provider: NodeGroupProvider, signal?: AbortSignal): Promise<CloudListing> {
    const cached = this.#cache.get(cluster);
    if (cached && this.#now() - cached.at < this.#maxAgeMs) return cached.listing;
    const listing: CloudListing = await provider.listNodeGroups(signal ? { signal } : {}).then(
      (groups) => ({ ok: true as const, groups }),
      (err: unknown) => ({ ok: false as const, message: err instanceof Error ? err.message : String(err) }),
    );
    this.#cache.set(cluster, { at: this.#now(), listing });
    return listing;
  }

  /** Forgets a cluster's listing, so the next pass asks the cloud again (after a scale request). */
  invalidate(cluster: string): void {
    this.#cache.delete(cluster);
  }
}
