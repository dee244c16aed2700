// Reconciles a TrainingJob: level-triggered and idempotent. Each pass reads the
// job as it is, cleans up when it is being deleted, adds the finalizer before
// touching a worker, then runs the phases in order (place, move, launch,
// observe, fence, replicate, run policy), writes status once, and sends events.
// Each phase lives in its own file beside this one.

import { CONDITION, FAILOVER_EVENT, RUNNING } from "../../api/conditions.ts";
import type { TrainingJob } from "../../api/trainingjob.ts";
import type { WorkerCluster } from "../../clusters/registry.ts";
import { StoreSecrets } from "../../clusters/stores.ts";
import { isConflict } from "../../runtime/api-errors.ts";
import { type ReconcileResult, Result, TerminalError, toError } from "../../runtime/result.ts";
import type { PendingEvent } from "../events.ts";
import { launchUnlessRefused, reportBlocked } from "./blocked.ts";
import { cleanupWorker } from "./cleanup.ts";
import { keyOf, type PassContext, placementKeyOf, type TrainingJobReconcilerOptions } from "./context.ts";
import { continueMove, onTrigger, trackMove } from "./failover.ts";
import {
  capacityLostTrigger,
  clusterLostTrigger,
  currentMove,
  drainTrigger,
  failoverTimeouts,
  lineageOf,
  type Trigger,
} from "./failover-trigger.ts";
import { fenceOldEpochs } from "./fence.ts";
import { addFinalizer, FINALIZER, finalize, jobRef } from "./finalizer.ts";
import { giveBackGroups } from "./give-back.ts";
import { reportReadiness } from "./kstatus.ts";
import { kueueGate, stopEvicted } from "./kueue-gate.ts";
import type { Launched } from "./launch.ts";
import { observeWorkload } from "./observe.ts";
import { Placer } from "./placer.ts";
import { place, waitForOldEpoch } from "./placing.ts";
import { ProgressWrites, progressOnly } from "./progress.ts";
import { syncCheckpoints } from "./replication.ts";
import { reportWorkload } from "./report.ts";
import { afterFinish, enforceDeadline } from "./run-policy.ts";
import { ScaleUps } from "./scale.ts";
import { StatusBuilder } from "./status.ts";
import { pinUltraServerPods } from "./ultraserver-pins.ts";

export type { TrainingJobReconcilerOptions } from "./context.ts";
export { FINALIZER } from "./finalizer.ts";

interface StageOutcome {
  readonly result: ReconcileResult;
  readonly events: readonly PendingEvent[];
  /** The job as the status write returned it; absent when nothing was written. */
  readonly written?: TrainingJob;
  /** The stage placed the job (outside a move) and has nothing else to wait for. */
  readonly placed?: boolean;
}

/** Events of a move, also logged: an operator's log tells when and why jobs moved. */
const FAILOVER_LOGGED = new Set<string>([FAILOVER_EVENT.Started, FAILOVER_EVENT.Done, FAILOVER_EVENT.Fenced]);
/** After a status conflict, the informer usually has the newer copy within milliseconds. */
const CONFLICT_RETRY_MS = 200;
/** How soon a pass that found the informer behind this process's own write looks again. */
const INFORMER_CATCH_UP_MS = 100;
/** The longest a pass waits for the informer to show this process's own write. */
const INFORMER_LAG_MS = 2_000;
/** How often an active job's stores are scanned for new steps, unless the options say otherwise. */
const CHECKPOINT_INTERVAL_MS = 10_000;

export class TrainingJobReconciler {
  readonly #ctx: PassContext;
  /** The resourceVersion of each job's last write by this process, until the informer shows it. */
  readonly #lastWrites = new Map<string, { readonly resourceVersion: string; readonly at: number }>();
  readonly #progress = new ProgressWrites();

