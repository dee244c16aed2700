// Reconciles a ComputeCluster: connects to the worker with its kubeconfig,
// heartbeats its API server, lists its node groups through the cloud's API,
// and reports Reachable, CloudAPIReachable, Ready (with Stalled while only a
// change of its spec can make it Ready) and capacity per node group in status. Runs again every heartbeat interval. A worker that does not
// answer costs one request deadline (the registry's), then shows as
// Reachable=False with the last time it was reached.

import { isDeepStrictEqual } from "node:util";
import { GROUP, VERSION } from "../../api/common.ts";
import type { ComputeCluster, ComputeClusterStatus, NodeGroupStatus } from "../../api/computecluster.ts";
import { CLUSTER_READY, CONDITION } from "../../api/conditions.ts";
import { type Catalog, parsePriceOverrides } from "../../catalog/index.ts";
import { kubeconfigFor } from "../../clusters/kubeconfig.ts";
import type { ProviderRegistry } from "../../clusters/providers.ts";
import type { ClusterRegistry, WorkerCluster } from "../../clusters/registry.ts";
import { SECRET_OUTSIDE_NAMESPACE, secretRefRefusal } from "../../clusters/secret-refs.ts";
import type { SecretReader } from "../../clusters/secrets.ts";
import { StoreSecrets } from "../../clusters/stores.ts";
import { type CustomObjectsApi, MERGE_PATCH } from "../../kube/apis.ts";
import type { KubeConfigView } from "../../kube/config.ts";
import { innermostMessage, NoAnswerError } from "../../runtime/deadline.ts";
import type { Informer } from "../../runtime/informer.ts";
import type { Logger } from "../../runtime/logger.ts";
import { type ReconcileResult, Result } from "../../runtime/result.ts";
import { type Condition, type ConditionInput, setCondition } from "../conditions.ts";
import { HEARTBEAT_STALE_MS } from "../trainingjob/place.ts";
import { nodeGroupsFrom } from "./capacity.ts";
import { type CloudListing, CloudNodeGroups, cloudCondition, lastKnownCloudGroups, mergeNodeGroups } from "./cloud.ts";
import { CloudCredentials, type CloudIdentity } from "./identity.ts";

/**
 * The rule for writing status: only when it differs by value from the status the hub holds, leaving
 * lastHeartbeatTime aside; and, while the worker answers, also when the lastHeartbeatTime written is
 * this old or older. Placement (src/controller/trainingjob/place.ts) distrusts a lastHeartbeatTime
 * older than HEARTBEAT_STALE_MS (60 s); refreshing at half that keeps a live cluster fresh with room
 * for a late heartbeat and the informer's lag, at one write per ~30 s instead of one per heartbeat.
 * While the worker does not answer, lastHeartbeatTime stays the last time it was reached. A
 * reconciler's first pass for a cluster (a new leader) always writes.
 */
export const HEARTBEAT_REFRESH_MS = HEARTBEAT_STALE_MS / 2;

export interface ComputeClusterReconcilerOptions {
  readonly hub: KubeConfigView;
  /** Reads the kubeconfig and store credential Secrets on the hub (the operator's Secret informer). */
  readonly secretReader: SecretReader;
  readonly custom: CustomObjectsApi;
  readonly clusters: Informer<ComputeCluster>;
  readonly registry: ClusterRegistry;
  readonly catalog: Catalog;
  readonly logger: Logger;
  /** The cloud API of each cluster (node group bounds). Absent: sizes come from the nodes only. */
  readonly providers?: ProviderRegistry;
  /** Cloud listings, shared so a scale request can invalidate them. Default: a cache of 5 s. */
  readonly cloudGroups?: CloudNodeGroups;
  /**
   * Tokens for kubeconfigs without credentials (EKS/AKS identity), read by each request from a holder
   * that a refresh updates in place. Absent: such kubeconfigs are used as they are.
   */
  readonly cloudIdentity?: CloudIdentity;
  /** How often the worker is contacted. Default 10 s. */
  readonly heartbeatMs?: number;
  /** The only namespace whose Secrets a ComputeCluster may name (the operator's). Absent: any. */
  readonly secretNamespace?: string;
  readonly now?: () => Date;
}

interface Heartbeat {
  readonly reachable: ConditionInput;
  readonly version?: string;
  /** While reachable: when the worker answered, if not just now (a request of another controller). */
  readonly answeredAt?: Date;
  /** While unreachable: when the worker last answered (what status.lastHeartbeatTime should say). */
  readonly lastReached?: Date;
}

export class ComputeClusterReconciler {
  readonly #o: ComputeClusterReconcilerOptions;
  readonly #cloud: CloudNodeGroups;
  /** Clusters whose status this reconciler has written (see HEARTBEAT_REFRESH_MS). */
  readonly #written = new Set<string>();
  readonly #secrets: StoreSecrets;
  readonly #credentials: CloudCredentials;

