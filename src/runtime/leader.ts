// Lease-based leader election (coordination.k8s.io/v1), in the manner of
// client-go's leaderelection: one replica holds the Lease and renews it; the
// others take it over once it expires, or at once when the leader releases it.

import {
  type ConfigurationOptions,
  CoordinationV1Api,
  type KubeConfig,
  Observable,
  type RequestContext,
  type ResponseContext,
  type V1Lease,
  V1MicroTime,
} from "@kubernetes/client-node";
import { type Clock, realClock } from "./clock.ts";
import { type Logger, silentLogger } from "./logger.ts";

export interface LeaderElectionOptions {
  readonly kubeConfig: KubeConfig;
  /** The Lease's namespace; it must exist (the elector never creates namespaces). */
  readonly namespace: string;
  /** The Lease's name. */
  readonly name: string;
  /** Unique per replica, e.g. the pod name. */
  readonly identity: string;
  /** How long a Lease stays valid after its last renewal. Default 15_000 ms. */
  readonly leaseDurationMs?: number;
  /** The leader gives up when it has not renewed for this long. Default 10_000 ms. */
  readonly renewDeadlineMs?: number;
  /** Time between acquire or renew attempts. Default 2_000 ms. */
  readonly retryPeriodMs?: number;
  /** Whether a leader that stops gracefully releases the Lease so another takes over at once. Default true. */
  readonly releaseOnStop?: boolean;
  /** Default the wall clock. */
  readonly clock?: Clock;
  /** Default a silent logger. */
  readonly logger?: Logger;
}

export interface LeaderCallbacks {
  /** Runs when this replica becomes leader; `signal` aborts when it stops leading. */
  readonly onStartedLeading: (signal: AbortSignal) => void | Promise<void>;
  /** Runs after this replica stopped leading (lost the Lease or was stopped). */
  readonly onStoppedLeading?: () => void;
}

type Attempt = "acquired" | "renewed" | "held-by-other" | "conflict";

function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "number" ? code : undefined;
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) {
    throw new RangeError(`LeaderElectionOptions.${name} must be a positive number of ms, got ${value}`);
  }
  return value;
}

function timeOf(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  const ms = new Date(value as string | Date).getTime();
  return Number.isNaN(ms) ? undefined : ms;
}

/** Per-request options that abort the request when `signal` does (a hung request must not outlive the renew deadline). */
function withSignal(signal: AbortSignal): ConfigurationOptions {
  return {
    middleware: [
      {
        pre: (ctx: RequestContext) => {
          ctx.setSignal(signal);
          return new Observable(Promise.resolve(ctx));
        },
        post: (ctx: ResponseContext) => new Observable(Promise.resolve(ctx)),
      },
    ],
    middlewareMergeStrategy: "append",
  };
}

export class LeaderElector {
  readonly #o: LeaderElectionOptions;
  readonly #api: CoordinationV1Api;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #leaseMs: number;
  readonly #renewDeadlineMs: number;
  readonly #retryMs: number;
  #leading = false;
  /** The Lease's holder as last read. */
  #holder: string | undefined;

  constructor(o: LeaderElectionOptions) {
    this.#o = o;
    this.#api = o.kubeConfig.makeApiClient(CoordinationV1Api);
    this.#clock = o.clock ?? realClock;
    this.#log = (o.logger ?? silentLogger()).child({ lease: `${o.namespace}/${o.name}`, identity: o.identity });
    this.#leaseMs = positive("leaseDurationMs", o.leaseDurationMs ?? 15_000);
    this.#renewDeadlineMs = positive("renewDeadlineMs", o.renewDeadlineMs ?? 10_000);
    this.#retryMs = positive("retryPeriodMs", o.retryPeriodMs ?? 2_000);
    if (this.#renewDeadlineMs >= this.#leaseMs) {
      throw new RangeError(
        `LeaderElectionOptions: renewDeadlineMs (${this.#renewDeadlineMs}) must be less than leaseDurationMs (${this.#leaseMs})`,
      );
    }
    if (this.#retryMs >= this.#renewDeadlineMs) {
      throw new RangeError(
        `LeaderElectionOptions: retryPeriodMs (${this.#retryMs}) must be less than renewDeadlineMs (${this.#renewDeadlineMs})`,
      );
    }
  }

  get isLeader(): boolean {
    return this.#leading;
  }

