// The sandbox's domain node groups look like the real ones (table tests): GB200
// UltraServers as NVLink cliques of 18 arm64 Capacity Block nodes, the Trn2
// UltraServer's Neuron labels, AKS's NVL72 clique; and the DRA stand-in's
// DeviceClass, one channel ResourceSlice per GB200 node, and the channel
// ResourceClaimTemplate of a ComputeDomain.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { channelTemplate, draObjects } from "../../scripts/sandbox/dra.ts";
import { renderClusterNodes } from "../../scripts/sandbox/nodes.ts";
import { type ClusterSpec, defaultTopology } from "../../scripts/sandbox/topology.ts";

const cluster = (name: string): ClusterSpec => {
  const c = defaultTopology({}).clusters.find((x) => x.name === name);
  assert.ok(c);
  return c;
};
const nodesOf = (c: ClusterSpec, group: string) =>
  renderClusterNodes(c).filter((n) => n.metadata?.labels?.["sandbox.crosscloud.dev/node-group"] === group);
const count = (values: (string | undefined)[]) => {
  const m = new Map<string | undefined, number>();
  for (const v of values) m.set(v, (m.get(v) ?? 0) + 1);
  return [...m.values()].sort();
};

describe("sandbox domain node groups", () => {
  const cases = [
    {
      name: "aws-sim/gb200: 36 arm64 Capacity Block nodes, two cliques of 18",
      cluster: "aws-sim",
      group: "gb200",
      nodes: 36,
      label: "nvidia.com/gpu.clique",
      perDomain: [18, 18],
      arch: "arm64",
      capacity: ["eks.amazonaws.com/capacityType", "CAPACITY_BLOCK"],
    },
    {
      name: "aws-sim/trn2u: one UltraServer of 4",
      cluster: "aws-sim",
      group: "trn2u",
      nodes: 4,
      label: "neuron.amazonaws.com/ultraserver-server-id-4",
      perDomain: [4],
      arch: "amd64",
      capacity: ["eks.amazonaws.com/capacityType", "CAPACITY_BLOCK"],
    },
    {
      name: "azure-sim/ndgb200: one NVL72 clique of 18 arm64 VMs",
      cluster: "azure-sim",
      group: "ndgb200",
      nodes: 18,
      label: "nvidia.com/gpu.clique",
      perDomain: [18],
      arch: "arm64",
      capacity: ["kubernetes.azure.com/scalesetpriority", "regular"],
    },
    {
      name: "aws-sim/p6b200: 2 amd64 on-demand nodes, no domain",
      cluster: "aws-sim",
      group: "p6b200",
      nodes: 2,
      label: "nvidia.com/gpu.clique",
      perDomain: [2],
      arch: "amd64",
      capacity: ["eks.amazonaws.com/capacityType", "ON_DEMAND"],
    },
  ];
  for (const tc of cases) {
    it(tc.name, () => {
      const nodes = nodesOf(cluster(tc.cluster), tc.group);
      assert.equal(nodes.length, tc.nodes);
      assert.deepEqual(count(nodes.map((n) => n.metadata?.labels?.[tc.label])), tc.perDomain);
      const [key, value] = tc.capacity as [string, string];
      for (const n of nodes) {
        assert.equal(n.metadata?.labels?.["kubernetes.io/arch"], tc.arch);
        assert.equal(n.metadata?.labels?.[key], value);
      }
    });
  }

  it("GB200 cliques are <ClusterUUID>.<CliqueID>", () => {
    const clique = nodesOf(cluster("aws-sim"), "gb200")[0]?.metadata?.labels?.["nvidia.com/gpu.clique"] ?? "";
    assert.match(clique, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.\d+$/);
  });

  it("trn2u: ultraserver-mode 4 and node ids 0..3", () => {
    const labels = nodesOf(cluster("aws-sim"), "trn2u").map((n) => n.metadata?.labels ?? {});
    assert.deepEqual(
      labels.map((l) => l["neuron.amazonaws.com/ultraserver-mode"]),
      ["4", "4", "4", "4"],
    );
    assert.deepEqual(
      labels.map((l) => l["neuron.amazonaws.com/ultraserver-node-id-4"]),
      ["0", "1", "2", "3"],
    );
  });
});

describe("sandbox DRA stand-in", () => {
  it("a DeviceClass and one channel slice per GB200 node, on the node's name", () => {
    for (const [name, group, slices] of [
      ["aws-sim", "gb200", 36],
      ["azure-sim", "ndgb200", 18],
    ] as const) {
      const c = cluster(name);
      const objects = draObjects(c);
      assert.equal(objects[0]?.kind, "DeviceClass");
      const nodes = new Set(nodesOf(c, group).map((n) => n.metadata?.name));
      const got = objects.filter((o) => o.kind === "ResourceSlice") as { spec: { nodeName: string } }[];
      assert.equal(got.length, slices);
      for (const s of got) assert.ok(nodes.has(s.spec.nodeName), s.spec.nodeName);
    }
  });

  it("the channel ResourceClaimTemplate is named by the ComputeDomain and owned by it", () => {
    const t = channelTemplate({
      apiVersion: "resource.nvidia.com/v1beta1",
      kind: "ComputeDomain",
      metadata: { name: "big-e1", namespace: "ml", uid: "u1" },
      spec: { channel: { resourceClaimTemplate: { name: "big-e1-channel" } } },
    });
    assert.equal(t.metadata.name, "big-e1-channel");
    assert.equal(t.metadata.namespace, "ml");
    assert.deepEqual(t.metadata.ownerReferences[0]?.uid, "u1");
    assert.equal(t.spec.spec.devices.requests[0]?.exactly.deviceClassName, "compute-domain-default-channel.nvidia.com");
  });
});