  constructor(options: ComputeClusterReconcilerOptions) {
    this.#o = options;
    this.#cloud = options.cloudGroups ?? new CloudNodeGroups();
    this.#secrets = new StoreSecrets(options.secretReader, options.secretNamespace);
    this.#credentials = new CloudCredentials(options.cloudIdentity);
  }

  get heartbeatMs(): number {
    return this.#o.heartbeatMs ?? 10_000;
  }

  async reconcile(name: string): Promise<ReconcileResult> {
    const cc = this.#o.clusters.get(undefined, name);
    if (!cc) {
      this.#written.delete(name);
      this.#o.registry.forget(name);
      this.#credentials.forget(name);
      this.#o.providers?.forget(name);
      return Result.done();
    }
    const now = (this.#o.now ?? (() => new Date()))();
    const [heartbeat, cloud, store] = await Promise.all([
      this.#heartbeat(cc, now),
      this.#listCloud(cc),
      this.#storeCondition(cc, now),
    ]);
    const status = this.#status(cc, heartbeat, cloud, store, now);
    if (!this.#written.has(name) || statusNeedsWrite(cc.status, status, now)) {
      await this.#writeStatus(cc, status);
      this.#written.add(name);
    }
    return Result.requeueAfter(this.heartbeatMs);
  }

  /** The cloud's node groups; undefined when the cluster has no provider. */
  async #listCloud(cc: ComputeCluster): Promise<CloudListing | undefined> {
    const provider = this.#o.providers?.for(cc);
    if (!provider) return undefined;
    return this.#cloud.list(cc.metadata.name ?? "", provider);
  }

  /** Asks the worker's API server for its version; bounded by the registry's request deadline. */
  async #heartbeat(cc: ComputeCluster, now: Date): Promise<Heartbeat> {
    const name = cc.metadata.name ?? "";
    const lastKnown = parseTime(cc.status?.lastHeartbeatTime);
    const source = await this.#credentials.apply(
      await kubeconfigFor(cc, this.#o.hub, this.#o.secretReader, this.#o.secretNamespace),
      cc,
    );
    if (!source.ok) {
      this.#o.registry.disconnect(name);
      this.#o.registry.markUnreachable(name, source.message, lastKnown);
      return { reachable: { type: "Reachable", status: "False", reason: source.reason, message: source.message } };
    }
    // A refreshed cloud token keeps the version (identity.ts): the connection and its caches stay.
    const worker = this.#o.registry.connect(name, source.kubeConfig, source.version);
    const server = source.kubeConfig.getCurrentCluster()?.server ?? "its API server";
    // A request the worker answered within the heartbeat interval (a launch, a pass capacity changes
    // woke) is the heartbeat: no probe of its own. A worker that stops answering fails those requests.
    const reach = this.#o.registry.reachability(name);
    const version = cc.status?.kubernetesVersion;
    const answeredAt = reach?.reachable ? reach.lastReached : undefined;
    if (version && answeredAt && now.getTime() - answeredAt.getTime() < this.heartbeatMs)
      return { reachable: answered(server), version, answeredAt };
    return this.#askVersion(worker, server, lastKnown);
  }

  /** The heartbeat proper; feeds the registry's reachability, seeded with the status's last heartbeat. */
  async #askVersion(worker: WorkerCluster, server: string, lastKnown: Date | undefined): Promise<Heartbeat> {
    const registry = this.#o.registry;
    try {
      const version = await worker.versionApi.getCode();
      registry.markReached(worker.name);
      return { reachable: answered(server), version: version.gitVersion };
    } catch (err) {
      registry.markUnreachable(worker.name, errorText(err), lastKnown);
      const lastReached = registry.reachability(worker.name)?.lastReached;
      const message = unreachableMessage(server, errorText(err), lastReached);
      return { reachable: { type: "Reachable", status: "False", reason: "Unreachable", message }, lastReached };
    }
  }

  /**
   * CheckpointStoreReady: whether the store's credentials Secret can be read (a read is reused a minute; a failure is tried again next pass). Its
   * trouble is this cluster's: jobs placed here are not launched and the others leave its store out of
   * replication; Ready (placement) is not changed by it.
   */
  async #storeCondition(cc: ComputeCluster, now: Date): Promise<ConditionInput> {
    const type = "CheckpointStoreReady";
    try {
      const credentials = await this.#secrets.of(cc, now);
      const message = credentials
        ? "the store's credentials Secret can be read"
        : "no credentials Secret: the operator and pods reach the store with their workload identity";
      return { type, status: "True", reason: credentials ? "CredentialsFound" : "WorkloadIdentity", message };
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      return {
        type,
        status: "False",
        reason: "CredentialsUnavailable",
        message: `${why}; until it is fixed, jobs placed here are not launched and other jobs leave this store out of replication`,
      };
    }
  }

  #status(
    cc: ComputeCluster,
    hb: Heartbeat,
    cloud: CloudListing | undefined,
    store: ConditionInput,
    now: Date,
  ): ComputeClusterStatus {
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
    conditions = setCondition(conditions, store, generation, now);
    const ready = readiness(cc, reachable, nodeGroups, hb.reachable.message, this.#o.secretNamespace);
    conditions = setCondition(conditions, ready, generation, now);
    conditions = withStalled(conditions, ready, generation, now);
    return {
      ...old,
      observedGeneration: generation,
      conditions,
      nodeGroups,
      ...(reachable ? { lastHeartbeatTime: (hb.answeredAt ?? now).toISOString(), kubernetesVersion: hb.version } : {}),
      ...(!reachable && hb.lastReached ? { lastHeartbeatTime: hb.lastReached.toISOString() } : {}),
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
      MERGE_PATCH,
    );
  }
}

