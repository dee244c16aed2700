// Renders the sandbox's fake nodes: the labels, taints and allocatable
// resources a real EKS managed node group or AKS agent pool node carries
// (CLOUD-FACTS.md), annotated so kwok plays their lifecycle.

import { createHash } from "node:crypto";
import type { V1Node, V1Taint } from "@kubernetes/client-node";
import {
  GPU_CLIQUE_LABEL,
  GPU_RESOURCE,
  type InstanceType,
  instanceType,
  NEURON_RESOURCE,
  NEURONCORE_RESOURCE,
  ULTRASERVER_ID_LABEL,
} from "../../src/catalog/instance-types.ts";
import type { ClusterSpec, NodeGroupSpec } from "./topology.ts";

/** kwok manages the nodes that carry this annotation (kwok --manage-nodes-with-annotation-selector). */
export const KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node";
/** Labels the sandbox adds so its tools can find a group's nodes whatever the cloud. */
export const SANDBOX_GROUP_LABEL = "sandbox.crosscloud.dev/node-group";
/** Pods per node: the kubelet's default maxPods. */
const MAX_PODS = "110";

export function nodeName(cluster: ClusterSpec, group: NodeGroupSpec, index: number): string {
  if (cluster.cloud === "azure") {
    // AKS: aks-<pool>-<8 digits>-vmss<6 base-36 digits>
    return `aks-${group.name}-31415926-vmss${index.toString(36).padStart(6, "0")}`;
  }
  // EKS: the EC2 private DNS name of the node's IP.
  const groupIndex = cluster.nodeGroups.indexOf(group) + 1;
  return `ip-10-${groupIndex}-${Math.floor(index / 250)}-${(index % 250) + 4}.ec2.internal`;
}

function zone(cluster: ClusterSpec, index: number): string {
  return cluster.cloud === "azure" ? `${cluster.region}-${(index % 3) + 1}` : `${cluster.region}${"abc"[index % 3]}`;
}

function cloudLabels(cluster: ClusterSpec, group: NodeGroupSpec, type: InstanceType): Record<string, string> {
  const spot = group.capacityType === "Spot";
  if (cluster.cloud === "azure") {
    return {
      "kubernetes.azure.com/agentpool": group.name,
      "kubernetes.azure.com/mode": "user",
      "kubernetes.azure.com/scalesetpriority": spot ? "spot" : "regular",
      ...(type.deviceResource === GPU_RESOURCE ? { "kubernetes.azure.com/accelerator": "nvidia" } : {}),
    };
  }
  const capacityType = spot ? "SPOT" : group.capacityType === "Reserved" ? "CAPACITY_BLOCK" : "ON_DEMAND";
  return { "eks.amazonaws.com/nodegroup": group.name, "eks.amazonaws.com/capacityType": capacityType };
}

/** A stable hex digest of `parts`, `length` characters long. */
function hex(length: number, ...parts: string[]): string {
  return createHash("sha256").update(parts.join("/")).digest("hex").slice(0, length);
}

/**
 * The labels naming node `index`'s accelerator-fabric domain (domain floor(index / domainSize)), as the
 * real node agents set them (CLOUD-FACTS.md, "The newest training hardware"):
 * - GB200/GB300: GPU Feature Discovery's `nvidia.com/gpu.clique=<ClusterUUID>.<CliqueID>`, one clique
 *   per domain;
 * - trn2u: the Neuron device plugin's `ultraserver-mode` (4), `ultraserver-server-id-4` (the same on
 *   the UltraServer's 4 nodes) and `ultraserver-node-id-4` (0..3).
 */
export function domainLabels(
  cluster: ClusterSpec,
  group: NodeGroupSpec,
  type: InstanceType,
  index: number,
): Record<string, string> {
  const size = group.domainSize;
  if (!size || !type.domainLabel) return {};
  const domain = Math.floor(index / size);
  if (type.domainLabel === GPU_CLIQUE_LABEL) {
    const h = hex(32, cluster.name, group.name);
    const uuid = `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
    return { [GPU_CLIQUE_LABEL]: `${uuid}.${domain + 1}` };
  }
  if (type.domainLabel === ULTRASERVER_ID_LABEL) {
    return {
      "neuron.amazonaws.com/ultraserver-mode": "4",
      [ULTRASERVER_ID_LABEL]: hex(16, cluster.name, group.name, String(domain)),
      "neuron.amazonaws.com/ultraserver-node-id-4": String(index % size),
    };
  }
  return {};
}

function cloudTaints(cluster: ClusterSpec, group: NodeGroupSpec, type: InstanceType): V1Taint[] {
  if (cluster.cloud === "azure") {
    const taints: V1Taint[] = [{ key: "sku", value: "gpu", effect: "NoSchedule" }];
    if (group.capacityType === "Spot") {
      taints.push({ key: "kubernetes.azure.com/scalesetpriority", value: "spot", effect: "NoSchedule" });
    }
    return taints;
  }
  return type.deviceResource === NEURON_RESOURCE
    ? [{ key: NEURON_RESOURCE, effect: "NoSchedule" }]
    : [{ key: GPU_RESOURCE, value: "true", effect: "NoSchedule" }];
}

/** The node's capacity, which the sandbox also reports as allocatable. */
export function nodeResources(type: InstanceType): Record<string, string> {
  const resources: Record<string, string> = {
    cpu: String(type.vcpu),
    memory: `${type.memoryGiB}Gi`,
    pods: MAX_PODS,
    "ephemeral-storage": "1Ti",
    [type.deviceResource]: String(type.devices),
  };
  if (type.neuronCores !== undefined) resources[NEURONCORE_RESOURCE] = String(type.neuronCores);
  if (type.fabric) resources[type.fabric.resource] = String(type.fabric.count);
  return resources;
}

export function renderNode(cluster: ClusterSpec, group: NodeGroupSpec, index: number): V1Node {
  if (!cluster.cloud) throw new Error(`cluster ${cluster.name} is the hub and has no nodes`);
  const type = instanceType(group.instanceType);
  if (type.cloud !== cluster.cloud) {
    throw new Error(
      `node group ${cluster.name}/${group.name}: ${type.name} is an ${type.cloud} instance type, not ${cluster.cloud}`,
    );
  }
  const name = nodeName(cluster, group, index);
  const resources = nodeResources(type);
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name,
      annotations: { [KWOK_NODE_ANNOTATION]: "fake" },
      labels: {
        "kubernetes.io/arch": type.architecture,
        "kubernetes.io/os": "linux",
        "kubernetes.io/hostname": name,
        "node.kubernetes.io/instance-type": type.name,
        "topology.kubernetes.io/region": cluster.region,
        "topology.kubernetes.io/zone": zone(cluster, index),
        [SANDBOX_GROUP_LABEL]: group.name,
        ...cloudLabels(cluster, group, type),
        ...domainLabels(cluster, group, type, index),
      },
    },
    spec: { taints: cloudTaints(cluster, group, type) },
    status: { allocatable: resources, capacity: resources },
  };
}

/** Every node a cluster starts with. */
export function renderClusterNodes(cluster: ClusterSpec): V1Node[] {
  return cluster.nodeGroups.flatMap((g) => Array.from({ length: g.count }, (_, i) => renderNode(cluster, g, i)));
}
