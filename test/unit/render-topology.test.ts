// renderWorkload inside accelerator-fabric domains (table tests): the node
// affinity and pod affinity of topology Required and Preferred, the
// architecture node selector, the ComputeDomain and its channel claim on
// GB200 (none on H100), and the Trn2 UltraServer env and pinning.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1EnvVar, V1PodSpec } from "@kubernetes/client-node";
import type { TrainingJob } from "../../src/api/trainingjob.ts";
import { type RenderInput, renderWorkload, type Workload } from "../../src/workload/render.ts";
import {
  COMPUTE_DOMAIN_CLAIM,
  type DomainTarget,
  ULTRASERVER_GATE,
  ULTRASERVER_MODE_LABEL,
  ultraServerEnv,
  withPodAffinity,
} from "../../src/workload/topology.ts";
import { renderTarget } from "../support/render-target.ts";
import { aTrainingJob } from "../support/trainingjob.ts";

const CLIQUE = "nvidia.com/gpu.clique";
const SERVER = "neuron.amazonaws.com/ultraserver-server-id-4";
const OWN = { "training.crosscloud.dev/job-uid": "uid-big", "training.crosscloud.dev/epoch": "1" };

const target = renderTarget;

function render(job: TrainingJob, t: RenderInput["target"], domains?: DomainTarget): { w: Workload; pod: V1PodSpec } {
  const option = job.spec.accelerators[0];
  assert.ok(option);
  const w = renderWorkload({
    job,
    epoch: 1,
    option,
    target: t,
    checkpointUri: "s3://ckpt/ml/big",
    ...(domains ? { domains } : {}),
  });
  const pod = w.job.spec?.template.spec;
  assert.ok(pod);
  return { w, pod };
}

const envOf = (env: V1EnvVar[] | undefined) =>
  Object.fromEntries((env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));
const termsOf = (pod: V1PodSpec) =>
  pod.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];

const gb200 = (replicas = 16) => aTrainingJob("big").replicas(replicas).accelerator("nvidia-gb200", 4).obj();

describe("renderWorkload in domains: affinities", () => {
  const cases = [
    {
      name: "Required on EKS GB200: every group term ANDed with the clique, a required pod affinity on the clique",
      job: gb200(),
      target: target("aws", "gb200", "p6e-gb200.36xlarge", "Reserved" as never),
      domains: { key: CLIQUE, domains: ["uuid.1"], topology: "Required" } as const,
      wantTerms: [
        [
          { key: "eks.amazonaws.com/nodegroup", operator: "In", values: ["gb200"] },
          { key: CLIQUE, operator: "In", values: ["uuid.1"] },
        ],
        [
          { key: "karpenter.sh/nodepool", operator: "In", values: ["gb200"] },
          { key: CLIQUE, operator: "In", values: ["uuid.1"] },
        ],
      ],
      wantPodAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: OWN }, topologyKey: CLIQUE }],
      },
    },
    {
      name: "Preferred on EKS GB200 over two cliques: node affinity In both, a preferred pod affinity (weight 100)",
      job: gb200(20),
      target: target("aws", "gb200", "p6e-gb200.36xlarge"),
      domains: { key: CLIQUE, domains: ["uuid.1", "uuid.2"], topology: "Preferred" } as const,
      wantTerms: [
        [
          { key: "eks.amazonaws.com/nodegroup", operator: "In", values: ["gb200"] },
          { key: CLIQUE, operator: "In", values: ["uuid.1", "uuid.2"] },
        ],
        [
          { key: "karpenter.sh/nodepool", operator: "In", values: ["gb200"] },
          { key: CLIQUE, operator: "In", values: ["uuid.1", "uuid.2"] },
        ],
      ],
      wantPodAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: [
          { weight: 100, podAffinityTerm: { labelSelector: { matchLabels: OWN }, topologyKey: CLIQUE } },
        ],
      },
    },
    {
      name: "Required on AKS GB200: the pool stays in the node selector, one term with the clique",
      job: gb200(),
      target: target("azure", "ndgb200", "Standard_ND128isr_NDR_GB200_v6"),
      domains: { key: CLIQUE, domains: ["azure.1"], topology: "Required" } as const,
      wantTerms: [[{ key: CLIQUE, operator: "In", values: ["azure.1"] }]],
      wantPodAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: OWN }, topologyKey: CLIQUE }],
      },
    },
    {
      name: "no domains (topology None): no domain term, no pod affinity",
      job: gb200(),
      target: target("aws", "gb200", "p6e-gb200.36xlarge"),
      domains: undefined,
      wantTerms: [
        [{ key: "eks.amazonaws.com/nodegroup", operator: "In", values: ["gb200"] }],
        [{ key: "karpenter.sh/nodepool", operator: "In", values: ["gb200"] }],
      ],
      wantPodAffinity: undefined,
    },
  ];
  for (const tc of cases) {
    it(tc.name, () => {
      const { pod } = render(tc.job, tc.target, tc.domains);
      assert.deepEqual(
        termsOf(pod).map((t) => t.matchExpressions),
        tc.wantTerms,
      );
      assert.deepEqual(pod.affinity?.podAffinity, tc.wantPodAffinity);
      // One pod of the placement per node, as without domains.
      assert.deepEqual(pod.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution, [
        { labelSelector: { matchLabels: OWN }, topologyKey: "kubernetes.io/hostname" },
      ]);
      // The pod affinity selects labels the pods carry.
      const labels = renderLabels(tc.job, tc.target);
      for (const [k, v] of Object.entries(OWN)) assert.equal(labels[k], v);
    });
  }

  it("the template's own pod affinity terms stay beside ours", () => {
    const theirs = { labelSelector: { matchLabels: { app: "cache" } }, topologyKey: "topology.kubernetes.io/zone" };
    const ours = { labelSelector: { matchLabels: OWN }, topologyKey: CLIQUE };
    assert.deepEqual(
      withPodAffinity(
        { requiredDuringSchedulingIgnoredDuringExecution: [theirs] },
        { requiredDuringSchedulingIgnoredDuringExecution: [ours] },
      ),
      { requiredDuringSchedulingIgnoredDuringExecution: [theirs, ours] },
    );
  });
});

