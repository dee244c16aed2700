// Lease-based leader election (coordination.k8s.io/v1), in the manner of
// client-go's leaderelection: one replica holds the Lease and renews it; the
// others take it over once it expires, or at once when the leader releases it.
//
// Expiry is judged as client-go judges it, on the candidate's own clock: a
// Lease held by another replica expires leaseDuration after this replica
// last saw it change (its resourceVersion), whatever renewTime it carries, so
// clocks that disagree cannot make two leaders. The leader writes as
// renewTime the instant its attempt started (before the read and the write)
// and stops leading once renewDeadline has passed since the start of its
// last successful renew, or at once when it sees another holder: since
// renewDeadline < leaseDuration, it has stopped before any candidate can
// take over. Stopping aborts the signal given to onStartedLeading at that
// instant; clients built with it as their fence (src/runtime/deadline.ts)
// send nothing more and abort what is in flight.

import type { V1Lease } from "@kubernetes/client-node";
import { type CallOptions, CoordinationV1Api } from "../kube/apis.ts";
import { KubeClient } from "../kube/client.ts";
import type { KubeConfigView } from "../kube/config.ts";
import { type Clock, realClock } from "./clock.ts";
import { type Logger, silentLogger } from "./logger.ts";

export interface LeaderElectionOptions {
  readonly kubeConfig: KubeConfigView;
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
  /**
   * How long run() waits, once leading stopped, for the work of onStartedLeading to return before it
   * calls onStoppedLeading anyway. Default renewDeadlineMs.
   */
  readonly drainTimeoutMs?: number;
  /** Default the wall clock. */
  readonly clock?: Clock;
  /** Default a silent logger. */
  readonly logger?: Logger;
}

export interface LeaderCallbacks {
  /**
   * Runs when this replica becomes leader. `signal` aborts the instant it stops leading: the Lease lost
   * (not renewed within renewDeadlineMs of the last renew's start, or another holder seen) or the
   * elector stopped. Give it to every client as its fence (src/runtime/deadline.ts).
   */
  readonly onStartedLeading: (signal: AbortSignal) => void | Promise<void>;
  /** Runs after this replica stopped leading (lost the Lease or was stopped). */
  readonly onStoppedLeading?: () => void;
}

type Attempt = "acquired" | "renewed" | "held-by-other" | "conflict";

/** Why leading stopped. */
type Ending = { readonly lost: false } | { readonly lost: true; readonly reason: string };

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

/**
 * A Lease time in the form the API server requires (RFC 3339 with six fractional digits, metav1.MicroTime),
 * typed as client-node types it (a Date): this is what goes into the JSON.
 */
function microTime(ms: number): Date {
  return new Date(ms).toISOString().replace(/Z$/, "000Z") as unknown as Date;
}

function withSignal(signal: AbortSignal): CallOptions {
  return { signal };
}

/** `p`, or a rejection with the signal's reason as soon as `signal` aborts (whatever `p` still waits on). */
function bounded<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

export class LeaderElector {
  readonly #o: LeaderElectionOptions;
  readonly #api: CoordinationV1Api;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #leaseMs: number;
  readonly #renewDeadlineMs: number;
  readonly #retryMs: number;
  readonly #drainMs: number;
  #leading = false;
  /** The Lease's holder as last read. */
  #holder: string | undefined;
  /** The Lease as last seen (its resourceVersion) and when, on this replica's clock, it was first seen so. */
  #observed: { readonly version: string; readonly at: number } | undefined;
  /** While run() runs: when its loop last finished a step (an attempt or a wait). */
  #tick: number | undefined;

  constructor(o: LeaderElectionOptions) {
    this.#o = o;
    this.#api = new CoordinationV1Api(
      new KubeClient(o.kubeConfig, {
        target: `the Lease ${o.namespace}/${o.name}`,
        timeoutMs: positive("renewDeadlineMs", o.renewDeadlineMs ?? 10_000),
      }),
    );
    this.#clock = o.clock ?? realClock;
    this.#log = (o.logger ?? silentLogger()).child({ lease: `${o.namespace}/${o.name}`, identity: o.identity });
    this.#leaseMs = positive("leaseDurationMs", o.leaseDurationMs ?? 15_000);
    this.#renewDeadlineMs = positive("renewDeadlineMs", o.renewDeadlineMs ?? 10_000);
    this.#retryMs = positive("retryPeriodMs", o.retryPeriodMs ?? 2_000);
    this.#drainMs = positive("drainTimeoutMs", o.drainTimeoutMs ?? this.#renewDeadlineMs);
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

