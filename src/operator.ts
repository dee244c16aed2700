// The operator as one object: the hub's informers, the worker registry, and
// the TrainingJob and ComputeCluster controllers wired to each other's events.
// `run` works while the given signal lives (while this replica leads); the
// signal is the fence of every hub and worker client, so once it aborts no
// request is sent and those in flight are aborted.

import type { CoreV1Event, V1Secret } from "@kubernetes/client-node";
import { GROUP, VERSION } from "./api/common.ts";
import type { ComputeCluster } from "./api/computecluster.ts";
import { TRAINING_JOB_PHASES, type TrainingJob } from "./api/trainingjob.ts";
import type { Catalog } from "./catalog/index.ts";
import { replicationMetrics } from "./checkpoint/metrics.ts";
import type { CloudTokens } from "./clusters/cloud-auth.ts";
import type { ProviderRegistry } from "./clusters/providers.ts";
import { ClusterRegistry } from "./clusters/registry.ts";
import { DEFAULT_OPERATOR_NAMESPACE } from "./clusters/secret-refs.ts";
import { CachedSecrets } from "./clusters/secrets.ts";
import { ClusterChanges } from "./controller/cluster-changes.ts";
import { CloudNodeGroups } from "./controller/computecluster/cloud.ts";
import { ComputeClusterReconciler } from "./controller/computecluster/reconciler.ts";
import { isTrue } from "./controller/conditions.ts";
import { EventRecorder } from "./controller/events.ts";
import { CheckpointSync } from "./controller/trainingjob/checkpoints.ts";
import { keyOf } from "./controller/trainingjob/context.ts";
import { failoverMetrics, jobMetrics } from "./controller/trainingjob/failover-metrics.ts";
import { clusterAnswers } from "./controller/trainingjob/failover-trigger.ts";
import { collectOrphans } from "./controller/trainingjob/fence.ts";
import { TrainingJobReconciler } from "./controller/trainingjob/reconciler.ts";
import { CoreV1Api, CustomObjectsApi } from "./kube/apis.ts";
import { KubeClient } from "./kube/client.ts";
import type { KubeConfigView } from "./kube/config.ts";
import { kueueMetrics } from "./kueue/metrics.ts";
import { KueueWorkloads } from "./kueue/workloads.ts";
import { Controller } from "./runtime/controller.ts";
import { Informer } from "./runtime/informer.ts";
import type { Logger } from "./runtime/logger.ts";
import type { ClusterState, PhaseCount, RuntimeMetrics } from "./runtime/metrics.ts";
import { Result } from "./runtime/result.ts";
import { LABEL_JOB_UID, trainingJobKeyOf } from "./workload/names.ts";

export interface OperatorOptions {
  readonly hub: KubeConfigView;
  readonly catalog: Catalog;
  readonly logger: Logger;
  readonly metrics: RuntimeMetrics;
  /** Who records events (the replica's identity). */
  readonly identity: string;
  /** Concurrent TrainingJob reconciles. Default 8. */
  readonly workers?: number;
  /** ComputeCluster heartbeat interval. Default 10 s. */
  readonly heartbeatMs?: number;
  /** The clouds' node-group APIs (list, scale). Absent: sizes come from the nodes, nothing is scaled. */
  readonly providers?: ProviderRegistry;
  /** EKS/AKS tokens for worker kubeconfigs whose user has no credentials. */
  readonly cloudIdentity?: CloudTokens;
  /** Nodes not there this long after a scale-up request: the job's next option is tried. Default 10 min. */
  readonly scaleUpTimeoutMs?: number;
  /** How often an active job's stores are scanned and replicated. Default 10 s. */
  readonly checkpointIntervalMs?: number;
  /** How long a job Kueue admitted may stay without a placement before its quota is given back. Default 2 min. */
  readonly kueueUnplacedMs?: number;
  /** The deadline of every call to a worker cluster's API server. Default 10 s. */
  readonly workerRequestTimeoutMs?: number;
  /** The operator's namespace: the only one whose Secrets a ComputeCluster may name. Default crosscloud-system. */
  readonly namespace?: string;
  /** The deadline of every request to the hub, watches aside (they have their own timeout). Default 30 s. */
  readonly hubRequestTimeoutMs?: number;
  /** The operator's own image (env OPERATOR_IMAGE), run by the checkpoint-agent sidecar. Absent: jobs with spec.checkpoint.localDir are not launched. */
  readonly operatorImage?: string;
}