  constructor(options: TrainingJobReconcilerOptions) {
    const scale = new ScaleUps({
      clusters: options.clusters,
      ...(options.providers ? { providers: options.providers } : {}),
      ...(options.scaleUpTimeoutMs !== undefined ? { timeoutMs: options.scaleUpTimeoutMs } : {}),
      ...(options.onScaleRequested ? { onRequested: options.onScaleRequested } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    this.#ctx = {
      o: options,
      secrets: new StoreSecrets(options.secretReader, options.secretNamespace),
      scale,
      placer: new Placer({
        jobs: options.jobs,
        clusters: options.clusters,
        registry: options.registry,
        catalog: options.catalog,
      }),
      namespaces: new Map(),
      resumeSteps: new Map(),
      placedThisPass: new Set(),
    };
    // The informer delivers every version in order: once it shows this process's write, its copy is current.
    for (const event of ["update", "delete"] as const)
      options.jobs.on(event, (o) => {
        const mine = this.#lastWrites.get(keyOf(o));
        if (event === "delete" || mine?.resourceVersion === o.metadata.resourceVersion)
          this.#lastWrites.delete(keyOf(o));
        if (event === "delete") this.#progress.forget(o.metadata.uid ?? "");
      });
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const ctx = this.#ctx;
    const [namespace = "", name = ""] = key.split("/");
    let job = ctx.o.jobs.get(namespace, name);
    if (!job) {
      // Gone without its finalizer's pass (deleted while no operator ran): its replication and series go too.
      ctx.o.checkpoints.forget(key);
      return Result.done();
    }
    if (job.metadata.deletionTimestamp) return finalize(ctx, job);
    // A copy older than this process's own last write would only fail its status write (a conflict).
    if (this.#behind(key, job)) return Result.requeueAfter(INFORMER_CATCH_UP_MS);
    // The pass goes on with the object the patch returned, not waiting for the informer to show it.
    if (!job.metadata.finalizers?.includes(FINALIZER)) job = await addFinalizer(ctx, job);
    const now = (ctx.o.now ?? (() => new Date()))();
    const first = await this.#stage(job, now);
    // A pass that placed the job has committed the decision with its status write: it goes on to
    // launch with the object that write returned, instead of a second pass after the informer's event.
    const second = first.written && first.placed ? await this.#launchPlaced(first.written, now) : undefined;
    const last = second?.written ?? first.written ?? job;
    if (last !== ctx.o.jobs.get(namespace, name)) this.#wrote(key, last);
    const events = mergeLaunch([...first.events, ...(second?.events ?? [])]);
    await this.#record(key, last, events);
    ctx.o.jobMetrics?.recorded(job, last, events);
    return (second ?? first).result;
  }

  /** The stage after the one that placed `job` (its written copy), knowing that the placement is new. */
  async #launchPlaced(job: TrainingJob, now: Date): Promise<StageOutcome> {
    const key = placementKeyOf(job, job.status?.epoch ?? 1);
    this.#ctx.placedThisPass.add(key);
    try {
      return await this.#stage(job, now);
    } finally {
      this.#ctx.placedThisPass.delete(key);
    }
  }

  /**
   * True while the informer's copy of the job is older than what this process last wrote: the
   * informer has not delivered that write yet (it delivers every version in order; INFORMER_LAG_MS
   * bounds the wait, in case a relist skipped it).
   */
  #behind(key: string, job: TrainingJob): boolean {
    const mine = this.#lastWrites.get(key);
    if (!mine) return false;
    if (job.metadata.resourceVersion !== mine.resourceVersion && Date.now() - mine.at < INFORMER_LAG_MS) return true;
    this.#lastWrites.delete(key);
    return false;
  }

  #wrote(key: string, job: TrainingJob): void {
    this.#lastWrites.set(key, { resourceVersion: job.metadata.resourceVersion ?? "", at: Date.now() });
  }

