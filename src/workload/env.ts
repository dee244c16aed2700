// The environment the trainer container gets (API.md, "Env given to the
// trainer container"): torchrun's PET_* and MASTER_* variables, the Neuron
// variables on Trainium, the fabric's defaults (EFA for Neuron, NCCL over
// InfiniBand on Azure ND sizes), and the CROSSCLOUD_* variables of the placement.

import type { V1EnvVar } from "@kubernetes/client-node";
import {
  DEFAULT_LOGICAL_NC_CONFIG,
  INFINIBAND_RESOURCE,
  type InstanceType,
  LOGICAL_NC_CONFIGS,
} from "../catalog/instance-types.ts";
import { checkpointEnv } from "../checkpoint/placement.ts";
import { COMPLETION_INDEX_ANNOTATION } from "./names.ts";

export const MASTER_PORT = 29500;
/** Port of the Neuron runtime's root communicator on rank 0. */
export const NEURON_ROOT_COMM_PORT = 62182;

export interface EnvInput {
  readonly replicas: number;
  /** Devices per replica: Neuron devices or GPUs. */
  readonly perReplica: number;
  readonly instanceType: InstanceType;
  /** <job>-0.<service>: rank 0's stable DNS name. */
  readonly masterAddr: string;
  readonly epoch: number;
  readonly cloud: string;
  readonly cluster: string;
  readonly accelerator: string;
  readonly checkpointUri: string;
  /**
   * The ConfigMap on the worker that holds the step to resume from (keys `step` and `uri`, absent
   * on a fresh start). The operator keeps it at the newest usable step, and the kubelet reads it
   * when each container starts, so a retried pod resumes from the newest step, not the first one.
   */
  readonly resumeConfigMap: string;
  /**
   * The env the trainer container sets itself: the template container's env, then the chosen
   * accelerator option's env (spec.accelerators[].env), later entries winning as in a pod. Read for
   * `NEURON_LOGICAL_NC_CONFIG`, which sets the processes per Trainium2 node. Default: none.
   */
  readonly ownEnv?: readonly V1EnvVar[];
}

/** The variable that makes the Neuron runtime group physical NeuronCores into logical ones. */
export const LOGICAL_NC_CONFIG_ENV = "NEURON_LOGICAL_NC_CONFIG";

/**
 * Physical NeuronCores per logical core on `instanceType`: the value of `NEURON_LOGICAL_NC_CONFIG`
 * in `ownEnv` (the last one, as in a pod) when it is one the accelerator takes, else the
 * accelerator's default (2 on Trainium2); 1 where the accelerator has no such setting (Trainium1)
 * or the type is not Trainium. A value from valueFrom is not known here: the default is used.
 */
export function logicalCoreConfig(instanceType: InstanceType, ownEnv: readonly V1EnvVar[] = []): number {
  const fallback = DEFAULT_LOGICAL_NC_CONFIG[instanceType.accelerator];
  if (instanceType.neuronCores === undefined || fallback === undefined) return 1;
  const set = ownEnv.findLast((e) => e.name === LOGICAL_NC_CONFIG_ENV)?.value;
  const n = Number(set?.trim());
  return set !== undefined && LOGICAL_NC_CONFIGS.includes(n) ? n : fallback;
}

/**
 * Processes per node: one per GPU, or on Trainium one per logical NeuronCore of the devices used
 * (physical cores per device times devices, divided by `logicalCoreConfig`): trn1.32xlarge 32,
 * trn2.48xlarge 64 (128 with `NEURON_LOGICAL_NC_CONFIG=1` in `ownEnv`).
 */
export function processesPerNode(
  instanceType: InstanceType,
  perReplica: number,
  ownEnv: readonly V1EnvVar[] = [],
): number {
  if (instanceType.neuronCores === undefined) return perReplica;
  const physical = (instanceType.neuronCores / instanceType.devices) * perReplica;
  return Math.max(1, Math.floor(physical / logicalCoreConfig(instanceType, ownEnv)));
}

