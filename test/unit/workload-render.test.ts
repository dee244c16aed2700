// renderWorkload: the Indexed Job and headless Service of a placement, for
// Trainium and NVIDIA on EKS and AKS, and the ServiceAccount and labels that
// give the pods the ComputeCluster's cloud identity (table tests).

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1EnvVar } from "@kubernetes/client-node";
import type { TrainingJob } from "../../src/api/trainingjob.ts";
import { instanceType } from "../../src/catalog/instance-types.ts";
import { processesPerNode } from "../../src/workload/env.ts";
import {
  AZURE_WORKLOAD_IDENTITY_LABEL,
  type PodIdentity,
  renderWorkload,
  trainerIndex,
} from "../../src/workload/render.ts";
import { aTrainingJob } from "../support/trainingjob.ts";

const optionOf = (job: TrainingJob) => {
  const option = job.spec.accelerators[0];
  assert.ok(option, "the job has an accelerator option");
  return option;
};
const envOf = (env: V1EnvVar[] | undefined) =>
  Object.fromEntries((env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));

const trn1 = {
  cluster: "aws-sim",
  namespace: "ml",
  cloud: "aws",
  nodeGroup: "trn1",
  instanceType: instanceType("trn1.32xlarge"),
  capacityType: "OnDemand",
} as const;
const p5 = { ...trn1, nodeGroup: "p5", instanceType: instanceType("p5.48xlarge") } as const;
const ndh100spot = {
  cluster: "azure-sim",
  namespace: "jobs",
  cloud: "azure",
  nodeGroup: "ndh100spot",
  instanceType: instanceType("Standard_ND96isr_H100_v5"),
  capacityType: "Spot",
} as const;