  /** Sends the pass's events (after its status write, which they describe) and logs those of a move. */
  async #record(key: string, job: TrainingJob, events: readonly PendingEvent[]): Promise<void> {
    await this.#ctx.o.events.record(job, events);
    for (const e of events.filter((x) => FAILOVER_LOGGED.has(x.reason))) {
      this.#ctx.o.logger.info(e.message, { job: key, event: e.reason });
    }
  }

  /** Runs the phases over `job` and writes status if it changed; the events are the caller's to send. */
  async #stage(job: TrainingJob, now: Date): Promise<StageOutcome> {
    const ctx = this.#ctx;
    let b = new StatusBuilder(job, now);
    let result: ReconcileResult;
    try {
      result = await this.#run(job, b);
      b.status.conditions = b.status.conditions?.filter((c) => c.type !== CONDITION.ReconcileError);
    } catch (err) {
      // What this pass changed is dropped; the job says what failed, and the error is retried with backoff.
      b = new StatusBuilder(job, now);
      this.#reportError(b, err);
      result = { kind: err instanceof TerminalError ? "terminal" : "retry", error: toError(err) };
    }
    // Ready, Reconciling and Stalled sum up the rest of what this pass found (kstatus.ts).
    reportReadiness(b);
    let written: TrainingJob | undefined;
    const uid = job.metadata.uid ?? "";
    if (b.changed()) {
      // Replica counts of a Starting job wait (STARTING_PROGRESS_MS) for the next pass's write.
      const wait =
        b.events.length === 0 && progressOnly(job.status ?? {}, b.status) ? this.#progress.wait(uid, now.getTime()) : 0;
      if (wait > 0) return { result: Result.requeueAfter(Math.min(wait, afterMs(result))), events: [] };
      written = await this.#writeStatus(job, b);
      if (!written) {
        // Nothing this stage did is recorded: its events would describe a status that was not written.
        ctx.placer.forget(job.metadata.uid ?? "");
        return { result: Result.requeueAfter(CONFLICT_RETRY_MS), events: [] };
      }
      this.#progress.wrote(uid, b.status, now.getTime());
    }
    const placed = !job.status?.placement && b.status.placement !== undefined && !currentMove(b.status);
    return { result, events: b.events, ...(written ? { written } : {}), placed: placed && result.kind === "done" };
  }

  /** The phases, in order; each returns early when the job cannot go further this pass. */
  async #run(queued: TrainingJob, b: StatusBuilder): Promise<ReconcileResult> {
    const ctx = this.#ctx;
    // Jobs queued through Kueue run once admitted, on the admitted accelerators (kueue-gate.ts).
    const gate = await kueueGate(ctx, queued, b);
    if (gate.kind === "Hold") return gate.result;
    // Evicted while placed: the pods stop as on a suspend; once gone, the quota goes back.
    if (gate.kind === "Stop") return stopEvicted(ctx, b, gate, (j) => this.#placed(j, b));
    const job = gate.job;
    const finished = b.phase === "Succeeded" || b.phase === "Failed";
    // Node groups grown for this job that it no longer uses (it finished, moved, gave up) are given back.
    await giveBackGroups(ctx, job, b, finished);
    // A finished job only waits for its TTL.
    if (finished) return afterFinish(ctx, job, b);
    // A placement whose accelerator the user removed (while suspended) is dropped: the job is placed anew.
    const old = b.status.placement;
    if (old && !job.spec.accelerators.some((a) => a.type === old.accelerator)) b.status.placement = undefined;
    // A move under way goes on until its new epoch is launched (failover.ts).
    const move = currentMove(b.status);
    if (move && !move.launchedAt) return continueMove(ctx, job, b, move);
    if (!b.status.placement) {
      // A job without a placement runs nowhere: what its last placement left (a workload replaced for
      // an edit) is removed before the next epoch is placed, so two epochs never run at once.
      const left = await fenceOldEpochs(ctx, job, b, (b.status.epoch ?? 0) + 1);
      if (left.length > 0) return waitForOldEpoch(b, left);
      // Place, and commit the decision (the status write, checked by resourceVersion) before anything is
      // launched: a pass that read a stale copy fails its write instead of launching a second workload.
      return place(ctx, job, b);
    }
    return this.#placed(job, b);
  }

  /** A placed job: unless its cluster is lost, launch (idempotent), observe, fence, replicate, enforce. */
  async #placed(job: TrainingJob, b: StatusBuilder): Promise<ReconcileResult> {
    const ctx = this.#ctx;
    const cluster = b.status.placement?.cluster ?? "";
    const worker = ctx.o.registry.get(cluster);
    const cc = ctx.o.clusters.get(undefined, cluster);
    if (!worker || !cc) {
      b.condition({
        type: CONDITION.Running,
        status: "False",
        reason: RUNNING.ClusterNotConnected,
        message: `waiting for the connection to ${cluster}`,
      });
      return Result.requeueAfter(2_000);
    }
    const timeouts = failoverTimeouts(job);
    // A cluster that does not answer is not called: the job waits for clusterLostTimeout, then moves.
    const lost = job.spec.suspend ? { kind: "None" as const } : clusterLostTrigger(cc, b.now, timeouts.clusterLost);
    if (lost.kind !== "None") return onTrigger(job, b, lost);
    const epoch = b.status.epoch ?? 1;
    const lineage = lineageOf(b.status);
    const launched = await launchUnlessRefused(ctx, job, b, worker, cc, { activeEpoch: epoch, lineage });
    // A first launch refused by the worker (WorkloadBlocked says why): tried again at the normal
    // interval, not in a loop. A refused update of a running Job is observed below all the same.
    if (!launched) return Result.requeueAfter(ctx.o.checkpointIntervalMs ?? CHECKPOINT_INTERVAL_MS);
    if (launched.replace) return this.#newEpoch(b, worker, epoch);
    reportOutdated(b, launched, worker.name);
    b.status.startTime ??= b.now.toISOString();
    const pods = worker.podsOf(job.metadata.uid ?? "", epoch);
    await pinUltraServerPods(worker, pods, b);
    reportWorkload(job, b, observeWorkload(launched.job, pods, job.spec.replicas), pods);
    reportBlocked(job, b, worker, cc, launched.job, pods);
    const move = currentMove(b.status);
    if (move) trackMove(ctx, b, move);
    let waiting: ReconcileResult = Result.done();
    if (!job.spec.suspend && !["Succeeded", "Failed"].includes(b.phase)) {
      const group = cc.status?.nodeGroups?.find((g) => g.name === b.status.placement?.nodeGroup);
      const trigger = firstMove(
        drainTrigger(cc, b.now),
        capacityLostTrigger(pods, group, b.now, timeouts.unschedulable),
      );
      if (trigger.kind === "Move") {
        const result = onTrigger(job, b, trigger);
        // Out of moves: the job is Failed and its pods, which cannot run or must leave, are stopped.
        if (b.phase === "Failed") await cleanupWorker(worker, job.metadata.uid ?? "");
        return result;
      }
      // Looked at again when the wait ends, not only at the next checkpoint interval.
      if (trigger.kind === "Waiting") waiting = onTrigger(job, b, trigger);
    }
    await fenceOldEpochs(ctx, job, b);
    // Replication is started with the launch, so its first result is there for the pass that sees the
    // pods run; it is reported from then on (until then the pods write no step), in that pass's write.
    await syncCheckpoints(
      ctx,
      job,
      b,
      { cluster: cc, epoch, lineage, ...opt(b.status.placement?.placedAt) },
      { report: b.phase !== "Starting" },
    );
    const deadline = await enforceDeadline(job, b, worker);
    // An active job is looked at again at least every checkpoint interval: new steps appear in its
    // store without any Kubernetes event.
    if (["Succeeded", "Failed", "Suspended"].includes(b.phase)) return deadline;
    const interval = ctx.o.checkpointIntervalMs ?? CHECKPOINT_INTERVAL_MS;
    return Result.requeueAfter(Math.min(interval, afterMs(deadline), afterMs(waiting)));
  }

  /**
   * A pass that failed: condition ReconcileError with the cause, and a Warning event when the cause
   * is new, so a repeating error is seen on the object (kubectl describe), not only in the log.
   */
  #reportError(b: StatusBuilder, err: unknown): void {
    const message = `${toError(err).message}`.slice(0, 1000);
    const before = b.status.conditions?.find((c) => c.type === CONDITION.ReconcileError)?.message;
    b.condition({ type: CONDITION.ReconcileError, status: "True", reason: "ReconcileFailed", message });
    if (before !== message) b.event({ type: "Warning", reason: "ReconcileFailed", message });
  }

  /**
   * The pod template or size changed (edited while suspended, or the template while running): a Job
   * cannot take that, so the placement is dropped; the status write records that decision before the
   * epoch's workload is removed (a pass that found it gone would otherwise launch the same epoch
   * again), and the job is placed anew with a new epoch once it is gone.
   */
  #newEpoch(b: StatusBuilder, worker: WorkerCluster, epoch: number): ReconcileResult {
    b.event({
      type: "Normal",
      reason: "NewEpoch",
      message: `the pod template or replicas changed, which a running Job cannot take: epoch ${epoch}'s workload on ${worker.name} is removed and the job is placed anew as epoch ${epoch + 1}`,
    });
    b.status.placement = undefined;
    return Result.requeueAfter(100);
  }

  /**
   * Writes status if the job has not changed since it was read; returns the object as written, or
   * undefined on a conflict (the cache was behind), after which the next pass starts over from the newer copy.
   */
  async #writeStatus(job: TrainingJob, b: StatusBuilder): Promise<TrainingJob | undefined> {
    try {
      return (await this.#ctx.o.custom.replaceNamespacedCustomObjectStatus({
        ...jobRef(job),
        body: { ...job, status: b.status },
      })) as TrainingJob;
    } catch (err) {
      if (isConflict(err)) return undefined;
      throw err;
    }
  }
}

