// Reconciles a TrainingJob: level-triggered and idempotent. Each pass reads the
// job as it is, cleans up when it is being deleted, adds the finalizer before
// touching a worker, places it, launches its workload, observes it, applies
// the run policy (deadline, TTL), writes status once, then sends events.

import { createHash } from "node:crypto";
import {
  type CoreV1Api,
  type CustomObjectsApi,
  type KubernetesObject,
  PatchStrategy,
  setHeaderOptions,
  type V1Job,
} from "@kubernetes/client-node";
import { GROUP, VERSION } from "../../api/common.ts";
import type { ComputeCluster } from "../../api/computecluster.ts";
import type { TrainingJob } from "../../api/trainingjob.ts";
import type { Catalog } from "../../catalog/index.ts";
import type { AcceleratorType } from "../../catalog/instance-types.ts";
import type { ProviderRegistry } from "../../clusters/providers.ts";
import type { ClusterRegistry, WorkerCluster } from "../../clusters/registry.ts";
import { checkpointUri, storeCredentials, storeEnv, storeOptions } from "../../clusters/stores.ts";
import type { PlacementDecision } from "../../placement/index.ts";
import { failpoint } from "../../runtime/failpoints.ts";
import type { Informer } from "../../runtime/informer.ts";
import type { Logger } from "../../runtime/logger.ts";
import { type ReconcileResult, Result } from "../../runtime/result.ts";
import { LABEL_EPOCH, LABEL_JOB_UID, workloadName } from "../../workload/names.ts";
import { RESUME_STEP_ANNOTATION, renderWorkload, type Workload } from "../../workload/render.ts";
import type { EventRecorder } from "../events.ts";
import { type CheckpointSync, newestStep, replicatedCondition, type StoreTarget } from "./checkpoints.ts";
import { cleanupWorker } from "./cleanup.ts";
import { lastPodFailure, observeWorkload, type WorkloadState } from "./observe.ts";
import { decidePlacement } from "./place.ts";
import { excludedGroups, nextScaleStep, SCALING_POLL_MS, ScaleUps } from "./scale.ts";
import { CONDITION, StatusBuilder } from "./status.ts";

export const FINALIZER = "training.crosscloud.dev/cleanup";
const FIELD_MANAGER = "crosscloud-operator";
const SPEC_HASH = "training.crosscloud.dev/spec-hash";
/** After a status conflict, the informer usually has the newer copy within milliseconds. */
const CONFLICT_RETRY_MS = 200;
/** How often an active job's stores are scanned for new steps. */
const CHECKPOINT_INTERVAL_MS = 10_000;
const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

interface StoreAccess {
  readonly resumeStep?: number;
  readonly secretName?: string;
  readonly credentials?: Record<string, string>;
}

export interface TrainingJobReconcilerOptions {
  readonly custom: CustomObjectsApi;
  readonly jobs: Informer<TrainingJob>;
  readonly clusters: Informer<ComputeCluster>;
  readonly registry: ClusterRegistry;
  readonly catalog: Catalog;
  readonly events: EventRecorder;
  readonly logger: Logger;
  /** Re-place a job whose placement never got going after this long. Default 15 s between placement attempts. */
  readonly placeRetryMs?: number;
  /** Cloud APIs that grow node groups. Absent: a job that fits only after a scale-up waits. */
  readonly providers?: ProviderRegistry;
  /** Nodes not there this long after a scale-up request: the next option is tried. Default 10 min. */
  readonly scaleUpTimeoutMs?: number;
  /** Reads the ComputeClusters' store credential Secrets on the hub. */
  readonly core: CoreV1Api;
  /** Background checkpoint replication. */
  readonly checkpoints: CheckpointSync;
  /** Called after a node group was asked to grow (e.g. to refresh that cluster's cloud listing). */
  readonly onScaleRequested?: (cluster: string) => void;
  readonly now?: () => Date;
}

export class TrainingJobReconciler {
  readonly #o: TrainingJobReconcilerOptions;
  /** Worker namespaces known to exist, by cluster. */
  readonly #namespaces = new Map<string, Set<string>>();
  /** Store credentials by ComputeCluster, with when they were read. */
  readonly #storeSecrets = new Map<string, { at: number; data: Record<string, string> | undefined }>();
  readonly #scale: ScaleUps;

