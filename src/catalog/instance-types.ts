// The built-in instance-type facts (from shared CLOUD-FACTS.md): what each
// instance type offers a training job. Used by the sandbox to build fake nodes
// and by placement and pricing; a node's own status.allocatable wins over these.

/** Accelerator types a TrainingJob can ask for (API.md, "Accelerator types"). */
export type AcceleratorType =
  | "trainium1"
  | "trainium2"
  | "nvidia-h100"
  | "nvidia-h200"
  | "nvidia-b200"
  | "nvidia-b300"
  | "nvidia-gb200"
  | "nvidia-gb300"
  | "nvidia-a100"
  | "nvidia-a10g"
  | "nvidia-l40s";

export type Cloud = "aws" | "azure";

/** Every accelerator type, in the order API.md lists them. */
export const ACCELERATOR_TYPES: readonly AcceleratorType[] = [
  "trainium1",
  "trainium2",
  "nvidia-h100",
  "nvidia-h200",
  "nvidia-b200",
  "nvidia-b300",
  "nvidia-gb200",
  "nvidia-gb300",
  "nvidia-a100",
  "nvidia-a10g",
  "nvidia-l40s",
];
export const CLOUDS: readonly Cloud[] = ["aws", "azure"];

/** The CPU architecture of a node (the `kubernetes.io/arch` label): arm64 for the Grace-based types. */
export type Architecture = "amd64" | "arm64";
export const ARCHITECTURES: readonly Architecture[] = ["amd64", "arm64"];

/** GPU Feature Discovery's label naming a node's NVLink domain (GB200/GB300): `<ClusterUUID>.<CliqueID>`. */
export const GPU_CLIQUE_LABEL = "nvidia.com/gpu.clique";
/** The Neuron device plugin's label naming the 4-node Trn2 UltraServer (u-trn2x64) a trn2u node belongs to. */
export const ULTRASERVER_ID_LABEL = "neuron.amazonaws.com/ultraserver-server-id-4";
/** Node label keys whose value names the accelerator-fabric domain (NVLink domain, UltraServer) of a node. */
export type DomainLabel = typeof GPU_CLIQUE_LABEL | typeof ULTRASERVER_ID_LABEL;
export const DOMAIN_LABELS: readonly DomainLabel[] = [GPU_CLIQUE_LABEL, ULTRASERVER_ID_LABEL];

/**
 * Physical NeuronCores per logical core when the trainer does not set `NEURON_LOGICAL_NC_CONFIG`,
 * for the accelerators that honour it (CLOUD-FACTS.md, "Trainium2 processes per node"): Trainium2
 * runs 2 physical cores as one logical core by default. Trainium1 has no such setting (1).
 */
export const DEFAULT_LOGICAL_NC_CONFIG: Readonly<Partial<Record<AcceleratorType, number>>> = { trainium2: 2 };
/** The values `NEURON_LOGICAL_NC_CONFIG` takes on the accelerators that honour it. */
export const LOGICAL_NC_CONFIGS: readonly number[] = [1, 2];

/** The Kubernetes extended resource that carries an accelerator's devices. */
export const NEURON_RESOURCE = "aws.amazon.com/neuron";
export const NEURONCORE_RESOURCE = "aws.amazon.com/neuroncore";
export const GPU_RESOURCE = "nvidia.com/gpu";
export const EFA_RESOURCE = "vpc.amazonaws.com/efa";
export const INFINIBAND_RESOURCE = "rdma/ib";

/** The extended resource of an accelerator type's devices: Neuron devices on Trainium, GPUs otherwise. */
export function deviceResourceOf(type: AcceleratorType): typeof NEURON_RESOURCE | typeof GPU_RESOURCE {
  return type.startsWith("trainium") ? NEURON_RESOURCE : GPU_RESOURCE;
}

export interface InstanceType {
  readonly name: string;
  readonly cloud: Cloud;
  readonly accelerator: AcceleratorType;
  /** Devices per node, counted in `deviceResource` units. */
  readonly devices: number;
  readonly deviceResource: typeof NEURON_RESOURCE | typeof GPU_RESOURCE;
  /**
   * Physical NeuronCores per node (Trainium only). torchrun starts one process per logical core:
   * these divided by the logical-core config (`NEURON_LOGICAL_NC_CONFIG`; see `DEFAULT_LOGICAL_NC_CONFIG`).
   */
  readonly neuronCores?: number;
  readonly acceleratorMemoryGiB: number;
  /** Fabric interfaces per node as an extended resource, when the node has them. */
  readonly fabric?: { readonly resource: string; readonly count: number };
  readonly vcpu: number;
  readonly memoryGiB: number;
  /** The nodes' CPU architecture: arm64 for the Grace-based GB200/GB300 types, amd64 otherwise. */
  readonly architecture: Architecture;
  /**
   * The node label whose value names the NVLink domain or UltraServer a node belongs to, on types
   * sold in such domains: `nvidia.com/gpu.clique` (GB200/GB300), `neuron.amazonaws.com/ultraserver-server-id-4`
   * (trn2u.48xlarge). Absent: a node is its own domain.
   */
  readonly domainLabel?: DomainLabel;
  /** Public on-demand price in USD per node-hour, where CLOUD-FACTS.md gives one. */
  readonly onDemandPricePerHour?: string;
}

