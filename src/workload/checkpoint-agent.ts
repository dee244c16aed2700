// The checkpoint-agent sidecar of a job with spec.checkpoint.localDir: a
// native sidecar (an init container with restartPolicy Always) from the
// operator's own image that shares the local checkpoint volume with the
// trainer, restores the resume step before the trainer starts (its startup
// probe), and uploads and commits the steps the trainer saves. Pure renderers.

import type { V1Container, V1EnvFromSource, V1EnvVar, V1Volume, V1VolumeMount } from "@kubernetes/client-node";
import type { CheckpointVolumeSource } from "../api/trainingjob.ts";
import { RESUME_DIR_KEY, RESUME_STEP_KEY, RESUME_URI_KEY } from "./env.ts";
import { COMPLETION_INDEX_ANNOTATION } from "./names.ts";

export const CHECKPOINT_AGENT = "checkpoint-agent";
/** The volume shared by the trainer and the agent, mounted at localDir in both. */
export const CHECKPOINT_VOLUME = "checkpoint-local";
/** The agent's HTTP port (named "agent"): GET /started answers 200 once any restore is complete. */
export const AGENT_PORT = 8089;
export const AGENT_PORT_NAME = "agent";
export const AGENT_STARTED_PATH = "/started";
/** GET /healthz answers 200 while the agent's loop runs (after the startup probe passed). */
export const AGENT_HEALTH_PATH = "/healthz";
/** The agent runs the operator image's checkpoint CLI (Dockerfile: WORKDIR /app, node at /nodejs/bin/node). */
export const AGENT_COMMAND = ["/nodejs/bin/node", "dist/checkpoint/cli.js", "agent"] as const;
/** The distroless "nonroot" user the operator's image runs as. */
export const AGENT_USER = 65532;
export const DEFAULT_KEEP_LOCAL = 2;
/**
 * The startup probe's period and failures allowed: a restore may take this long (2 s x 43200 = 24 h)
 * before the kubelet restarts the agent. The trainer starts only once the probe passes.
 */
const STARTUP_PERIOD_SECONDS = 2;
const STARTUP_FAILURES = 43_200;
/** The liveness probe: an agent whose loop stopped for a minute is restarted by the kubelet. */
const LIVENESS_PERIOD_SECONDS = 10;
const LIVENESS_FAILURES = 6;

export interface AgentInput {
  /** The operator's image (env OPERATOR_IMAGE). */
  readonly image: string;
  /** spec.checkpoint.localDir. */
  readonly localDir: string;
  /** spec.checkpoint.keepLocal. */
  readonly keepLocal: number;
  /** The job's replica count: the agent of index 0 commits once every replica's part is uploaded. */
  readonly replicas: number;
  readonly epoch: number;
  /** Where this placement's steps go (CROSSCLOUD_CHECKPOINT_URI). */
  readonly checkpointUri: string;
  /** The resume ConfigMap: CROSSCLOUD_RESUME_STEP and CROSSCLOUD_RESUME_URI come from it, as for the trainer. */
  readonly resumeConfigMap: string;
  /** The store's env and credentials Secret (envFrom), which with localDir only the agent gets. */
  readonly store?: { readonly env: readonly V1EnvVar[]; readonly secretName?: string };
}

const value = (name: string, v: string | number): V1EnvVar => ({ name, value: String(v) });
const fromResume = (name: string, configMap: string, key: string): V1EnvVar => ({
  name,
  valueFrom: { configMapKeyRef: { name: configMap, key, optional: true } },
});

/** The local volume: spec.checkpoint.volume (default an emptyDir), named checkpoint-local. */
export function checkpointVolume(source: CheckpointVolumeSource | undefined): V1Volume {
  return { ...(source ?? { emptyDir: {} }), name: CHECKPOINT_VOLUME };
}

export function checkpointMount(localDir: string): V1VolumeMount {
  return { name: CHECKPOINT_VOLUME, mountPath: localDir };
}

/** The trainer's env with localDir: where to save, and (when resuming) the restored step's directory. */
export function trainerLocalEnv(localDir: string, resumeConfigMap: string): V1EnvVar[] {
  return [
    value("CROSSCLOUD_CHECKPOINT_DIR", localDir),
    fromResume("CROSSCLOUD_RESUME_DIR", resumeConfigMap, RESUME_DIR_KEY),
  ];
}

/** The agent's env: the placement, its rank among the replicas, retention and port, then the store's env. */
export function agentEnv(a: AgentInput): V1EnvVar[] {
  return [
    value("CROSSCLOUD_CHECKPOINT_DIR", a.localDir),
    value("CROSSCLOUD_CHECKPOINT_URI", a.checkpointUri.replace(/\/+$/, "")),
    value("CROSSCLOUD_EPOCH", a.epoch),
    fromResume("CROSSCLOUD_RESUME_STEP", a.resumeConfigMap, RESUME_STEP_KEY),
    fromResume("CROSSCLOUD_RESUME_URI", a.resumeConfigMap, RESUME_URI_KEY),
    value("CROSSCLOUD_REPLICAS", a.replicas),
    {
      name: "CROSSCLOUD_REPLICA_INDEX",
      valueFrom: { fieldRef: { fieldPath: `metadata.annotations['${COMPLETION_INDEX_ANNOTATION}']` } },
    },
    value("CROSSCLOUD_KEEP_LOCAL", a.keepLocal),
    value("CROSSCLOUD_AGENT_PORT", AGENT_PORT),
    ...(a.store?.env ?? []),
  ];
}

function envFrom(a: AgentInput): { envFrom?: V1EnvFromSource[] } {
  const secret = a.store?.secretName;
  return secret ? { envFrom: [{ secretRef: { name: secret } }] } : {};
}

/** The native sidecar: restricted security context, modest requests, started once its restore is done. */
export function agentContainer(a: AgentInput): V1Container {
  return {
    name: CHECKPOINT_AGENT,
    image: a.image,
    command: [...AGENT_COMMAND],
    restartPolicy: "Always",
    env: agentEnv(a),
    ...envFrom(a),
    ports: [{ name: AGENT_PORT_NAME, containerPort: AGENT_PORT, protocol: "TCP" }],
    startupProbe: {
      httpGet: { path: AGENT_STARTED_PATH, port: AGENT_PORT_NAME },
      periodSeconds: STARTUP_PERIOD_SECONDS,
      failureThreshold: STARTUP_FAILURES,
    },
    livenessProbe: {
      httpGet: { path: AGENT_HEALTH_PATH, port: AGENT_PORT_NAME },
      periodSeconds: LIVENESS_PERIOD_SECONDS,
      failureThreshold: LIVENESS_FAILURES,
    },
    resources: { requests: { cpu: "250m", memory: "512Mi" } },
    securityContext: {
      runAsNonRoot: true,
      runAsUser: AGENT_USER,
      runAsGroup: AGENT_USER,
      allowPrivilegeEscalation: false,
      privileged: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    },
    volumeMounts: [checkpointMount(a.localDir)],
  };
}

/** The error when a job needs the agent and the operator does not know its own image. */
export function missingImageMessage(localDir: string): string {
  return `spec.checkpoint.localDir (${localDir}) needs the checkpoint-agent sidecar, which runs the operator's own image, and the operator's env OPERATOR_IMAGE is not set: set OPERATOR_IMAGE on the operator's Deployment to its image (the Helm chart and deploy/operator do), or remove spec.checkpoint.localDir`;
}