/** The index of the hub's TrainingJobs by uid. */
const BY_UID = "uid";

/** How long a job's worker pod events are gathered before its pass (see the registry's onChange). */
const POD_EVENT_BATCH_MS = 1_000;

/** The deadline of one request to the hub, unless HUB_REQUEST_TIMEOUT_MS says otherwise. */
const HUB_REQUEST_TIMEOUT_MS = 30_000;

export class Operator {
  readonly #o: OperatorOptions;
  #synced = false;
  /** The controllers of the current run(). */
  #controllers: readonly Controller[] = [];

  constructor(options: OperatorOptions) {
    const hubMs = options.hubRequestTimeoutMs;
    if (hubMs !== undefined && !(Number.isInteger(hubMs) && hubMs > 0)) {
      throw new Error(
        `HUB_REQUEST_TIMEOUT_MS must be a whole number of milliseconds > 0, got ${hubMs}; unset it for the default (30000)`,
      );
    }
    this.#o = options;
  }

  /** True once the hub's informers have synced. */
  get synced(): boolean {
    return this.#synced;
  }

  /** Why a controller makes no progress (a reconcile running with none finished for `thresholdMs`); undefined when all do. */
  stalled(thresholdMs: number): string | undefined {
    const reasons = this.#controllers.map((c) => c.stalled(thresholdMs)).filter((r) => r !== undefined);
    return reasons.length > 0 ? reasons.join("; ") : undefined;
  }