describe("renderWorkload", () => {
  const cases = [
    {
      name: "Trainium on EKS: Neuron devices, EFA, NeuronCores per node, Neuron and EFA env, the option's image",
      job: aTrainingJob("llama")
        .replicas(4)
        .accelerator("trainium1", 16, {
          image: "example.com/train:neuron",
          env: [{ name: "NEURON_CC_FLAGS", value: "--O1" }],
        })
        .obj(),
      target: trn1,
      want: {
        image: "example.com/train:neuron",
        resources: { "aws.amazon.com/neuron": "16", "vpc.amazonaws.com/efa": "8" },
        nodeSelector: { "node.kubernetes.io/instance-type": "trn1.32xlarge", "kubernetes.io/arch": "amd64" },
        groupTerms: [
          [{ key: "eks.amazonaws.com/nodegroup", operator: "In", values: ["trn1"] }],
          [{ key: "karpenter.sh/nodepool", operator: "In", values: ["trn1"] }],
        ],
        tolerations: [{ key: "aws.amazon.com/neuron", operator: "Exists", effect: "NoSchedule" }],
        env: {
          MASTER_ADDR: "llama-e1-0.llama-e1",
          WORLD_SIZE: "128",
          PET_NNODES: "4",
          PET_NPROC_PER_NODE: "32",
          NEURON_RT_ROOT_COMM_ID: "llama-e1-0.llama-e1:62182",
          FI_PROVIDER: "efa",
          FI_EFA_USE_DEVICE_RDMA: "1",
          FI_EFA_FORK_SAFE: "1",
          CCOM_SOCKET_IFNAME: "eth0",
          NEURON_CC_FLAGS: "--O1",
          CROSSCLOUD_ACCELERATOR: "trainium1",
          CROSSCLOUD_CLOUD: "aws",
        },
      },
    },
    {
      name: "H100 on EKS p5: GPUs, 32 EFA, GPU taint, template image",
      job: aTrainingJob("gpt").replicas(2).accelerator("nvidia-h100", 8).obj(),
      target: p5,
      want: {
        image: "example.com/train:cuda",
        resources: { "nvidia.com/gpu": "8", "vpc.amazonaws.com/efa": "32" },
        nodeSelector: { "node.kubernetes.io/instance-type": "p5.48xlarge", "kubernetes.io/arch": "amd64" },
        groupTerms: [
          [{ key: "eks.amazonaws.com/nodegroup", operator: "In", values: ["p5"] }],
          [{ key: "karpenter.sh/nodepool", operator: "In", values: ["p5"] }],
        ],
        tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
        env: { WORLD_SIZE: "16", PET_NPROC_PER_NODE: "8", MASTER_PORT: "29500", CROSSCLOUD_EPOCH: "1" },
      },
    },
    {
      name: "H100 on the AKS spot pool: InfiniBand, sku and spot tolerations, the worker namespace",
      job: aTrainingJob("sft").replicas(3).accelerator("nvidia-h100", 8).obj(),
      target: ndh100spot,
      want: {
        image: "example.com/train:cuda",
        resources: { "nvidia.com/gpu": "8", "rdma/ib": "8" },
        nodeSelector: {
          "node.kubernetes.io/instance-type": "Standard_ND96isr_H100_v5",
          "kubernetes.azure.com/agentpool": "ndh100spot",
          "kubernetes.io/arch": "amd64",
        },
        groupTerms: undefined,
        tolerations: [
          { key: "sku", operator: "Equal", value: "gpu", effect: "NoSchedule" },
          { key: "kubernetes.azure.com/scalesetpriority", operator: "Equal", value: "spot", effect: "NoSchedule" },
        ],
        env: { WORLD_SIZE: "24", CROSSCLOUD_CLUSTER: "azure-sim" },
      },
    },
  ];

  for (const tc of cases) {
    it(tc.name, () => {
      const { job, service } = renderWorkload({
        job: tc.job,
        epoch: 1,
        option: optionOf(tc.job),
        target: tc.target,
        checkpointUri: "s3://b/ml/x",
      });
      const pod = job.spec?.template.spec;
      const trainer = pod?.containers[0];
      assert.equal(trainer?.image, tc.want.image);
      for (const [k, v] of Object.entries(tc.want.resources)) {
        assert.equal(trainer?.resources?.limits?.[k], v, `limit ${k}`);
        assert.equal(trainer?.resources?.requests?.[k], v, `request ${k}`);
      }
      assert.deepEqual(pod?.nodeSelector, tc.want.nodeSelector);
      const terms = pod?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
      assert.deepEqual(
        terms?.map((t) => t.matchExpressions),
        tc.want.groupTerms,
        "on EKS the group is pinned by node affinity: a managed node group's label or a Karpenter NodePool's",
      );
      assert.deepEqual(pod?.tolerations, tc.want.tolerations);
      const env = envOf(trainer?.env);
      for (const [k, v] of Object.entries(tc.want.env)) assert.equal(env[k], v, `env ${k}`);
      assert.deepEqual(env.PET_NODE_RANK, {
        fieldRef: { fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']" },
      });
      assert.equal(job.metadata?.namespace, tc.target.namespace);
      assert.equal(job.spec?.completionMode, "Indexed");
      assert.equal(job.spec?.completions, tc.job.spec.replicas);
      assert.equal(job.spec?.parallelism, tc.job.spec.replicas);
      assert.equal(pod?.restartPolicy, "Never");
      assert.equal(pod?.subdomain, service.metadata?.name);
      assert.equal(service.spec?.clusterIP, "None");
      assert.deepEqual(pod?.volumes?.at(-1), { name: "crosscloud-dshm", emptyDir: { medium: "Memory" } });
      assert.deepEqual(trainer?.volumeMounts?.at(-1), { name: "crosscloud-dshm", mountPath: "/dev/shm" });
      assert.equal(
        pod?.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.[0]?.topologyKey,
        "kubernetes.io/hostname",
        "one replica per node",
      );
    });
  }

  it("names and labels objects deterministically from the job and epoch", () => {
    const job = aTrainingJob("llama").accelerator("trainium1", 16).obj();
    const a = renderWorkload({
      job,
      epoch: 3,
      option: optionOf(job),
      target: trn1,
      checkpointUri: "s3://b/p",
    });
    const b = renderWorkload({
      job,
      epoch: 3,
      option: optionOf(job),
      target: trn1,
      checkpointUri: "s3://b/p",
    });
    assert.deepEqual(a, b);
    assert.equal(a.job.metadata?.name, "llama-e3");
    assert.deepEqual(a.job.metadata?.labels, {
      "training.crosscloud.dev/job-uid": "uid-llama",
      "training.crosscloud.dev/job-name": "llama",
      "training.crosscloud.dev/job-namespace": "ml",
      "training.crosscloud.dev/epoch": "3",
      "app.kubernetes.io/managed-by": "crosscloud-operator",
    });
    assert.deepEqual(a.service.spec?.selector, {
      "training.crosscloud.dev/job-uid": "uid-llama",
      "training.crosscloud.dev/epoch": "3",
    });
  });

  it("passes resume env only when there is a step to resume from, and suspend and backoffLimit through", () => {
    const job = aTrainingJob("x")
      .accelerator("nvidia-h100", 8)
      .suspend()
      .with((j) => {
        j.spec.runPolicy.backoffLimit = 7;
      })
      .obj();
    const fresh = renderWorkload({
      job,
      epoch: 1,
      option: optionOf(job),
      target: p5,
      checkpointUri: "s3://b/x",
    });
    assert.equal(fresh.job.spec?.suspend, true);
    assert.equal(fresh.job.spec?.backoffLimit, 7);
    // Disruptions (spot reclaim, node loss, preemption) are ignored; any other pod failure counts.
    assert.deepEqual(fresh.job.spec?.podFailurePolicy, {
      rules: [{ action: "Ignore", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] }],
    });
    const resumed = renderWorkload({
      job,
      epoch: 2,
      option: optionOf(job),
      target: p5,
      checkpointUri: "s3://b/x",
      resumeStep: 1200,
    });
    // The step is in the resume ConfigMap, which the env reads when each container starts.
    const env = resumed.job.spec?.template.spec?.containers[0]?.env ?? [];
    const ref = (name: string) => env.find((e) => e.name === name)?.valueFrom?.configMapKeyRef;
    assert.deepEqual(ref("CROSSCLOUD_RESUME_STEP"), { name: "x-e2-resume", key: "step", optional: true });
    assert.deepEqual(ref("CROSSCLOUD_RESUME_URI"), { name: "x-e2-resume", key: "uri", optional: true });
    assert.equal(resumed.resume.metadata?.name, "x-e2-resume");
    assert.deepEqual(resumed.resume.data, { step: "1200", uri: "s3://b/x/step-1200" });
    assert.deepEqual(fresh.resume.data, {});
    assert.equal(envOf(env).CROSSCLOUD_CHECKPOINT_URI, "s3://b/x");
    assert.equal(resumed.job.metadata?.annotations?.["training.crosscloud.dev/resume-step"], "1200");
  });

  it("gives the trainer its store's endpoint and credentials Secret", () => {
    const job = aTrainingJob("x").accelerator("trainium1", 16).obj();
    const pod = renderWorkload({
      job,
      epoch: 1,
      option: optionOf(job),
      target: trn1,
      checkpointUri: "s3://b/x",
      store: { env: [{ name: "AWS_ENDPOINT_URL_S3", value: "http://127.0.0.1:17900" }], secretName: "x-e1-store" },
    }).job.spec?.template.spec;
    assert.equal(envOf(pod?.containers[0]?.env).AWS_ENDPOINT_URL_S3, "http://127.0.0.1:17900");
    assert.deepEqual(pod?.containers[0]?.envFrom, [{ secretRef: { name: "x-e1-store" } }]);
  });

  it("gives the devices to the container named trainer and leaves sidecars alone", () => {
    const job = aTrainingJob("x")
      .accelerator("nvidia-h100", 4)
      .containers({ name: "sidecar", image: "s" }, { name: "trainer", image: "t" })
      .obj();
    const pod = renderWorkload({
      job,
      epoch: 1,
      option: optionOf(job),
      target: p5,
      checkpointUri: "s3://b/x",
    }).job.spec?.template.spec;
    assert.equal(pod?.containers[0]?.resources, undefined);
    assert.equal(pod?.containers[1]?.resources?.limits?.["nvidia.com/gpu"], "4");
  });

  const indexCases = [
    { containers: [{ name: "main" }], want: 0 },
    { containers: [{ name: "a" }, { name: "trainer" }], want: 1 },
  ];
  for (const tc of indexCases) {
    it(`finds the trainer among ${tc.containers.map((c) => c.name).join(",")}`, () =>
      assert.equal(trainerIndex(tc.containers), tc.want));
  }
  it("refuses two containers without a trainer", () => {
    assert.throws(() => trainerIndex([{ name: "a" }, { name: "b" }]), /one must be named "trainer"/);
  });

  const procs = [
    { type: "trn1.32xlarge", perReplica: 16, want: 32 },
    { type: "trn1.32xlarge", perReplica: 8, want: 16 },
    { type: "trn2.48xlarge", perReplica: 16, want: 64 },
    { type: "p5.48xlarge", perReplica: 8, want: 8 },
  ];
  for (const tc of procs) {
    it(`runs ${tc.want} processes per ${tc.type} node with ${tc.perReplica} devices`, () => {
      assert.equal(processesPerNode(instanceType(tc.type), tc.perReplica), tc.want);
    });
  }
});

