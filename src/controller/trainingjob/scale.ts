// The Scaling phase: when the best option fits only after its node group
// grows, the operator asks the cloud for the new size (idempotently: the
// client token is derived from the job's uid, the epoch the placement will
// have and the group, so a retried or restarted pass never grows it twice),
// records the request in status, and waits for the nodes. If they do not
// arrive in time, or the cloud refuses, the group is excluded and placement
// tries the next option.

import { createHash } from "node:crypto";
import type { ComputeCluster } from "../../api/computecluster.ts";
import { PLACED } from "../../api/conditions.ts";
import type { TrainingJob, TrainingJobStatus } from "../../api/trainingjob.ts";
import type { ProviderRegistry } from "../../clusters/providers.ts";
import type { ExcludedGroup, PlacementDecision } from "../../placement/index.ts";
import { isRetryable, ProviderError } from "../../providers/errors.ts";
import type { Informer } from "../../runtime/informer.ts";
import { recordGrowth } from "./give-back.ts";
import { CONDITION, type StatusBuilder } from "./status.ts";

export type ScaleUpStatus = NonNullable<TrainingJobStatus["scaleUp"]>;
export type ExcludedStatus = NonNullable<TrainingJobStatus["excludedNodeGroups"]>[number];

/** How long nodes may take to arrive after a scale-up request. */
export const DEFAULT_SCALE_UP_TIMEOUT_MS = 10 * 60_000;
/** How often a Scaling job looks again (besides the ComputeCluster updates that wake it). */
export const SCALING_POLL_MS = 2_000;
/** Reconcile passes inside one ComputeCluster's cloud calls at once (scale-ups and give-backs). */
export const CLOUD_CALLS_PER_CLUSTER = 2;
/** A cloud call of a cluster unanswered this long makes the next passes not wait on that cloud. */
export const SLOW_CLOUD_CALL_MS = 2_000;

/** What `ScaleUps.gated` resolves with when it did not run the call. */
export const CLOUD_BUSY = Symbol("cloud busy");

/**
 * Why a cluster's cloud is not called now, or undefined when it may be: `started` are the start times
 * (ms) of the calls in flight to it (pure).
 */
export function cloudBusy(started: readonly number[], now: number): string | undefined {
  const oldest = Math.min(...started);
  if (started.length > 0 && now - oldest >= SLOW_CLOUD_CALL_MS)
    return `a call to its cloud API has not been answered for ${SLOW_CLOUD_CALL_MS / 1000}s or more`;
  if (started.length >= CLOUD_CALLS_PER_CLUSTER) return `${started.length} calls to its cloud API are under way`;
  return undefined;
}

/** The idempotency token of one scale-up: the same job, epoch and group always give the same token. */
export function scaleClientToken(uid: string, epoch: number, cluster: string, nodeGroup: string): string {
  const digest = createHash("sha256").update(`${uid}/${epoch}/${cluster}/${nodeGroup}`).digest("hex");
  return `crosscloud-${digest.slice(0, 32)}`;
}

/** The groups placement must not choose again, from status. */
export function excludedGroups(status: TrainingJobStatus): ExcludedGroup[] {
  return (status.excludedNodeGroups ?? []).map((e) => ({ cluster: e.cluster ?? "", nodeGroup: e.nodeGroup ?? "" }));
}

/** True once the recorded scale-up has waited longer than `timeoutMs`. */
export function scaleUpExpired(scaleUp: ScaleUpStatus | undefined, now: Date, timeoutMs: number): boolean {
  if (!scaleUp?.requestedAt) return false;
  return now.getTime() - Date.parse(scaleUp.requestedAt) >= timeoutMs;
}

/** What a placement pass does, given the decision and the scale-up in flight (pure). */
export type ScaleStep =
  | { readonly kind: "Place" }
  | { readonly kind: "Wait"; readonly scaleUp: ScaleUpStatus }
  | { readonly kind: "Request"; readonly cluster: string; readonly nodeGroup: string; readonly targetSize: number }
  | { readonly kind: "NotPlaced" };

export function nextScaleStep(decision: PlacementDecision, scaleUp: ScaleUpStatus | undefined): ScaleStep {
  const winner = decision.winner;
  if (winner?.fit === "Now") return { kind: "Place" };
  if (scaleUp) return { kind: "Wait", scaleUp };
  if (winner?.fit === "AfterScaleUp" && winner.scaleUpTo !== undefined) {
    return { kind: "Request", cluster: winner.cluster, nodeGroup: winner.nodeGroup, targetSize: winner.scaleUpTo };
  }
  return { kind: "NotPlaced" };
}