/** Reachable=True: the worker's API server answered. */
function answered(server: string): ConditionInput {
  return { type: "Reachable", status: "True", reason: "Heartbeat", message: `the API server at ${server} answered` };
}

function readiness(
  cc: ComputeCluster,
  reachable: boolean,
  groups: readonly NodeGroupStatus[],
  why: string,
  secretNamespace: string | undefined,
): ConditionInput {
  if (!reachable) return { type: "Ready", status: "False", reason: CLUSTER_READY.Unreachable, message: why };
  // Its jobs could not reach their store: the operator does not read that Secret.
  const store = cc.spec.checkpointStore.credentialsSecretRef;
  const refused = secretRefRefusal("spec.checkpointStore.credentialsSecretRef", store, secretNamespace);
  if (refused) return { type: "Ready", status: "False", reason: SECRET_OUTSIDE_NAMESPACE, message: refused };
  const prices = parsePriceOverrides(cc.spec.prices);
  if (!prices.ok)
    return { type: "Ready", status: "False", reason: CLUSTER_READY.InvalidPrices, message: prices.errors.join("; ") };
  if (groups.length === 0) {
    return {
      type: "Ready",
      status: "False",
      reason: CLUSTER_READY.NoAcceleratorNodeGroups,
      message: "no node group with a known accelerator instance type (node.kubernetes.io/instance-type) was found",
    };
  }
  const nodes = groups.reduce((n, g) => n + (g.readyNodes ?? 0), 0);
  return {
    type: "Ready",
    status: "True",
    reason: CLUSTER_READY.Ready,
    message: `${groups.length} node groups, ${nodes} nodes ready`,
  };
}

/** Ready=False reasons that only a change of the ComputeCluster's spec clears. */
const STALLED_READY: ReadonlySet<string> = new Set([SECRET_OUTSIDE_NAMESPACE, CLUSTER_READY.InvalidPrices]);

/**
 * Stalled=True (kstatus: Failed) with Ready's reason and message while Ready is False for one of
 * STALLED_READY; absent otherwise, so an unreachable cluster or one without accelerator node groups
 * stays InProgress for kstatus (Ready=False) and Current once Ready.
 */
export function withStalled(
  conditions: Condition[],
  ready: ConditionInput,
  generation: number | undefined,
  now: Date,
): Condition[] {
  if (ready.status === "False" && STALLED_READY.has(ready.reason))
    return setCondition(conditions, { ...ready, type: CONDITION.Stalled, status: "True" }, generation, now);
  return conditions.some((c) => c.type === CONDITION.Stalled)
    ? conditions.filter((c) => c.type !== CONDITION.Stalled)
    : conditions;
}

/** The error's message, cut short: an API error's message carries the whole response. */
function errorText(err: unknown): string {
  const text = err instanceof NoAnswerError ? err.message : innermostMessage(err);
  return text.length > 300 ? `${text.slice(0, 300)}...` : text;
}

function parseTime(value: string | undefined): Date | undefined {
  const at = Date.parse(value ?? "");
  return Number.isFinite(at) ? new Date(at) : undefined;
}

/** Reachable=False's message: where, why, and since when (status.lastHeartbeatTime says the same time). */
export function unreachableMessage(server: string, error: string, lastReached: Date | undefined): string {
  const since = lastReached ? `last reached ${lastReached.toISOString()}` : "not reached since the operator started";
  return `no answer from ${server}: ${error}; ${since}`;
}

/** Whether `next` must be written over `old`, the status the hub holds (see HEARTBEAT_REFRESH_MS). */
export function statusNeedsWrite(
  old: ComputeClusterStatus | undefined,
  next: ComputeClusterStatus,
  now: Date,
): boolean {
  const { lastHeartbeatTime: oldBeat, ...oldRest } = old ?? {};
  const { lastHeartbeatTime: nextBeat, ...nextRest } = next;
  if (!isDeepStrictEqual(plain(oldRest), plain(nextRest))) return true;
  if (nextBeat === oldBeat) return false;
  const written = parseTime(oldBeat);
  if (!written) return true;
  const nextAt = parseTime(nextBeat);
  // A heartbeat time moving back (never while reachable) is written: status must not claim a later reach.
  if (!nextAt || nextAt.getTime() < written.getTime()) return true;
  return now.getTime() - written.getTime() >= HEARTBEAT_REFRESH_MS;
}

/** The value as JSON would carry it: no undefined fields, key order irrelevant to the comparison. */
function plain(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value ?? {}));
}
