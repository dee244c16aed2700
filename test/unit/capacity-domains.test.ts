// Domains in a ComputeCluster's status and in placement's snapshot: nodes
// counted per NVLink clique / UltraServer (nodeGroupsFrom), reserved groups,
// domains passed to placement less the nodes promised to jobs not yet
// running, and the winner's domains written to status.placement.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1Node, V1Pod } from "@kubernetes/client-node";
import type { ComputeCluster, NodeGroupStatus } from "../../src/api/computecluster.ts";
import { Catalog } from "../../src/catalog/index.ts";
import { nodeGroupsFrom } from "../../src/controller/computecluster/capacity.ts";
import { clusterSnapshot, decidePlacement, placementDomains } from "../../src/controller/trainingjob/place.ts";
import { anAwsComputeCluster } from "../support/builders.ts";
import { aTrainingJob } from "../support/trainingjob.ts";

const CLIQUE = "nvidia.com/gpu.clique";
const catalog = Catalog.builtIn();

function node(name: string, type: string, group: string, extra: Record<string, string>, ready = true): V1Node {
  return {
    metadata: {
      name,
      labels: { "node.kubernetes.io/instance-type": type, "eks.amazonaws.com/nodegroup": group, ...extra },
    },
    status: { conditions: [{ type: "Ready", status: ready ? "True" : "False" }] },
  };
}
const gb200 = (name: string, clique?: string, ready = true) =>
  node(
    name,
    "p6e-gb200.36xlarge",
    "gb200",
    { "eks.amazonaws.com/capacityType": "CAPACITY_BLOCK", ...(clique ? { [CLIQUE]: clique } : {}) },
    ready,
  );
const gpuPod = (nodeName: string): V1Pod => ({
  metadata: { name: `p-${nodeName}` },
  spec: { nodeName, containers: [{ name: "c", resources: { requests: { "nvidia.com/gpu": "4" } } }] },
  status: { phase: "Running" },
});

describe("domains in a node group's status (nodeGroupsFrom)", () => {
  it("counts nodes, ready and free nodes per clique, sorted by name, in a Reserved group", () => {
    const nodes = [gb200("a0", "u1.1"), gb200("a1", "u1.1"), gb200("b0", "u0.1"), gb200("b1", "u0.1", false)];
    const [g] = nodeGroupsFrom(nodes, [gpuPod("a0")], catalog);
    assert.equal(g?.capacityType, "Reserved");
    assert.deepEqual([g?.nodes, g?.readyNodes, g?.freeNodes], [4, 3, 2]);
    assert.deepEqual(g?.domains, [
      { key: CLIQUE, name: "u0.1", nodes: 2, readyNodes: 1, freeNodes: 1 },
      { key: CLIQUE, name: "u1.1", nodes: 2, readyNodes: 2, freeNodes: 1 },
    ]);
  });

  it("leaves out nodes without the label (not yet labelled by GPU Feature Discovery)", () => {
    const [g] = nodeGroupsFrom([gb200("a0", "u1.1"), gb200("a1")], [], catalog);
    assert.equal(g?.nodes, 2);
    assert.deepEqual(
      g?.domains?.map((d) => [d.name, d.nodes]),
      [["u1.1", 1]],
    );
  });

  it("omits domains for instance types without a domain label; an empty list when no node carries it yet", () => {
    const p5 = node("p0", "p5.48xlarge", "p5", { [CLIQUE]: "x" });
    const groups = nodeGroupsFrom([p5, gb200("a0")], [], catalog);
    assert.deepEqual(
      groups.map((g) => [g.name, g.domains]),
      [
        ["gb200", []],
        ["p5", undefined],
      ],
    );
  });

  it("counts Trn2 UltraServers by neuron.amazonaws.com/ultraserver-server-id-4", () => {
    const key = "neuron.amazonaws.com/ultraserver-server-id-4";
    const trn2u = (n: string, id: string) => node(n, "trn2u.48xlarge", "trn2u", { [key]: id });
    const [g] = nodeGroupsFrom([trn2u("t0", "7"), trn2u("t1", "7"), trn2u("t2", "3")], [], catalog);
    assert.deepEqual(
      g?.domains?.map((d) => [d.key, d.name, d.freeNodes]),
      [
        [key, "3", 1],
        [key, "7", 2],
      ],
    );
  });
});