  /**
   * Why the election loop looks wedged: while run() runs, no attempt or wait finished for longer than
   * one retry period, one attempt and one lease duration together (each attempt is bounded, so a loop
   * that works never gets there). Undefined when it is fine or not running.
   */
  stalled(): string | undefined {
    if (this.#tick === undefined) return undefined;
    const idle = this.#clock.now() - this.#tick;
    const limit = this.#retryMs + this.#renewDeadlineMs + this.#leaseMs;
    if (idle <= limit) return undefined;
    return `leader election made no progress for ${idle} ms (an attempt is due every ${this.#retryMs} ms)`;
  }

  /** Campaigns until leading, leads until the Lease is lost or `signal` aborts, then resolves. */
  async run(callbacks: LeaderCallbacks, signal: AbortSignal): Promise<void> {
    this.#tick = this.#clock.now();
    try {
      const acquiredAt = await this.#acquire(signal);
      if (acquiredAt === undefined) return;
      await this.#lead(callbacks, acquiredAt, signal);
    } finally {
      this.#tick = undefined;
    }
  }

  async #lead(callbacks: LeaderCallbacks, acquiredAt: number, signal: AbortSignal): Promise<void> {
    const leading = new AbortController();
    this.#leading = true;
    this.#log.info("started leading");
    const work = Promise.resolve()
      .then(() => callbacks.onStartedLeading(leading.signal))
      .catch((err: unknown) => {
        this.#log.error("onStartedLeading failed; stepping down", { error: err });
        leading.abort(err);
      });
    const ending = await this.#renew(acquiredAt, signal, leading.signal);
    // Before anything else: fenced clients send nothing from here on.
    this.#leading = false;
    leading.abort(new Error(ending.lost ? `leader election lost: ${ending.reason}` : "leader election stopped"));
    if (ending.lost) this.#log.error("lost the lease; aborting in-flight work", { reason: ending.reason });
    await this.#drain(work);
    if (!ending.lost && this.#o.releaseOnStop !== false) await this.#release();
    this.#log.info(ending.lost ? "stopped leading: lease lost" : "stopped leading");
    callbacks.onStoppedLeading?.();
  }

  /** Waits for the leader's work to return, at most drainTimeoutMs. */
  async #drain(work: Promise<void>): Promise<void> {
    const timeout = new AbortController();
    const timer = this.#clock.sleep(this.#drainMs, timeout.signal).then(
      () => true,
      () => false,
    );
    const timedOut = await Promise.race([work.then(() => false), timer]);
    timeout.abort();
    if (timedOut) this.#log.warn("the leader's work did not return after leading stopped", { waitedMs: this.#drainMs });
  }

  /** Tries every retry period until the Lease is ours; resolves with when the winning attempt started, or undefined when `signal` aborted first. */
  async #acquire(signal: AbortSignal): Promise<number | undefined> {
    let lastHolder: string | undefined;
    while (!signal.aborted) {
      const started = this.#clock.now();
      const attempt = await this.#attempt(started, this.#renewDeadlineMs).catch((err: unknown) => {
        this.#log.warn("could not acquire the lease", { error: err });
        return undefined;
      });
      this.#tick = this.#clock.now();
      if (attempt === "acquired" || attempt === "renewed") {
        // Held from when the attempt started: one that took longer than the renew deadline is
        // renewed at once before leading begins.
        if (this.#tick - started < this.#renewDeadlineMs) return started;
        this.#log.warn("acquired the lease too slowly to lead on it; renewing at once", {
          tookMs: this.#tick - started,
        });
        continue;
      }
      if (attempt === "held-by-other" && this.#holder !== lastHolder) {
        lastHolder = this.#holder;
        this.#log.info("lease held by another replica", { holder: lastHolder });
      }
      if (!(await this.#sleep(this.#retryMs, signal))) return undefined;
    }
    return undefined;
  }

  /**
   * Renews every retry period until stopped or lost: lost when renewDeadlineMs has passed since the
   * start of the last successful renew (`renewedAt`), or when another holder has the Lease.
   */
  async #renew(renewedAt: number, signal: AbortSignal, leading: AbortSignal): Promise<Ending> {
    let deadline = renewedAt + this.#renewDeadlineMs;
    const stop = AbortSignal.any([signal, leading]);
    const missed = () => ({ lost: true, reason: `not renewed within ${this.#renewDeadlineMs} ms` }) as const;
    let failed = false;
    for (;;) {
      // After a success, wait a retry period if the deadline leaves room for it, else try at once;
      // after a failure, wait a retry period, or until the deadline.
      const left = deadline - this.#clock.now();
      const wait = failed ? Math.min(this.#retryMs, left) : left > this.#retryMs ? this.#retryMs : 0;
      if (!(await this.#sleep(wait, stop))) return { lost: false };
      if (this.#clock.now() >= deadline) return missed();
      const started = this.#clock.now();
      const attempt = await this.#attempt(started, deadline - started).catch((err: unknown) => {
        this.#log.warn("could not renew the lease", { error: err });
        return undefined;
      });
      this.#tick = this.#clock.now();
      failed = attempt !== "renewed" && attempt !== "acquired";
      if (!failed) deadline = started + this.#renewDeadlineMs;
      else if (attempt === "held-by-other") return { lost: true, reason: `held by ${this.#holder}` };
      if (this.#clock.now() >= deadline) return missed();
    }
  }

  /** One read-and-write of the Lease, given up after `timeoutMs`; `started` is the renewTime it writes. */
  #attempt(started: number, timeoutMs: number): Promise<Attempt> {
    const timeout = AbortSignal.timeout(Math.max(1, timeoutMs));
    return bounded(this.#tryAcquireOrRenew(started, withSignal(timeout)), timeout);
  }

  async #tryAcquireOrRenew(started: number, options: CallOptions): Promise<Attempt> {
    const { namespace, name } = this.#o;
    let lease: V1Lease;
    try {
      lease = await this.#api.readNamespacedLease({ namespace, name }, options);
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
      return this.#create(started, options);
    }
    this.#observe(lease);
    this.#holder = lease.spec?.holderIdentity || undefined;
    if (this.#holder && this.#holder !== this.#o.identity && !this.#expired(lease)) return "held-by-other";
    const ours = this.#holder === this.#o.identity;
    const spec = lease.spec ?? {};
    const now = microTime(started);
    lease.spec = {
      ...spec,
      holderIdentity: this.#o.identity,
      leaseDurationSeconds: Math.ceil(this.#leaseMs / 1000),
      renewTime: now,
      acquireTime: ours && spec.acquireTime ? microTime(timeOf(spec.acquireTime) ?? started) : now,
      leaseTransitions: ours ? (spec.leaseTransitions ?? 0) : (spec.leaseTransitions ?? 0) + 1,
    };
    let written: V1Lease;
    try {
      written = await this.#api.replaceNamespacedLease({ namespace, name, body: lease }, options);
    } catch (err) {
      if (statusOf(err) === 409) return "conflict";
      throw err;
    }
    this.#observe(written);
    if (!ours) this.#log.info("acquired the lease", { previousHolder: this.#holder ?? null });
    this.#holder = this.#o.identity;
    return ours ? "renewed" : "acquired";
  }

  async #create(started: number, options: CallOptions): Promise<Attempt> {
    const now = microTime(started);
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
      this.#observe(await this.#api.createNamespacedLease({ namespace: this.#o.namespace, body }, options));
    } catch (err) {
      if (statusOf(err) === 409) return "conflict";
      throw err;
    }
    this.#log.info("created and acquired the lease");
    this.#holder = this.#o.identity;
    return "acquired";
  }

  /** Notes when the Lease was first seen as it is now (a new resourceVersion), on this replica's clock. */
  #observe(lease: V1Lease): void {
    const version = lease.metadata?.resourceVersion ?? "";
    if (this.#observed?.version !== version) this.#observed = { version, at: this.#clock.now() };
  }

  /**
   * Whether another holder's Lease has expired: leaseDurationSeconds after this replica first saw it
   * as it is, never by its renewTime (the holder's clock, which may disagree with ours).
   */
  #expired(lease: V1Lease): boolean {
    const seconds = lease.spec?.leaseDurationSeconds;
    if (seconds === undefined || this.#observed === undefined) return true;
    return this.#observed.at + seconds * 1000 < this.#clock.now();
  }
  /** Hands the Lease over at once: no holder, and a renewTime already expired. */
  async #release(): Promise<void> {
    const { namespace, name } = this.#o;
    try {
      const options = withSignal(AbortSignal.timeout(this.#renewDeadlineMs));
      const lease = await this.#api.readNamespacedLease({ namespace, name }, options);
      if (lease.spec?.holderIdentity !== this.#o.identity) return;
      const past = microTime(this.#clock.now() - this.#leaseMs - 1000);
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
