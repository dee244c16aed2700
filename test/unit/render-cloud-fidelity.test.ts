// Cloud fidelity of the rendered pods: on EKS they land on the placement's group
// whether it is a managed node group or a Karpenter NodePool (whose nodes carry
// karpenter.sh/nodepool, not eks.amazonaws.com/nodegroup), and on Azure's
// InfiniBand sizes the trainer gets NCCL's InfiniBand env and IPC_LOCK. The pods
// are matched against the sandbox's own fake nodes with Kubernetes' rules for
// node selectors, required node affinity and NoSchedule taints (table tests).

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type {
  V1Container,
  V1EnvVar,
  V1Node,
  V1NodeSelectorRequirement,
  V1PodSpec,
  V1Toleration,
} from "@kubernetes/client-node";
import { renderNode } from "../../scripts/sandbox/nodes.ts";
import { type ClusterSpec, defaultTopology } from "../../scripts/sandbox/topology.ts";
import type { TrainingJob } from "../../src/api/trainingjob.ts";
import { instanceType } from "../../src/catalog/instance-types.ts";
import { fabricEnv } from "../../src/workload/env.ts";
import { IPC_LOCK, renderWorkload } from "../../src/workload/render.ts";
import { type NodeGroupTarget, nodeAffinityFor } from "../../src/workload/scheduling.ts";
import { renderTarget } from "../support/render-target.ts";
import { aTrainingJob } from "../support/trainingjob.ts";

// --- Kubernetes' matching rules, as the scheduler applies them (only what these pods use) ---

function requirementHolds(r: V1NodeSelectorRequirement, labels: Record<string, string>): boolean {
  const v = labels[r.key];
  if (r.operator === "In") return v !== undefined && (r.values ?? []).includes(v);
  if (r.operator === "NotIn") return v === undefined || !(r.values ?? []).includes(v);
  if (r.operator === "Exists") return v !== undefined;
  if (r.operator === "DoesNotExist") return v === undefined;
  throw new Error(`operator ${r.operator} is not used by these pods`);
}

function tolerates(tolerations: readonly V1Toleration[], taint: { key: string; value?: string; effect: string }) {
  return tolerations.some(
    (t) =>
      t.key === taint.key &&
      (!t.effect || t.effect === taint.effect) &&
      (t.operator === "Exists" || (t.value ?? "") === (taint.value ?? "")),
  );
}

/** Whether the scheduler may put `pod` on `node`: selector, required affinity terms (ORed), taints, devices. */
function fits(pod: V1PodSpec, node: V1Node): boolean {
  const labels = node.metadata?.labels ?? {};
  if (!Object.entries(pod.nodeSelector ?? {}).every(([k, v]) => labels[k] === v)) return false;
  const terms = pod.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  if (terms && !terms.some((t) => (t.matchExpressions ?? []).every((r) => requirementHolds(r, labels)))) return false;
  const hard = (node.spec?.taints ?? []).filter((t) => t.effect === "NoSchedule");
  if (!hard.every((t) => tolerates(pod.tolerations ?? [], t))) return false;
  const allocatable = node.status?.allocatable ?? {};
  const requests = pod.containers.flatMap((c) => Object.entries(c.resources?.requests ?? {}));
  return requests.every(([k, v]) => Number(allocatable[k] ?? 0) >= Number(v));
}

// --- the sandbox's nodes, and a Karpenter NodePool's node (the sandbox runs no Karpenter) ---

const topology = defaultTopology({});
const worker = (name: string): ClusterSpec => {
  const c = topology.clusters.find((x) => x.name === name);
  assert.ok(c);
  return c;
};
const nodeOf = (cluster: string, group: string): V1Node => {
  const c = worker(cluster);
  const g = c.nodeGroups.find((x) => x.name === group);
  assert.ok(g);
  return renderNode(c, g, 0);
};

/** A node Karpenter launched for NodePool `pool`: the EKS node's shape with Karpenter's labels instead. */
function karpenterNode(from: V1Node, pool: string): V1Node {
  const labels = { ...from.metadata?.labels };
  delete labels["eks.amazonaws.com/nodegroup"];
  delete labels["eks.amazonaws.com/capacityType"];
  Object.assign(labels, { "karpenter.sh/nodepool": pool, "karpenter.sh/capacity-type": "on-demand" });
  return { ...from, metadata: { ...from.metadata, name: `${pool}-abcde`, labels } };
}

const nodes: Record<string, V1Node> = {
  "mng trn1": nodeOf("aws-sim", "trn1"),
  "mng trn2": nodeOf("aws-sim", "trn2"),
  "mng p5": nodeOf("aws-sim", "p5"),
  "karpenter trn2": karpenterNode(nodeOf("aws-sim", "trn2"), "trn2-karpenter"),
  "karpenter p5": karpenterNode(nodeOf("aws-sim", "p5"), "p5-karpenter"),
  "aks ndh100": nodeOf("azure-sim", "ndh100"),
  "aks ndh100spot": nodeOf("azure-sim", "ndh100spot"),
};

const target = renderTarget;