const value = (name: string, v: string | number): V1EnvVar => ({ name, value: String(v) });

export function trainerEnv(e: EnvInput): V1EnvVar[] {
  const nproc = processesPerNode(e.instanceType, e.perReplica, e.ownEnv);
  const env: V1EnvVar[] = [
    value("MASTER_ADDR", e.masterAddr),
    value("MASTER_PORT", MASTER_PORT),
    value("WORLD_SIZE", e.replicas * nproc),
    value("PET_NNODES", e.replicas),
    value("PET_NPROC_PER_NODE", nproc),
    {
      name: "PET_NODE_RANK",
      valueFrom: { fieldRef: { fieldPath: `metadata.annotations['${COMPLETION_INDEX_ANNOTATION}']` } },
    },
    value("PET_MASTER_ADDR", e.masterAddr),
    value("PET_MASTER_PORT", MASTER_PORT),
  ];
  if (e.instanceType.neuronCores !== undefined) {
    env.push(value("NEURON_RT_ROOT_COMM_ID", `${e.masterAddr}:${NEURON_ROOT_COMM_PORT}`));
  }
  const [uri, ...placement] = checkpointEnv({
    checkpointUri: e.checkpointUri,
    epoch: e.epoch,
    cloud: e.cloud,
    cluster: e.cluster,
    accelerator: e.accelerator,
  });
  const fromResume = (name: string, key: string): V1EnvVar => ({
    name,
    valueFrom: { configMapKeyRef: { name: e.resumeConfigMap, key, optional: true } },
  });
  env.push(
    ...(uri ? [uri] : []),
    fromResume("CROSSCLOUD_RESUME_STEP", RESUME_STEP_KEY),
    fromResume("CROSSCLOUD_RESUME_URI", RESUME_URI_KEY),
    ...placement,
  );
  return env;
}

/** True for instance types whose fabric is InfiniBand (`rdma/ib`): the Azure ND sizes. */
export function hasInfiniBand(type: InstanceType): boolean {
  return type.fabric?.resource === INFINIBAND_RESOURCE;
}

/**
 * Defaults for the node's fabric, which the template's or the option's env overrides by name:
 * - Trainium: `CCOM_SOCKET_IFNAME=eth0`, and with EFA `FI_PROVIDER=efa`, `FI_EFA_USE_DEVICE_RDMA=1`,
 *   `FI_EFA_FORK_SAFE=1` (CLOUD-FACTS.md, "Distributed-training environment").
 * - InfiniBand (Azure ND sizes): `NCCL_IB_DISABLE=0` (NCCL uses InfiniBand) and
 *   `NCCL_NET_GDR_LEVEL=SYS` (GPUDirect RDMA between every GPU and NIC), the values the NCCL tests of
 *   Azure's AKS InfiniBand guide (github.com/Azure/aks-rdma-infiniband) run with.
 */
export function fabricEnv(type: InstanceType): V1EnvVar[] {
  if (type.neuronCores !== undefined) {
    const efa = type.fabric
      ? [value("FI_PROVIDER", "efa"), value("FI_EFA_USE_DEVICE_RDMA", "1"), value("FI_EFA_FORK_SAFE", "1")]
      : [];
    return [value("CCOM_SOCKET_IFNAME", "eth0"), ...efa];
  }
  if (hasInfiniBand(type)) return [value("NCCL_IB_DISABLE", "0"), value("NCCL_NET_GDR_LEVEL", "SYS")];
  return [];
}

/** Keys of the resume ConfigMap. */
export const RESUME_STEP_KEY = "step";
export const RESUME_URI_KEY = "uri";
/** With spec.checkpoint.localDir: <localDir>/step-<N>, where the checkpoint-agent restores the step (CROSSCLOUD_RESUME_DIR). */
export const RESUME_DIR_KEY = "dir";
