// The built-in instance-type facts (from shared CLOUD-FACTS.md): what each
// instance type offers a training job. Used by the sandbox to build fake nodes
// and by placement and pricing; a node's own status.allocatable wins over these.

/** Accelerator types a TrainingJob can ask for (API.md, "Accelerator types"). */
export type AcceleratorType =
  | "trainium1"
  | "trainium2"
  | "nvidia-h100"
  | "nvidia-h200"
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
  "nvidia-a100",
  "nvidia-a10g",
  "nvidia-l40s",
];
export const CLOUDS: readonly Cloud[] = ["aws", "azure"];

/** The Kubernetes extended resource that carries an accelerator's devices. */
export const NEURON_RESOURCE = "aws.amazon.com/neuron";
export const NEURONCORE_RESOURCE = "aws.amazon.com/neuroncore";
export const GPU_RESOURCE = "nvidia.com/gpu";
export const EFA_RESOURCE = "vpc.amazonaws.com/efa";
export const INFINIBAND_RESOURCE = "rdma/ib";

export interface InstanceType {
  readonly name: string;
  readonly cloud: Cloud;
  readonly accelerator: AcceleratorType;
  /** Devices per node, counted in `deviceResource` units. */
  readonly devices: number;
  readonly deviceResource: typeof NEURON_RESOURCE | typeof GPU_RESOURCE;
  /** NeuronCores per node (Trainium only): the processes torchrun starts per node. */
  readonly neuronCores?: number;
  readonly acceleratorMemoryGiB: number;
  /** Fabric interfaces per node as an extended resource, when the node has them. */
  readonly fabric?: { readonly resource: string; readonly count: number };
  readonly vcpu: number;
  readonly memoryGiB: number;
  /** Public on-demand price in USD per node-hour, where CLOUD-FACTS.md gives one. */
  readonly onDemandPricePerHour?: string;
}

const aws = (t: Omit<InstanceType, "cloud">): InstanceType => ({ ...t, cloud: "aws" });
const azure = (t: Omit<InstanceType, "cloud">): InstanceType => ({ ...t, cloud: "azure" });
const efa = (count: number) => ({ resource: EFA_RESOURCE, count });
const infiniband = (count: number) => ({ resource: INFINIBAND_RESOURCE, count });

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
    aws({
      name: "trn2.48xlarge",
      accelerator: "trainium2",
      devices: 16,
      deviceResource: NEURON_RESOURCE,
      neuronCores: 128,
      acceleratorMemoryGiB: 1536,
      fabric: efa(16),
      vcpu: 192,
      memoryGiB: 2048,
      onDemandPricePerHour: "35.76",
    }),
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
