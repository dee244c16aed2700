// The AKS provider: agent pools through @azure/arm-containerservice 25.x
// (agentPools.list/get, createOrUpdate's poller, managedClusters.get), SDK
// errors translated. ARM has no client token: a PUT of an absolute `count`
// is idempotent by itself, and a pool already at the count is not touched.

import type { AgentPool, ContainerServiceClient } from "@azure/arm-containerservice";
import { codeFromStatus, ProviderError, type ProviderErrorCode } from "../errors.ts";
import { guardScale, NOOP_PREFIX, noopStatus } from "../guard.ts";
import {
  DEFAULT_CALL_TIMEOUT_MS,
  type RetryOptions,
  validateRetryOptions,
  withDeadline,
  withRetries,
} from "../retry.ts";
import type {
  CallOptions,
  ClusterEndpoint,
  NodeGroup,
  NodeGroupProvider,
  ScaleOperation,
  WaitOptions,
} from "../types.ts";
import { pollScale, type Sleep } from "../wait.ts";

/**
 * Tags on a manual (not autoscaled) agent pool that bound what the operator
 * may scale it to; AKS has min/max counts only for autoscaled pools.
 */
export const AKS_MIN_COUNT_TAG = "crosscloud.dev/min-count";
export const AKS_MAX_COUNT_TAG = "crosscloud.dev/max-count";

export interface AksProviderOptions {
  /** The SDK client; build it with `createAksClient` (SDK retries off: this provider retries). */
  readonly client: ContainerServiceClient;
  readonly resourceGroup: string;
  /** The managed cluster's name. */
  readonly clusterName: string;
  /** Max count of a manual pool without the max-count tag. Default 1000 (AKS's limit per VMSS pool). */
  readonly defaultMaxCount?: number;
  /** Backoff and deadlines of calls (each request, each call). Defaults: see RetryOptions. */
  readonly retry?: RetryOptions;
  /** Sleep between polls of waitForScale. Default: setTimeout. */
  readonly sleep?: Sleep;
}

const CAPACITY_CODES = new Set([
  "QuotaExceeded",
  "SkuNotAvailable",
  "AllocationFailed",
  "ZonalAllocationFailed",
  "OverconstrainedAllocationRequest",
]);

/** An SDK (RestError) error as a ProviderError (the adapter boundary). */
export function translateAksError(err: unknown, what: string): ProviderError {
  if (err instanceof ProviderError) return err;
  const e = err as { name?: string; message?: string; code?: string; statusCode?: number };
  if (e?.name === "AbortError") return new ProviderError("Aborted", `${what}: aborted`, { cause: err });
  const code: ProviderErrorCode = CAPACITY_CODES.has(e?.code ?? "")
    ? "InsufficientCapacity"
    : codeFromStatus(e?.statusCode, e?.code);
  const answer = e?.statusCode
    ? `HTTP ${e.statusCode}${e.code ? ` ${e.code}` : ""}`
    : (e?.code ?? e?.name ?? "an error");
  return new ProviderError(code, `${what}: ARM answered ${answer}: ${e?.message ?? String(err)}`, { cause: err });
}

function statusOf(s: string | undefined): NodeGroup["status"] {
  if (s === "Succeeded") return "Active";
  if (s === "Failed") return "Failed";
  if (s === "Updating" || s === "Scaling" || s === "Creating" || s === "Upgrading") return "Updating";
  return "Other";
}

const tagNumber = (pool: AgentPool, tag: string) => {
  const v = Number(pool.tags?.[tag]);
  return Number.isInteger(v) && v >= 0 ? v : undefined;
};

/** An agent pool in the provider's terms. */
export function nodeGroupFromAgentPool(pool: AgentPool, defaultMaxCount = 1000): NodeGroup {
  const auto = pool.enableAutoScaling === true;
  return {
    name: pool.name ?? "",
    instanceType: pool.vmSize ?? "",
    capacityType: pool.scaleSetPriority === "Spot" ? "Spot" : "OnDemand",
    minSize: (auto ? pool.minCount : undefined) ?? tagNumber(pool, AKS_MIN_COUNT_TAG) ?? 0,
    maxSize: (auto ? pool.maxCount : undefined) ?? tagNumber(pool, AKS_MAX_COUNT_TAG) ?? defaultMaxCount,
    desiredSize: pool.count ?? 0,
    status: statusOf(pool.provisioningState),
    cloudStatus: pool.provisioningState ?? "",
    autoscalerOwned: auto,
    issues: [],
  };
}

/** The AKS provider for one managed cluster. */
export class AksProvider implements NodeGroupProvider {
  readonly cloud = "azure" as const;
  readonly #o: AksProviderOptions;

