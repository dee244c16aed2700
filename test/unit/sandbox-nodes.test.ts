// The sandbox's fake nodes carry the labels, taints and allocatable resources
// of the real EKS node groups and AKS pools they stand for (CLOUD-FACTS.md).

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { nodeName, renderClusterNodes, renderNode } from "../../scripts/sandbox/nodes.ts";
import { applyNodeCounts, type ClusterSpec, defaultTopology } from "../../scripts/sandbox/topology.ts";

const topology = defaultTopology({});
const cluster = (name: string): ClusterSpec => {
  const found = topology.clusters.find((c) => c.name === name);
  assert.ok(found);
  return found;
};
const group = (c: ClusterSpec, name: string) => {
  const found = c.nodeGroups.find((g) => g.name === name);
  assert.ok(found);
  return found;
};

describe("renderNode", () => {
  const cases = [
    {
      name: "EKS trn1 node",
      cluster: "aws-sim",
      group: "trn1",
      labels: {
        "node.kubernetes.io/instance-type": "trn1.32xlarge",
        "eks.amazonaws.com/nodegroup": "trn1",
        "eks.amazonaws.com/capacityType": "ON_DEMAND",
        "topology.kubernetes.io/zone": "us-east-1a",
      },
      taints: [{ key: "aws.amazon.com/neuron", effect: "NoSchedule" }],
      allocatable: {
        "aws.amazon.com/neuron": "16",
        "aws.amazon.com/neuroncore": "32",
        "vpc.amazonaws.com/efa": "8",
        cpu: "128",
        memory: "512Gi",
        pods: "110",
      },
    },
    {
      name: "EKS trn2 node",
      cluster: "aws-sim",
      group: "trn2",
      labels: { "node.kubernetes.io/instance-type": "trn2.48xlarge", "eks.amazonaws.com/nodegroup": "trn2" },
      taints: [{ key: "aws.amazon.com/neuron", effect: "NoSchedule" }],
      allocatable: {
        "aws.amazon.com/neuron": "16",
        "aws.amazon.com/neuroncore": "128",
        "vpc.amazonaws.com/efa": "16",
        cpu: "192",
        memory: "2048Gi",
      },
    },
    {
      name: "EKS p5 node",
      cluster: "aws-sim",
      group: "p5",
      labels: { "node.kubernetes.io/instance-type": "p5.48xlarge", "eks.amazonaws.com/nodegroup": "p5" },
      taints: [{ key: "nvidia.com/gpu", value: "true", effect: "NoSchedule" }],
      allocatable: { "nvidia.com/gpu": "8", "vpc.amazonaws.com/efa": "32", cpu: "192", memory: "2048Gi" },
    },
    {
      name: "AKS regular H100 pool node",
      cluster: "azure-sim",
      group: "ndh100",
      labels: {
        "node.kubernetes.io/instance-type": "Standard_ND96isr_H100_v5",
        "kubernetes.azure.com/agentpool": "ndh100",
        "kubernetes.azure.com/accelerator": "nvidia",
        "kubernetes.azure.com/scalesetpriority": "regular",
        "kubernetes.azure.com/mode": "user",
        "topology.kubernetes.io/zone": "westus3-1",
      },
      taints: [{ key: "sku", value: "gpu", effect: "NoSchedule" }],
      allocatable: { "nvidia.com/gpu": "8", "rdma/ib": "8", cpu: "96", memory: "1900Gi" },
    },
    {
      name: "AKS spot H100 pool node",
      cluster: "azure-sim",
      group: "ndh100spot",
      labels: { "kubernetes.azure.com/agentpool": "ndh100spot", "kubernetes.azure.com/scalesetpriority": "spot" },
      taints: [
        { key: "sku", value: "gpu", effect: "NoSchedule" },
        { key: "kubernetes.azure.com/scalesetpriority", value: "spot", effect: "NoSchedule" },
      ],
      allocatable: { "nvidia.com/gpu": "8" },
    },
  ];
  for (const tc of cases) {
    it(tc.name, () => {
      const c = cluster(tc.cluster);
      const node = renderNode(c, group(c, tc.group), 0);
      for (const [k, v] of Object.entries(tc.labels)) assert.equal(node.metadata?.labels?.[k], v, `label ${k}`);
      assert.deepEqual(node.spec?.taints, tc.taints);
      for (const [k, v] of Object.entries(tc.allocatable))
        assert.equal(node.status?.allocatable?.[k], v, `allocatable ${k}`);
      assert.deepEqual(node.status?.capacity, node.status?.allocatable);
      assert.equal(node.metadata?.annotations?.["kwok.x-k8s.io/node"], "fake");
      assert.equal(node.metadata?.labels?.["kubernetes.io/hostname"], node.metadata?.name);
    });
  }

  it("refuses an instance type of the other cloud", () => {
    const c = cluster("azure-sim");
    assert.throws(
      () => renderNode(c, { ...group(c, "ndh100"), instanceType: "p5.48xlarge" }, 0),
      /p5\.48xlarge is an aws instance type, not azure/,
    );
  });

  it("names nodes uniquely across a large group", () => {
    for (const name of ["aws-sim", "azure-sim"]) {
      const c = applyNodeCounts([cluster(name)], `${name}/${cluster(name).nodeGroups[0]?.name}=600`)[0];
      assert.ok(c);
      const names = renderClusterNodes(c).map((n) => n.metadata?.name);
      assert.equal(new Set(names).size, names.length);
      assert.ok(names.length >= 600);
    }
    const aws = cluster("aws-sim");
    assert.equal(nodeName(aws, group(aws, "trn1"), 0), "ip-10-1-0-4.ec2.internal");
  });
});

describe("applyNodeCounts", () => {
  const cases = [
    { spec: "", check: (cs: ClusterSpec[]) => assert.equal(group(cs[1] as ClusterSpec, "trn1").count, 4) },
    {
      spec: "aws-sim/trn1=200, azure-sim/ndh100spot=0",
      check: (cs: ClusterSpec[]) => {
        const trn1 = group(cs[1] as ClusterSpec, "trn1");
        assert.equal(trn1.count, 200);
        assert.equal(trn1.maxSize, 200, "maxSize grows to the count");
        assert.equal(group(cs[2] as ClusterSpec, "ndh100spot").count, 0);
      },
    },
  ];
  for (const tc of cases) {
    it(`applies "${tc.spec}"`, () => tc.check(applyNodeCounts(topology.clusters, tc.spec)));
  }

  const bad = [
    { spec: "trn1=3", error: /"trn1=3" is not cluster\/group=count/ },
    { spec: "aws-sim/trn9=3", error: /no node group "aws-sim\/trn9"; the sandbox has aws-sim\/trn1/ },
    { spec: "aws-sim/trn1=-1", error: /is not cluster\/group=count/ },
  ];
  for (const tc of bad) {
    it(`refuses "${tc.spec}" naming the problem`, () => {
      assert.throws(() => applyNodeCounts(topology.clusters, tc.spec), tc.error);
    });
  }
});

describe("defaultTopology", () => {
  it("refuses a SANDBOX_PORT_BASE that is not a port", () => {
    assert.throws(() => defaultTopology({ SANDBOX_PORT_BASE: "80" }), /SANDBOX_PORT_BASE=80 is not a port/);
  });
  it("derives every port from the base", () => {
    const t = defaultTopology({ SANDBOX_PORT_BASE: "20000" });
    assert.deepEqual(
      t.clusters.map((c) => c.apiPort),
      [20443, 20444, 20445],
    );
    assert.equal(t.etcdPort, 20379);
  });
});