function renderLabels(job: TrainingJob, t: RenderInput["target"]): Record<string, string> {
  return render(job, t).w.job.spec?.template.metadata?.labels ?? {};
}

describe("renderWorkload: the architecture node selector", () => {
  const cases = [
    { type: "p6e-gb200.36xlarge", cloud: "aws", accel: "nvidia-gb200", arch: "arm64" },
    { type: "Standard_ND128isr_NDR_GB200_v6", cloud: "azure", accel: "nvidia-gb200", arch: "arm64" },
    { type: "p6-b200.48xlarge", cloud: "aws", accel: "nvidia-b200", arch: "amd64" },
    { type: "p5.48xlarge", cloud: "aws", accel: "nvidia-h100", arch: "amd64" },
    { type: "trn1.32xlarge", cloud: "aws", accel: "trainium1", arch: "amd64" },
  ] as const;
  for (const tc of cases) {
    it(`${tc.type}: kubernetes.io/arch=${tc.arch}, over the template's own`, () => {
      const job = aTrainingJob("big")
        .accelerator(tc.accel, 4)
        .with((j) => {
          if (j.spec.template.spec)
            j.spec.template.spec.nodeSelector = { "kubernetes.io/arch": "riscv64", disk: "ssd" };
        })
        .obj();
      const { pod } = render(job, target(tc.cloud, "g", tc.type));
      assert.equal(pod.nodeSelector?.["kubernetes.io/arch"], tc.arch);
      assert.equal(pod.nodeSelector?.["node.kubernetes.io/instance-type"], tc.type);
      assert.equal(pod.nodeSelector?.disk, "ssd", "the template's other keys stay");
    });
  }
});

describe("renderWorkload: the ComputeDomain of GB200/GB300", () => {
  it("GB200: one ComputeDomain per placement, named and labelled like the Job, numNodes = replicas", () => {
    const { w, pod } = render(gb200(16), target("aws", "gb200", "p6e-gb200.36xlarge"), {
      key: CLIQUE,
      domains: ["uuid.1"],
      topology: "Required",
    });
    assert.deepEqual(w.computeDomain, {
      apiVersion: "resource.nvidia.com/v1beta1",
      kind: "ComputeDomain",
      metadata: { name: "big-e1", namespace: "ml", labels: w.job.metadata?.labels },
      spec: { numNodes: 16, channel: { resourceClaimTemplate: { name: "big-e1-channel" } } },
    });
    assert.equal(w.computeDomain?.metadata?.labels?.["app.kubernetes.io/managed-by"], "crosscloud-operator");
    assert.deepEqual(pod.resourceClaims, [{ name: COMPUTE_DOMAIN_CLAIM, resourceClaimTemplateName: "big-e1-channel" }]);
    const trainer = pod.containers.find((c) => c.name === "trainer");
    assert.deepEqual(trainer?.resources?.claims, [{ name: COMPUTE_DOMAIN_CLAIM }]);
    assert.equal(trainer?.resources?.limits?.["nvidia.com/gpu"], "4");
  });

  it("GB200 without domains (topology None) still gets its ComputeDomain: NVLink across nodes needs the IMEX channel", () => {
    const { w, pod } = render(gb200(2), target("azure", "ndgb200", "Standard_ND128isr_NDR_GB200_v6"));
    assert.equal(w.computeDomain?.spec.numNodes, 2);
    assert.equal(pod.resourceClaims?.length, 1);
  });

  it("the template's own resource claims stay; the other containers get no claim", () => {
    const job = gb200(2);
    job.spec.template.spec = {
      containers: [
        { name: "trainer", image: "t", resources: { claims: [{ name: "scratch" }] } },
        { name: "logger", image: "l" },
      ],
      resourceClaims: [{ name: "scratch", resourceClaimTemplateName: "scratch" }],
    };
    const { pod } = render(job, target("aws", "gb200", "p6e-gb200.36xlarge"));
    assert.deepEqual(
      pod.resourceClaims?.map((c) => c.name),
      ["scratch", COMPUTE_DOMAIN_CLAIM],
    );
    assert.deepEqual(pod.containers[0]?.resources?.claims, [{ name: "scratch" }, { name: COMPUTE_DOMAIN_CLAIM }]);
    assert.equal(pod.containers[1]?.resources, undefined);
  });

  for (const [type, accel] of [
    ["p5.48xlarge", "nvidia-h100"],
    ["p6-b200.48xlarge", "nvidia-b200"],
    ["trn2.48xlarge", "trainium2"],
  ] as const) {
    it(`${accel} (${type}): no ComputeDomain, no claim`, () => {
      const job = aTrainingJob("big").replicas(2).accelerator(accel, 8).obj();
      const { w, pod } = render(job, target("aws", "g", type));
      assert.equal(w.computeDomain, undefined);
      assert.equal(pod.resourceClaims, undefined);
      assert.equal(pod.containers[0]?.resources?.claims, undefined);
    });
  }
});

