// The ComputeCluster kind (cluster-scoped, short name cc): registers a worker
// cluster (its cloud, how to reach it, the checkpoint store beside it, price
// overrides) and reports its reachability and capacity per node group.

import type { V1ObjectMeta } from "@kubernetes/client-node";
import {
  acceleratorTypeSchema,
  CAPACITY_TYPES,
  cloudSchema,
  conditionsOf,
  type GROUP,
  price,
  timestamp,
  type VERSION,
} from "./common.ts";
import { array, boolean, enumOf, type Infer, integer, map, object, string } from "./schema.ts";

const endpoint = (api: string) =>
  string(
    `Overrides the ${api} endpoint (an https URL), e.g. for a private endpoint or the sandbox's cloud simulator.`,
    {
      pattern: "^https?://",
    },
  );

const awsSpec = object(
  "The EKS cluster, when spec.cloud is aws.",
  {
    region: string("The AWS region, e.g. us-east-1.", { pattern: "^[a-z]{2}(-[a-z]+)+-[0-9]+$" }),
    clusterName: string("The EKS cluster's name.", { minLength: 1, maxLength: 100 }),
    endpoint: endpoint("EKS API"),
  },
  { required: ["region", "clusterName"] },
);

const azureSpec = object(
  "The AKS cluster, when spec.cloud is azure.",
  {
    subscriptionId: string("The Azure subscription ID.", { minLength: 1 }),
    resourceGroup: string("The resource group of the AKS cluster.", { minLength: 1, maxLength: 90 }),
    clusterName: string("The AKS cluster's name.", { minLength: 1, maxLength: 63 }),
    location: string("The Azure region, e.g. westus3.", { minLength: 1 }),
    endpoint: endpoint("Azure Resource Manager"),
  },
  { required: ["subscriptionId", "resourceGroup", "clusterName"] },
);

const secretKeyRef = (description: string, defaultKey: string) =>
  object(
    description,
    {
      namespace: string("The Secret's namespace.", { minLength: 1, maxLength: 63 }),
      name: string("The Secret's name.", { minLength: 1, maxLength: 253 }),
      key: string(`The key in the Secret's data. Default: ${defaultKey}.`, { minLength: 1, default: defaultKey }),
    },
    { required: ["namespace", "name"] },
  );

const s3Store = object(
  "An S3 bucket.",
  {
    bucket: string("The bucket's name.", { minLength: 3, maxLength: 63 }),
    region: string("The bucket's region. Default: the cluster's region.", { minLength: 1 }),
    endpoint: string(
      "Overrides the S3 endpoint (an http(s) URL) for S3-compatible servers; path-style addressing is used then.",
      {
        pattern: "^(https?://.+)?$",
      },
    ),
  },
  { required: ["bucket"] },
);

const blobStore = object(
  "An Azure Blob Storage container.",
  {
    accountURL: string("The storage account's blob endpoint, e.g. https://acct.blob.core.windows.net.", {
      pattern: "^https?://",
    }),
    container: string("The container's name.", { minLength: 3, maxLength: 63 }),
  },
  { required: ["accountURL", "container"] },
);

const checkpointStore = object(
  "The object store next to the cluster where jobs running there write their checkpoints: exactly one of s3 and azureBlob.",
  {
    s3: s3Store,
    azureBlob: blobStore,
    credentialsSecretRef: object(
      "A Secret on the hub with the store's credentials, used by the operator's own replication (S3: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; Blob: AZURE_STORAGE_ACCOUNT_KEY, or AZURE_STORAGE_CONNECTION_STRING with AccountName and AccountKey). It reaches the job's pods only with podCredentials: Secret. Absent: the operator's own workload identity (IRSA or EKS Pod Identity, Azure Workload Identity).",
      {
        namespace: string("The Secret's namespace.", { minLength: 1, maxLength: 63 }),
        name: string("The Secret's name.", { minLength: 1, maxLength: 253 }),
      },
      { required: ["namespace", "name"] },
    ),
    podCredentials: enumOf(
      "How the job's pods reach this store. WorkloadIdentity (also when absent): with the cloud identity of spec.workloadIdentity; the credentials Secret never leaves the hub. Secret: the operator copies the credentials Secret next to each job's workload on the worker and gives it to the trainer container with envFrom, so every job placed here holds the store-wide keys (for test stores and emulators, or a cluster given to one team).",
      ["WorkloadIdentity", "Secret"],
    ),
  },
  {
    rules: [
      {
        rule: "has(self.s3) != has(self.azureBlob)",
        message: "set exactly one of checkpointStore.s3 and checkpointStore.azureBlob",
      },
      {
        rule: "!has(self.podCredentials) || self.podCredentials != 'Secret' || has(self.credentialsSecretRef)",
        message:
          "checkpointStore.podCredentials Secret needs checkpointStore.credentialsSecretRef: name the Secret the pods get, or set podCredentials to WorkloadIdentity",
        fieldPath: ".podCredentials",
      },
    ],
  },
);

