// Resizes a node group in a sandbox cluster: creates the kwok fake nodes a
// group lacks (renderNode, so they carry the real labels and taints) and
// deletes those past its new size.

import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { nodeName, renderNode, SANDBOX_GROUP_LABEL } from "../nodes.ts";
import type { ClusterSpec, NodeGroupSpec } from "../topology.ts";
import type { SimGroup } from "./state.ts";

export type KubeConfigFor = (cluster: string) => KubeConfig;

const apis = new WeakMap<KubeConfig, CoreV1Api>();
function api(kc: KubeConfig): CoreV1Api {
  let core = apis.get(kc);
  if (!core) {
    core = kc.makeApiClient(CoreV1Api);
    apis.set(kc, core);
  }
  return core;
}

/** Names of the group's nodes in the cluster now. */
export async function groupNodes(kc: KubeConfig, group: NodeGroupSpec): Promise<string[]> {
  const list = await api(kc).listNode({ labelSelector: `${SANDBOX_GROUP_LABEL}=${group.name}` });
  return list.items.map((n) => n.metadata?.name ?? "");
}

const ignore = (code: number) => (err: { code?: number }) => {
  if (err.code !== code) throw err;
};

/** Makes the group exactly `size` nodes: indexes 0..size-1 exist, others are deleted. */
export async function resizeNodes(
  kc: KubeConfig,
  cluster: ClusterSpec,
  group: NodeGroupSpec,
  size: number,
): Promise<void> {
  const core = api(kc);
  const want = new Set(Array.from({ length: size }, (_, i) => nodeName(cluster, group, i)));
  const have = new Set(await groupNodes(kc, group));
  const create = Array.from({ length: size }, (_, i) => i).filter((i) => !have.has(nodeName(cluster, group, i)));
  const remove = [...have].filter((n) => !want.has(n));
  await Promise.all([
    ...create.map((i) => core.createNode({ body: renderNode(cluster, group, i) }).catch(ignore(409))),
    ...remove.map((name) => core.deleteNode({ name }).catch(ignore(404))),
  ]);
}

/** The resize function of the simulator's state, for clusters reached through `kubeConfigFor`. */
export function kwokResize(kubeConfigFor: KubeConfigFor) {
  return (g: SimGroup, size: number) => resizeNodes(kubeConfigFor(g.cluster.name), g.cluster, g.spec, size);
}