describe("renderWorkload: Trn2 UltraServers", () => {
  const trn2u = target("aws", "trn2u", "trn2u.48xlarge");
  const job = aTrainingJob("big").replicas(4).accelerator("trainium2", 16).obj();

  it("one UltraServer: MODE 4, SERVER_ID the domain, NODE_ID the completion index; pinned to its 4-mode nodes", () => {
    const { pod } = render(job, trn2u, { key: SERVER, domains: ["a1b2"], topology: "Required" });
    const env = envOf(pod.containers[0]?.env);
    assert.equal(env.NEURON_RT_ULTRASERVER_MODE, "4");
    assert.equal(env.NEURON_RT_ULTRASERVER_SERVER_ID, "a1b2");
    assert.deepEqual(env.NEURON_RT_ULTRASERVER_NODE_ID, {
      fieldRef: { fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']" },
    });
    for (const term of termsOf(pod)) {
      assert.deepEqual(term.matchExpressions?.slice(1), [
        { key: SERVER, operator: "In", values: ["a1b2"] },
        { key: ULTRASERVER_MODE_LABEL, operator: "In", values: ["4"] },
      ]);
    }
    assert.equal(pod.affinity?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.[0]?.topologyKey, SERVER);
    // Trainium: the Neuron env stays.
    assert.equal(env.NEURON_RT_ROOT_COMM_ID, "big-e1-0.big-e1:62182");
    // Gated, so the operator pins each pod to node-id-4 = its index before it is scheduled.
    assert.deepEqual(pod.schedulingGates, [{ name: ULTRASERVER_GATE }]);
  });

  it("the template's own scheduling gates stay beside the UltraServer gate", () => {
    const own = aTrainingJob("big").replicas(4).accelerator("trainium2", 16).obj();
    own.spec.template.spec = { ...own.spec.template.spec, containers: own.spec.template.spec?.containers ?? [] };
    own.spec.template.spec.schedulingGates = [{ name: "example.com/quota" }];
    const { pod } = render(own, trn2u, { key: SERVER, domains: ["a1b2"], topology: "Required" });
    assert.deepEqual(pod.schedulingGates, [{ name: "example.com/quota" }, { name: ULTRASERVER_GATE }]);
  });

  it("several UltraServers (Preferred): no server or node id (a pod's server is its node's, which env cannot read)", () => {
    assert.deepEqual(ultraServerEnv({ key: SERVER, domains: ["a", "b"], topology: "Preferred" }), []);
    const { pod } = render(aTrainingJob("big").replicas(8).accelerator("trainium2", 16).obj(), trn2u, {
      key: SERVER,
      domains: ["a", "b"],
      topology: "Preferred",
    });
    const env = envOf(pod.containers[0]?.env);
    assert.equal(env.NEURON_RT_ULTRASERVER_SERVER_ID, undefined);
    assert.equal(env.NEURON_RT_ULTRASERVER_NODE_ID, undefined);
    assert.equal(pod.schedulingGates, undefined, "no node id to pin to: no gate");
  });

  it("trn2u without domains (topology None), and trn2 in any case: no UltraServer env", () => {
    for (const [t, domains] of [
      [trn2u, undefined],
      [target("aws", "trn2", "trn2.48xlarge"), undefined],
    ] as const) {
      const { pod } = render(job, t, domains);
      const names = (pod.containers[0]?.env ?? []).map((e) => e.name);
      assert.ok(!names.some((n) => n.startsWith("NEURON_RT_ULTRASERVER_")), names.join(","));
      assert.equal(pod.schedulingGates, undefined);
    }
  });
});