describe("renderWorkload: the pods' cloud identity", () => {
  const render = (identity: PodIdentity, serviceAccountName?: string) => {
    const j = aTrainingJob("llama")
      .accelerator("trainium1", 16)
      .with((x) => {
        if (x.spec.template.spec && serviceAccountName) x.spec.template.spec.serviceAccountName = serviceAccountName;
      })
      .obj();
    const option = j.spec.accelerators[0];
    assert.ok(option);
    return renderWorkload({
      job: j,
      epoch: 1,
      option,
      target: trn1,
      checkpointUri: "s3://b/ml/llama",
      identity,
    }).job.spec?.template;
  };
  const cases: [string, PodIdentity, string | undefined, string | undefined][] = [
    ["the ComputeCluster's identity replaces the template's", { serviceAccountName: "trainer" }, "admin", "trainer"],
    [
      "the template's, when allowed",
      { serviceAccountName: "trainer", allowTemplateServiceAccount: true },
      "own",
      "own",
    ],
    [
      "the identity, when allowed but the template names none",
      { serviceAccountName: "trainer", allowTemplateServiceAccount: true },
      undefined,
      "trainer",
    ],
    [
      "none (the namespace's default) when no identity is named and the template's is not allowed",
      {},
      "admin",
      undefined,
    ],
  ];
  for (const [name, identity, own, want] of cases) {
    it(`serviceAccountName: ${name}`, () => assert.equal(render(identity, own)?.spec?.serviceAccountName, want));
  }
  it("labels the pods for Azure Workload Identity when asked, and only then", () => {
    assert.equal(render({ azureWorkloadIdentity: true })?.metadata?.labels?.[AZURE_WORKLOAD_IDENTITY_LABEL], "true");
    assert.equal(render({})?.metadata?.labels?.[AZURE_WORKLOAD_IDENTITY_LABEL], undefined);
  });
});
