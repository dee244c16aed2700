// The EKS provider: managed node groups through @aws-sdk/client-eks
// (ListNodegroups, DescribeNodegroup, UpdateNodegroupConfig with a client
// request token, DescribeUpdate, DescribeCluster), SDK errors translated.

import {
  DescribeClusterCommand,
  DescribeNodegroupCommand,
  DescribeUpdateCommand,
  type EKSClient,
  ListNodegroupsCommand,
  type Nodegroup,
  type Update,
  UpdateNodegroupConfigCommand,
} from "@aws-sdk/client-eks";
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
 * The tag that marks a node group as owned by Cluster Autoscaler (its
 * auto-discovery tag); Karpenter does not use managed node groups.
 */
export const EKS_AUTOSCALER_TAG = "k8s.io/cluster-autoscaler/enabled";

export interface EksProviderOptions {
  /** The SDK client; build it with `createEksClient` (SDK retries off: this provider retries). */
  readonly client: EKSClient;
  /** The EKS cluster's name. */
  readonly clusterName: string;
  /** Backoff and deadlines of calls (each request, each call). Defaults: see RetryOptions. */
  readonly retry?: RetryOptions;
  /** Sleep between polls of waitForScale. Default: setTimeout. */
  readonly sleep?: Sleep;
}

const ERROR_CODES: Readonly<Record<string, ProviderErrorCode>> = {
  ThrottlingException: "Throttled",
  TooManyRequestsException: "Throttled",
  ResourceNotFoundException: "NotFound",
  NotFoundException: "NotFound",
  InvalidParameterException: "Invalid",
  InvalidRequestException: "Invalid",
  BadRequestException: "Invalid",
  ResourceInUseException: "Conflict",
  ResourceLimitExceededException: "InsufficientCapacity",
  ServerException: "Unavailable",
  ServiceUnavailableException: "Unavailable",
  TimeoutError: "Unavailable",
};

/** An SDK error as a ProviderError (the adapter boundary). */
export function translateEksError(err: unknown, what: string): ProviderError {
  if (err instanceof ProviderError) return err;
  const e = err as { name?: string; message?: string; code?: string; $metadata?: { httpStatusCode?: number } };
  if (e?.name === "AbortError") return new ProviderError("Aborted", `${what}: aborted`, { cause: err });
  const code = ERROR_CODES[e?.name ?? ""] ?? codeFromStatus(e?.$metadata?.httpStatusCode, e?.code);
  return new ProviderError(code, `${what}: EKS answered ${e?.name ?? "an error"}: ${e?.message ?? String(err)}`, {
    cause: err,
  });
}

function statusOf(s: string | undefined): NodeGroup["status"] {
  if (s === "ACTIVE") return "Active";
  if (s === "UPDATING" || s === "CREATING") return "Updating";
  if (s === "CREATE_FAILED" || s === "DEGRADED" || s === "DELETE_FAILED") return "Failed";
  return "Other";
}

/** A DescribeNodegroup answer in the provider's terms. */
export function nodeGroupFromEks(ng: Nodegroup): NodeGroup {
  const owned = (ng.tags?.[EKS_AUTOSCALER_TAG] ?? "").toLowerCase() === "true";
  return {
    name: ng.nodegroupName ?? "",
    instanceType: ng.instanceTypes?.[0] ?? "",
    capacityType: ng.capacityType === "SPOT" ? "Spot" : ng.capacityType === "CAPACITY_BLOCK" ? "Reserved" : "OnDemand",
    minSize: ng.scalingConfig?.minSize ?? 0,
    maxSize: ng.scalingConfig?.maxSize ?? 0,
    desiredSize: ng.scalingConfig?.desiredSize ?? 0,
    status: statusOf(ng.status),
    cloudStatus: ng.status ?? "",
    autoscalerOwned: owned,
    issues: (ng.health?.issues ?? []).map((i) => `${i.code}: ${i.message}`),
  };
}

function operationOf(update: Update | undefined, nodeGroup: string, desiredSize: number): ScaleOperation {
  const status =
    update?.status === "Successful" ? "Succeeded" : update?.status === "InProgress" ? "InProgress" : "Failed";
  const message = update?.errors?.map((e) => `${e.errorCode}: ${e.errorMessage}`).join("; ");
  return {
    id: update?.id ?? "",
    nodeGroup,
    desiredSize,
    status,
    ...(status === "Failed" ? { message: message || `update ended ${update?.status ?? "without a status"}` } : {}),
  };
}

/** The EKS provider for one cluster. */
export class EksProvider implements NodeGroupProvider {
  readonly cloud = "aws" as const;
  readonly #o: EksProviderOptions;

