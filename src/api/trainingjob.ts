// The TrainingJob kind (namespaced, short name tj): what a user applies to run
// one distributed training job across clouds. Field names are fixed by API.md.

import type { V1EnvVar, V1ObjectMeta, V1PodTemplateSpec, V1Volume } from "@kubernetes/client-node";
import { ACCELERATOR_TYPES, acceleratorTypeSchema, cloudSchema, type GROUP, type VERSION } from "./common.ts";
import { array, boolean, duration, enumOf, type Infer, integer, object, raw, string } from "./schema.ts";
import type { trainingJobStatus } from "./trainingjob-status.ts";

export {
  FAILOVER_REASONS,
  type FailoverReason,
  TRAINING_JOB_PHASES,
  type TrainingJobPhase,
  trainingJobStatus,
} from "./trainingjob-status.ts";

/** Longest TrainingJob name: the worker Job is <name>-e<epoch>, its pods' hostnames <job>-<index>, all <= 63. */
export const MAX_TRAINING_JOB_NAME = 48;

const envVar = raw<V1EnvVar>("An environment variable, as in a container's env (name plus value or valueFrom).", {
  type: "object",
  required: ["name"],
  properties: { name: { type: "string", description: "The variable's name.", minLength: 1 } },
  "x-kubernetes-preserve-unknown-fields": true,
});

const acceleratorOption = object(
  "One acceptable accelerator for the job: the type, the devices each replica uses, and optionally the image and env to use with it.",
  {
    type: acceleratorTypeSchema(
      `The accelerator type: ${ACCELERATOR_TYPES.slice(0, -1).join(", ")} or ${ACCELERATOR_TYPES.at(-1)}.`,
    ),
    perReplica: integer(
      "Devices per replica (pod): Neuron devices on Trainium, GPUs on NVIDIA. Each replica gets a whole node, so this must not exceed the devices of the node type the job lands on.",
      { minimum: 1, maximum: 64 },
    ),
    image: string(
      "Replaces the trainer container's image when this option is chosen (a Neuron image differs from a CUDA image). Absent: the template's image.",
      { minLength: 1 },
    ),
    env: array(
      "Extra env for the trainer container when this option is chosen, added after the template's own.",
      envVar,
      {
        maxItems: 128,
      },
    ),
  },
  { required: ["type", "perReplica"] },
);

const template = raw<V1PodTemplateSpec>(
  "The pod template of each replica (a PodTemplateSpec). The container named \"trainer\" (or the only container) receives the devices and the env of the chosen accelerator; the operator adds node selectors, tolerations, one-pod-per-node anti-affinity and /dev/shm, and sets restartPolicy, subdomain and serviceAccountName (the ComputeCluster's workloadIdentity; the template's only where the ComputeCluster allows it): docs/operator.md lists every field it sets and why.",
  {
    type: "object",
    required: ["spec"],
    "x-kubernetes-preserve-unknown-fields": true,
    properties: {
      metadata: {
        type: "object",
        description: "Labels and annotations for the replicas' pods.",
        "x-kubernetes-preserve-unknown-fields": true,
      },
      spec: {
        type: "object",
        description: "The pod spec of each replica.",
        required: ["containers"],
        "x-kubernetes-preserve-unknown-fields": true,
        "x-kubernetes-validations": [
          {
            rule: "size(self.containers) == 1 || self.containers.exists(c, c.name == 'trainer')",
            message:
              'with more than one container, one must be named "trainer": it receives the accelerator devices and the training env',
            fieldPath: ".containers",
          },
        ],
        properties: {
          containers: {
            type: "array",
            description: "The pod's containers; at least one.",
            minItems: 1,
            items: {
              type: "object",
              description: "A container, as in a pod spec.",
              required: ["name"],
              "x-kubernetes-preserve-unknown-fields": true,
              properties: { name: { type: "string", description: "The container's name.", minLength: 1 } },
            },
          },
        },
      },
    },
  },
);

