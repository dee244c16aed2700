// The checkpoint-agent sidecar in renderWorkload (spec.checkpoint.localDir):
// a job without localDir renders as it did before the agent existed (plus the
// pods' terminationGracePeriodSeconds); with it, the native sidecar, its env
// and probe, the shared volume (default and custom), the store credentials in
// the agent only, the trainer's env, and the refusal without OPERATOR_IMAGE.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1EnvVar } from "@kubernetes/client-node";
import type { TrainingJob } from "../../src/api/trainingjob.ts";
import { instanceType } from "../../src/catalog/instance-types.ts";
import { gracePeriodSeconds, type RenderInput, renderWorkload } from "../../src/workload/render.ts";
import { aTrainingJob } from "../support/trainingjob.ts";

const IMAGE = "ghcr.io/crosscloud-operator/crosscloud-operator:0.1.0";
const p5 = {
  cluster: "aws-sim",
  namespace: "ml",
  cloud: "aws",
  nodeGroup: "p5",
  instanceType: instanceType("p5.48xlarge"),
  capacityType: "OnDemand",
} as const;
const store = { env: [{ name: "AWS_REGION", value: "us-east-1" }], secretName: "llama-e1-store" };

function render(job: TrainingJob, extra: Partial<RenderInput> = {}) {
  const option = job.spec.accelerators[0];
  assert.ok(option, "the job has an accelerator option");
  return renderWorkload({ job, epoch: 1, option, target: p5, checkpointUri: "s3://b/ml/llama/", store, ...extra });
}

const llama = (mutate: (j: TrainingJob) => void = () => {}) =>
  aTrainingJob("llama").replicas(2).accelerator("nvidia-h100", 8).with(mutate).obj();
const names = (env: readonly V1EnvVar[] | undefined) => (env ?? []).map((e) => e.name);
const envOf = (env: readonly V1EnvVar[] | undefined) =>
  Object.fromEntries((env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));
const fromResume = (key: string) => ({ configMapKeyRef: { name: "llama-e1-resume", key, optional: true } });

/** The pod spec the operator rendered for this job (resuming from step 100) before the agent existed. */
const BEFORE = {
  containers: [
    {
      name: "trainer",
      image: "example.com/train:cuda",
      env: [
        {
          name: "AWS_REGION",
          value: "us-east-1",
        },
        {
          name: "MASTER_ADDR",
          value: "llama-e1-0.llama-e1",
        },
        {
          name: "MASTER_PORT",
          value: "29500",
        },
        {
          name: "WORLD_SIZE",
          value: "16",
        },
        {
          name: "PET_NNODES",
          value: "2",
        },
        {
          name: "PET_NPROC_PER_NODE",
          value: "8",
        },
        {
          name: "PET_NODE_RANK",
          valueFrom: {
            fieldRef: {
              fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']",
            },
          },
        },
        {
          name: "PET_MASTER_ADDR",
          value: "llama-e1-0.llama-e1",
        },
        {
          name: "PET_MASTER_PORT",
          value: "29500",
        },
        {
          name: "CROSSCLOUD_CHECKPOINT_URI",
          value: "s3://b/ml/llama",
        },
        {
          name: "CROSSCLOUD_RESUME_STEP",
          valueFrom: {
            configMapKeyRef: {
              name: "llama-e1-resume",
              key: "step",
              optional: true,
            },
          },
        },
        {
          name: "CROSSCLOUD_RESUME_URI",
          valueFrom: {
            configMapKeyRef: {
              name: "llama-e1-resume",
              key: "uri",
              optional: true,
            },
          },
        },
        {
          name: "CROSSCLOUD_EPOCH",
          value: "1",
        },
        {
          name: "CROSSCLOUD_CLOUD",
          value: "aws",
        },
        {
          name: "CROSSCLOUD_CLUSTER",
          value: "aws-sim",
        },
        {
          name: "CROSSCLOUD_ACCELERATOR",
          value: "nvidia-h100",
        },
      ],
      envFrom: [
        {
          secretRef: {
            name: "llama-e1-store",
          },
        },
      ],
      resources: {
        requests: {
          "nvidia.com/gpu": "8",
          "vpc.amazonaws.com/efa": "32",
        },
        limits: {
          "nvidia.com/gpu": "8",
          "vpc.amazonaws.com/efa": "32",
        },
      },
      volumeMounts: [
        {
          name: "crosscloud-dshm",
          mountPath: "/dev/shm",
        },
      ],
    },
  ],
  restartPolicy: "Never",
  subdomain: "llama-e1",
  volumes: [
    {
      name: "crosscloud-dshm",
      emptyDir: {
        medium: "Memory",
      },
    },
  ],
  nodeSelector: {
    "node.kubernetes.io/instance-type": "p5.48xlarge",
    "kubernetes.io/arch": "amd64",
  },
  tolerations: [
    {
      key: "nvidia.com/gpu",
      operator: "Exists",
      effect: "NoSchedule",
    },
  ],
  affinity: {
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: [
          {
            matchExpressions: [
              {
                key: "eks.amazonaws.com/nodegroup",
                operator: "In",
                values: ["p5"],
              },
            ],
          },
          {
            matchExpressions: [
              {
                key: "karpenter.sh/nodepool",
                operator: "In",
                values: ["p5"],
              },
            ],
          },
        ],
      },
    },
    podAntiAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: [
        {
          labelSelector: {
            matchLabels: {
              "training.crosscloud.dev/job-uid": "uid-llama",
              "training.crosscloud.dev/epoch": "1",
            },
          },
          topologyKey: "kubernetes.io/hostname",
        },
      ],
    },
  },
};