/**
 * WorkloadUpToDate=False while the running Job differs from what the operator renders and is left
 * running as it is: rendered differently from the same request (an operator release, the
 * ComputeCluster's settings; reason AppliesAtNextEpoch, a Normal event), or its update refused by
 * the worker (reason UpdateRefused, a Warning event when the refusal is new). Absent otherwise.
 */
function reportOutdated(b: StatusBuilder, launched: Launched, worker: string): void {
  const before = b.status.conditions?.find((c) => c.type === CONDITION.WorkloadUpToDate);
  if (launched.refused) {
    const message = `${launched.refused.message}; the Job already running on ${worker} is left as it is and still observed, and the update is tried again at the next passes`;
    b.condition({ type: CONDITION.WorkloadUpToDate, status: "False", reason: "UpdateRefused", message });
    if (before?.reason !== "UpdateRefused" || before.message !== message)
      b.event({ type: "Warning", reason: "UpdateRefused", message });
    return;
  }
  if (!launched.outdated) {
    if (before) b.status.conditions = b.status.conditions?.filter((c) => c.type !== CONDITION.WorkloadUpToDate);
    return;
  }
  const message = `the Job running on ${worker} was rendered differently (another operator release or changed ComputeCluster settings) from the same pod template, replicas and accelerator option: it is left running as it is, and the new rendering applies at the next epoch`;
  b.condition({ type: CONDITION.WorkloadUpToDate, status: "False", reason: "AppliesAtNextEpoch", message });
  if (before?.reason !== "AppliesAtNextEpoch") b.event({ type: "Normal", reason: "AppliesAtNextEpoch", message });
}

/**
 * A job placed and launched in one pass gets one `Placed` event that also says what was launched,
 * instead of a `Placed` and a `Launched` a few milliseconds apart.
 */
export function mergeLaunch(events: readonly PendingEvent[]): PendingEvent[] {
  const placed = events.findIndex((e) => e.reason === "Placed");
  const launched = events.findIndex((e) => e.reason === "Launched");
  if (placed < 0 || launched < placed) return [...events];
  const merged = {
    ...events[placed],
    message: `${events[placed]?.message}; ${events[launched]?.message}`,
  } as PendingEvent;
  return events.flatMap((e, i) => (i === placed ? [merged] : i === launched ? [] : [e]));
}

function afterMs(r: ReconcileResult): number {
  return r.kind === "requeueAfter" ? r.afterMs : Number.POSITIVE_INFINITY;
}

/** The first trigger that says move, else the first that says wait, else none. */
function firstMove(...triggers: Trigger[]): Trigger {
  return triggers.find((t) => t.kind === "Move") ?? triggers.find((t) => t.kind === "Waiting") ?? { kind: "None" };
}

function opt(placedAt: string | undefined): { placedAt?: string } {
  return placedAt ? { placedAt } : {};
}