const placementSpec = object(
  "Limits on where the job may run and how the operator chooses among what fits.",
  {
    clouds: array("Clouds the job may run on. Default: all (aws and azure).", cloudSchema("A cloud: aws or azure."), {
      minItems: 1,
      listType: "set",
      default: ["aws", "azure"],
    }),
    clusters: array(
      "An allow-list of ComputeCluster names. Empty: every ComputeCluster of the allowed clouds.",
      string("A ComputeCluster's name.", { minLength: 1, maxLength: 63 }),
      { listType: "set", maxItems: 64 },
    ),
    capacityType: enumOf(
      "Which capacity the job may use: OnDemand; Spot (cheaper, can be reclaimed; failover moves the job); Reserved (only reserved nodes: EKS Capacity Blocks, Karpenter's reserved capacity, which is paid for whether used or not, so using it costs nothing more); or Any.",
      ["OnDemand", "Spot", "Reserved", "Any"],
      { default: "OnDemand" },
    ),
    strategy: enumOf(
      "How to choose among options that fit: LowestCost (cheapest whole-job price per hour, then preference order) or Preference (the accelerators' order first, then cost).",
      ["LowestCost", "Preference"],
      { default: "LowestCost" },
    ),
    topology: enumOf(
      "How the replicas relate to accelerator-fabric domains: an NVLink domain (GB200/GB300, node label nvidia.com/gpu.clique) or a Trn2 UltraServer (trn2u.48xlarge, node label neuron.amazonaws.com/ultraserver-server-id-4). Required keeps all replicas inside one domain and refuses a job larger than one domain; Preferred spreads them over the fewest domains; None ignores domains.",
      ["None", "Preferred", "Required"],
      { default: "None" },
    ),
  },
  { default: {} },
);

/** What the CRD refuses in spec.checkpoint.prefix, each with what to do instead. */
const prefixRules = [
  {
    rule: "self.matches('^[A-Za-z0-9._/-]+$')",
    message:
      "may hold only letters, digits, '.', '_', '-' and '/' (no backslash, '%', space or other character that URL parsing would change): rename the prefix with those characters",
  },
  {
    rule: "!self.startsWith('/') && !self.endsWith('/')",
    message:
      "must not start or end with '/': it is a path relative to the job's namespace in each store, e.g. llama-8b or team-a/llama-8b",
  },
  {
    rule: "!self.contains('//')",
    message: "must not have an empty segment ('//'): join segments with a single '/'",
  },
  {
    rule: "!self.matches('(^|/)[.][.]?(/|$)')",
    message:
      "must not have a '.' or '..' segment: the prefix stays under the job's namespace in each store; to continue from another job's steps set spec.checkpoint.from to that job's name",
  },
];

/** What the CRD refuses in spec.checkpoint.localDir, each with what to do instead. */
const localDirRules = [
  {
    rule: "self.startsWith('/')",
    message: "must be an absolute path, e.g. /checkpoints: it is where the trainer and the checkpoint-agent mount it",
  },
  {
    rule: "!self.endsWith('/')",
    message: "must not be '/' or end with '/': name a directory of its own, e.g. /checkpoints",
  },
  {
    rule: "!self.contains('//') && !self.matches('(^|/)[.][.]?(/|$)')",
    message: "must not have an empty, '.' or '..' segment: write the plain path, e.g. /checkpoints",
  },
];

/** A volume source for spec.checkpoint.volume: any one of a pod volume's sources, without the name. */
export type CheckpointVolumeSource = Omit<V1Volume, "name">;

const checkpointVolume = raw<CheckpointVolumeSource>(
  "The volume for localDir, as a pod volume without its name: one volume source such as {emptyDir: {}}, {emptyDir: {sizeLimit: 500Gi}}, {hostPath: {path: /mnt/nvme}} or {ephemeral: {volumeClaimTemplate: ...}}. The operator names it checkpoint-local and mounts it at localDir in the trainer and in the checkpoint-agent. Default: an emptyDir. The worker's API server checks it when the Job is created.",
  { type: "object", "x-kubernetes-preserve-unknown-fields": true },
);

