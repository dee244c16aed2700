// What a placement inside accelerator-fabric domains (spec.placement.topology;
// status.placement.domainKey and domains) adds to the pods, and the objects
// such hardware needs beside them (CLOUD-FACTS.md, "The newest training hardware"):
// - the domain: a required node affinity `<domainKey> In [domains]`, and a pod
//   affinity on topologyKey <domainKey> with the placement's own pods (required
//   with topology Required: all in one domain; preferred with Preferred);
// - GB200/GB300 (NVLink domains): a ComputeDomain (resource.nvidia.com/v1beta1,
//   the NVIDIA DRA driver's) per placement, whose channel claim gives every pod
//   the IMEX channel;
// - Trn2 UltraServers (trn2u.48xlarge): the Neuron runtime's
//   NEURON_RT_ULTRASERVER_* env, and the gate under which the operator pins
//   each pod to the node its NODE_ID names.
// Pure: the same inputs give the same objects.

import type {
  KubernetesObject,
  V1Container,
  V1EnvVar,
  V1NodeSelectorRequirement,
  V1Pod,
  V1PodAffinity,
  V1PodResourceClaim,
} from "@kubernetes/client-node";
import type { AcceleratorType, InstanceType } from "../catalog/instance-types.ts";
import { COMPLETION_INDEX_ANNOTATION } from "./names.ts";

/** Where a placement's replicas go among domains: status.placement.domainKey and domains, and spec.placement.topology. */
export interface DomainTarget {
  /** The node label naming a domain: nvidia.com/gpu.clique or neuron.amazonaws.com/ultraserver-server-id-4. */
  readonly key: string;
  /** The domains placement chose (values of `key`): one with Required, as few as hold the replicas with Preferred. */
  readonly domains: readonly string[];
  /** Required: every pod in one domain (a required pod affinity); Preferred: packed where it can be (preferred). */
  readonly topology: "Required" | "Preferred";
}

/** The node affinity requirement that keeps the pods on the chosen domains' nodes. */
export function domainRequirement(d: DomainTarget): V1NodeSelectorRequirement {
  return { key: d.key, operator: "In", values: [...d.domains] };
}

/**
 * The pod affinity with the placement's own pods (selected by `selector`, the labels every pod of the
 * placement carries) on topologyKey <domainKey>: required with topology Required, preferred (weight
 * 100) with Preferred. The first pod has none to meet: the scheduler lets a pod that matches its own
 * required affinity term start a domain.
 */
export function domainPodAffinity(d: DomainTarget, selector: Record<string, string>): V1PodAffinity {
  const term = { labelSelector: { matchLabels: selector }, topologyKey: d.key };
  return d.topology === "Required"
    ? { requiredDuringSchedulingIgnoredDuringExecution: [term] }
    : { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: term }] };
}

/** The template's own pod affinity with ours added: required terms all hold, preferred ones add up. */
export function withPodAffinity(own: V1PodAffinity | undefined, ours: V1PodAffinity): V1PodAffinity {
  const required = [
    ...(own?.requiredDuringSchedulingIgnoredDuringExecution ?? []),
    ...(ours.requiredDuringSchedulingIgnoredDuringExecution ?? []),
  ];
  const preferred = [
    ...(own?.preferredDuringSchedulingIgnoredDuringExecution ?? []),
    ...(ours.preferredDuringSchedulingIgnoredDuringExecution ?? []),
  ];
  return {
    ...(required.length > 0 ? { requiredDuringSchedulingIgnoredDuringExecution: required } : {}),
    ...(preferred.length > 0 ? { preferredDuringSchedulingIgnoredDuringExecution: preferred } : {}),
  };
}

// ComputeDomain (GB200/GB300 NVLink domains).

export const COMPUTE_DOMAIN_API_VERSION = "resource.nvidia.com/v1beta1";
export const COMPUTE_DOMAIN_KIND = "ComputeDomain";
/** The pods' resource claim (spec.resourceClaims[].name) on the ComputeDomain's channel, and the trainer's claim of it. */
export const COMPUTE_DOMAIN_CLAIM = "compute-domain-channel";

/** The accelerators whose multi-node NVLink (IMEX) needs a ComputeDomain: the Grace-Blackwell ones. */
const COMPUTE_DOMAIN_ACCELERATORS: ReadonlySet<AcceleratorType> = new Set(["nvidia-gb200", "nvidia-gb300"]);

export function needsComputeDomain(type: InstanceType): boolean {
  return COMPUTE_DOMAIN_ACCELERATORS.has(type.accelerator);
}

/** The ResourceClaimTemplate the NVIDIA DRA driver makes for a ComputeDomain: <name>-channel. */
export function channelTemplateName(computeDomain: string): string {
  return `${computeDomain}-channel`;
}

export interface ComputeDomain extends KubernetesObject {
  readonly spec: {
    readonly numNodes: number;
    readonly channel: { readonly resourceClaimTemplate: { readonly name: string } };
  };
}

/**
 * The placement's ComputeDomain, named like its Job (<job>-e<epoch>) and labelled like it, so it is
 * found and deleted with the workload (cleanup.ts, by the job's labels): one NVLink IMEX domain over
 * the placement's `replicas` nodes.
 */
