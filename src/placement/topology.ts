// Placement's topology rule: with `topology: Preferred` or `Required`, a node
// group whose nodes are split into fast-interconnect domains (GB200/GB300
// NVLink cliques, Trn2 UltraServers) is judged by its domains' free nodes, not
// by the group's. Such a job takes free nodes only: the operator does not
// scale a group up for it, since the cloud does not say which domain a new
// node joins.

import type { DomainKey, DomainSnapshot, NodeGroupSnapshot, PlacementRequest, RejectionReason } from "./types.ts";

/** What the topology rule says about one group. */
export type DomainFit =
  | { readonly kind: "NotApplicable" }
  | {
      readonly kind: "Fits";
      readonly domains: { readonly key: DomainKey; readonly names: readonly string[] };
      readonly reason: string;
    }
  | { readonly kind: "Rejected"; readonly reason: RejectionReason; readonly message: string };

/** What a domain of `key` is called in messages. */
export function domainNoun(key: DomainKey): string {
  if (key === "nvidia.com/gpu.clique") return "NVLink clique";
  if (key.startsWith("neuron.amazonaws.com/ultraserver")) return "UltraServer";
  return `domain (${key})`;
}

const byName = (a: DomainSnapshot, b: DomainSnapshot) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
/** Fewest free nodes first (best fit), then by name. */
const bestFitFirst = (a: DomainSnapshot, b: DomainSnapshot) => a.freeNodes - b.freeNodes || byName(a, b);
/** Most free nodes first, then by name. */
const largestFirst = (a: DomainSnapshot, b: DomainSnapshot) => b.freeNodes - a.freeNodes || byName(a, b);

/** "X has 18 free nodes, Y 12, Z 0" (at most 6 named), most free first. */
function freeList(domains: readonly DomainSnapshot[]): string {
  const sorted = [...domains].sort(largestFirst);
  const [first, ...rest] = sorted;
  if (!first) return "";
  const shown = rest.slice(0, 5).map((d) => `${d.name} ${d.freeNodes}`);
  const more = rest.length > 5 ? `, ${rest.length - 5} more` : "";
  return `${first.name} has ${first.freeNodes} free nodes${shown.length ? `, ${shown.join(", ")}` : ""}${more}`;
}

const NO_SCALE_UP = "the operator does not grow a node group for a topology-constrained job";

function required(replicas: number, noun: string, domains: readonly DomainSnapshot[]): DomainFit {
  const largest = [...domains].sort((a, b) => b.nodes - a.nodes || byName(a, b))[0] as DomainSnapshot;
  if (replicas > largest.nodes) {
    return {
      kind: "Rejected",
      reason: "LargerThanDomain",
      message: `needs ${replicas} nodes in one ${noun} (topology Required), the largest (${largest.name}) has ${largest.nodes} nodes; ${noun}s do not grow with their node group (use topology Preferred, or at most ${largest.nodes} replicas)`,
    };
  }
  const fitting = domains.filter((d) => d.freeNodes >= replicas).sort(bestFitFirst);
  const chosen = fitting[0];
  const list = freeList(domains);
  if (!chosen) {
    return {
      kind: "Rejected",
      reason: "InsufficientCapacity",
      message: `needs ${replicas} free nodes in one ${noun} (topology Required): ${noun} ${list}; ${NO_SCALE_UP} (wait for nodes to free up, or use topology Preferred)`,
    };
  }
  const why =
    fitting.length === 1
      ? `the only one with ${replicas} free`
      : `the best fit (the fewest free nodes that hold ${replicas}; ${fitting.length} could)`;
  return {
    kind: "Fits",
    domains: { key: chosen.key, names: [chosen.name] },
    reason: `${noun} ${list}: chose ${chosen.name}, ${why} (topology Required)`,
  };
}

function preferred(replicas: number, noun: string, domains: readonly DomainSnapshot[]): DomainFit {
  const list = freeList(domains);
  const one = domains.filter((d) => d.freeNodes >= replicas).sort(bestFitFirst)[0];
  if (one) {
    return {
      kind: "Fits",
      domains: { key: one.key, names: [one.name] },
      reason: `${noun} ${list}: chose ${one.name}, the best fit for all ${replicas} replicas in one ${noun} (topology Preferred)`,
    };
  }
  const chosen: DomainSnapshot[] = [];
  let covered = 0;
  for (const d of [...domains].sort(largestFirst)) {
    if (covered >= replicas || d.freeNodes === 0) break;
    chosen.push(d);
    covered += d.freeNodes;
  }
  if (covered < replicas) {
    return {
      kind: "Rejected",
      reason: "InsufficientCapacity",
      message: `needs ${replicas} free nodes in its ${noun}s (topology Preferred), they have ${covered} (${noun} ${list}); ${NO_SCALE_UP} (wait for nodes to free up)`,
    };
  }
  const names = chosen.map((d) => d.name);
  return {
    kind: "Fits",
    domains: { key: (chosen[0] as DomainSnapshot).key, names },
    reason: `no ${noun} has ${replicas} free nodes (${noun} ${list}): spread over ${chosen.length}, the fewest that hold them, largest first: ${chosen.map((d) => `${d.name} (${d.freeNodes})`).join(", ")} (topology Preferred)`,
  };
}

/**
 * The topology rule for `group`; NotApplicable with topology None or a group without domains. A
 * group whose `domains` is an empty list has nodes in domains but none that shows its domain yet
 * (no node, or labels not set yet): Required cannot be kept there; Preferred places as None.
 */
export function domainFit(request: PlacementRequest, group: NodeGroupSnapshot): DomainFit {
  const topology = request.topology ?? "None";
  const domains = group.domains ?? [];
  const first = domains[0];
  if (topology === "Required" && group.domains !== undefined && !first) {
    return {
      kind: "Rejected",
      reason: "InsufficientCapacity",
      message: `needs ${request.replicas} free nodes in one domain (topology Required), and no node of the group shows its domain label yet; ${NO_SCALE_UP} (wait for the nodes and their labels, or use topology Preferred)`,
    };
  }
  if (topology === "None" || !first) return { kind: "NotApplicable" };
  const noun = domainNoun(first.key);
  return topology === "Required"
    ? required(request.replicas, noun, domains)
    : preferred(request.replicas, noun, domains);
}