const checkpointSpec = object(
  "Where the job's checkpoints go in each cluster's store, how many are kept, and optionally the local directory a checkpoint-agent sidecar uploads from.",
  {
    prefix: string(
      "The job's checkpoint line: the path under the job's namespace in each store where steps are written (<namespace>/<prefix>/step-<N>/), so a job never reaches another namespace's checkpoints. Default: the job's name. Segments of letters, digits, '.', '_' and '-' joined by single '/'; no '.' or '..' segment, no leading or trailing '/'. Two running jobs of a namespace never write one line: the newer one waits, with a ReconcileError condition naming the other (to continue from another job's steps, set from instead).",
      { minLength: 1, maxLength: 512, rules: prefixRules },
    ),
    from: string(
      "The name of another TrainingJob in this namespace to continue from: while this job's own line holds no committed step, it resumes from the newest step of that job's line (its prefix) in the store of the cluster it runs on, fenced by that job's epochs. This job still writes only its own line. The named job must exist when this job launches.",
      {
        minLength: 1,
        maxLength: MAX_TRAINING_JOB_NAME,
        pattern: "^[a-z]([-a-z0-9]*[a-z0-9])?$",
      },
    ),
    keep: integer("Committed steps kept per store; older ones are pruned. The newest committed step is never pruned.", {
      minimum: 1,
      maximum: 1000,
      default: 3,
    }),
    localDir: string(
      "An absolute path where the trainer saves its checkpoints (step-<N>/ directories), given to it as CROSSCLOUD_CHECKPOINT_DIR. Set: every worker pod gets a native sidecar named checkpoint-agent (an init container with restartPolicy Always, from the operator's image) that shares this directory, restores the step to resume from into <localDir>/step-<N> before the trainer starts (CROSSCLOUD_RESUME_DIR), and uploads and commits the steps the trainer finishes; the store credentials then go to the checkpoint-agent only. Absent: the trainer writes to its store itself (CROSSCLOUD_CHECKPOINT_URI).",
      { minLength: 2, maxLength: 256, rules: localDirRules },
    ),
    volume: checkpointVolume,
    keepLocal: integer(
      "With localDir: the newest steps kept on local disk; older ones are deleted once uploaded. A step still uploading is never deleted.",
      { minimum: 1, maximum: 1000, default: 2 },
    ),
  },
  {
    default: {},
    rules: [
      {
        rule: "!has(self.volume) || has(self.localDir)",
        message:
          "spec.checkpoint.volume is the volume of localDir: set spec.checkpoint.localDir too, or leave volume out",
        fieldPath: ".volume",
      },
    ],
  },
);

const failoverSpec = object(
  "When and how often the job moves to another cluster when its cluster fails or loses capacity.",
  {
    enabled: boolean("Move the job to another cluster when its cluster is lost or out of capacity.", {
      default: true,
    }),
    maxFailovers: integer("How many times the job may move before it is marked Failed.", {
      minimum: 0,
      maximum: 100,
      default: 3,
    }),
    clusterLostTimeout: duration(
      "How long the job's cluster may stay unreachable before the job moves, as a duration such as 90s, 15m or 2h.",
      { default: "60s" },
    ),
    unschedulableTimeout: duration(
      "Capacity lost: after the job's nodes are gone or its pods were evicted or preempted, how long replacement pods may stay unschedulable (with no scale-up of the group in progress) before the job moves, as a duration such as 90s or 5m.",
      { default: "5m" },
    ),
    drainCheckpointTimeout: duration(
      "On a drain (ComputeCluster spec.drain), how long to wait for a step newer than the newest one known when the drain began, and for its copy in the target's store, before launching there anyway.",
      { default: "10m" },
    ),
  },
  { default: {} },
);

const runPolicySpec = object(
  "Retries, deadline and cleanup of the job's pods.",
  {
    backoffLimit: integer("Retries of failed pods within one placement before the job is Failed.", {
      minimum: 0,
      maximum: 1000,
      default: 3,
    }),
    activeDeadlineSeconds: integer(
      "Seconds the job may run in all (across placements) before it is stopped and marked Failed.",
      { minimum: 1, format: "int64" },
    ),
    ttlSecondsAfterFinished: integer(
      "Seconds after the job finishes before its worker resources are removed. Absent: they are kept.",
      { minimum: 0, format: "int64" },
    ),
  },
  { default: {} },
);