/** Refusals that will not change by asking again: the group is excluded. Others are retried later. */
export function isRefusal(err: unknown): boolean {
  if (!(err instanceof ProviderError)) return false;
  return ["AutoscalerOwned", "InsufficientCapacity", "Invalid", "NotFound", "ScaleFailed"].includes(err.code);
}

export interface ScaleUpsOptions {
  readonly providers?: ProviderRegistry;
  readonly clusters: Informer<ComputeCluster>;
  /** Nodes not there after this long: the group is excluded. Default DEFAULT_SCALE_UP_TIMEOUT_MS. */
  readonly timeoutMs?: number;
  /** Called after a scale request, e.g. to refresh the cluster's cloud listing. */
  readonly onRequested?: (cluster: string) => void;
  /** Cancels the cloud calls in flight (the replica stopped leading). */
  readonly signal?: AbortSignal;
}

/** Carries out the Scaling phase on a job's StatusBuilder. */
export class ScaleUps {
  readonly #o: ScaleUpsOptions;
  /** The tail of each group's chain of cloud changes (see exclusive). */
  readonly #chains = new Map<string, Promise<unknown>>();
  /** Per cluster, the gated cloud calls in flight, each with its start time. */
  readonly #inCloud = new Map<string, Set<{ readonly at: number }>>();

  constructor(options: ScaleUpsOptions) {
    this.#o = options;
  }