  constructor(options: TrainingJobReconcilerOptions) {
    this.#o = options;
    this.#scale = new ScaleUps({
      clusters: options.clusters,
      ...(options.providers ? { providers: options.providers } : {}),
      ...(options.scaleUpTimeoutMs !== undefined ? { timeoutMs: options.scaleUpTimeoutMs } : {}),
      ...(options.onScaleRequested ? { onRequested: options.onScaleRequested } : {}),
    });
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const [namespace = "", name = ""] = key.split("/");
    const job = this.#o.jobs.get(namespace, name);
    if (!job) return Result.done();
    if (job.metadata.deletionTimestamp) return this.#finalize(job);
    if (!job.metadata.finalizers?.includes(FINALIZER)) {
      await this.#addFinalizer(job);
      return Result.done(); // the update wakes the next pass
    }
    const b = new StatusBuilder(job, (this.#o.now ?? (() => new Date()))());
    const result = await this.#run(job, b);
    if (b.changed() && !(await this.#writeStatus(job, b))) return Result.requeueAfter(CONFLICT_RETRY_MS);
    await this.#o.events.record(job, b.events);
    return result;
  }

  /** The phases, in order; each returns early when the job cannot go further this pass. */
  async #run(job: TrainingJob, b: StatusBuilder): Promise<ReconcileResult> {
    // A finished job only waits for its TTL.
    if (b.phase === "Succeeded" || b.phase === "Failed") return this.#afterFinish(job, b);
    // A placement whose accelerator the user removed (while suspended) is dropped: the job is placed anew.
    const old = b.status.placement;
    if (old && !job.spec.accelerators.some((a) => a.type === old.accelerator)) {
      await this.#removeWorkloads(job, old.cluster ?? "");
      b.status.placement = undefined;
    }
    // Place, and commit the decision (the status write, checked by resourceVersion) before anything is
    // launched: a pass that read a stale copy fails its write instead of launching a second workload.
    if (!b.status.placement) {
      return this.#place(job, b);
    }
    const cluster = b.status.placement?.cluster ?? "";
    const worker = this.#o.registry.get(cluster);
    const cc = this.#o.clusters.get(undefined, cluster);
    if (!worker || !cc) {
      b.condition({
        type: CONDITION.Running,
        status: "False",
        reason: "ClusterNotConnected",
        message: `waiting for the connection to ${cluster}`,
      });
      return Result.requeueAfter(2_000);
    }
    // Launch (idempotent), then observe.
    const workerJob = await this.#launch(job, b, worker, cc);
    b.status.startTime ??= b.now.toISOString();
    const pods = this.#pods(worker, job, b.status.epoch ?? 1);
    this.#observe(job, b, observeWorkload(workerJob, pods, job.spec.replicas), pods);
    await this.#syncCheckpoints(job, b, cc);
    const deadline = await this.#enforceDeadline(job, b, worker);
    // An active job is looked at again at least every checkpoint interval: new steps appear in its
    // store without any Kubernetes event.
    if (["Succeeded", "Failed", "Suspended"].includes(b.phase)) return deadline;
    return deadline.kind === "requeueAfter"
      ? Result.requeueAfter(Math.min(deadline.afterMs, CHECKPOINT_INTERVAL_MS))
      : Result.requeueAfter(CHECKPOINT_INTERVAL_MS);
  }

  /**
   * Runs placement. When the best option fits only after its node group grows, asks the cloud for
   * it and waits in phase Scaling (scale.ts); done once placed, else when to look again.
   */
  async #place(job: TrainingJob, b: StatusBuilder): Promise<ReconcileResult> {
    this.#scale.expire(b);
    const decision = decidePlacement(job, this.#o.clusters.list(), this.#o.jobs.list(), excludedGroups(b.status));
    const step = nextScaleStep(decision, b.status.scaleUp);
    if (step.kind === "Wait") {
      this.#scale.wait(b, step.scaleUp, decision);
      return Result.requeueAfter(SCALING_POLL_MS);
    }
    if (step.kind === "Request") {
      const outcome = await this.#scale.request(job, b, step, decision);
      if (outcome === "Requested") return Result.requeueAfter(SCALING_POLL_MS);
      return Result.requeueAfter(outcome === "Refused" ? 1_000 : (this.#o.placeRetryMs ?? 15_000));
    }
    const winner = decision.winner;
    if (step.kind === "NotPlaced" || !winner) {
      const reason = decision.outcome;
      const message = explain(decision);
      const before = b.status.conditions?.find((c) => c.type === CONDITION.Placed)?.reason;
      b.condition({ type: CONDITION.Placed, status: "False", reason, message });
      b.setPhase("Pending");
      if (before !== reason) b.event({ type: "Warning", reason: "NotPlaced", message });
      return Result.requeueAfter(this.#o.placeRetryMs ?? 15_000);
    }
    const catalogEntry = this.#o.catalog.get(winner.instanceType);
    if (!catalogEntry) throw new Error(`placement chose ${winner.instanceType}, which the catalog does not know`);
    b.status.epoch = (b.status.epoch ?? 0) + 1;
    b.status.placement = {
      cluster: winner.cluster,
      cloud: winner.cloud,
      accelerator: winner.accelerator as AcceleratorType,
      instanceType: winner.instanceType,
      nodeGroup: winner.nodeGroup,
      capacityType: winner.capacityType,
      ...(winner.pricePerHour ? { pricePerHour: winner.pricePerHour } : {}),
      reason: explain(decision),
      placedAt: b.now.toISOString(),
    };
    b.condition({ type: CONDITION.Placed, status: "True", reason: "Placed", message: decision.reason });
    b.setPhase("Starting");
    this.#scale.placed(b);
    b.event({ type: "Normal", reason: "Placed", message: `epoch ${b.status.epoch}: ${explain(decision)}` });
    return Result.done();
  }

  #render(job: TrainingJob, b: StatusBuilder, cc: ComputeCluster, store: StoreAccess): Workload {
    const p = b.status.placement;
    const option = job.spec.accelerators.find((a) => a.type === p?.accelerator);
    const instanceType = this.#o.catalog.get(p?.instanceType ?? "");
    if (!p || !option || !instanceType) throw new Error("a placed job has its accelerator option and instance type");
    return renderWorkload({
      job,
      epoch: b.status.epoch ?? 1,
      option,
      target: {
        cluster: p.cluster ?? "",
        namespace: cc.spec.workloadNamespace || (job.metadata.namespace ?? "default"),
        cloud: cc.spec.cloud,
        nodeGroup: p.nodeGroup ?? "",
        instanceType,
        capacityType: p.capacityType ?? "OnDemand",
      },
      checkpointUri: checkpointUri(cc, job),
      ...(store.resumeStep !== undefined ? { resumeStep: store.resumeStep } : {}),
      store: storeEnv(cc, store.secretName),
    });
  }

  /**
   * What the placement's pods need to reach their store: the credentials Secret copied to the worker
   * (when the cluster has one), and the step to resume from: the one the worker Job was launched with,
   * else the newest committed step this store holds.
   */
  async #storeAccess(
    job: TrainingJob,
    b: StatusBuilder,
    cc: ComputeCluster,
    cached: V1Job | undefined,
  ): Promise<StoreAccess> {
    const credentials = await this.#credentials(cc);
    const launched = cached?.metadata?.annotations?.[RESUME_STEP_ANNOTATION];
    const resumeStep =
      cached !== undefined
        ? launched !== undefined
          ? Number(launched)
          : undefined
        : await newestStep(checkpointUri(cc, job), storeOptions(cc, credentials), b.status.epoch ?? 1);
    const secretName = credentials
      ? `${workloadName(job.metadata as { name: string }, b.status.epoch ?? 1)}-store`
      : undefined;
    return { ...(resumeStep !== undefined ? { resumeStep } : {}), ...(secretName ? { secretName, credentials } : {}) };
  }

  /** A ComputeCluster's store credentials, read at most once a minute. */
  async #credentials(cc: ComputeCluster): Promise<Record<string, string> | undefined> {
    const name = cc.metadata.name ?? "";
    const hit = this.#storeSecrets.get(name);
    if (hit && Date.now() - hit.at < 60_000) return hit.data;
    const data = await storeCredentials(cc, this.#o.core);
    this.#storeSecrets.set(name, { at: Date.now(), data });
    return data;
  }

  /**
   * Starts (in the background) a replication pass from this placement's store to the stores of the
   * other clusters the job may move to, and reports the last pass in status.checkpoint.
   */
  async #syncCheckpoints(job: TrainingJob, b: StatusBuilder, cc: ComputeCluster): Promise<void> {
    const key = `${job.metadata.namespace}/${job.metadata.name}`;
    const allowed = job.spec.placement;
    const target = async (c: ComputeCluster): Promise<StoreTarget> => ({
      cluster: c.metadata.name ?? "",
      uri: checkpointUri(c, job),
      options: storeOptions(c, await this.#credentials(c)),
    });
    const others = this.#o.clusters
      .list()
      .filter((c) => c.metadata.name !== cc.metadata.name && !c.spec.paused && allowed.clouds.includes(c.spec.cloud))
      .filter((c) => !allowed.clusters?.length || allowed.clusters.includes(c.metadata.name ?? ""));
    const result = this.#o.checkpoints.poke(key, {
      epoch: b.status.epoch ?? 1,
      source: await target(cc),
      destinations: await Promise.all(others.map(target)),
      keep: job.spec.checkpoint.keep,
      ...(b.status.placement?.placedAt ? { placedAt: new Date(b.status.placement.placedAt) } : {}),
    });
    if (!result) return;
    b.status.checkpoint = {
      ...(result.status.latestStep !== undefined ? { latestStep: result.status.latestStep } : {}),
      stores: result.status.stores.map((s) => ({ ...s })),
    };
    b.condition(replicatedCondition(result, cc.metadata.name ?? ""));
  }

  /** Applies the Job and Service unless the worker already has this exact spec; returns the worker's Job. */
  async #launch(
    job: TrainingJob,
    b: StatusBuilder,
    worker: WorkerCluster,
    cc: ComputeCluster,
  ): Promise<V1Job | undefined> {
    const namespace = cc.spec.workloadNamespace || (job.metadata.namespace ?? "default");
    const name = workloadName(job.metadata as { name: string }, b.status.epoch ?? 1);
    // Until the informer has seen a Job this pass may have created, ask the worker itself.
    const cached =
      worker.jobs.get(namespace, name) ??
      (await worker.batch.readNamespacedJob({ name, namespace }).catch((err: { code?: number }) => {
        if (err.code === 404) return undefined;
        throw err;
      }));
    const store = await this.#storeAccess(job, b, cc, cached);
    const workload = this.#render(job, b, cc, store);
    const hash = specHash(workload);
    if (cached?.metadata?.annotations?.[SPEC_HASH] === hash) return cached;
    await this.#ensureNamespace(worker, namespace);
    if (store.secretName && store.credentials) {
      const labels = workload.job.metadata?.labels;
      const secret = {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: store.secretName, namespace, labels },
        stringData: store.credentials,
      };
      await worker.objects.patch(secret, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
    }
    const annotate = <T extends KubernetesObject>(o: T): T => ({
      ...o,
      metadata: { ...o.metadata, annotations: { ...o.metadata?.annotations, [SPEC_HASH]: hash } },
    });
    // The Job goes last: its spec hash then says that everything it needs (Secret, Service) is there,
    // so a pass that finds the hash skips the whole launch, and a crash before it repeats all of it.
    await worker.objects.patch(
      annotate(workload.service),
      undefined,
      undefined,
      FIELD_MANAGER,
      true,
      PatchStrategy.ServerSideApply,
    );
    failpoint("launch.before-job");
    const applied = (await worker.objects.patch(
      annotate(workload.job),
      undefined,
      undefined,
      FIELD_MANAGER,
      true,
      PatchStrategy.ServerSideApply,
    )) as V1Job;
    if (!cached)
      b.event({
        type: "Normal",
        reason: "Launched",
        message: `created Job and Service ${namespace}/${workload.job.metadata?.name} on ${worker.name}`,
      });
    return applied;
  }

  async #ensureNamespace(worker: WorkerCluster, namespace: string): Promise<void> {
    const known = this.#namespaces.get(worker.name) ?? new Set<string>();
    if (known.has(namespace)) return;
    await worker.objects.patch(
      { apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } },
      undefined,
      undefined,
      FIELD_MANAGER,
      true,
      PatchStrategy.ServerSideApply,
    );
    known.add(namespace);
    this.#namespaces.set(worker.name, known);
  }

  #pods(worker: WorkerCluster, job: TrainingJob, epoch: number) {
    return worker.pods
      .list()
      .filter(
        (p) =>
          p.metadata?.labels?.[LABEL_JOB_UID] === job.metadata.uid &&
          p.metadata?.labels?.[LABEL_EPOCH] === String(epoch),
      );
  }

  #observe(job: TrainingJob, b: StatusBuilder, state: WorkloadState, pods: Parameters<typeof lastPodFailure>[0]): void {
    const where = b.status.placement?.cluster ?? "";
    if (state.kind === "Missing") return;
    const r = state.replicas;
    const before = b.status.replicas?.failed ?? 0;
    b.status.replicas = { ...r };
    b.status.readyReplicas = `${r.running}/${r.desired}`;
    if (r.failed > before && state.kind !== "Failed") {
      const why = lastPodFailure(pods) ?? "a pod failed";
      b.event({
        type: "Warning",
        reason: "PodFailed",
        message: `${why}; retrying (${r.failed} of backoffLimit ${job.spec.runPolicy.backoffLimit})`,
      });
    }
    switch (state.kind) {
      case "Starting":
        b.setPhase("Starting");
        b.condition({
          type: CONDITION.Running,
          status: "False",
          reason: "Starting",
          message: `${r.running}/${r.desired} replicas running on ${where}`,
        });
        break;
      case "Running":
        b.setPhase("Running", {
          type: "Normal",
          reason: "Running",
          message: `${r.running}/${r.desired} replicas running on ${where}`,
        });
        b.condition({
          type: CONDITION.Running,
          status: "True",
          reason: "AllReplicasRunning",
          message: `${r.running}/${r.desired} replicas running on ${where}`,
        });
        b.condition({
          type: CONDITION.Suspended,
          status: "False",
          reason: "Resumed",
          message: "the job is not suspended",
        });
        break;
      case "Suspended":
        b.setPhase("Suspended", {
          type: "Normal",
          reason: "Suspended",
          message: `the pods on ${where} were stopped; the placement is kept`,
        });
        b.condition({
          type: CONDITION.Suspended,
          status: "True",
          reason: "JobSuspended",
          message: "spec.suspend is true: no pods run",
        });
        b.condition({ type: CONDITION.Running, status: "False", reason: "Suspended", message: "suspended" });
        break;
      case "Succeeded":
        this.#finish(b, "Succeeded", "JobSucceeded", `all ${r.desired} replicas succeeded on ${where}`);
        break;
      case "Failed":
        this.#finish(b, "Failed", state.reason, state.message);
        break;
    }
  }

  #finish(b: StatusBuilder, phase: "Succeeded" | "Failed", reason: string, message: string): void {
    b.setPhase(phase, { type: phase === "Succeeded" ? "Normal" : "Warning", reason: phase, message });
    b.condition({ type: phase, status: "True", reason, message });
    b.condition({ type: CONDITION.Running, status: "False", reason, message });
    b.status.completionTime ??= b.now.toISOString();
  }

  /** activeDeadlineSeconds: past it, the pods are stopped and the job Failed. */
  async #enforceDeadline(job: TrainingJob, b: StatusBuilder, worker: WorkerCluster): Promise<ReconcileResult> {
    const deadline = job.spec.runPolicy.activeDeadlineSeconds;
    if (deadline === undefined || !b.status.startTime || b.phase === "Succeeded" || b.phase === "Failed")
      return Result.done();
    const left = Date.parse(b.status.startTime) + deadline * 1000 - b.now.getTime();
    if (left > 0) return Result.requeueAfter(left);
    await cleanupWorker(worker, job.metadata.uid ?? "");
    this.#finish(
      b,
      "Failed",
      "DeadlineExceeded",
      `the job ran longer than spec.runPolicy.activeDeadlineSeconds (${deadline}s); its pods were stopped`,
    );
    return Result.done();
  }

  /** ttlSecondsAfterFinished: the worker resources go once it has passed. */
  async #afterFinish(job: TrainingJob, b: StatusBuilder): Promise<ReconcileResult> {
    const ttl = job.spec.runPolicy.ttlSecondsAfterFinished;
    const done = b.status.completionTime;
    const cluster = b.status.placement?.cluster;
    if (ttl === undefined || !done || !cluster) return Result.done();
    const left = Date.parse(done) + ttl * 1000 - b.now.getTime();
    if (left > 0) return Result.requeueAfter(left);
    const worker = this.#o.registry.get(cluster);
    if (!worker) return Result.requeueAfter(10_000);
    const leftovers = worker.jobs.list().some((j) => j.metadata?.labels?.[LABEL_JOB_UID] === job.metadata.uid);
    if (!leftovers) return Result.done();
    const cleaned = await cleanupWorker(worker, job.metadata.uid ?? "");
    if (!cleaned.done) return Result.requeueAfter(2_000);
    b.event({
      type: "Normal",
      reason: "WorkloadRemoved",
      message: `ttlSecondsAfterFinished (${ttl}s) passed: removed the workload from ${cluster}`,
    });
    return Result.done();
  }

  async #removeWorkloads(job: TrainingJob, cluster: string): Promise<void> {
    const worker = this.#o.registry.get(cluster);
    if (worker) await cleanupWorker(worker, job.metadata.uid ?? "");
  }

  /** Deletion: every worker confirms nothing is left before the finalizer goes, also across an outage. */
  async #finalize(job: TrainingJob): Promise<ReconcileResult> {
    this.#o.checkpoints.forget(`${job.metadata.namespace}/${job.metadata.name}`);
    if (!job.metadata.finalizers?.includes(FINALIZER)) return Result.done();
    const named = [job.status?.placement?.cluster, ...(job.status?.failovers ?? []).flatMap((f) => [f.from, f.to])];
    const clusters = new Set([...named.filter((c): c is string => Boolean(c)), ...this.#o.registry.names()]);
    for (const cluster of clusters) {
      const worker = this.#o.registry.get(cluster);
      // A ComputeCluster that was deleted can never answer: nothing is left to wait for there.
      if (!worker && !this.#o.clusters.get(undefined, cluster)) continue;
      const result = worker
        ? await cleanupWorker(worker, job.metadata.uid ?? "").catch((err: Error) => ({
            done: false as const,
            waitingFor: `${cluster}: ${err.message}`,
          }))
        : { done: false as const, waitingFor: `${cluster} to be reachable` };
      if (!result.done) {
        this.#o.logger.info("waiting to clean up", {
          job: `${job.metadata.namespace}/${job.metadata.name}`,
          waitingFor: result.waitingFor,
        });
        return Result.requeueAfter(2_000);
      }
    }
    await this.#o.custom.patchNamespacedCustomObject(
      {
        ...this.#ref(job),
        body: {
          metadata: {
            resourceVersion: job.metadata.resourceVersion,
            finalizers: job.metadata.finalizers.filter((f) => f !== FINALIZER),
          },
        },
      },
      mergePatch,
    );
    return Result.done();
  }

  async #addFinalizer(job: TrainingJob): Promise<void> {
    await this.#o.custom.patchNamespacedCustomObject(
      {
        ...this.#ref(job),
        body: {
          metadata: {
            resourceVersion: job.metadata.resourceVersion,
            finalizers: [...(job.metadata.finalizers ?? []), FINALIZER],
          },
        },
      },
      mergePatch,
    );
  }

  /**
   * Writes status if the job has not changed since it was read; false on a conflict (the cache was
   * behind), after which the next pass starts over from the newer copy.
   */
  async #writeStatus(job: TrainingJob, b: StatusBuilder): Promise<boolean> {
    try {
      await this.#o.custom.replaceNamespacedCustomObjectStatus({
        ...this.#ref(job),
        body: { ...job, status: b.status },
      });
      return true;
    } catch (err) {
      if ((err as { code?: number }).code === 409) return false;
      throw err;
    }
  }

  #ref(job: TrainingJob) {
    return {
      group: GROUP,
      version: VERSION,
      plural: "trainingjobs",
      namespace: job.metadata.namespace ?? "",
      name: job.metadata.name ?? "",
    };
  }
}

/** The decision and why every other option lost, as one paragraph for status and events. */
function explain(decision: PlacementDecision): string {
  const others = decision.explanations.length > 0 ? `. Other options: ${decision.explanations.join("; ")}` : "";
  return `${decision.reason}${others}`.slice(0, 4000);
}

function specHash(w: Workload): string {
  return createHash("sha256")
    .update(JSON.stringify([w.job.spec, w.service.spec, w.job.metadata?.labels]))
    .digest("hex")
    .slice(0, 16);
}