type Facts = Omit<InstanceType, "cloud" | "architecture"> & { readonly architecture?: Architecture };
const aws = (t: Facts): InstanceType => ({ architecture: "amd64", ...t, cloud: "aws" });
const azure = (t: Facts): InstanceType => ({ architecture: "amd64", ...t, cloud: "azure" });
const efa = (count: number) => ({ resource: EFA_RESOURCE, count });
const infiniband = (count: number) => ({ resource: INFINIBAND_RESOURCE, count });

/** What a trn2.48xlarge and a trn2u.48xlarge node have alike (CLOUD-FACTS.md). */
const TRN2_NODE = {
  accelerator: "trainium2",
  devices: 16,
  deviceResource: NEURON_RESOURCE,
  neuronCores: 128,
  acceleratorMemoryGiB: 1536,
  fabric: efa(16),
  vcpu: 192,
  memoryGiB: 2048,
} as const;

/** Every instance type of the built-in catalog, by name. */
export const INSTANCE_TYPES: ReadonlyMap<string, InstanceType> = new Map(
  [
    aws({
      name: "trn1.2xlarge",
      accelerator: "trainium1",
      devices: 1,
      deviceResource: NEURON_RESOURCE,
      neuronCores: 2,
      acceleratorMemoryGiB: 32,
      vcpu: 8,
      memoryGiB: 32,
    }),
    aws({
      name: "trn1.32xlarge",
      accelerator: "trainium1",
      devices: 16,
      deviceResource: NEURON_RESOURCE,
      neuronCores: 32,
      acceleratorMemoryGiB: 512,
      fabric: efa(8),
      vcpu: 128,
      memoryGiB: 512,
      onDemandPricePerHour: "21.50",
    }),
    aws({
      name: "trn1n.32xlarge",
      accelerator: "trainium1",
      devices: 16,
      deviceResource: NEURON_RESOURCE,
      neuronCores: 32,
      acceleratorMemoryGiB: 512,
      fabric: efa(16),
      vcpu: 128,
      memoryGiB: 512,
    }),
    aws({ ...TRN2_NODE, name: "trn2.48xlarge", onDemandPricePerHour: "35.76" }),
    // 4 make a Trn2 UltraServer (u-trn2x64, NeuronLink between instances); Capacity Blocks; no public price.
    aws({ ...TRN2_NODE, name: "trn2u.48xlarge", domainLabel: ULTRASERVER_ID_LABEL }),
    aws({
      name: "p4d.24xlarge",
      accelerator: "nvidia-a100",
      devices: 8,
      deviceResource: GPU_RESOURCE,
      acceleratorMemoryGiB: 320,
      fabric: efa(4),
      vcpu: 96,
      memoryGiB: 1152,
      onDemandPricePerHour: "21.96",
    }),
    aws({
      name: "p5.48xlarge",
      accelerator: "nvidia-h100",
      devices: 8,
      deviceResource: GPU_RESOURCE,
      acceleratorMemoryGiB: 640,
      fabric: efa(32),
      vcpu: 192,
      memoryGiB: 2048,
      onDemandPricePerHour: "55.04",
    }),
    aws({
      name: "p5e.48xlarge",
      accelerator: "nvidia-h200",
      devices: 8,
      deviceResource: GPU_RESOURCE,
      acceleratorMemoryGiB: 1128,
      fabric: efa(32),
      vcpu: 192,
      memoryGiB: 2048,
    }),
    aws({
      name: "p5en.48xlarge",
      accelerator: "nvidia-h200",
      devices: 8,
      deviceResource: GPU_RESOURCE,
      acceleratorMemoryGiB: 1128,
      fabric: efa(16),
      vcpu: 192,
      memoryGiB: 2048,
    }),
    aws({
      name: "p6-b200.48xlarge",
      accelerator: "nvidia-b200",
      devices: 8,
      deviceResource: GPU_RESOURCE,
      acceleratorMemoryGiB: 8 * 179,
      fabric: efa(8),
      vcpu: 192,
      memoryGiB: 2048,
      onDemandPricePerHour: "113.9328",
    }),
    aws({
      name: "p6-b300.48xlarge",
      accelerator: "nvidia-b300",
      devices: 8,
      deviceResource: GPU_RESOURCE,
      acceleratorMemoryGiB: 8 * 269,
      fabric: efa(16),
      vcpu: 192,
      memoryGiB: 4096,
      onDemandPricePerHour: "142.416",
    }),
    aws({
      // Sold only as UltraServers (u-p6e-gb200x36: 9 instances, x72: 18), one NVLink domain each, on
      // Capacity Blocks: no on-demand price. Memory, vCPU and RAM from a secondary source; 4 EFA as in EKS's example.
      name: "p6e-gb200.36xlarge",
      accelerator: "nvidia-gb200",
      devices: 4,
      deviceResource: GPU_RESOURCE,
      acceleratorMemoryGiB: 4 * 185,
      fabric: efa(4),
      vcpu: 144,
      memoryGiB: 960,
      architecture: "arm64",
      domainLabel: GPU_CLIQUE_LABEL,
    }),
    aws({
      name: "g5.48xlarge",
      accelerator: "nvidia-a10g",
      devices: 8,
      deviceResource: GPU_RESOURCE,
      acceleratorMemoryGiB: 192,
      fabric: efa(1),
      vcpu: 192,
      memoryGiB: 768,
    }),
    aws({
      name: "g6e.48xlarge",
      accelerator: "nvidia-l40s",
      devices: 8,
      deviceResource: GPU_RESOURCE,
      acceleratorMemoryGiB: 384,
      fabric: efa(4),
      vcpu: 192,
      memoryGiB: 1536,
    }),
    azure({
      name: "Standard_ND96isr_H100_v5",
      accelerator: "nvidia-h100",
      devices: 8,
      deviceResource: GPU_RESOURCE,
      acceleratorMemoryGiB: 640,
      fabric: infiniband(8),
      vcpu: 96,
      memoryGiB: 1900,
      onDemandPricePerHour: "98.32",
    }),
    azure({
      // On-demand price unconfirmed: none given.
      name: "Standard_ND96isr_H200_v5",
      accelerator: "nvidia-h200",
      devices: 8,
      deviceResource: GPU_RESOURCE,
      acceleratorMemoryGiB: 8 * 141,
      fabric: infiniband(8),
      vcpu: 96,
      memoryGiB: 1850,
    }),
    azure({
      // 18 VMs make an NVL72 domain. 4x400 Gb/s NDR InfiniBand; on-demand price unconfirmed.
      name: "Standard_ND128isr_NDR_GB200_v6",
      accelerator: "nvidia-gb200",
      devices: 4,
      deviceResource: GPU_RESOURCE,
      acceleratorMemoryGiB: 4 * 192,
      fabric: infiniband(4),
      vcpu: 128,
      memoryGiB: 900,
      architecture: "arm64",
      domainLabel: GPU_CLIQUE_LABEL,
    }),
    azure({
      // 18 VMs per NVL72 domain. 4x800 Gb/s InfiniBand; on-demand price unconfirmed.
      name: "Standard_ND128isr_GB300_v6",
      accelerator: "nvidia-gb300",
      devices: 4,
      deviceResource: GPU_RESOURCE,
      acceleratorMemoryGiB: 4 * 288,
      fabric: infiniband(4),
      vcpu: 128,
      memoryGiB: 864,
      architecture: "arm64",
      domainLabel: GPU_CLIQUE_LABEL,
    }),
    azure({
      name: "Standard_ND96asr_v4",
      accelerator: "nvidia-a100",
      devices: 8,
      deviceResource: GPU_RESOURCE,
      acceleratorMemoryGiB: 320,
      fabric: infiniband(8),
      vcpu: 96,
      memoryGiB: 900,
    }),
    azure({
      name: "Standard_ND96amsr_A100_v4",
      accelerator: "nvidia-a100",
      devices: 8,
      deviceResource: GPU_RESOURCE,
      acceleratorMemoryGiB: 640,
      fabric: infiniband(8),
      vcpu: 96,
      memoryGiB: 1900,
    }),
    azure({
      name: "Standard_NC24ads_A100_v4",
      accelerator: "nvidia-a100",
      devices: 1,
      deviceResource: GPU_RESOURCE,
      acceleratorMemoryGiB: 80,
      vcpu: 24,
      memoryGiB: 220,
      onDemandPricePerHour: "3.67",
    }),
    azure({
      name: "Standard_NC40ads_H100_v5",
      accelerator: "nvidia-h100",
      devices: 1,
      deviceResource: GPU_RESOURCE,
      acceleratorMemoryGiB: 94,
      vcpu: 40,
      memoryGiB: 320,
      onDemandPricePerHour: "6.98",
    }),
  ].map((t) => [t.name, t]),
);

/** The instance type named `name`, or a clear error naming what is known. */
export function instanceType(name: string): InstanceType {
  const found = INSTANCE_TYPES.get(name);
  if (!found) {
    throw new Error(
      `unknown instance type "${name}": the built-in catalog knows ${[...INSTANCE_TYPES.keys()].join(", ")}`,
    );
  }
  return found;
}
