// Reconciles a ComputeCluster: connects to the worker with its kubeconfig,
// heartbeats its API server, lists its node groups through the cloud's API,
// and reports Reachable, CloudAPIReachable, Ready and capacity per node group
// in status. Runs again every heartbeat interval.

import {
  type CoreV1Api,
  type CustomObjectsApi,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from "@kubernetes/client-node";
import { GROUP, VERSION } from "../../api/common.ts";
import type { ComputeCluster, ComputeClusterStatus, NodeGroupStatus } from "../../api/computecluster.ts";
import { type Catalog, parsePriceOverrides } from "../../catalog/index.ts";
import { kubeconfigFor } from "../../clusters/kubeconfig.ts";
import type { ProviderRegistry } from "../../clusters/providers.ts";
import type { ClusterRegistry } from "../../clusters/registry.ts";
import type { Informer } from "../../runtime/informer.ts";
import type { Logger } from "../../runtime/logger.ts";
import { type ReconcileResult, Result } from "../../runtime/result.ts";
import { type Condition, type ConditionInput, setCondition } from "../conditions.ts";
import { nodeGroupsFrom } from "./capacity.ts";
import { type CloudListing, CloudNodeGroups, cloudCondition, lastKnownCloudGroups, mergeNodeGroups } from "./cloud.ts";
import { type CloudIdentity, withCloudIdentity } from "./identity.ts";

const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

export interface ComputeClusterReconcilerOptions {
  readonly hub: KubeConfig;
  readonly core: CoreV1Api;
  readonly custom: CustomObjectsApi;
  readonly clusters: Informer<ComputeCluster>;
  readonly registry: ClusterRegistry;
  readonly catalog: Catalog;
  readonly logger: Logger;
  /** The cloud API of each cluster (node group bounds). Absent: sizes come from the nodes only. */
  readonly providers?: ProviderRegistry;
  /** Cloud listings, shared so a scale request can invalidate them. Default: a cache of 5 s. */
  readonly cloudGroups?: CloudNodeGroups;
  /** Tokens for kubeconfigs without credentials (EKS/AKS identity). Absent: such kubeconfigs are used as they are. */
  readonly cloudIdentity?: CloudIdentity;
  /** How often the worker is contacted. Default 10 s. */
  readonly heartbeatMs?: number;
  readonly now?: () => Date;
}

interface Heartbeat {
  readonly reachable: ConditionInput;
  readonly version?: string;
}

export class ComputeClusterReconciler {
  readonly #o: ComputeClusterReconcilerOptions;
  readonly #cloud: CloudNodeGroups;

  constructor(options: ComputeClusterReconcilerOptions) {
    this.#o = options;
    this.#cloud = options.cloudGroups ?? new CloudNodeGroups();
  }

  get heartbeatMs(): number {
    return this.#o.heartbeatMs ?? 10_000;
  }

  async reconcile(name: string): Promise<ReconcileResult> {
    const cc = this.#o.clusters.get(undefined, name);
    if (!cc) {
      this.#o.registry.disconnect(name);
      this.#o.providers?.forget(name);
      return Result.done();
    }
    const now = (this.#o.now ?? (() => new Date()))();
    const [heartbeat, cloud] = await Promise.all([this.#heartbeat(cc), this.#listCloud(cc)]);
    const status = this.#status(cc, heartbeat, cloud, now);
    await this.#writeStatus(cc, status);
    return Result.requeueAfter(this.heartbeatMs);
  }

  /** The cloud's node groups; undefined when the cluster has no provider. */
  async #listCloud(cc: ComputeCluster): Promise<CloudListing | undefined> {
    const provider = this.#o.providers?.for(cc);
    if (!provider) return undefined;
    return this.#cloud.list(cc.metadata.name ?? "", provider);
  }

  async #heartbeat(cc: ComputeCluster): Promise<Heartbeat> {
    const name = cc.metadata.name ?? "";
    const source = await withCloudIdentity(
      await kubeconfigFor(cc, this.#o.hub, this.#o.core),
      cc,
      this.#o.cloudIdentity,
    );
    if (!source.ok) {
      this.#o.registry.disconnect(name);
      return { reachable: { type: "Reachable", status: "False", reason: source.reason, message: source.message } };
    }
    const worker = this.#o.registry.connect(name, source.kubeConfig, source.version);
    const started = Date.now();
    try {
      const version = await withTimeout(worker.versionApi.getCode(), 5_000);
      const ms = Date.now() - started;
      return {
        reachable: {
          type: "Reachable",
          status: "True",
          reason: "Heartbeat",
          message: `the API server answered in ${ms}ms`,
        },
        version: version.gitVersion,
      };
    } catch (err) {
      const message = `the API server at ${source.kubeConfig.getCurrentCluster()?.server} did not answer: ${errorText(err)}`;
      return { reachable: { type: "Reachable", status: "False", reason: "Unreachable", message } };
    }
  }

  #status(cc: ComputeCluster, hb: Heartbeat, cloud: CloudListing | undefined, now: Date): ComputeClusterStatus {
    const old = cc.status ?? {};
    const generation = cc.metadata.generation;
    const reachable = hb.reachable.status === "True";
    const cloudGroups = cloud?.ok ? cloud.groups : cloud ? lastKnownCloudGroups(old.nodeGroups) : undefined;
    const nodeGroups = reachable ? (this.#nodeGroups(cc, cloudGroups) ?? old.nodeGroups ?? []) : (old.nodeGroups ?? []);
    let conditions: Condition[] = setCondition(
      old.conditions as Condition[] | undefined,
      hb.reachable,
      generation,
      now,
    );
    conditions = setCondition(conditions, cloudCondition(cloud, cc.spec.cloud), generation, now);
    conditions = setCondition(conditions, readiness(cc, reachable, nodeGroups, hb.reachable.message), generation, now);
    return {
      ...old,
      observedGeneration: generation,
      conditions,
      nodeGroups,
      ...(reachable ? { lastHeartbeatTime: now.toISOString(), kubernetesVersion: hb.version } : {}),
    };
  }

  /** Capacity from the worker's nodes and pods, with the cloud's bounds; undefined until the informers have synced. */
  #nodeGroups(cc: ComputeCluster, cloud: Parameters<typeof mergeNodeGroups>[1]): NodeGroupStatus[] | undefined {
    const worker = this.#o.registry.get(cc.metadata.name ?? "");
    if (!worker?.nodes.synced || !worker.pods.synced) return undefined;
    const prices = parsePriceOverrides(cc.spec.prices);
    const overrides = prices.ok ? prices.value : undefined;
    const groups = nodeGroupsFrom(worker.nodes.list(), worker.pods.list(), this.#o.catalog, overrides);
    return mergeNodeGroups(groups, cloud, this.#o.catalog, overrides);
  }

  async #writeStatus(cc: ComputeCluster, status: ComputeClusterStatus): Promise<void> {
    // Only the operator writes this status, and every pass recomputes all of it: a merge patch without a
    // resourceVersion cannot lose anything, and does not conflict with the pass before it.
    await this.#o.custom.patchClusterCustomObjectStatus(
      { group: GROUP, version: VERSION, plural: "computeclusters", name: cc.metadata.name ?? "", body: { status } },
      mergePatch,
    );
  }
}

function readiness(
  cc: ComputeCluster,
  reachable: boolean,
  groups: readonly NodeGroupStatus[],
  why: string,
): ConditionInput {
  if (!reachable) return { type: "Ready", status: "False", reason: "Unreachable", message: why };
  const prices = parsePriceOverrides(cc.spec.prices);
  if (!prices.ok) return { type: "Ready", status: "False", reason: "InvalidPrices", message: prices.errors.join("; ") };
  if (groups.length === 0) {
    return {
      type: "Ready",
      status: "False",
      reason: "NoAcceleratorNodeGroups",
      message: "no node group with a known accelerator instance type (node.kubernetes.io/instance-type) was found",
    };
  }
  const nodes = groups.reduce((n, g) => n + (g.readyNodes ?? 0), 0);
  return {
    type: "Ready",
    status: "True",
    reason: "Ready",
    message: `${groups.length} node groups, ${nodes} nodes ready`,
  };
}

function errorText(err: unknown): string {
  const e = err as { message?: string; code?: string | number };
  return e.message ?? String(err);
}

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms / 1000}s`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