const workloadIdentity = object(
  "The cloud identity the job's pods run as on this cluster: a ServiceAccount in the workload namespace that the platform team set up (EKS: a Pod Identity association or the IRSA annotation eks.amazonaws.com/role-arn; AKS: the annotation azure.workload.identity/client-id and a federated credential). The operator sets it as the pods' serviceAccountName, replacing the template's; on azure, unless checkpointStore.podCredentials is Secret, it also labels the pods azure.workload.identity/use: \"true\" (the webhook acts only on pods with that label).",
  {
    serviceAccountName: string(
      "The ServiceAccount's name (it must exist in the workload namespace: the job's namespace, or workloadNamespace). Absent: the pods use the namespace's default ServiceAccount, unless allowTemplateServiceAccount lets the template name one.",
      { minLength: 1, maxLength: 253, pattern: "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$" },
    ),
    allowTemplateServiceAccount: boolean(
      "True: a TrainingJob's template may name its own serviceAccountName, which then replaces serviceAccountName above. False or absent: the template's serviceAccountName is ignored, so a job cannot borrow another ServiceAccount's cloud permissions in the workload namespace.",
    ),
  },
);

export const computeClusterSpec = object(
  "How to reach a worker cluster, its cloud, its checkpoint store and price overrides.",
  {
    cloud: cloudSchema("The cloud: aws (EKS) or azure (AKS)."),
    aws: awsSpec,
    azure: azureSpec,
    kubeconfigSecretRef: secretKeyRef(
      "A Secret holding a kubeconfig for the worker cluster. Absent: the cluster the operator runs in.",
      "kubeconfig",
    ),
    workloadNamespace: string(
      "The namespace on the worker where jobs' pods run. Empty: the TrainingJob's own namespace (created if missing).",
      { maxLength: 63, default: "" },
    ),
    checkpointStore,
    workloadIdentity,
    prices: map(
      'Price overrides in USD per node-hour by instance type, e.g. {"trn1.32xlarge": "21.50"}; they replace the built-in catalog price for this cluster.',
      price("USD per node-hour, e.g. 21.50."),
    ),
    paused: boolean("True: no new placements go to this cluster; jobs running there keep running.", { default: false }),
    drain: boolean(
      "True: every job running here moves to another cluster (failover reason Drained), gracefully: its pods get their termination grace period to save a step, and the operator waits up to the job's spec.failover.drainCheckpointTimeout for that step to be replicated before launching elsewhere. No new placements come here while it is set.",
      { default: false },
    ),
  },
  {
    required: ["cloud", "checkpointStore"],
    rules: [
      {
        rule: "self.cloud == 'aws' ? has(self.aws) : !has(self.aws)",
        message: "spec.aws is required when spec.cloud is aws, and must be absent otherwise",
        fieldPath: ".aws",
      },
      {
        rule: "self.cloud == 'azure' ? has(self.azure) : !has(self.azure)",
        message: "spec.azure is required when spec.cloud is azure, and must be absent otherwise",
        fieldPath: ".azure",
      },
    ],
  },
);

const domainStatus = object(
  "One accelerator-fabric domain (NVLink domain or Trn2 UltraServer) of a node group: the nodes whose domain label has one value.",
  {
    key: string(
      "The node label that names the domain: nvidia.com/gpu.clique or neuron.amazonaws.com/ultraserver-server-id-4.",
      { maxLength: 317 },
    ),
    name: string("The domain: the value of that label on its nodes.", { maxLength: 63 }),
    nodes: integer("The group's nodes in this domain.", { minimum: 0 }),
    readyNodes: integer("Of those, the nodes Ready.", { minimum: 0 }),
    freeNodes: integer("Of those, the Ready nodes whose accelerator devices are all unallocated.", { minimum: 0 }),
  },
);