  constructor(options: AksProviderOptions) {
    validateRetryOptions(options.retry ?? {});
    this.#o = options;
  }

  #call<T>(what: string, call: (signal: AbortSignal) => Promise<T>, options?: CallOptions): Promise<T> {
    const where = `AKS cluster ${this.#o.resourceGroup}/${this.#o.clusterName}: ${what}`;
    return withRetries(where, call, translateAksError, { ...this.#o.retry, signal: options?.signal });
  }

  /** A method of several calls, all within one call deadline. */
  #bounded<T>(what: string, options: CallOptions | undefined, body: (o: CallOptions) => Promise<T>): Promise<T> {
    const timeoutMs = this.#o.retry?.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    const where = `AKS cluster ${this.#o.resourceGroup}/${this.#o.clusterName}: ${what}`;
    return withDeadline(where, timeoutMs, options?.signal, (signal) => body({ signal }));
  }

  async describeCluster(options?: CallOptions): Promise<ClusterEndpoint> {
    const { client, resourceGroup, clusterName } = this.#o;
    const mc = await this.#call(
      "managedClusters.get",
      (abortSignal) => client.managedClusters.get(resourceGroup, clusterName, { abortSignal }),
      options,
    );
    return {
      name: clusterName,
      endpoint: mc.fqdn ? `https://${mc.fqdn}:443` : "",
      certificateAuthorityData: "", // AKS gives it inside the kubeconfig (listClusterUserCredentials), not here
      kubernetesVersion: mc.currentKubernetesVersion ?? mc.kubernetesVersion ?? "",
      status: mc.provisioningState ?? "",
    };
  }

  async listNodeGroups(options?: CallOptions): Promise<NodeGroup[]> {
    const { client, resourceGroup, clusterName } = this.#o;
    const pools = await this.#call(
      "agentPools.list",
      async (abortSignal) => {
        const all: AgentPool[] = [];
        for await (const p of client.agentPools.list(resourceGroup, clusterName, { abortSignal })) all.push(p);
        return all;
      },
      options,
    );
    return pools
      .map((p) => nodeGroupFromAgentPool(p, this.#o.defaultMaxCount))
      .sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  #getPool(name: string, options?: CallOptions): Promise<AgentPool> {
    const { client, resourceGroup, clusterName } = this.#o;
    return this.#call(
      `agentPools.get ${name}`,
      (abortSignal) => client.agentPools.get(resourceGroup, clusterName, name, { abortSignal }),
      options,
    );
  }

  async getNodeGroup(name: string, options?: CallOptions): Promise<NodeGroup> {
    return nodeGroupFromAgentPool(await this.#getPool(name, options), this.#o.defaultMaxCount);
  }

  scaleNodeGroup(name: string, desiredSize: number, clientToken: string, options?: CallOptions) {
    return this.#bounded(`scaling agent pool ${name} to ${desiredSize}`, options, (o) =>
      this.#scaleNodeGroup(name, desiredSize, clientToken, o),
    );
  }

  async #scaleNodeGroup(name: string, desiredSize: number, clientToken: string, options: CallOptions) {
    const pool = await this.#getPool(name, options);
    const noop = guardScale(this.#o.clusterName, nodeGroupFromAgentPool(pool, this.#o.defaultMaxCount), desiredSize);
    if (noop) return noop;
    const { client, resourceGroup, clusterName } = this.#o;
    await this.#call(
      `agentPools.createOrUpdate ${name} count=${desiredSize}`,
      (abortSignal) =>
        client.agentPools
          .createOrUpdate(resourceGroup, clusterName, name, { ...pool, count: desiredSize }, { abortSignal })
          .submitted(),
      options,
    );
    const op: ScaleOperation = {
      id: `${name}@${desiredSize}/${clientToken}`,
      nodeGroup: name,
      desiredSize,
      status: "InProgress",
    };
    return op;
  }

  async describeScaleOperation(op: ScaleOperation, options?: CallOptions): Promise<ScaleOperation> {
    const group = await this.getNodeGroup(op.nodeGroup, options);
    if (op.id.startsWith(NOOP_PREFIX) || group.desiredSize !== op.desiredSize) return noopStatus(op, group);
    if (group.status === "Failed")
      return { ...op, status: "Failed", message: `provisioningState ${group.cloudStatus}` };
    return { ...op, status: group.status === "Active" ? "Succeeded" : "InProgress" };
  }

  waitForScale(op: ScaleOperation, options: WaitOptions = {}): Promise<ScaleOperation> {
    return pollScale(op, (o, signal) => this.describeScaleOperation(o, { signal }), {
      ...options,
      ...(this.#o.sleep ? { sleep: this.#o.sleep } : {}),
    });
  }
}