export const trainingJobSpec = object(
  "What to run, on which accelerators, and the policies for placement, checkpoints and failover.",
  {
    replicas: integer("Worker pods, one per node.", { minimum: 1, maximum: 1024 }),
    suspend: boolean(
      "True: no pods run. The operator removes the pods; setting it back to false starts them again from the newest checkpoint.",
      { default: false },
    ),
    accelerators: array(
      "The acceptable accelerators, most preferred first; each type at most once.",
      acceleratorOption,
      {
        minItems: 1,
        maxItems: 8,
        rules: [
          {
            rule: "self.all(a, self.exists_one(b, b.type == a.type))",
            message: "accelerator types must be unique: list each type once, most preferred first",
          },
        ],
      },
    ),
    template,
    placement: placementSpec,
    checkpoint: checkpointSpec,
    failover: failoverSpec,
    terminationGracePeriod: duration(
      "How long the job's pods have to stop after SIGTERM (preemption, drain, suspend, a new placement) before they are killed, as a duration such as 300s or 10m; rendered as the pods' terminationGracePeriodSeconds (rounded up to whole seconds). A trainer that saves on SIGTERM, and the checkpoint-agent uploading that step, finish within it.",
      {
        default: "300s",
        rules: [
          {
            rule: "!self.matches('^(0+(ms|s|m|h))+$')",
            message: "must be longer than 0s: the pods need time to stop, e.g. 300s",
          },
        ],
      },
    ),
    runPolicy: runPolicySpec,
  },
  { required: ["replicas", "accelerators", "template"] },
);

/** Immutable while placed: changing these would need a new placement. */
function immutableWhilePlaced(field: "replicas" | "accelerators") {
  return {
    rule: `!has(oldSelf.status) || !has(oldSelf.status.placement) || (has(oldSelf.status.phase) && oldSelf.status.phase in ['Suspended', 'Succeeded', 'Failed']) || self.spec.${field} == oldSelf.spec.${field}`,
    message: `spec.${field} cannot change while the job is placed: set spec.suspend to true first; the job is placed anew when it resumes`,
    fieldPath: `.spec.${field}`,
  } as const;
}

export const trainingJobName = {
  maxLength: MAX_TRAINING_JOB_NAME,
  message: `must be at most ${MAX_TRAINING_JOB_NAME} characters: the worker Job and its pods' hostnames are derived from it and Kubernetes limits them to 63`,
  // The worker's headless Service and the pods' subdomain carry the name: a DNS-1035 label.
  pattern: "^[a-z]([-a-z0-9]*[a-z0-9])?$",
  patternMessage:
    "must start with a lowercase letter and hold only lowercase letters, digits and '-' (e.g. llama-8b): the worker's headless Service and the pods' hostnames are named after it, and a dot or a leading digit is not allowed there",
};

export const trainingJobRules = [
  immutableWhilePlaced("replicas"),
  immutableWhilePlaced("accelerators"),
  {
    rule: "!has(self.spec.checkpoint) || !has(self.spec.checkpoint.from) || self.spec.checkpoint.from != self.metadata.name",
    message:
      "spec.checkpoint.from names this job itself: name another TrainingJob of this namespace to continue from, or leave it out",
    fieldPath: ".spec.checkpoint.from",
  },
];

export type TrainingJobSpec = Infer<typeof trainingJobSpec>;
export type TrainingJobStatus = Infer<typeof trainingJobStatus>;
export type AcceleratorOption = TrainingJobSpec["accelerators"][number];

export interface TrainingJob {
  apiVersion: `${typeof GROUP}/${typeof VERSION}`;
  kind: "TrainingJob";
  metadata: V1ObjectMeta;
  spec: TrainingJobSpec;
  status?: TrainingJobStatus;
}

export const trainingJobPrinterColumns = [
  { name: "Phase", type: "string", jsonPath: ".status.phase", description: "The job's phase." },
  { name: "Queue", type: "string", jsonPath: ".status.queue.name", description: "The Kueue LocalQueue, when queued." },
  {
    name: "Admission",
    type: "string",
    jsonPath: '.status.conditions[?(@.type=="Admitted")].reason',
    description: "Kueue's admission: Admitted, or why not (Pending, Preempted, ...).",
  },
  { name: "Cloud", type: "string", jsonPath: ".status.placement.cloud", description: "The cloud it runs on." },
  {
    name: "Cluster",
    type: "string",
    jsonPath: ".status.placement.cluster",
    description: "The ComputeCluster it runs on.",
  },
  {
    name: "Accelerator",
    type: "string",
    jsonPath: ".status.placement.accelerator",
    description: "The accelerator chosen.",
  },
  { name: "Ready", type: "string", jsonPath: ".status.readyReplicas", description: "Running replicas over desired." },
  {
    name: "Step",
    type: "integer",
    jsonPath: ".status.checkpoint.latestStep",
    description: "The newest committed checkpoint step.",
  },
  { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
] as const;
