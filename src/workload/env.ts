// The environment the trainer container gets (API.md, "Env given to the
// trainer container"): torchrun's PET_* and MASTER_* variables, the Neuron and
// EFA variables on Trainium, and the CROSSCLOUD_* variables of the placement.

import type { V1EnvVar } from "@kubernetes/client-node";
import type { InstanceType } from "../catalog/instance-types.ts";
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
}

/** Processes per node: one per GPU, or one per NeuronCore of the devices used. */
export function processesPerNode(instanceType: InstanceType, perReplica: number): number {
  if (instanceType.neuronCores === undefined) return perReplica;
  return (instanceType.neuronCores / instanceType.devices) * perReplica;
}

const value = (name: string, v: string | number): V1EnvVar => ({ name, value: String(v) });

export function trainerEnv(e: EnvInput): V1EnvVar[] {
  const nproc = processesPerNode(e.instanceType, e.perReplica);
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
    env.push(
      value("NEURON_RT_ROOT_COMM_ID", `${e.masterAddr}:${NEURON_ROOT_COMM_PORT}`),
      value("CCOM_SOCKET_IFNAME", "eth0"),
    );
    if (e.instanceType.fabric) {
      env.push(value("FI_PROVIDER", "efa"), value("FI_EFA_USE_DEVICE_RDMA", "1"), value("FI_EFA_FORK_SAFE", "1"));
    }
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

/** Keys of the resume ConfigMap. */
export const RESUME_STEP_KEY = "step";
export const RESUME_URI_KEY = "uri";