describe("renderWorkload without spec.checkpoint.localDir", () => {
  it("renders the pod as before, with terminationGracePeriodSeconds 300 added", () => {
    const pod = render(llama(), { resumeStep: 100, operatorImage: IMAGE }).job.spec?.template.spec;
    assert.deepEqual(pod, { ...BEFORE, terminationGracePeriodSeconds: 300 });
  });

  it("needs no operator image", () => {
    assert.equal(render(llama()).job.spec?.template.spec?.initContainers, undefined);
  });

  const graces = [
    { given: "300s", want: 300 },
    { given: "10m", want: 600 },
    { given: "1h30m", want: 5400 },
    { given: "1500ms", want: 2 },
    { given: "1ms", want: 1 },
  ];
  for (const tc of graces) {
    it(`renders terminationGracePeriod ${tc.given} as terminationGracePeriodSeconds ${tc.want}`, () => {
      const job = llama((j) => {
        j.spec.terminationGracePeriod = tc.given;
      });
      assert.equal(gracePeriodSeconds(job), tc.want);
      assert.equal(render(job).job.spec?.template.spec?.terminationGracePeriodSeconds, tc.want);
    });
  }

  it("replaces the template's own terminationGracePeriodSeconds", () => {
    const job = llama((j) => {
      if (j.spec.template.spec) j.spec.template.spec.terminationGracePeriodSeconds = 30;
    });
    assert.equal(render(job).job.spec?.template.spec?.terminationGracePeriodSeconds, 300);
  });
});

