// Reconciles a TrainingJob: level-triggered and idempotent. Each pass reads the
// job as it is, cleans up when it is being deleted, adds the finalizer before
// touching a worker, places it, launches its workload, observes it, applies
// the run policy (deadline, TTL), writes status once, then sends events.

import { createHash } from "node:crypto";
import {
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
import type { ClusterRegistry, WorkerCluster } from "../../clusters/registry.ts";
import type { PlacementDecision } from "../../placement/index.ts";
import { failpoint } from "../../runtime/failpoints.ts";
import type { Informer } from "../../runtime/informer.ts";
import type { Logger } from "../../runtime/logger.ts";
import { type ReconcileResult, Result } from "../../runtime/result.ts";
import { LABEL_EPOCH, LABEL_JOB_UID } from "../../workload/names.ts";
import { renderWorkload, type Workload } from "../../workload/render.ts";
import type { EventRecorder } from "../events.ts";
import { cleanupWorker } from "./cleanup.ts";
import { lastPodFailure, observeWorkload, type WorkloadState } from "./observe.ts";
import { decidePlacement } from "./place.ts";
import { CONDITION, StatusBuilder } from "./status.ts";

export const FINALIZER = "training.crosscloud.dev/cleanup";
const FIELD_MANAGER = "crosscloud-operator";
const SPEC_HASH = "training.crosscloud.dev/spec-hash";
/** After a status conflict, the informer usually has the newer copy within milliseconds. */
const CONFLICT_RETRY_MS = 200;
const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

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
  readonly now?: () => Date;
}

export class TrainingJobReconciler {
  readonly #o: TrainingJobReconcilerOptions;
  /** Worker namespaces known to exist, by cluster. */
  readonly #namespaces = new Map<string, Set<string>>();

  constructor(options: TrainingJobReconcilerOptions) {
    this.#o = options;
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
      return this.#place(job, b) ? Result.done() : Result.requeueAfter(this.#o.placeRetryMs ?? 15_000);
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
    return this.#enforceDeadline(job, b, worker);
  }

  /** Runs placement; false when nothing fits now (status says why). */
  #place(job: TrainingJob, b: StatusBuilder): boolean {
    const decision = decidePlacement(job, this.#o.clusters.list(), this.#o.jobs.list());
    const winner = decision.winner;
    if (winner?.fit !== "Now") {
      const reason = winner ? "WaitingForCapacity" : decision.outcome;
      const message = winner ? `${explain(decision)} (scaling up node groups is not enabled)` : explain(decision);
      const before = b.status.conditions?.find((c) => c.type === CONDITION.Placed)?.reason;
      b.condition({ type: CONDITION.Placed, status: "False", reason, message });
      b.setPhase("Pending");
      if (before !== reason) b.event({ type: "Warning", reason: "NotPlaced", message });
      return false;
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
    b.event({ type: "Normal", reason: "Placed", message: `epoch ${b.status.epoch}: ${explain(decision)}` });
    return true;
  }

  #render(job: TrainingJob, b: StatusBuilder, cc: ComputeCluster): Workload {
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
    });
  }

  /** Applies the Job and Service unless the worker already has this exact spec; returns the worker's Job. */
  async #launch(
    job: TrainingJob,
    b: StatusBuilder,
    worker: WorkerCluster,
    cc: ComputeCluster,
  ): Promise<V1Job | undefined> {
    const workload = this.#render(job, b, cc);
    const namespace = workload.job.metadata?.namespace ?? "";
    const hash = specHash(workload);
    const cached = worker.jobs.get(namespace, workload.job.metadata?.name ?? "");
    if (cached?.metadata?.annotations?.[SPEC_HASH] === hash) return cached;
    await this.#ensureNamespace(worker, namespace);
    const annotate = <T extends KubernetesObject>(o: T): T => ({
      ...o,
      metadata: { ...o.metadata, annotations: { ...o.metadata?.annotations, [SPEC_HASH]: hash } },
    });
    const applied = (await worker.objects.patch(
      annotate(workload.job),
      undefined,
      undefined,
      FIELD_MANAGER,
      true,
      PatchStrategy.ServerSideApply,
    )) as V1Job;
    failpoint("launch.after-job");
    await worker.objects.patch(
      annotate(workload.service),
      undefined,
      undefined,
      FIELD_MANAGER,
      true,
      PatchStrategy.ServerSideApply,
    );
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
    if (!job.metadata.finalizers?.includes(FINALIZER)) return Result.done();
    const named = [job.status?.placement?.cluster, ...(job.status?.failovers ?? []).flatMap((f) => [f.from, f.to])];
    const clusters = new Set([...named.filter((c): c is string => Boolean(c)), ...this.#o.registry.names()]);
    for (const cluster of clusters) {
      const worker = this.#o.registry.get(cluster);
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

/** Where this placement writes checkpoints: the cluster's store under the job's prefix. */
export function checkpointUri(cc: ComputeCluster, job: TrainingJob): string {
  const prefix = job.spec.checkpoint.prefix ?? `${job.metadata.namespace}/${job.metadata.name}`;
  const store = cc.spec.checkpointStore;
  if (store.s3) return `s3://${store.s3.bucket}/${prefix}`;
  if (store.azureBlob) return `${store.azureBlob.accountURL.replace(/\/$/, "")}/${store.azureBlob.container}/${prefix}`;
  throw new Error(`ComputeCluster ${cc.metadata.name}: spec.checkpointStore has neither s3 nor azureBlob`);
}

function specHash(w: Workload): string {
  return createHash("sha256")
    .update(JSON.stringify([w.job.spec, w.service.spec, w.job.metadata?.labels]))
    .digest("hex")
    .slice(0, 16);
}