export function renderComputeDomain(
  name: string,
  namespace: string,
  labels: Record<string, string>,
  replicas: number,
): ComputeDomain {
  return {
    apiVersion: COMPUTE_DOMAIN_API_VERSION,
    kind: COMPUTE_DOMAIN_KIND,
    metadata: { name, namespace, labels },
    spec: { numNodes: replicas, channel: { resourceClaimTemplate: { name: channelTemplateName(name) } } },
  };
}

/** The pod's claim on the ComputeDomain's channel (spec.resourceClaims). */
export function computeDomainClaim(computeDomain: string): V1PodResourceClaim {
  return { name: COMPUTE_DOMAIN_CLAIM, resourceClaimTemplateName: channelTemplateName(computeDomain) };
}

/** The trainer container with the channel claim added to its resources.claims. */
export function withChannelClaim(c: V1Container): V1Container {
  const claims = c.resources?.claims ?? [];
  if (claims.some((x) => x.name === COMPUTE_DOMAIN_CLAIM)) return c;
  return { ...c, resources: { ...c.resources, claims: [...claims, { name: COMPUTE_DOMAIN_CLAIM }] } };
}

// Trn2 UltraServers.

/** The Neuron device plugin's labels on trn2u nodes (CLOUD-FACTS.md, "Trn2 UltraServer env and labels"). */
export const ULTRASERVER_MODE_LABEL = "neuron.amazonaws.com/ultraserver-mode";
export const ULTRASERVER_NODE_ID_LABEL = "neuron.amazonaws.com/ultraserver-node-id-4";
/** The 4-node UltraServer (u-trn2x64): the mode the sandbox and the catalog's domainLabel (server-id-4) stand for. */
export const ULTRASERVER_MODE = 4;

/** True when the placement is inside Trn2 UltraServers: its domains are ultraserver-server-id-4 values. */
export function isUltraServer(type: InstanceType, d: DomainTarget | undefined): d is DomainTarget {
  return d !== undefined && d.domains.length > 0 && type.domainLabel === d.key && type.neuronCores !== undefined;
}

/**
 * The node requirements of an UltraServer placement besides the domain itself: nodes in 4-node mode.
 * (The domain requirement, server-id-4 In [domains], comes with every domain placement.)
 */
export function ultraServerRequirements(): V1NodeSelectorRequirement[] {
  return [{ key: ULTRASERVER_MODE_LABEL, operator: "In", values: [String(ULTRASERVER_MODE)] }];
}

/**
 * The scheduling gate on the pods of a placement in one UltraServer: the operator lifts it after pinning
 * the pod to its node (ultraServerPin), so no such pod is scheduled before it is pinned.
 */
export const ULTRASERVER_GATE = "training.crosscloud.dev/ultraserver-node";

/**
 * The Neuron runtime's UltraServer env, for a placement in one UltraServer (topology Required, or
 * Preferred that needed only one). Env cannot read node labels (the downward API gives a pod's own
 * fields only), so the values come from the placement and the pod:
 * - NEURON_RT_ULTRASERVER_MODE: 4 (the server-id-4/node-id-4 labels placement chose by);
 * - NEURON_RT_ULTRASERVER_SERVER_ID: the chosen domain; the node affinity pins the pods to its nodes;
 * - NEURON_RT_ULTRASERVER_NODE_ID: the replica's completion index (0..3, read through the downward
 *   API as PET_NODE_RANK is), which is also its node's node-id-4 label: the pods start gated
 *   (ULTRASERVER_GATE), and the operator adds `node-id-4: <index>` to each gated pod's nodeSelector
 *   (Kubernetes lets a gated pod's scheduling constraints be narrowed) as it lifts the gate.
 * Several UltraServers (Preferred): a pod's server is its node's, which env cannot read: no env, no gate.
 */
export function ultraServerEnv(d: DomainTarget): V1EnvVar[] {
  const [server] = d.domains;
  if (d.domains.length !== 1 || server === undefined) return [];
  return [
    { name: "NEURON_RT_ULTRASERVER_MODE", value: String(ULTRASERVER_MODE) },
    { name: "NEURON_RT_ULTRASERVER_SERVER_ID", value: server },
    {
      name: "NEURON_RT_ULTRASERVER_NODE_ID",
      valueFrom: { fieldRef: { fieldPath: `metadata.annotations['${COMPLETION_INDEX_ANNOTATION}']` } },
    },
  ];
}

/**
 * The strategic merge patch that pins a gated UltraServer pod to the node whose node-id-4 is its
 * completion index and removes ULTRASERVER_GATE (by its name: other gates stay), in one write;
 * undefined for a pod that does not carry the gate (pinned already, or not an UltraServer pod), is
 * being deleted, or has no completion index. Sent twice, it asks nothing new of the pod.
 */
export function ultraServerPin(pod: V1Pod): object | undefined {
  const gated = pod.spec?.schedulingGates?.some((g) => g.name === ULTRASERVER_GATE) ?? false;
  const index = pod.metadata?.annotations?.[COMPLETION_INDEX_ANNOTATION];
  if (!gated || pod.metadata?.deletionTimestamp || index === undefined || !/^\d+$/.test(index)) return undefined;
  return {
    spec: {
      nodeSelector: { [ULTRASERVER_NODE_ID_LABEL]: index },
      schedulingGates: [{ $patch: "delete", name: ULTRASERVER_GATE }],
    },
  };
}