describe("renderWorkload with spec.checkpoint.localDir", () => {
  const local = (mutate: (j: TrainingJob) => void = () => {}) =>
    llama((j) => {
      j.spec.checkpoint.localDir = "/checkpoints";
      mutate(j);
    });

  it("adds the checkpoint-agent as a native sidecar from the operator's image", () => {
    const pod = render(local(), { operatorImage: IMAGE }).job.spec?.template.spec;
    assert.equal(pod?.initContainers?.length, 1);
    const agent = pod?.initContainers?.[0];
    assert.equal(agent?.name, "checkpoint-agent");
    assert.equal(agent?.restartPolicy, "Always", "a native sidecar: it runs beside the trainer");
    assert.equal(agent?.image, IMAGE);
    assert.deepEqual(agent?.command, ["/nodejs/bin/node", "dist/checkpoint/cli.js", "agent"]);
    assert.deepEqual(agent?.ports, [{ name: "agent", containerPort: 8089, protocol: "TCP" }]);
    assert.deepEqual(agent?.startupProbe?.httpGet, { path: "/started", port: "agent" });
    assert.deepEqual(agent?.livenessProbe?.httpGet, { path: "/healthz", port: "agent" });
    assert.ok(
      (agent?.startupProbe?.periodSeconds ?? 0) * (agent?.startupProbe?.failureThreshold ?? 0) >= 24 * 3600,
      "a restore may take up to a day before the kubelet gives up on it",
    );
    assert.deepEqual(agent?.securityContext, {
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      allowPrivilegeEscalation: false,
      privileged: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    });
    assert.deepEqual(agent?.resources, { requests: { cpu: "250m", memory: "512Mi" } });
    assert.deepEqual(agent?.volumeMounts, [{ name: "checkpoint-local", mountPath: "/checkpoints" }]);
    assert.equal(pod?.terminationGracePeriodSeconds, 300);
  });

  it("gives the agent the placement, its rank, retention, port and the store's credentials", () => {
    const job = local((j) => {
      j.spec.checkpoint.keepLocal = 5;
    });
    const agent = render(job, { operatorImage: IMAGE, resumeStep: 100 }).job.spec?.template.spec?.initContainers?.[0];
    assert.deepEqual(agent?.env, [
      { name: "CROSSCLOUD_CHECKPOINT_DIR", value: "/checkpoints" },
      { name: "CROSSCLOUD_CHECKPOINT_URI", value: "s3://b/ml/llama" },
      { name: "CROSSCLOUD_EPOCH", value: "1" },
      { name: "CROSSCLOUD_RESUME_STEP", valueFrom: fromResume("step") },
      { name: "CROSSCLOUD_RESUME_URI", valueFrom: fromResume("uri") },
      { name: "CROSSCLOUD_REPLICAS", value: "2" },
      {
        name: "CROSSCLOUD_REPLICA_INDEX",
        valueFrom: { fieldRef: { fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']" } },
      },
      { name: "CROSSCLOUD_KEEP_LOCAL", value: "5" },
      { name: "CROSSCLOUD_AGENT_PORT", value: "8089" },
      { name: "AWS_REGION", value: "us-east-1" },
    ]);
    assert.deepEqual(agent?.envFrom, [{ secretRef: { name: "llama-e1-store" } }]);
  });

  it("keeps the store's credentials from the trainer and tells it where to save and restore", () => {
    const job = local((j) => {
      const c = j.spec.template.spec?.containers[0];
      if (c) c.envFrom = [{ configMapRef: { name: "own" } }];
    });
    const w = render(job, { operatorImage: IMAGE, resumeStep: 100 });
    const trainer = w.job.spec?.template.spec?.containers[0];
    const env = envOf(trainer?.env);
    assert.equal(env.AWS_REGION, undefined, "no store env in the trainer");
    assert.deepEqual(trainer?.envFrom, [{ configMapRef: { name: "own" } }], "the template's own envFrom only");
    assert.equal(env.CROSSCLOUD_CHECKPOINT_DIR, "/checkpoints");
    assert.deepEqual(env.CROSSCLOUD_RESUME_DIR, fromResume("dir"));
    assert.equal(env.CROSSCLOUD_CHECKPOINT_URI, "s3://b/ml/llama");
    assert.deepEqual(w.resume.data, {
      step: "100",
      uri: "s3://b/ml/llama/step-100",
      dir: "/checkpoints/step-100",
    });
    assert.deepEqual(trainer?.volumeMounts, [
      { name: "crosscloud-dshm", mountPath: "/dev/shm" },
      { name: "checkpoint-local", mountPath: "/checkpoints" },
    ]);
    const before = BEFORE.containers[0]?.env.map((e) => e.name).filter((n) => n !== "AWS_REGION");
    assert.deepEqual(names(trainer?.env), [...(before ?? []), "CROSSCLOUD_CHECKPOINT_DIR", "CROSSCLOUD_RESUME_DIR"]);
  });

  const volumes = [
    { name: "an emptyDir by default", volume: undefined, want: { name: "checkpoint-local", emptyDir: {} } },
    {
      name: "the job's volume source",
      volume: { hostPath: { path: "/mnt/nvme", type: "DirectoryOrCreate" } },
      want: { name: "checkpoint-local", hostPath: { path: "/mnt/nvme", type: "DirectoryOrCreate" } },
    },
    {
      name: "the job's emptyDir with a size limit",
      volume: { emptyDir: { sizeLimit: "500Gi" } },
      want: { name: "checkpoint-local", emptyDir: { sizeLimit: "500Gi" } },
    },
  ];
  for (const tc of volumes) {
    it(`shares ${tc.name} as checkpoint-local`, () => {
      const job = local((j) => {
        if (tc.volume) j.spec.checkpoint.volume = tc.volume;
      });
      const pod = render(job, { operatorImage: IMAGE }).job.spec?.template.spec;
      assert.deepEqual(pod?.volumes, [{ name: "crosscloud-dshm", emptyDir: { medium: "Memory" } }, tc.want]);
    });
  }

  it("runs the template's init containers first, and no store Secret when the cluster gives none", () => {
    const job = local((j) => {
      if (j.spec.template.spec) j.spec.template.spec.initContainers = [{ name: "prepare", image: "busybox" }];
    });
    const pod = render(job, { operatorImage: IMAGE, store: { env: [] } }).job.spec?.template.spec;
    assert.deepEqual(
      pod?.initContainers?.map((c) => c.name),
      ["prepare", "checkpoint-agent"],
    );
    assert.equal(pod?.initContainers?.[1]?.envFrom, undefined);
    assert.equal(envOf(pod?.initContainers?.[1]?.env).CROSSCLOUD_KEEP_LOCAL, "2", "keepLocal's default");
  });

  it("refuses to render without the operator's image, naming OPERATOR_IMAGE", () => {
    assert.throws(() => render(local()), /spec\.checkpoint\.localDir .*OPERATOR_IMAGE is not set/);
  });

  it("writes no resume directory when not resuming", () => {
    const w = render(local(), { operatorImage: IMAGE });
    assert.deepEqual(w.resume.data, {});
  });
});