  async run(signal: AbortSignal): Promise<void> {
    const { hub, logger, metrics } = this.#o;
    const client = new KubeClient(hub, {
      target: "the hub",
      timeoutMs: this.#o.hubRequestTimeoutMs ?? HUB_REQUEST_TIMEOUT_MS,
      fence: signal,
      requests: { counter: metrics.apiRequests, cluster: "hub" },
    });
    signal.addEventListener("abort", () => client.close(), { once: true });
    const custom = new CustomObjectsApi(client);
    const core = new CoreV1Api(client);
    const jobs = new Informer<TrainingJob>({
      client,
      name: "hub/trainingjobs",
      path: `/apis/${GROUP}/${VERSION}/trainingjobs`,
      indexes: { [BY_UID]: (j: TrainingJob) => j.metadata.uid },
      logger,
    });
    const clusters = new Informer<ComputeCluster>({
      client,
      name: "hub/computeclusters",
      path: `/apis/${GROUP}/${VERSION}/computeclusters`,
      logger,
    });
    const secretNamespace = this.#o.namespace ?? DEFAULT_OPERATOR_NAMESPACE;
    // The Secrets ComputeClusters name live in the operator's namespace (secret-refs.ts): watched, not read per pass.
    const secrets = new Informer<V1Secret>({
      client,
      name: "hub/secrets",
      path: `/api/v1/namespaces/${secretNamespace}/secrets`,
      logger,
    });
    const secretReader = new CachedSecrets(secrets, secretNamespace, core);
    let tjController: Controller | undefined;
    let ccController: Controller | undefined;
    let orphanController: Controller | undefined;
    const registry = new ClusterRegistry({
      logger,
      ...(this.#o.workerRequestTimeoutMs !== undefined ? { requestTimeoutMs: this.#o.workerRequestTimeoutMs } : {}),
      apiRequests: metrics.apiRequests,
      fence: signal,
      onChange: (cluster, kind, obj) => {
        if (kind === "failedCreate") {
          // The Job controller cannot create a Job's pods: its TrainingJob says why (WorkloadBlocked).
          const about = (obj as CoreV1Event).involvedObject;
          const workerJob = registry.get(cluster)?.jobs.get(about?.namespace, about?.name ?? "");
          const key = trainingJobKeyOf(workerJob?.metadata?.labels);
          if (key) tjController?.enqueue(key);
          return;
        }
        const key = trainingJobKeyOf(obj.metadata?.labels);
        // A Job's status (its ready and finished counts) is what a pass reports: at once. Its pods'
        // changes come in bursts (created, scheduled, started, ready, for every replica): gathered for
        // POD_EVENT_BATCH_MS into one pass, as the Job controller gathers them (syncJobBatchPeriod).
        if (key && kind === "managedPod") tjController?.enqueueAfter(key, POD_EVENT_BATCH_MS);
        else if (key && kind === "job") tjController?.enqueue(key);
        // A workload whose TrainingJob is gone (deleted while its cluster was lost) is an orphan.
        const uid = obj.metadata?.labels?.[LABEL_JOB_UID];
        if (kind === "job" && uid && jobs.byIndex(BY_UID, uid).length === 0) orphanController?.enqueue(cluster);
        // Capacity (unfinished pods, nodes) changed: the cluster's status is brought up to date soon.
        if (kind === "pod" || kind === "node") ccController?.enqueueAfter(cluster, 1_000);
      },
    });
    const events = new EventRecorder(core, logger, "crosscloud-operator", this.#o.identity);
    // Listings in flight are aborted when this replica stops leading.
    const cloudGroups = new CloudNodeGroups({ signal });
    const checkpoints = new CheckpointSync({
      logger,
      metrics: replicationMetrics(metrics.registry),
      onResult: (key) => tjController?.enqueue(key),
      ...(this.#o.checkpointIntervalMs !== undefined ? { intervalMs: this.#o.checkpointIntervalMs } : {}),
    });
    signal.addEventListener("abort", () => checkpoints.stopAll(), { once: true });
    // Kueue's Workloads of queued jobs: watched once a queued job is seen and the hub serves them.
    const kueue = new KueueWorkloads({ client, custom, logger, signal, onChange: (key) => tjController?.enqueue(key) });
    const tjReconciler = new TrainingJobReconciler({
      kueue,
      kueueMetrics: kueueMetrics(metrics.registry, () => jobs.list()),
      ...(this.#o.kueueUnplacedMs !== undefined ? { kueueUnplacedMs: this.#o.kueueUnplacedMs } : {}),
      signal,
      custom,
      secretReader,
      secretNamespace,
      checkpoints,
      jobs,
      clusters,
      registry,
      catalog: this.#o.catalog,
      events,
      logger,
      ...(this.#o.operatorImage ? { operatorImage: this.#o.operatorImage } : {}),
      ...(this.#o.providers ? { providers: this.#o.providers } : {}),
      ...(this.#o.scaleUpTimeoutMs !== undefined ? { scaleUpTimeoutMs: this.#o.scaleUpTimeoutMs } : {}),
      failoverMetrics: failoverMetrics(metrics.registry),
      jobMetrics: jobMetrics(metrics.registry),
      ...(this.#o.checkpointIntervalMs !== undefined ? { checkpointIntervalMs: this.#o.checkpointIntervalMs } : {}),
      onScaleRequested: (cluster) => {
        // The cloud's desired size changed: list it again soon rather than at the next heartbeat.
        cloudGroups.invalidate(cluster);
        ccController?.enqueueAfter(cluster, 1_000);
      },
    });
    const ccReconciler = new ComputeClusterReconciler({
      hub,
      secretReader,
      secretNamespace,
      custom,
      clusters,
      registry,
      catalog: this.#o.catalog,
      logger,
      heartbeatMs: this.#o.heartbeatMs,
      cloudGroups,
      ...(this.#o.providers ? { providers: this.#o.providers } : {}),
      ...(this.#o.cloudIdentity ? { cloudIdentity: this.#o.cloudIdentity } : {}),
    });
    tjController = new Controller({
      name: "trainingjob",
      workers: this.#o.workers ?? 8,
      logger,
      metrics,
      reconcile: (key) => tjReconciler.reconcile(key),
    });
    ccController = new Controller({
      name: "computecluster",
      workers: 2,
      logger,
      metrics,
      reconcile: (name) => ccReconciler.reconcile(name),
    });
    orphanController = new Controller({
      name: "orphans",
      workers: 1,
      logger,
      metrics,
      reconcile: async (cluster) => {
        const worker = registry.get(cluster);
        const computeCluster = clusters.get(undefined, cluster);
        if (!worker || !computeCluster) return Result.done();
        if (!clusterAnswers(computeCluster)) return Result.requeueAfter(10_000);
        const live = new Set(jobs.list().map((j) => j.metadata.uid ?? ""));
        const left = await collectOrphans(worker, live);
        return left > 0 ? Result.requeueAfter(2_000) : Result.done();
      },
    });
    const tj = tjController;
    const cc = ccController;
    const orphans = orphanController;
    this.#controllers = [tj, cc, orphans];
    const seen = new ClusterChanges();
    for (const e of ["add", "update", "delete"] as const) {
      jobs.on(e, (o) => tj.enqueue(keyOf(o)));
      clusters.on(e, (o) => {
        const name = o.metadata.name ?? "";
        // Its own status write (a heartbeat) is no news to the cluster's reconciler, which runs on a timer.
        const changed = seen.update(o, e === "delete");
        if (changed.spec) cc.enqueue(name);
        // What placement reads changed (capacity, readiness): jobs waiting for a placement try again.
        // What placed jobs read changed (reachability, drain): the jobs placed there look again.
        // Neither wakes on a heartbeat alone, so this costs in proportion to what changed.
        if (changed.placement || changed.placed)
          for (const j of jobs.list()) {
            const placedHere = j.status?.placement?.cluster === name;
            if ((changed.placement && !j.status?.placement) || (changed.placed && placedHere)) tj.enqueue(keyOf(j));
          }
        // A cluster that answers again is searched for orphans.
        if (e !== "delete" && changed.placed && clusterAnswers(o)) orphans.enqueue(name);
      });
    }
    await Promise.all([jobs.start(signal), clusters.start(signal), secrets.start(signal)]);
    this.#synced = true;
    const unobservePhases = metrics.observePhases(() => countPhases(jobs.list()));
    const unobserveClusters = metrics.observeClusters(() => clusterStates(clusters.list()));
    logger.info("hub informers synced", { trainingJobs: jobs.list().length, computeClusters: clusters.list().length });
    try {
      await Promise.all([tj.run(signal), cc.run(signal), orphans.run(signal)]);
    } finally {
      unobservePhases();
      unobserveClusters();
      jobs.stop();
      clusters.stop();
      secrets.stop();
      registry.disconnectAll();
      this.#synced = false;
    }
  }
}

/** TrainingJobs by phase and the cloud of their placement ("none": not placed); every phase has a series. */
export function countPhases(jobs: readonly TrainingJob[]): PhaseCount[] {
  const counts = new Map<string, PhaseCount>(
    TRAINING_JOB_PHASES.map((phase) => [`${phase}/none`, { phase, cloud: "none", count: 0 }]),
  );
  for (const j of jobs) {
    const phase = j.status?.phase ?? "Pending";
    const cloud = j.status?.placement?.cloud ?? "none";
    const count = (counts.get(`${phase}/${cloud}`)?.count ?? 0) + 1;
    counts.set(`${phase}/${cloud}`, { phase, cloud, count });
  }
  return [...counts.values()];
}

/** The ComputeClusters' Reachable and Ready conditions, as the crosscloud_computecluster_* gauges show them. */
export function clusterStates(clusters: readonly ComputeCluster[]): ClusterState[] {
  return clusters.map((cc) => ({
    cluster: cc.metadata.name ?? "",
    cloud: cc.spec.cloud,
    reachable: isTrue(cc.status?.conditions, "Reachable"),
    ready: isTrue(cc.status?.conditions, "Ready"),
  }));
}
