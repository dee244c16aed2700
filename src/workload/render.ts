// Renders the worker-side workload of one placement: an Indexed Job (one pod
// per node, rank = completion index), the headless Service that gives its
// pods stable DNS names, and on GB200/GB300 the ComputeDomain their NVLink
// needs (topology.ts). Pure: the same inputs give the same objects.

import type {
  V1ConfigMap,
  V1Container,
  V1EnvVar,
  V1Job,
  V1NodeAffinity,
  V1NodeSelectorRequirement,
  V1PodSpec,
  V1SecurityContext,
  V1Service,
  V1Volume,
} from "@kubernetes/client-node";
import { durationMs } from "../api/schema.ts";
import type { AcceleratorOption, TrainingJob } from "../api/trainingjob.ts";
import type { InstanceType } from "../catalog/instance-types.ts";
import { stepDir } from "../checkpoint/manifest.ts";
import {
  agentContainer,
  checkpointMount,
  checkpointVolume,
  DEFAULT_KEEP_LOCAL,
  missingImageMessage,
  trainerLocalEnv,
} from "./checkpoint-agent.ts";
import {
  fabricEnv,
  hasInfiniBand,
  MASTER_PORT,
  RESUME_DIR_KEY,
  RESUME_STEP_KEY,
  RESUME_URI_KEY,
  trainerEnv,
} from "./env.ts";
import { type JobRef, LABEL_EPOCH, LABEL_JOB_UID, workloadLabels, workloadName } from "./names.ts";
import { groupLabels, type NodeGroupTarget, nodeAffinityFor, nodeSelectorFor, tolerationsFor } from "./scheduling.ts";
import {
  type ComputeDomain,
  computeDomainClaim,
  type DomainTarget,
  domainPodAffinity,
  domainRequirement,
  isUltraServer,
  needsComputeDomain,
  renderComputeDomain,
  ULTRASERVER_GATE,
  ultraServerEnv,
  ultraServerRequirements,
  withChannelClaim,
  withPodAffinity,
} from "./topology.ts";

export const TRAINER_CONTAINER = "trainer";
const SHM_VOLUME = "crosscloud-dshm";

export interface RenderInput {
  readonly job: TrainingJob;
  readonly epoch: number;
  readonly option: AcceleratorOption;
  readonly target: NodeGroupTarget & { readonly cluster: string; readonly namespace: string };
  readonly checkpointUri: string;
  /** The step the pods resume from when the Job is created (the resume ConfigMap is kept newer later). */
  readonly resumeStep?: number;
  /**
   * The line the resume step is in, when it is another job's (spec.checkpoint.from); default
   * checkpointUri. The pods still write to checkpointUri.
   */
  readonly resumeUri?: string;
  /**
   * Env and a Secret (on the worker, for envFrom) that let the pods reach their checkpoint store: the
   * trainer's, or with spec.checkpoint.localDir the checkpoint-agent's only.
   */
  readonly store?: { readonly env: readonly V1EnvVar[]; readonly secretName?: string };
  /** The operator's own image (env OPERATOR_IMAGE): the checkpoint-agent's. Required with spec.checkpoint.localDir. */
  readonly operatorImage?: string;
  /** The cloud identity the pods run as (the ComputeCluster's spec.workloadIdentity). */
  readonly identity?: PodIdentity;
  /**
   * The domains (NVLink domains, Trn2 UltraServers) placement chose: status.placement.domainKey and
   * domains, with spec.placement.topology. Absent: domains play no part.
   */
  readonly domains?: DomainTarget;
}

/** Which ServiceAccount, and so which cloud identity, the pods run as. */
export interface PodIdentity {
  /** The ServiceAccount the platform team set up for the cloud's workload identity. */
  readonly serviceAccountName?: string;
  /** Keep the template's own serviceAccountName when it names one. Default false: it is replaced. */
  readonly allowTemplateServiceAccount?: boolean;
  /** Label the pods for Azure Workload Identity's webhook (AZURE_WORKLOAD_IDENTITY_LABEL). */
  readonly azureWorkloadIdentity?: boolean;
}

/** The pod label the Azure Workload Identity webhook requires before it injects the identity. */
export const AZURE_WORKLOAD_IDENTITY_LABEL = "azure.workload.identity/use";

/**
 * The pods' ServiceAccount: the template's when the ComputeCluster allows it and the template names
 * one, else the ComputeCluster's workload identity, else none (the namespace's default). The
 * deprecated alias serviceAccount is dropped with it.
 */
