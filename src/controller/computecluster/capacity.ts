// A worker cluster's capacity per node group, read from its nodes and pods:
// nodes, ready nodes, and free nodes (ready, with every accelerator device
// unallocated), with the accelerator and price from the catalog, and the same
// counts per domain (NVLink clique, UltraServer) for instance types that have
// one. Pure.

import type { V1Node, V1Pod } from "@kubernetes/client-node";
import type { NodeGroupStatus } from "../../api/computecluster.ts";
import { type Catalog, formatPrice, type Micros, nodeFactsFromLabels } from "../../catalog/index.ts";
import { LABEL_EPOCH, LABEL_JOB_UID } from "../../workload/names.ts";

function isReady(node: V1Node): boolean {
  return (
    !node.spec?.unschedulable && (node.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True")
  );
}

/** Nodes on which some pod that has not finished requests an accelerator device. */
function nodesWithDevicesInUse(pods: readonly V1Pod[], deviceResources: ReadonlySet<string>): Set<string> {
  const busy = new Set<string>();
  for (const pod of pods) {
    const node = pod.spec?.nodeName;
    if (!node || pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed") continue;
    const requests = pod.spec?.containers.flatMap((c) => Object.keys(c.resources?.requests ?? {})) ?? [];
    if (requests.some((r) => deviceResources.has(r))) busy.add(node);
  }
  return busy;
}

type GroupAccumulator = { -readonly [K in keyof NodeGroupStatus]: NodeGroupStatus[K] };

/** One domain's counts: the nodes of a group whose `key` label has the value `name`. */
export interface DomainCount {
  key: string;
  name: string;
  nodes: number;
  readyNodes: number;
  freeNodes: number;
}

/** Counts `node` into its domain of `domains` (by label value), when its instance type has a domain label. */
function countDomain(
  domains: Map<string, DomainCount>,
  key: string | undefined,
  labels: Readonly<Record<string, string>>,
  ready: boolean,
  free: boolean,
): void {
  const name = key ? labels[key] : undefined;
  if (!key || !name) return;
  let d = domains.get(name);
  if (!d) {
    d = { key, name, nodes: 0, readyNodes: 0, freeNodes: 0 };
    domains.set(name, d);
  }
  d.nodes += 1;
  if (ready) d.readyNodes += 1;
  if (free) d.freeNodes += 1;
}

/**
 * The domains of a group by name; an empty list for a group of an instance type that has domains
 * when no node carries the label yet (placement then knows it cannot keep a job in one); nothing
 * for other groups.
 */
function domainsField(domains: Map<string, DomainCount> | undefined): { domains?: DomainCount[] } {
  if (!domains) return {};
  return { domains: [...domains.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)) };
}

export function nodeGroupsFrom(
  nodes: readonly V1Node[],
  pods: readonly V1Pod[],
  catalog: Catalog,
  prices: ReadonlyMap<string, Micros> = new Map(),
): NodeGroupStatus[] {
  const groups = new Map<string, GroupAccumulator>();
  const domains = new Map<string, Map<string, DomainCount>>();
  const devices = new Set(["aws.amazon.com/neuron", "nvidia.com/gpu"]);
  const busy = nodesWithDevicesInUse(pods, devices);
  for (const node of nodes) {
    const facts = nodeFactsFromLabels(node.metadata?.labels ?? {}, catalog);
    if (!facts.nodeGroup || !facts.instanceType || !facts.accelerator) continue;
    const key = `${facts.nodeGroup}/${facts.instanceType}`;
    let g = groups.get(key);
    if (!g) {
      const price = catalog.price(facts.instanceType, facts.capacityType, prices);
      g = {
        name: facts.nodeGroup,
        instanceType: facts.instanceType,
        accelerator: facts.accelerator,
        devicesPerNode: facts.devices ?? 0,
        capacityType: facts.capacityType,
        nodes: 0,
        readyNodes: 0,
        freeNodes: 0,
        autoscaled: facts.autoscalerOwned,
        ...(price ? { pricePerHour: formatPrice(price.perNodeHour) } : {}),
      };
      groups.set(key, g);
    }
    const ready = isReady(node);
    const free = ready && !busy.has(node.metadata?.name ?? "");
    g.nodes = (g.nodes ?? 0) + 1;
    if (ready) g.readyNodes = (g.readyNodes ?? 0) + 1;
    if (free) g.freeNodes = (g.freeNodes ?? 0) + 1;
    const domainLabel = catalog.get(facts.instanceType)?.domainLabel;
    if (domainLabel) {
      const of = domains.get(key) ?? new Map<string, DomainCount>();
      domains.set(key, of);
      countDomain(of, domainLabel, node.metadata?.labels ?? {}, ready, free);
    }
  }
  return [...groups.entries()]
    .map(([key, g]) => ({ ...g, ...domainsField(domains.get(key)) }))
    .sort((a, b) => (a.name ?? "").localeCompare(b.name ?? ""));
}

/**
 * Pods of TrainingJob placements that hold a node (bound to one, not finished), by
 * "<job uid>/<epoch>": from the same pods as the free nodes, so that a placement's pods are counted
 * either as holding nodes here or as not free there, never both and never neither.
 */
export function boundPodsByPlacement(pods: readonly V1Pod[]): Map<string, number> {
  const bound = new Map<string, number>();
  for (const pod of pods) {
    const labels = pod.metadata?.labels;
    const uid = labels?.[LABEL_JOB_UID];
    if (!uid || !pod.spec?.nodeName || pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed") continue;
    const key = `${uid}/${labels?.[LABEL_EPOCH] ?? ""}`;
    bound.set(key, (bound.get(key) ?? 0) + 1);
  }
  return bound;
}