const nodeGroupStatus = object("One EKS node group or AKS agent pool and its capacity.", {
  name: string("The node group or agent pool name."),
  instanceType: string("Its instance type (VM size)."),
  accelerator: acceleratorTypeSchema("The accelerator its nodes carry."),
  devicesPerNode: integer("Accelerator devices per node.", { minimum: 0 }),
  capacityType: enumOf(
    "OnDemand, Spot, or Reserved (EKS Capacity Blocks, Karpenter reserved capacity: paid for whether used or not).",
    CAPACITY_TYPES,
  ),
  nodes: integer("Nodes registered in the cluster.", { minimum: 0 }),
  readyNodes: integer("Nodes Ready.", { minimum: 0 }),
  freeNodes: integer("Ready nodes whose accelerator devices are all unallocated.", { minimum: 0 }),
  domains: array(
    "For instance types sold in NVLink domains or UltraServers (GB200, GB300, trn2u): the group's nodes per domain, by the instance type's domain label. Absent for other types.",
    domainStatus,
    { maxItems: 64 },
  ),
  minSize: integer("The group's minimum size in the cloud.", { minimum: 0 }),
  maxSize: integer("The group's maximum size in the cloud.", { minimum: 0 }),
  desiredSize: integer("The group's desired size in the cloud.", { minimum: 0 }),
  autoscaled: boolean(
    "An autoscaler (Cluster Autoscaler, Karpenter, AKS autoscaling) owns the group's size; the operator never resizes it.",
  ),
  pricePerHour: price("USD per node-hour (override or catalog)."),
});

export const computeClusterStatus = object("The cluster's observed state, written by the operator.", {
  observedGeneration: integer("The metadata.generation this status describes.", { minimum: 0, format: "int64" }),
  conditions: conditionsOf(
    "Reachable, CloudAPIReachable, CheckpointStoreReady, Ready (True when jobs can be placed here: reachable, spec.prices valid, its store's Secret in the operator's namespace, at least one accelerator node group), and Stalled (True, with Ready's reason, only while spec.prices is invalid or the store's Secret is outside the operator's namespace; absent otherwise). kstatus (Flux, kpt): Failed when Stalled, else Current when Ready, else InProgress; InProgress too while observedGeneration is behind metadata.generation.",
  ),
  lastHeartbeatTime: timestamp("When the operator last reached the cluster's API server."),
  kubernetesVersion: string("The worker's Kubernetes version."),
  nodeGroups: array("Capacity per node group.", nodeGroupStatus, { maxItems: 256 }),
});

export type ComputeClusterSpec = Infer<typeof computeClusterSpec>;
export type ComputeClusterStatus = Infer<typeof computeClusterStatus>;
export type NodeGroupStatus = NonNullable<ComputeClusterStatus["nodeGroups"]>[number];

export interface ComputeCluster {
  apiVersion: `${typeof GROUP}/${typeof VERSION}`;
  kind: "ComputeCluster";
  metadata: V1ObjectMeta;
  spec: ComputeClusterSpec;
  status?: ComputeClusterStatus;
}

export const computeClusterName = {
  maxLength: 63,
  message: "must be at most 63 characters: it is written into labels on worker resources",
};

export const computeClusterRules = [];

export const computeClusterPrinterColumns = [
  { name: "Cloud", type: "string", jsonPath: ".spec.cloud", description: "aws or azure." },
  {
    name: "Ready",
    type: "string",
    jsonPath: '.status.conditions[?(@.type=="Ready")].status',
    description: "Whether new jobs can be placed here.",
  },
  { name: "Paused", type: "boolean", jsonPath: ".spec.paused", description: "No new placements." },
  {
    name: "Version",
    type: "string",
    jsonPath: ".status.kubernetesVersion",
    description: "The worker's Kubernetes version.",
  },
  {
    name: "Heartbeat",
    type: "date",
    jsonPath: ".status.lastHeartbeatTime",
    description: "When the operator last reached it.",
  },
  { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
] as const;
