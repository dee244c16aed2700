// The sandbox's shape: three clusters (a hub and two cloud-like workers), their
// ports and node groups, and the object stores beside them. Node counts are
// parameters (SANDBOX_NODES), so benchmarks can start hundreds of nodes.

import type { Cloud } from "../../src/catalog/instance-types.ts";

export type ClusterName = "hub" | "aws-sim" | "azure-sim";
/** Reserved: EKS Capacity Blocks (nodes labelled `eks.amazonaws.com/capacityType: CAPACITY_BLOCK`). */
export type CapacityType = "OnDemand" | "Spot" | "Reserved";

export interface NodeGroupSpec {
  /** EKS node group or AKS agent pool name. */
  readonly name: string;
  readonly instanceType: string;
  readonly capacityType: CapacityType;
  /** Nodes started with the sandbox. */
  readonly count: number;
  readonly minSize: number;
  readonly maxSize: number;
  /**
   * Nodes per accelerator-fabric domain, for instance types sold in domains (the catalog's
   * domainLabel): node i is in domain floor(i / domainSize): an NVLink clique (GB200) or a Trn2
   * UltraServer, labelled as GPU Feature Discovery or the Neuron device plugin labels them (nodes.ts).
   */
  readonly domainSize?: number;
}

export interface ClusterSpec {
  readonly name: ClusterName;
  /** The cloud a worker stands for; absent on the hub. */
  readonly cloud?: Cloud;
  readonly region: string;
  readonly apiPort: number;
  readonly nodeGroups: readonly NodeGroupSpec[];
}

export interface Topology {
  readonly clusters: readonly ClusterSpec[];
  readonly etcdPort: number;
  readonly etcdPeerPort: number;
  readonly s3Port: number;
  readonly blobPort: number;
}

/** Ports start at SANDBOX_PORT_BASE (default 17000) so they don't meet a real cluster's. */
export function defaultTopology(env: NodeJS.ProcessEnv = process.env): Topology {
  const base = Number(env.SANDBOX_PORT_BASE ?? 17000);
  if (!Number.isInteger(base) || base < 1024 || base > 65000) {
    throw new Error(`SANDBOX_PORT_BASE=${env.SANDBOX_PORT_BASE} is not a port between 1024 and 65000`);
  }
  const clusters: ClusterSpec[] = [
    { name: "hub", region: "local", apiPort: base + 443, nodeGroups: [] },
    {
      name: "aws-sim",
      cloud: "aws",
      region: "us-east-1",
      apiPort: base + 444,
      nodeGroups: [
        { name: "trn1", instanceType: "trn1.32xlarge", capacityType: "OnDemand", count: 4, minSize: 0, maxSize: 16 },
        { name: "trn2", instanceType: "trn2.48xlarge", capacityType: "OnDemand", count: 2, minSize: 0, maxSize: 8 },
        { name: "p5", instanceType: "p5.48xlarge", capacityType: "OnDemand", count: 2, minSize: 0, maxSize: 8 },
        {
          name: "p6b200",
          instanceType: "p6-b200.48xlarge",
          capacityType: "OnDemand",
          count: 2,
          minSize: 0,
          maxSize: 8,
        },
        // Two u-p6e-gb200x72 UltraServers on Capacity Blocks: 18 nodes (72 GPUs) per NVLink clique.
        {
          name: "gb200",
          instanceType: "p6e-gb200.36xlarge",
          capacityType: "Reserved",
          count: 36,
          minSize: 0,
          maxSize: 36,
          domainSize: 18,
        },
        // One Trn2 UltraServer (u-trn2x64) on a Capacity Block: 4 nodes, NeuronLink between them.
        {
          name: "trn2u",
          instanceType: "trn2u.48xlarge",
          capacityType: "Reserved",
          count: 4,
          minSize: 0,
          maxSize: 4,
          domainSize: 4,
        },
      ],
    },
    {
      name: "azure-sim",
      cloud: "azure",
      region: "westus3",
      apiPort: base + 445,
      nodeGroups: [
        {
          name: "ndh100",
          instanceType: "Standard_ND96isr_H100_v5",
          capacityType: "OnDemand",
          count: 4,
          minSize: 0,
          maxSize: 16,
        },
        {
          name: "ndh100spot",
          instanceType: "Standard_ND96isr_H100_v5",
          capacityType: "Spot",
          count: 4,
          minSize: 0,
          maxSize: 16,
        },
        // One NVL72 domain: 18 VMs in one NVLink clique.
        {
          name: "ndgb200",
          instanceType: "Standard_ND128isr_NDR_GB200_v6",
          capacityType: "OnDemand",
          count: 18,
          minSize: 0,
          maxSize: 18,
          domainSize: 18,
        },
      ],
    },
  ];
  return {
    clusters: applyNodeCounts(clusters, env.SANDBOX_NODES ?? ""),
    etcdPort: base + 379,
    etcdPeerPort: base + 380,
    s3Port: base + 900,
    blobPort: base + 910,
  };
}

/**
 * Applies SANDBOX_NODES, a comma-separated list of `cluster/group=count`
 * (e.g. `aws-sim/trn1=200,azure-sim/ndh100=100`). A group's maxSize grows to
 * at least its count.
 */
export function applyNodeCounts(clusters: readonly ClusterSpec[], spec: string): ClusterSpec[] {
  const counts = new Map<string, number>();
  for (const item of spec
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)) {
    const match = /^([a-z0-9-]+)\/([a-z0-9-]+)=(\d+)$/.exec(item);
    if (!match) {
      throw new Error(`SANDBOX_NODES: "${item}" is not cluster/group=count (e.g. aws-sim/trn1=200)`);
    }
    const [, cluster, group, count] = match;
    if (!clusters.some((c) => c.name === cluster && c.nodeGroups.some((g) => g.name === group))) {
      const known = clusters.flatMap((c) => c.nodeGroups.map((g) => `${c.name}/${g.name}`));
      throw new Error(`SANDBOX_NODES: no node group "${cluster}/${group}"; the sandbox has ${known.join(", ")}`);
    }
    counts.set(`${cluster}/${group}`, Number(count));
  }
  return clusters.map((c) => ({
    ...c,
    nodeGroups: c.nodeGroups.map((g) => {
      const count = counts.get(`${c.name}/${g.name}`) ?? g.count;
      return { ...g, count, maxSize: Math.max(g.maxSize, count) };
    }),
  }));
}

export function workerClusters(topology: Topology): ClusterSpec[] {
  return topology.clusters.filter((c) => c.cloud !== undefined);
}
