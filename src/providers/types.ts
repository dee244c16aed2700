// The interface every cloud's node-group control plane sits behind (EKS
// managed node groups, AKS agent pools), after Karpenter's CloudProvider:
// few methods, named in domain terms, each with its contract.

import type { Cloud } from "../catalog/instance-types.ts";

/** Reserved: capacity already paid for (EKS Capacity Blocks). */
export type CapacityType = "OnDemand" | "Spot" | "Reserved";

/** A node group as the cloud describes it. */
export interface NodeGroup {
  readonly name: string;
  readonly instanceType: string;
  readonly capacityType: CapacityType;
  readonly minSize: number;
  readonly maxSize: number;
  /** The size the cloud is working towards. */
  readonly desiredSize: number;
  /** Active (steady), Updating (a change in flight), Failed or Other; `cloudStatus` has the cloud's own word. */
  readonly status: "Active" | "Updating" | "Failed" | "Other";
  readonly cloudStatus: string;
  /** A cluster autoscaler or Karpenter owns the size: scaleNodeGroup refuses it. */
  readonly autoscalerOwned: boolean;
  /** Health issues the cloud reports (EKS health.issues), as messages. */
  readonly issues: readonly string[];
}

/** A scale request in flight or finished; keep it (e.g. in status) to describe or wait on it later. */
export interface ScaleOperation {
  /** The cloud's id for it (EKS update id), or one the provider derives (AKS). */
  readonly id: string;
  readonly nodeGroup: string;
  readonly desiredSize: number;
  readonly status: "InProgress" | "Succeeded" | "Failed";
  /** Why it failed, when it did. */
  readonly message?: string;
}

/** How to reach the cluster's API server. */
export interface ClusterEndpoint {
  readonly name: string;
  readonly endpoint: string;
  /** The API server's CA bundle, base64 PEM (kubeconfig's certificate-authority-data). */
  readonly certificateAuthorityData: string;
  readonly kubernetesVersion: string;
  readonly status: string;
}

/**
 * What every method takes. Each method's requests have a deadline (RetryOptions.requestTimeoutMs,
 * env CLOUD_REQUEST_TIMEOUT_MS) and each method as a whole, retries included, has one too
 * (RetryOptions.callTimeoutMs, env CLOUD_CALL_TIMEOUT_MS): past it the method throws Timeout naming
 * the cluster, the call and the time. `signal` is the caller's (a reconcile's, the leader's): when it
 * fires, the request in flight is aborted, no retry starts, and the method throws Aborted.
 */
export interface CallOptions {
  readonly signal?: AbortSignal;
}

export interface WaitOptions extends CallOptions {
  /** Give up (ProviderError Timeout) after this long. Default 600000 (10 minutes). */
  readonly timeoutMs?: number;
  /** Time between polls. Default 5000. */
  readonly pollIntervalMs?: number;
}

/** One cloud's node-group control plane for one cluster. */
export interface NodeGroupProvider {
  readonly cloud: Cloud;

  /** Endpoint, CA and version of the cluster. NotFound when the cluster does not exist. */
  describeCluster(options?: CallOptions): Promise<ClusterEndpoint>;

  /** Every node group of the cluster, in name order. Throttling and 5xx are retried. */
  listNodeGroups(options?: CallOptions): Promise<NodeGroup[]>;

  /** One node group. NotFound when it does not exist. */
  getNodeGroup(name: string, options?: CallOptions): Promise<NodeGroup>;

  /**
   * Asks the cloud to make the group `desiredSize` nodes. Idempotent: the same
   * `clientToken` (derive it from the job's uid and epoch) never causes a second
   * change, also across operator restarts and retried calls; a group already at
   * `desiredSize` is not touched. Never past maxSize (ExceedsMaxSize) or below
   * minSize (Invalid); never on a group an autoscaler owns (AutoscalerOwned).
   * Throttling and 5xx are retried with backoff; other errors are thrown typed.
   */
  scaleNodeGroup(
    name: string,
    desiredSize: number,
    clientToken: string,
    options?: CallOptions,
  ): Promise<ScaleOperation>;

  /** The operation's current state. Restart-safe: needs only what scaleNodeGroup returned. */
  describeScaleOperation(operation: ScaleOperation, options?: CallOptions): Promise<ScaleOperation>;

  /**
   * Polls until the operation succeeds (returns it), fails (ScaleFailed), the
   * timeout passes (Timeout) or the signal fires (Aborted). Transient errors
   * while polling, and polls that got no answer within their deadline, are tolerated.
   */
  waitForScale(operation: ScaleOperation, options?: WaitOptions): Promise<ScaleOperation>;
}