export function podServiceAccount(spec: V1PodSpec, identity: PodIdentity | undefined): { serviceAccountName?: string } {
  const own = spec.serviceAccountName ?? spec.serviceAccount;
  if (identity?.allowTemplateServiceAccount && own) return { serviceAccountName: own };
  return identity?.serviceAccountName ? { serviceAccountName: identity.serviceAccountName } : {};
}

/** Annotation on the worker Job: the step its pods were told to resume from. */
export const RESUME_STEP_ANNOTATION = "training.crosscloud.dev/resume-step";
/** Annotation on the worker Job: the line of that step, when it is another job's (spec.checkpoint.from). */
export const RESUME_URI_ANNOTATION = "training.crosscloud.dev/resume-uri";

export interface Workload {
  readonly job: V1Job;
  readonly service: V1Service;
  /** The step to resume from, read by the trainer's env when each container starts. */
  readonly resume: V1ConfigMap;
  /** GB200/GB300: the placement's ComputeDomain (resource.nvidia.com/v1beta1), named and labelled like the Job. */
  readonly computeDomain?: ComputeDomain;
}

/** The resume ConfigMap's name: <job>-e<epoch>-resume. */
export function resumeConfigMapName(workload: string): string {
  return `${workload}-resume`;
}

/**
 * The resume ConfigMap's data for `step` (empty: start from scratch); with `localDir`
 * (spec.checkpoint.localDir) also the directory the checkpoint-agent restores it into.
 */
export function resumeData(checkpointUri: string, step: number | undefined, localDir?: string): Record<string, string> {
  if (step === undefined) return {};
  return {
    [RESUME_STEP_KEY]: String(step),
    [RESUME_URI_KEY]: `${checkpointUri.replace(/\/+$/, "")}/${stepDir(step)}`,
    ...(localDir ? { [RESUME_DIR_KEY]: `${localDir}/${stepDir(step)}` } : {}),
  };
}

/** The pods' terminationGracePeriodSeconds: spec.terminationGracePeriod rounded up to whole seconds (default 300). */
export function gracePeriodSeconds(job: TrainingJob): number {
  const ms = durationMs(job.spec.terminationGracePeriod ?? "300s");
  return ms === undefined ? 300 : Math.max(1, Math.ceil(ms / 1000));
}

function jobRef(job: TrainingJob): JobRef {
  const { namespace, name, uid } = job.metadata;
  if (!namespace || !name || !uid)
    throw new Error("a TrainingJob read from the API server has a namespace, name and uid");
  return { namespace, name, uid };
}

/** The container that receives the devices and env: "trainer", or the only one. */
export function trainerIndex(containers: readonly V1Container[]): number {
  const named = containers.findIndex((c) => c.name === TRAINER_CONTAINER);
  if (named >= 0) return named;
  if (containers.length === 1) return 0;
  throw new Error('spec.template.spec.containers: with more than one container, one must be named "trainer"');
}

/** Devices and fabric interfaces of a whole node: one replica per node. */
function deviceResources(type: InstanceType, perReplica: number): Record<string, string> {
  const resources: Record<string, string> = { [type.deviceResource]: String(perReplica) };
  if (type.fabric) resources[type.fabric.resource] = String(type.fabric.count);
  return resources;
}

/** The capability RDMA needs: without it the container's locked-memory limit (`ulimit -l`) stays at 64 KiB. */
export const IPC_LOCK = "IPC_LOCK";

/**
 * The trainer's security context: the template's, plus the IPC_LOCK capability on InfiniBand
 * nodes (Azure's AKS InfiniBand guide adds it to every RDMA pod). Nothing else is added: no
 * privileged mode, no other capability, and a template's `drop: [ALL]` stays.
 */
function securityContextFor(c: V1Container, type: InstanceType): { securityContext?: V1SecurityContext } {
  if (!hasInfiniBand(type)) return {};
  const add = c.securityContext?.capabilities?.add ?? [];
  return {
    securityContext: {
      ...c.securityContext,
      capabilities: { ...c.securityContext?.capabilities, add: add.includes(IPC_LOCK) ? add : [...add, IPC_LOCK] },
    },
  };
}

/** The fabric's defaults first, less those the template or the option sets itself: theirs win. */
function defaultsNotSet(type: InstanceType, own: readonly V1EnvVar[]): V1EnvVar[] {
  const set = new Set(own.map((e) => e.name));
  return fabricEnv(type).filter((e) => !set.has(e.name));
}

