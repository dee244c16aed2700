// A keyed, de-duplicating work queue with delayed adds, per-key exponential
// backoff and an overall token-bucket rate limit, in the manner of client-go's
// workqueue: a key is never handed to two workers at once, and a key added
// while it is being processed is handed out again once the worker is done.

import { type Clock, realClock } from "./clock.ts";

export interface WorkQueueOptions {
  /** First per-key retry delay; doubles with each failure. Default 5 ms. */
  readonly baseDelayMs?: number;
  /** Cap on the per-key retry delay. Default 300_000 ms (5 minutes). */
  readonly maxDelayMs?: number;
  /** Overall rate of rate-limited adds, tokens per second. Default 50. */
  readonly qps?: number;
  /** Token bucket size of the overall limiter. Default 300. */
  readonly burst?: number;
  /** Time source. Default the wall clock. */
  readonly clock?: Clock;
}

/** Token bucket: how long until the next token is ours (reserving it now). */
class TokenBucket {
  #tokens: number;
  #last: number;
  readonly #qps: number;
  readonly #burst: number;
  readonly #clock: Clock;

  constructor(qps: number, burst: number, clock: Clock) {
    this.#qps = qps;
    this.#burst = burst;
    this.#tokens = burst;
    this.#clock = clock;
    this.#last = clock.now();
  }

  reserve(): number {
    const now = this.#clock.now();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#last) * this.#qps) / 1000);
    this.#last = now;
    this.#tokens -= 1;
    return this.#tokens >= 0 ? 0 : (-this.#tokens * 1000) / this.#qps;
  }
}

/** A FIFO of keys that shifts in O(1). */
class Fifo {
  #items: string[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }
  push(key: string): void {
    this.#items.push(key);
  }
  shift(): string | undefined {
    if (this.length === 0) return undefined;
    const key = this.#items[this.#head++];
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return key;
  }
}

function validate(name: string, value: number, min: number): number {
  if (!Number.isFinite(value) || value < min) {
    throw new RangeError(`WorkQueueOptions.${name} must be a finite number >= ${min}, got ${value}`);
  }
  return value;
}

export class WorkQueue {
  readonly #clock: Clock;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #bucket: TokenBucket;
  readonly #ready = new Fifo();
  /** Keys that need processing (queued, or re-added while processing). */
  readonly #dirty = new Set<string>();
  readonly #processing = new Set<string>();
  /** Keys waiting for a delayed add, with when they become ready. */
  readonly #waiting = new Map<string, number>();
  readonly #failures = new Map<string, number>();
  readonly #getters: Array<(key: string | undefined) => void> = [];
  readonly #stop = new AbortController();

  constructor(options: WorkQueueOptions = {}) {
    this.#clock = options.clock ?? realClock;
    this.#baseDelayMs = validate("baseDelayMs", options.baseDelayMs ?? 5, 0);
    this.#maxDelayMs = validate("maxDelayMs", options.maxDelayMs ?? 300_000, this.#baseDelayMs);
    const qps = validate("qps", options.qps ?? 50, Number.MIN_VALUE);
    const burst = validate("burst", options.burst ?? 300, 1);
    this.#bucket = new TokenBucket(qps, burst, this.#clock);
  }

  /** Keys ready to be handed out. */
  get length(): number {
    return this.#ready.length;
  }

  get shuttingDown(): boolean {
    return this.#stop.signal.aborted;
  }

  /** Queues `key` unless it is already queued; a key being processed is queued again after done(). */
  add(key: string): void {
    if (this.shuttingDown || this.#dirty.has(key)) return;
    this.#dirty.add(key);
    if (this.#processing.has(key)) return;
    this.#handOut(key);
  }

  /** Queues `key` after `delayMs`; an earlier pending delayed add of the same key wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (!(delayMs > 0)) {
      this.add(key);
      return;
    }
    const readyAt = this.#clock.now() + delayMs;
    const pending = this.#waiting.get(key);
    if (pending !== undefined && pending <= readyAt) return;
    this.#waiting.set(key, readyAt);
    this.#clock.sleep(delayMs, this.#stop.signal).then(
      () => {
        if (this.#waiting.get(key) !== readyAt) return;
        this.#waiting.delete(key);
        this.add(key);
      },
      () => {}, // shut down
    );
  }

  /** Queues `key` after its backoff (baseDelay * 2^failures, capped) or the overall limit, whichever is longer. */
  addRateLimited(key: string): void {
    const failures = this.#failures.get(key) ?? 0;
    this.#failures.set(key, failures + 1);
    const backoff = Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** failures);
    this.addAfter(key, Math.max(backoff, this.#bucket.reserve()));
  }

  /** Resets the key's backoff (after a success or a terminal failure). */
  forget(key: string): void {
    this.#failures.delete(key);
  }

  /** How many times the key was rate-limited since it was last forgotten. */
  numRequeues(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  /** Hands out the next key, waiting for one; undefined once shut down or when `signal` aborts. */
  get(signal?: AbortSignal): Promise<string | undefined> {
    if (this.shuttingDown || signal?.aborted) return Promise.resolve(undefined);
    const key = this.#ready.shift();
    if (key !== undefined) return Promise.resolve(this.#startProcessing(key));
    return new Promise((resolve) => {
      const onAbort = () => {
        const i = this.#getters.indexOf(getter);
        if (i >= 0) this.#getters.splice(i, 1);
        resolve(undefined);
      };
      const getter = (k: string | undefined) => {
        signal?.removeEventListener("abort", onAbort);
        resolve(k === undefined ? undefined : this.#startProcessing(k));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#getters.push(getter);
    });
  }

  /** Marks the key's processing finished; if it was added meanwhile it is queued again. */
  done(key: string): void {
    if (!this.#processing.delete(key)) return;
    if (this.#dirty.has(key) && !this.shuttingDown) this.#handOut(key);
  }

  /** Stops the queue: pending and future get() calls return undefined, adds are ignored. */
  shutDown(): void {
    if (this.shuttingDown) return;
    this.#stop.abort(new Error("work queue shut down"));
    this.#waiting.clear();
    for (const getter of this.#getters.splice(0)) getter(undefined);
  }

  #handOut(key: string): void {
    const getter = this.#getters.shift();
    if (getter) getter(key);
    else this.#ready.push(key);
  }

  #startProcessing(key: string): string {
    this.#dirty.delete(key);
    this.#processing.add(key);
    return key;
  }
}