const podFor = (job: TrainingJob, t: ReturnType<typeof target>): V1PodSpec => {
  const option = job.spec.accelerators[0];
  assert.ok(option);
  const spec = renderWorkload({ job, epoch: 1, option, target: t, checkpointUri: "s3://b/ml/x" }).job.spec?.template
    .spec;
  assert.ok(spec);
  return spec;
};

describe("pinning to the placement's group: where the rendered pods may land", () => {
  const cases = [
    {
      name: "an EKS managed node group: only its own nodes",
      job: aTrainingJob("a").accelerator("trainium2", 16).obj(),
      target: target("aws", "trn2", "trn2.48xlarge"),
      want: ["mng trn2"],
    },
    {
      name: "a Karpenter NodePool: only its nodes, which carry karpenter.sh/nodepool and no node group label",
      job: aTrainingJob("b").accelerator("trainium2", 16).obj(),
      target: target("aws", "trn2-karpenter", "trn2.48xlarge"),
      want: ["karpenter trn2"],
    },
    {
      name: "a Karpenter NodePool of p5: its node, not the managed p5 group's",
      job: aTrainingJob("c").accelerator("nvidia-h100", 8).obj(),
      target: target("aws", "p5-karpenter", "p5.48xlarge"),
      want: ["karpenter p5"],
    },
    {
      name: "an AKS on-demand pool: not the spot pool (agent pool label, no spot toleration)",
      job: aTrainingJob("d").accelerator("nvidia-h100", 8).obj(),
      target: target("azure", "ndh100", "Standard_ND96isr_H100_v5"),
      want: ["aks ndh100"],
    },
    {
      name: "an AKS spot pool: its nodes",
      job: aTrainingJob("e").accelerator("nvidia-h100", 8).obj(),
      target: target("azure", "ndh100spot", "Standard_ND96isr_H100_v5", "Spot"),
      want: ["aks ndh100spot"],
    },
    {
      name: "the template's own node selector for a group label is replaced, not ANDed",
      job: aTrainingJob("f")
        .accelerator("trainium2", 16)
        .with((j) => {
          if (j.spec.template.spec) j.spec.template.spec.nodeSelector = { "eks.amazonaws.com/nodegroup": "trn1" };
        })
        .obj(),
      target: target("aws", "trn2-karpenter", "trn2.48xlarge"),
      want: ["karpenter trn2"],
    },
  ];
  for (const tc of cases) {
    it(tc.name, () => {
      const pod = podFor(tc.job, tc.target);
      const landing = Object.entries(nodes)
        .filter(([, node]) => fits(pod, node))
        .map(([name]) => name);
      assert.deepEqual(landing, tc.want);
    });
  }
});

describe("nodeAffinityFor: the template's required terms ANDed with the group's labels", () => {
  const trn2: NodeGroupTarget = {
    cloud: "aws",
    nodeGroup: "g",
    instanceType: instanceType("trn2.48xlarge"),
    capacityType: "OnDemand",
  };
  const group = (key: string) => ({ key, operator: "In", values: ["g"] });
  const zone = { key: "topology.kubernetes.io/zone", operator: "In", values: ["us-east-1a"] };
  const arch = { key: "kubernetes.io/arch", operator: "In", values: ["amd64"] };
  const cases = [
    {
      name: "no affinity of its own: one term per group label",
      own: undefined,
      want: [[group("eks.amazonaws.com/nodegroup")], [group("karpenter.sh/nodepool")]],
    },
    {
      name: "two terms of its own: each ANDed with each group label (4 terms)",
      own: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [{ matchExpressions: [zone] }, { matchExpressions: [arch] }],
        },
      },
      want: [
        [zone, group("eks.amazonaws.com/nodegroup")],
        [zone, group("karpenter.sh/nodepool")],
        [arch, group("eks.amazonaws.com/nodegroup")],
        [arch, group("karpenter.sh/nodepool")],
      ],
    },
  ];
  for (const tc of cases) {
    it(tc.name, () => {
      const got = nodeAffinityFor(trn2, tc.own)?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
      assert.deepEqual(
        got?.map((t) => t.matchExpressions),
        tc.want,
      );
    });
  }
  it("keeps the template's preferred terms", () => {
    const preferred = [{ weight: 10, preference: { matchExpressions: [zone] } }];
    const got = nodeAffinityFor(trn2, { preferredDuringSchedulingIgnoredDuringExecution: preferred });
    assert.deepEqual(got?.preferredDuringSchedulingIgnoredDuringExecution, preferred);
  });
  it("leaves an Azure pod's affinity as the template has it (the agent pool is in the node selector)", () => {
    const own = {
      requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [zone] }] },
    };
    assert.equal(
      nodeAffinityFor({ ...trn2, cloud: "azure", instanceType: instanceType("Standard_ND96isr_H100_v5") }, own),
      own,
    );
  });
});