  constructor(options: EksProviderOptions) {
    validateRetryOptions(options.retry ?? {});
    this.#o = options;
  }

  #call<T>(what: string, call: (signal: AbortSignal) => Promise<T>, options?: CallOptions): Promise<T> {
    const where = `EKS cluster ${this.#o.clusterName}: ${what}`;
    return withRetries(where, call, translateEksError, { ...this.#o.retry, signal: options?.signal });
  }

  /** A method of several calls, all within one call deadline. */
  #bounded<T>(what: string, options: CallOptions | undefined, body: (o: CallOptions) => Promise<T>): Promise<T> {
    const timeoutMs = this.#o.retry?.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    return withDeadline(`EKS cluster ${this.#o.clusterName}: ${what}`, timeoutMs, options?.signal, (signal) =>
      body({ signal }),
    );
  }

  async describeCluster(options?: CallOptions): Promise<ClusterEndpoint> {
    const name = this.#o.clusterName;
    const out = await this.#call(
      "DescribeCluster",
      (abortSignal) => this.#o.client.send(new DescribeClusterCommand({ name }), { abortSignal }),
      options,
    );
    const c = out.cluster;
    return {
      name,
      endpoint: c?.endpoint ?? "",
      certificateAuthorityData: c?.certificateAuthority?.data ?? "",
      kubernetesVersion: c?.version ?? "",
      status: c?.status ?? "",
    };
  }

  listNodeGroups(options?: CallOptions): Promise<NodeGroup[]> {
    return this.#bounded("listing node groups", options, (o) => this.#listNodeGroups(o));
  }

  async #listNodeGroups(options: CallOptions): Promise<NodeGroup[]> {
    const names: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await this.#call(
        "ListNodegroups",
        (abortSignal) =>
          this.#o.client.send(new ListNodegroupsCommand({ clusterName: this.#o.clusterName, nextToken }), {
            abortSignal,
          }),
        options,
      );
      names.push(...(page.nodegroups ?? []));
      nextToken = page.nextToken;
    } while (nextToken);
    const groups = await Promise.all(names.map((n) => this.getNodeGroup(n, options)));
    return groups.sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  async getNodeGroup(name: string, options?: CallOptions): Promise<NodeGroup> {
    const out = await this.#call(
      `DescribeNodegroup ${name}`,
      (abortSignal) =>
        this.#o.client.send(new DescribeNodegroupCommand({ clusterName: this.#o.clusterName, nodegroupName: name }), {
          abortSignal,
        }),
      options,
    );
    if (!out.nodegroup)
      throw new ProviderError("NotFound", `EKS cluster ${this.#o.clusterName}: no node group ${name}`);
    return nodeGroupFromEks(out.nodegroup);
  }

  scaleNodeGroup(name: string, desiredSize: number, clientToken: string, options?: CallOptions) {
    return this.#bounded(`scaling node group ${name} to ${desiredSize}`, options, (o) =>
      this.#scaleNodeGroup(name, desiredSize, clientToken, o),
    );
  }

  async #scaleNodeGroup(name: string, desiredSize: number, clientToken: string, options: CallOptions) {
    const group = await this.getNodeGroup(name, options);
    const noop = guardScale(this.#o.clusterName, group, desiredSize);
    if (noop) return noop;
    const out = await this.#call(
      `UpdateNodegroupConfig ${name} desiredSize=${desiredSize}`,
      (abortSignal) =>
        this.#o.client.send(
          new UpdateNodegroupConfigCommand({
            clusterName: this.#o.clusterName,
            nodegroupName: name,
            scalingConfig: { minSize: group.minSize, maxSize: group.maxSize, desiredSize },
            clientRequestToken: clientToken,
          }),
          { abortSignal },
        ),
      options,
    );
    return operationOf(out.update, name, desiredSize);
  }

  async describeScaleOperation(op: ScaleOperation, options?: CallOptions): Promise<ScaleOperation> {
    if (op.id.startsWith(NOOP_PREFIX)) return noopStatus(op, await this.getNodeGroup(op.nodeGroup, options));
    const out = await this.#call(
      `DescribeUpdate ${op.id}`,
      (abortSignal) =>
        this.#o.client.send(
          new DescribeUpdateCommand({ name: this.#o.clusterName, updateId: op.id, nodegroupName: op.nodeGroup }),
          { abortSignal },
        ),
      options,
    );
    return operationOf(out.update, op.nodeGroup, op.desiredSize);
  }

  waitForScale(op: ScaleOperation, options: WaitOptions = {}): Promise<ScaleOperation> {
    return pollScale(op, (o, signal) => this.describeScaleOperation(o, { signal }), {
      ...options,
      ...(this.#o.sleep ? { sleep: this.#o.sleep } : {}),
    });
  }
}