  /**
   * Runs `fn` when no other scale-up or give-back of the same group in this process is under way:
   * a give-back never reads the group, then shrinks it, around another job's scale-up.
   */
  async exclusive<T>(cluster: string, nodeGroup: string, fn: () => Promise<T>): Promise<T> {
    const key = `${cluster}/${nodeGroup}`;
    const before = this.#chains.get(key) ?? Promise.resolve();
    const run = before.then(fn, fn);
    const tail = run.catch(() => {});
    this.#chains.set(key, tail);
    try {
      return await run;
    } finally {
      if (this.#chains.get(key) === tail) this.#chains.delete(key);
    }
  }

  /**
   * Runs `fn` (cloud calls of `cluster`) unless that cloud is slow or busy (cloudBusy): then resolves
   * CLOUD_BUSY at once with the reason, so a cloud API that hangs holds at most CLOUD_CALLS_PER_CLUSTER
   * reconcile workers and never delays jobs on other clusters.
   */
  async gated<T>(
    cluster: string,
    fn: () => Promise<T>,
    now: () => number = Date.now,
  ): Promise<T | { readonly busy: typeof CLOUD_BUSY; readonly reason: string }> {
    const calls = this.#inCloud.get(cluster) ?? new Set();
    const reason = cloudBusy(
      [...calls].map((c) => c.at),
      now(),
    );
    if (reason) return { busy: CLOUD_BUSY, reason };
    const call = { at: now() };
    this.#inCloud.set(cluster, calls.add(call));
    try {
      return await fn();
    } finally {
      calls.delete(call);
      if (calls.size === 0) this.#inCloud.delete(cluster);
    }
  }

  get timeoutMs(): number {
    return this.#o.timeoutMs ?? DEFAULT_SCALE_UP_TIMEOUT_MS;
  }

  /** Drops a scale-up whose nodes did not come in time, excluding its group; true when it did. */
  expire(b: StatusBuilder): boolean {
    const s = b.status.scaleUp;
    if (!s || !scaleUpExpired(s, b.now, this.timeoutMs)) return false;
    const message = `${s.cluster}/${s.nodeGroup}: asked to grow to ${s.targetSize} nodes at ${s.requestedAt}, the nodes did not arrive within ${Math.round(this.timeoutMs / 1000)}s; trying the next option`;
    this.#exclude(b, s.cluster ?? "", s.nodeGroup ?? "", "ScaleUpTimedOut");
    b.event({ type: "Warning", reason: "ScaleUpTimedOut", message });
    return true;
  }

  /** Forgets the scale-up and exclusions once the job is placed. */
  placed(b: StatusBuilder): void {
    const s = b.status.scaleUp;
    if (s) {
      b.event({
        type: "Normal",
        reason: "ScaledUp",
        message: `${s.cluster}/${s.nodeGroup} grew to ${s.targetSize} nodes`,
      });
    }
    b.status.scaleUp = undefined;
    b.status.excludedNodeGroups = undefined;
  }

  /** Still waiting for the recorded scale-up's nodes. */
  wait(b: StatusBuilder, s: ScaleUpStatus, decision: PlacementDecision): void {
    const left = Math.max(0, Date.parse(s.requestedAt ?? "") + this.timeoutMs - b.now.getTime());
    b.condition({
      type: CONDITION.Placed,
      status: "False",
      reason: "ScalingUp",
      message:
        `${scalingText(s)}; waiting for its nodes (${Math.ceil(left / 1000)}s left before trying the next option). ${decision.reason}`.slice(
          0,
          4000,
        ),
    });
    b.setPhase("Scaling");
  }

  /** Asks the cloud to grow the group; records it in status, or excludes the group when the cloud refuses. */
  async request(
    job: TrainingJob,
    b: StatusBuilder,
    step: Extract<ScaleStep, { kind: "Request" }>,
    decision: PlacementDecision,
  ): Promise<"Requested" | "Refused" | "Failed" | "Busy"> {
    const where = `${step.cluster}/${step.nodeGroup}`;
    if (!this.#o.providers) {
      const message = `${decision.reason} (scaling up node groups is not enabled)`;
      b.condition({ type: CONDITION.Placed, status: "False", reason: "WaitingForCapacity", message });
      b.setPhase("Pending");
      return "Failed";
    }
    const cc = this.#o.clusters.get(undefined, step.cluster);
    const provider = cc ? this.#o.providers?.for(cc) : undefined;
    if (!provider) {
      this.#exclude(b, step.cluster, step.nodeGroup, "ScaleUpRefused");
      b.event({ type: "Warning", reason: "ScaleUpFailed", message: `${where}: no cloud API to grow it with` });
      return "Refused";
    }
    const epoch = (b.status.epoch ?? 0) + 1;
    const token = scaleClientToken(job.metadata.uid ?? "", epoch, step.cluster, step.nodeGroup);
    try {
      // Grow only: another job may have asked the same group for more since this decision's snapshot,
      // and asking for less would shrink it under that job.
      const call = this.#o.signal ? { signal: this.#o.signal } : {};
      const called = await this.gated(step.cluster, () =>
        this.exclusive(step.cluster, step.nodeGroup, async () => {
          const current = await provider.getNodeGroup(step.nodeGroup, call);
          const targetSize = Math.max(step.targetSize, current.desiredSize);
          return { current, targetSize, op: await provider.scaleNodeGroup(step.nodeGroup, targetSize, token, call) };
        }),
      );
      if ("busy" in called) {
        const message = `${where}: not asking to grow it to ${step.targetSize} nodes yet: ${called.reason} (will ask again)`;
        b.condition({ type: CONDITION.Placed, status: "False", reason: PLACED.CloudAPIBusy, message });
        b.setPhase("Pending");
        return "Busy";
      }
      const { current, targetSize, op } = called;
      const s: ScaleUpStatus = {
        cluster: step.cluster,
        nodeGroup: step.nodeGroup,
        targetSize,
        operation: op.id,
        requestedAt: b.now.toISOString(),
      };
      b.status.scaleUp = s;
      if (targetSize > current.desiredSize) {
        recordGrowth(b, {
          cluster: step.cluster,
          nodeGroup: step.nodeGroup,
          fromSize: current.desiredSize,
          toSize: targetSize,
          at: s.requestedAt,
        });
      }
      this.#o.onRequested?.(step.cluster);
      b.event({ type: "Normal", reason: "ScalingUp", message: `${scalingText(s)}: ${decision.reason}`.slice(0, 1000) });
      this.wait(b, s, decision);
      return "Requested";
    } catch (err) {
      return this.#failed(b, where, step, err);
    }
  }

  #failed(
    b: StatusBuilder,
    where: string,
    step: Extract<ScaleStep, { kind: "Request" }>,
    err: unknown,
  ): "Refused" | "Failed" {
    const message = `${where}: growing it to ${step.targetSize} nodes failed: ${(err as Error).message}`;
    if (isRefusal(err)) {
      this.#exclude(b, step.cluster, step.nodeGroup, "ScaleUpRefused");
      b.event({ type: "Warning", reason: "ScaleUpFailed", message: `${message}; trying the next option` });
      return "Refused";
    }
    const retry = isRetryable(err) ? "the cloud API is busy or failing" : "will ask again";
    b.condition({ type: CONDITION.Placed, status: "False", reason: "ScaleUpFailed", message: `${message} (${retry})` });
    b.setPhase("Pending");
    return "Failed";
  }

  #exclude(b: StatusBuilder, cluster: string, nodeGroup: string, reason: string): void {
    const others = (b.status.excludedNodeGroups ?? []).filter(
      (e) => !(e.cluster === cluster && e.nodeGroup === nodeGroup),
    );
    b.status.excludedNodeGroups = [...others, { cluster, nodeGroup, reason, at: b.now.toISOString() }].slice(-64);
    if (b.status.scaleUp?.cluster === cluster && b.status.scaleUp.nodeGroup === nodeGroup) b.status.scaleUp = undefined;
  }
}

function scalingText(s: ScaleUpStatus): string {
  return `scaling up ${s.cluster}/${s.nodeGroup} to ${s.targetSize} nodes (operation ${s.operation})`;
}