function trainerContainer(
  c: V1Container,
  input: RenderInput,
  env: V1EnvVar[],
  resumeMap: string,
  computeDomain: boolean,
): V1Container {
  const type = input.target.instanceType;
  const devices = deviceResources(type, input.option.perReplica);
  const localDir = input.job.spec.checkpoint.localDir;
  // With localDir the store's env and credentials go to the checkpoint-agent only.
  const store = localDir ? undefined : input.store;
  const secret = store?.secretName;
  const local = localDir ? trainerLocalEnv(localDir, resumeMap) : [];
  const own = ownEnv(c, input);
  const mounts = localDir ? [checkpointMount(localDir)] : [];
  const trainer: V1Container = {
    ...c,
    image: input.option.image ?? c.image,
    env: [...defaultsNotSet(type, own), ...own, ...(store?.env ?? []), ...env, ...local],
    ...(secret ? { envFrom: [...(c.envFrom ?? []), { secretRef: { name: secret } }] } : {}),
    ...securityContextFor(c, type),
    resources: {
      ...c.resources,
      requests: { ...c.resources?.requests, ...devices },
      limits: { ...c.resources?.limits, ...devices },
    },
    volumeMounts: [...(c.volumeMounts ?? []), { name: SHM_VOLUME, mountPath: "/dev/shm" }, ...mounts],
  };
  return computeDomain ? withChannelClaim(trainer) : trainer;
}

/** The env the trainer container sets itself: the template's, then the accelerator option's. */
function ownEnv(c: V1Container, input: RenderInput): V1EnvVar[] {
  return [...(c.env ?? []), ...(input.option.env ?? [])];
}

/**
 * With spec.checkpoint.localDir: the checkpoint-agent sidecar, after the template's own init
 * containers, and its volume; nothing otherwise.
 */
function checkpointAgent(input: RenderInput, resumeMap: string): { sidecars: V1Container[]; volumes: V1Volume[] } {
  const { localDir, volume, keepLocal } = input.job.spec.checkpoint;
  if (!localDir) return { sidecars: [], volumes: [] };
  if (!input.operatorImage) throw new Error(missingImageMessage(localDir));
  const agent = agentContainer({
    image: input.operatorImage,
    localDir,
    keepLocal: keepLocal ?? DEFAULT_KEEP_LOCAL,
    replicas: input.job.spec.replicas,
    epoch: input.epoch,
    checkpointUri: input.checkpointUri,
    resumeConfigMap: resumeMap,
    ...(input.store ? { store: input.store } : {}),
  });
  return { sidecars: [agent], volumes: [checkpointVolume(volume)] };
}

/** The template's node selector without the group labels: the placement's group replaces them. */
function withoutGroupLabels(selector: Record<string, string> | undefined, t: NodeGroupTarget): Record<string, string> {
  const drop = new Set(groupLabels(t.cloud));
  return Object.fromEntries(Object.entries(selector ?? {}).filter(([k]) => !drop.has(k)));
}

/** What a node must be besides the group's: in the chosen domains (and on an UltraServer, in 4-node mode). */
function domainRequirements(input: RenderInput): V1NodeSelectorRequirement[] {
  const d = input.domains;
  if (!d || d.domains.length === 0) return [];
  const ultra = isUltraServer(input.target.instanceType, d) ? ultraServerRequirements() : [];
  return [domainRequirement(d), ...ultra];
}

function nodeAffinityOf(input: RenderInput, spec: V1PodSpec): { nodeAffinity?: V1NodeAffinity } {
  const nodeAffinity = nodeAffinityFor(input.target, spec.affinity?.nodeAffinity, domainRequirements(input));
  return nodeAffinity ? { nodeAffinity } : {};
}