/** A GB200 ComputeCluster with two cliques of 18 nodes, `free` free in each. */
function cluster(free: readonly [number, number]): ComputeCluster {
  const domains = [
    { key: CLIQUE, name: "c1", nodes: 18, readyNodes: 18, freeNodes: free[0] },
    { key: CLIQUE, name: "c2", nodes: 18, readyNodes: 18, freeNodes: free[1] },
  ];
  const group: NodeGroupStatus = {
    name: "gb200",
    instanceType: "p6e-gb200.36xlarge",
    accelerator: "nvidia-gb200",
    devicesPerNode: 4,
    capacityType: "Reserved",
    nodes: 36,
    readyNodes: 36,
    freeNodes: free[0] + free[1],
    minSize: 0,
    maxSize: 36,
    desiredSize: 36,
    domains,
  };
  const ready = {
    type: "Ready",
    status: "True",
    reason: "r",
    message: "m",
    lastTransitionTime: "2026-12-01T00:00:00Z",
  };
  return anAwsComputeCluster("aws-gb", {}, {
    lastHeartbeatTime: new Date().toISOString(),
    conditions: [ready],
    nodeGroups: [group],
  } as ComputeCluster["status"]);
}

const job = (name: string, replicas: number, topology: "None" | "Required" | "Preferred") =>
  aTrainingJob(name)
    .replicas(replicas)
    .accelerator("nvidia-gb200", 4)
    .with((j) => {
      j.spec.placement = { ...j.spec.placement, topology };
    })
    .obj();

const starting = (name: string, replicas: number, domains?: string[]) =>
  aTrainingJob(name)
    .replicas(replicas)
    .accelerator("nvidia-gb200", 4)
    .with((j) => {
      j.status = {
        phase: "Starting",
        placement: {
          cluster: "aws-gb",
          nodeGroup: "gb200",
          ...(domains ? { domainKey: CLIQUE, domains } : {}),
        },
        replicas: { desired: replicas, running: 0, succeeded: 0, failed: 0 },
      };
    })
    .obj();

describe("domains in placement's snapshot (clusterSnapshot, decidePlacement)", () => {
  it("passes the status's domains and capacityType Reserved through", () => {
    const g = clusterSnapshot(cluster([18, 12])).nodeGroups[0];
    assert.equal(g?.capacityType, "Reserved");
    assert.deepEqual(
      g?.domains?.map((d) => [d.key, d.name, d.nodes, d.freeNodes]),
      [
        [CLIQUE, "c1", 18, 18],
        [CLIQUE, "c2", 18, 12],
      ],
    );
  });

  it("counts domains from the worker's informers when given, as the group's nodes", () => {
    const status = cluster([18, 18]).status?.nodeGroups?.[0] as NodeGroupStatus;
    const live: NodeGroupStatus[] = [
      { ...status, freeNodes: 20, domains: (status.domains ?? []).map((d) => ({ ...d, freeNodes: 10 })) },
    ];
    const g = clusterSnapshot(cluster([18, 18]), new Map(), new Map(), new Date(), live).nodeGroups[0];
    assert.deepEqual(
      g?.domains?.map((d) => d.freeNodes),
      [10, 10],
    );
  });

  it("takes a starting job's nodes off the clique it was placed in only", () => {
    const d = decidePlacement(job("next", 16, "Required"), [cluster([18, 18])], [starting("first", 16, ["c1"])]);
    assert.equal(d.outcome, "Placed", d.reason);
    assert.deepEqual(d.winner?.domains, { key: CLIQUE, names: ["c2"] });
  });

  it("takes nodes promised without a known clique off every clique (conservative)", () => {
    const d = decidePlacement(job("next", 16, "Required"), [cluster([18, 18])], [starting("first", 4)]);
    assert.equal(d.outcome, "InsufficientCapacity", d.reason);
    assert.match(d.reason, /c1 has 14 free nodes, c2 14/);
  });

  it("maps spec.placement.topology and writes domainKey and domains from the winner", () => {
    const d = decidePlacement(job("next", 16, "Required"), [cluster([18, 16])]);
    assert.ok(d.winner);
    assert.deepEqual(placementDomains(d.winner), { domainKey: CLIQUE, domains: ["c2"] });
    const none = decidePlacement(job("none", 16, "None"), [cluster([18, 16])]);
    assert.ok(none.winner);
    assert.deepEqual(placementDomains(none.winner), {});
  });
});
