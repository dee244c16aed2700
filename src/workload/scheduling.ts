// Where a replica may land on the worker: the node selector and node affinity
// that pin it to the chosen node group, and the tolerations its nodes' taints
// need (CLOUD-FACTS.md, "Node labels and taints"), for EKS managed node groups,
// Karpenter NodePools and AKS agent pools.

import type {
  V1NodeAffinity,
  V1NodeSelectorRequirement,
  V1NodeSelectorTerm,
  V1Toleration,
} from "@kubernetes/client-node";
import { type Cloud, GPU_RESOURCE, type InstanceType, NEURON_RESOURCE } from "../catalog/instance-types.ts";
import { LABELS } from "../catalog/node-labels.ts";

export interface NodeGroupTarget {
  readonly cloud: Cloud;
  readonly nodeGroup: string;
  readonly instanceType: InstanceType;
  readonly capacityType: "OnDemand" | "Spot" | "Reserved";
}

/** The node label with the node's CPU architecture (amd64, arm64). */
export const ARCH_LABEL = "kubernetes.io/arch";

/**
 * The node labels whose value is a group's name, in the order they are tried. On AWS a group's
 * nodes carry one of two: an EKS managed node group's nodes `eks.amazonaws.com/nodegroup`, a
 * Karpenter NodePool's nodes `karpenter.sh/nodepool` (and not the other). These are the labels
 * nodeFactsFromLabels reads the group from, so the pods are pinned to exactly the nodes the
 * ComputeCluster's capacity counted as that group. On Azure, the agent pool's label.
 */
export function groupLabels(cloud: Cloud): readonly string[] {
  return cloud === "aws" ? [LABELS.eksNodeGroup, LABELS.karpenterNodePool] : [LABELS.aksAgentPool];
}

/**
 * The node selector: the instance type and its CPU architecture (so an image built for one never lands
 * on the other's nodes, whatever a mixed group or a template says), and on Azure the agent pool. On
 * AWS the group is pinned by nodeAffinityFor instead, since a node selector cannot say "this label or
 * that one".
 */
export function nodeSelectorFor(t: NodeGroupTarget): Record<string, string> {
  const selector: Record<string, string> = {
    [LABELS.instanceType]: t.instanceType.name,
    [ARCH_LABEL]: t.instanceType.architecture,
  };
  const labels = groupLabels(t.cloud);
  if (labels.length === 1 && labels[0]) selector[labels[0]] = t.nodeGroup;
  return selector;
}

/**
 * The pod's node affinity: the template's own, with every required term ANDed with "the node's
 * group label is the group" (on AWS one term per group label, since terms are ORed) and with
 * `extra` (the placement's domains: domain label In [domains]). Karpenter provisions for the first
 * required term it can satisfy and drops the ones it cannot, so a pending pod of a NodePool still
 * gets a node from it. Azure pins the group with the node selector: without `extra` the template's
 * affinity is returned unchanged.
 */
export function nodeAffinityFor(
  t: NodeGroupTarget,
  own?: V1NodeAffinity,
  extra: readonly V1NodeSelectorRequirement[] = [],
): V1NodeAffinity | undefined {
  const labels = groupLabels(t.cloud);
  if (labels.length < 2 && extra.length === 0) return own;
  const groupTerms: V1NodeSelectorTerm[] =
    labels.length < 2
      ? [{}]
      : labels.map((key) => ({ matchExpressions: [{ key, operator: "In", values: [t.nodeGroup] }] }));
  const ours: V1NodeSelectorTerm[] = groupTerms.map((term) => ({
    matchExpressions: [...(term.matchExpressions ?? []), ...extra],
  }));
  const theirs = own?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  const terms = theirs.length === 0 ? ours : theirs.flatMap((term) => ours.map((o) => andTerms(term, o)));
  return { ...own, requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } };
}

/** A term that a node matches when it matches both `a` and `b`. */
function andTerms(a: V1NodeSelectorTerm, b: V1NodeSelectorTerm): V1NodeSelectorTerm {
  const term: V1NodeSelectorTerm = {
    matchExpressions: [...(a.matchExpressions ?? []), ...(b.matchExpressions ?? [])],
  };
  const fields = [...(a.matchFields ?? []), ...(b.matchFields ?? [])];
  return fields.length > 0 ? { ...term, matchFields: fields } : term;
}

export function tolerationsFor(t: NodeGroupTarget): V1Toleration[] {
  if (t.cloud === "azure") {
    const tolerations: V1Toleration[] = [{ key: "sku", operator: "Equal", value: "gpu", effect: "NoSchedule" }];
    if (t.capacityType === "Spot") {
      tolerations.push({
        key: "kubernetes.azure.com/scalesetpriority",
        operator: "Equal",
        value: "spot",
        effect: "NoSchedule",
      });
    }
    return tolerations;
  }
  const key = t.instanceType.deviceResource === NEURON_RESOURCE ? NEURON_RESOURCE : GPU_RESOURCE;
  return [{ key, operator: "Exists", effect: "NoSchedule" }];
}