function podSpec(input: RenderInput, name: string, labels: Record<string, string>): V1PodSpec {
  const spec = input.job.spec.template.spec ?? { containers: [] };
  const index = trainerIndex(spec.containers);
  const resumeMap = resumeConfigMapName(name);
  const trainer = spec.containers[index] as V1Container;
  const domains = input.domains && input.domains.domains.length > 0 ? input.domains : undefined;
  const ultra = isUltraServer(input.target.instanceType, domains) ? ultraServerEnv(domains) : [];
  const computeDomain = needsComputeDomain(input.target.instanceType);
  // The placement's own pods: what the hostname anti-affinity and the domain pod affinity select.
  const own = { [LABEL_JOB_UID]: labels[LABEL_JOB_UID] ?? "", [LABEL_EPOCH]: String(input.epoch) };
  const env = trainerEnv({
    replicas: input.job.spec.replicas,
    perReplica: input.option.perReplica,
    instanceType: input.target.instanceType,
    masterAddr: `${name}-0.${name}`,
    epoch: input.epoch,
    cloud: input.target.cloud,
    cluster: input.target.cluster,
    accelerator: input.option.type,
    checkpointUri: input.checkpointUri,
    resumeConfigMap: resumeMap,
    ownEnv: ownEnv(trainer, input),
  });
  env.push(...ultra);
  const shm: V1Volume = { name: SHM_VOLUME, emptyDir: { medium: "Memory" } };
  const agent = checkpointAgent(input, resumeMap);
  const { serviceAccountName: _own, serviceAccount: _alias, ...rest } = spec;
  const initContainers = [...(spec.initContainers ?? []), ...agent.sidecars];
  return {
    ...rest,
    ...podServiceAccount(spec, input.identity),
    restartPolicy: "Never",
    subdomain: name,
    terminationGracePeriodSeconds: gracePeriodSeconds(input.job),
    ...(initContainers.length > 0 ? { initContainers } : {}),
    containers: spec.containers.map((c, i) =>
      i === index ? trainerContainer(c, input, env, resumeMap, computeDomain) : c,
    ),
    ...(ultra.length > 0 ? { schedulingGates: [...(spec.schedulingGates ?? []), { name: ULTRASERVER_GATE }] } : {}),
    ...(computeDomain ? { resourceClaims: [...(spec.resourceClaims ?? []), computeDomainClaim(name)] } : {}),
    volumes: [...(spec.volumes ?? []), shm, ...agent.volumes],
    nodeSelector: { ...withoutGroupLabels(spec.nodeSelector, input.target), ...nodeSelectorFor(input.target) },
    tolerations: [...(spec.tolerations ?? []), ...tolerationsFor(input.target)],
    affinity: {
      ...spec.affinity,
      ...nodeAffinityOf(input, spec),
      ...(domains ? { podAffinity: withPodAffinity(spec.affinity?.podAffinity, domainPodAffinity(domains, own)) } : {}),
      podAntiAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: [
          { labelSelector: { matchLabels: own }, topologyKey: "kubernetes.io/hostname" },
        ],
      },
    },
  };
}

export function renderWorkload(input: RenderInput): Workload {
  const ref = jobRef(input.job);
  const name = workloadName(ref, input.epoch, input.target.namespace);
  const labels = workloadLabels(ref, input.epoch);
  const meta = { name, namespace: input.target.namespace, labels };
  const resume =
    input.resumeStep !== undefined
      ? {
          [RESUME_STEP_ANNOTATION]: String(input.resumeStep),
          ...(input.resumeUri ? { [RESUME_URI_ANNOTATION]: input.resumeUri } : {}),
        }
      : undefined;
  const template = input.job.spec.template;
  const identityLabels: Record<string, string> = input.identity?.azureWorkloadIdentity
    ? { [AZURE_WORKLOAD_IDENTITY_LABEL]: "true" }
    : {};
  const { replicas, runPolicy, suspend } = input.job.spec;
  const job: V1Job = {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: resume ? { ...meta, annotations: resume } : meta,
    spec: {
      completionMode: "Indexed",
      completions: replicas,
      parallelism: replicas,
      backoffLimit: runPolicy.backoffLimit,
      // A pod lost to a disruption (spot reclaim, node deleted, preemption, eviction) is not the
      // trainer's failure: it never counts against backoffLimit. The trainer's own exit still does.
      podFailurePolicy: {
        rules: [{ action: "Ignore", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] }],
      },
      suspend,
      template: {
        metadata: { ...template.metadata, labels: { ...template.metadata?.labels, ...identityLabels, ...labels } },
        spec: podSpec(input, name, labels),
      },
    },
  };
  const service: V1Service = {
    apiVersion: "v1",
    kind: "Service",
    metadata: meta,
    spec: {
      clusterIP: "None",
      publishNotReadyAddresses: true,
      selector: { [LABEL_JOB_UID]: ref.uid, [LABEL_EPOCH]: String(input.epoch) },
      ports: [{ name: "rendezvous", port: MASTER_PORT, targetPort: MASTER_PORT }],
    },
  };
  const resumeMap: V1ConfigMap = {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { ...meta, name: resumeConfigMapName(name) },
    data: resumeData(input.resumeUri ?? input.checkpointUri, input.resumeStep, input.job.spec.checkpoint.localDir),
  };
  const computeDomain = needsComputeDomain(input.target.instanceType)
    ? { computeDomain: renderComputeDomain(name, input.target.namespace, labels, replicas) }
    : {};
  return { job, service, resume: resumeMap, ...computeDomain };
}