describe("the fabric: NCCL over InfiniBand and IPC_LOCK on Azure ND sizes, EFA on Trainium", () => {
  const envOf = (c: V1Container | undefined) =>
    Object.fromEntries((c?.env ?? []).filter((e: V1EnvVar) => e.value !== undefined).map((e) => [e.name, e.value]));
  const cases = [
    {
      name: "ND96isr H100 v5: NCCL_IB_DISABLE=0, NCCL_NET_GDR_LEVEL=SYS, rdma/ib: 8, IPC_LOCK",
      job: aTrainingJob("ib").accelerator("nvidia-h100", 8).obj(),
      target: target("azure", "ndh100", "Standard_ND96isr_H100_v5"),
      env: { NCCL_IB_DISABLE: "0", NCCL_NET_GDR_LEVEL: "SYS" },
      absent: ["FI_PROVIDER"],
      rdma: "8",
      add: [IPC_LOCK],
    },
    {
      name: "ND96asr v4 (A100, InfiniBand HDR): the same",
      job: aTrainingJob("ib4").accelerator("nvidia-a100", 8).obj(),
      target: target("azure", "nda100", "Standard_ND96asr_v4"),
      env: { NCCL_IB_DISABLE: "0", NCCL_NET_GDR_LEVEL: "SYS" },
      absent: [],
      rdma: "8",
      add: [IPC_LOCK],
    },
    {
      name: "NC40ads H100 v5 (no InfiniBand): neither the env nor the capability",
      job: aTrainingJob("nc").accelerator("nvidia-h100", 1).obj(),
      target: target("azure", "nch100", "Standard_NC40ads_H100_v5"),
      env: {},
      absent: ["NCCL_IB_DISABLE", "NCCL_NET_GDR_LEVEL"],
      rdma: undefined,
      add: undefined,
    },
    {
      name: "p5 on EKS (EFA, not InfiniBand): neither",
      job: aTrainingJob("p5").accelerator("nvidia-h100", 8).obj(),
      target: target("aws", "p5", "p5.48xlarge"),
      env: {},
      absent: ["NCCL_IB_DISABLE", "NCCL_NET_GDR_LEVEL"],
      rdma: undefined,
      add: undefined,
    },
    {
      name: "trn1 on EKS: the EFA and Neuron defaults, no IPC_LOCK",
      job: aTrainingJob("trn").accelerator("trainium1", 16).obj(),
      target: target("aws", "trn1", "trn1.32xlarge"),
      env: { FI_PROVIDER: "efa", FI_EFA_USE_DEVICE_RDMA: "1", FI_EFA_FORK_SAFE: "1", CCOM_SOCKET_IFNAME: "eth0" },
      absent: ["NCCL_IB_DISABLE"],
      rdma: undefined,
      add: undefined,
    },
  ];
  for (const tc of cases) {
    it(tc.name, () => {
      const trainer = podFor(tc.job, tc.target).containers[0];
      const env = envOf(trainer);
      for (const [k, v] of Object.entries(tc.env)) assert.equal(env[k], v, `env ${k}`);
      for (const k of tc.absent) assert.equal(env[k], undefined, `no ${k}`);
      assert.equal(trainer?.resources?.requests?.["rdma/ib"], tc.rdma);
      assert.equal(trainer?.resources?.limits?.["rdma/ib"], tc.rdma);
      assert.deepEqual(trainer?.securityContext?.capabilities?.add, tc.add);
    });
  }

  it("adds IPC_LOCK to the template's security context and keeps the rest of it (drop ALL, non-root)", () => {
    const job = aTrainingJob("psa")
      .accelerator("nvidia-h100", 8)
      .with((j) => {
        const c = j.spec.template.spec?.containers[0];
        if (c)
          c.securityContext = {
            runAsNonRoot: true,
            allowPrivilegeEscalation: false,
            capabilities: { drop: ["ALL"], add: ["NET_BIND_SERVICE"] },
          };
      })
      .obj();
    const trainer = podFor(job, target("azure", "ndh100", "Standard_ND96isr_H100_v5")).containers[0];
    // Exactly this: nothing else (no privileged mode) is added.
    assert.deepEqual(trainer?.securityContext, {
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"], add: ["NET_BIND_SERVICE", IPC_LOCK] },
    });
  });

  it("lets the template's or the option's env override a fabric default, once", () => {
    const job = aTrainingJob("own")
      .accelerator("nvidia-h100", 8, { env: [{ name: "NCCL_NET_GDR_LEVEL", value: "PHB" }] })
      .with((j) => {
        const c = j.spec.template.spec?.containers[0];
        if (c) c.env = [{ name: "NCCL_IB_DISABLE", value: "1" }];
      })
      .obj();
    const env = podFor(job, target("azure", "ndh100", "Standard_ND96isr_H100_v5")).containers[0]?.env ?? [];
    const named = (n: string) => env.filter((e) => e.name === n).map((e) => e.value);
    assert.deepEqual(named("NCCL_IB_DISABLE"), ["1"]);
    assert.deepEqual(named("NCCL_NET_GDR_LEVEL"), ["PHB"]);
  });

  it("has no fabric defaults for a type without a fabric", () => {
    assert.deepEqual(fabricEnv(instanceType("Standard_NC24ads_A100_v4")), []);
  });
});