  /** Campaigns until leading, leads until the Lease is lost or `signal` aborts, then resolves. */
  async run(callbacks: LeaderCallbacks, signal: AbortSignal): Promise<void> {
    if (!(await this.#acquire(signal))) return;
    const leading = new AbortController();
    this.#leading = true;
    this.#log.info("started leading");
    const work = Promise.resolve()
      .then(() => callbacks.onStartedLeading(leading.signal))
      .catch((err: unknown) => {
        this.#log.error("onStartedLeading failed; stepping down", { error: err });
        leading.abort(err);
      });
    const lost = await this.#renew(signal, leading.signal);
    this.#leading = false;
    leading.abort(new Error(lost ? "leader election lost" : "leader election stopped"));
    await work;
    if (!lost && this.#o.releaseOnStop !== false) await this.#release();
    this.#log.info(lost ? "stopped leading: lease lost" : "stopped leading");
    callbacks.onStoppedLeading?.();
  }

  /** Tries every retry period until the Lease is ours; false when `signal` aborted first. */
  async #acquire(signal: AbortSignal): Promise<boolean> {
    let lastHolder: string | undefined;
    while (!signal.aborted) {
      const attempt = await this.#attempt(this.#renewDeadlineMs).catch((err: unknown) => {
        this.#log.warn("could not acquire the lease", { error: err });
        return undefined;
      });
      if (attempt === "acquired" || attempt === "renewed") return true;
      if (attempt === "held-by-other" && this.#holder !== lastHolder) {
        lastHolder = this.#holder;
        this.#log.info("lease held by another replica", { holder: lastHolder });
      }
      if (!(await this.#sleep(this.#retryMs, signal))) return false;
    }
    return false;
  }

  /** Renews every retry period; resolves true when renewing failed past the deadline, false when stopped. */
  async #renew(signal: AbortSignal, leading: AbortSignal): Promise<boolean> {
    let lastRenew = this.#clock.now();
    for (;;) {
      const stop = AbortSignal.any([signal, leading]);
      if (!(await this.#sleep(this.#retryMs, stop))) return false;
      const left = lastRenew + this.#renewDeadlineMs - this.#clock.now();
      const attempt = await this.#attempt(Math.max(1, left)).catch((err: unknown) => {
        this.#log.warn("could not renew the lease", { error: err });
        return undefined;
      });
      if (attempt === "renewed" || attempt === "acquired") lastRenew = this.#clock.now();
      else if (attempt === "held-by-other") return true;
      if (this.#clock.now() - lastRenew >= this.#renewDeadlineMs) return true;
    }
  }

  /** One read-and-write of the Lease, bounded by `timeoutMs`. */
  async #attempt(timeoutMs: number): Promise<Attempt> {
    const timeout = AbortSignal.timeout(timeoutMs);
    const options = withSignal(timeout);
    const { namespace, name } = this.#o;
    let lease: V1Lease;
    try {
      lease = await this.#api.readNamespacedLease({ namespace, name }, options);
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
      return this.#create(options);
    }
    this.#holder = lease.spec?.holderIdentity || undefined;
    const now = this.#clock.now();
    if (this.#holder && this.#holder !== this.#o.identity && !this.#expired(lease, now)) return "held-by-other";
    const ours = this.#holder === this.#o.identity;
    const spec = lease.spec ?? {};
    lease.spec = {
      ...spec,
      holderIdentity: this.#o.identity,
      leaseDurationSeconds: Math.ceil(this.#leaseMs / 1000),
      renewTime: new V1MicroTime(now),
      acquireTime: ours && spec.acquireTime ? new V1MicroTime(timeOf(spec.acquireTime) ?? now) : new V1MicroTime(now),
      leaseTransitions: ours ? (spec.leaseTransitions ?? 0) : (spec.leaseTransitions ?? 0) + 1,
    };
    try {
      await this.#api.replaceNamespacedLease({ namespace, name, body: lease }, options);
    } catch (err) {
      if (statusOf(err) === 409) return "conflict";
      throw err;
    }
    if (!ours) this.#log.info("acquired the lease", { previousHolder: this.#holder ?? null });
    this.#holder = this.#o.identity;
    return ours ? "renewed" : "acquired";
  }

  async #create(options: ConfigurationOptions): Promise<Attempt> {
    const now = new V1MicroTime(this.#clock.now());
    const body: V1Lease = {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: this.#o.name, namespace: this.#o.namespace },
      spec: {
        holderIdentity: this.#o.identity,
        leaseDurationSeconds: Math.ceil(this.#leaseMs / 1000),
        acquireTime: now,
        renewTime: now,
        leaseTransitions: 0,
      },
    };
    try {
      await this.#api.createNamespacedLease({ namespace: this.#o.namespace, body }, options);
    } catch (err) {
      if (statusOf(err) === 409) return "conflict";
      throw err;
    }
    this.#log.info("created and acquired the lease");
    this.#holder = this.#o.identity;
    return "acquired";
  }

  #expired(lease: V1Lease, now: number): boolean {
    const renewed = timeOf(lease.spec?.renewTime);
    const seconds = lease.spec?.leaseDurationSeconds;
    if (renewed === undefined || seconds === undefined) return true;
    return renewed + seconds * 1000 < now;
  }

  /** Hands the Lease over at once: no holder, and a renewTime already expired. */
  async #release(): Promise<void> {
    const { namespace, name } = this.#o;
    try {
      const options = withSignal(AbortSignal.timeout(this.#renewDeadlineMs));
      const lease = await this.#api.readNamespacedLease({ namespace, name }, options);
      if (lease.spec?.holderIdentity !== this.#o.identity) return;
      const past = new V1MicroTime(this.#clock.now() - this.#leaseMs - 1000);
      lease.spec = {
        ...lease.spec,
        holderIdentity: undefined,
        renewTime: past,
        acquireTime: past,
        leaseDurationSeconds: 1,
      };
      await this.#api.replaceNamespacedLease({ namespace, name, body: lease }, options);
      this.#log.info("released the lease");
    } catch (err) {
      this.#log.warn("could not release the lease; another replica takes over when it expires", { error: err });
    }
  }

  /** Sleeps; false when `signal` aborted. */
  async #sleep(ms: number, signal: AbortSignal): Promise<boolean> {
    try {
      await this.#clock.sleep(ms, signal);
      return true;
    } catch {
      return false;
    }
  }
}
