// Time for the runtime: the wall clock in production and a FakeClock that
// tests advance by hand, so queue and leader-election tests never sleep.

import { setTimeout as sleepTimer } from "node:timers/promises";

/** What the runtime needs of time: the current instant and an abortable sleep. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves after `ms`; rejects with the signal's reason if it aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The wall clock. */
export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) => sleepTimer(Math.max(0, ms), undefined, signal ? { signal } : undefined),
};

interface FakeTimer {
  readonly at: number;
  readonly seq: number;
  readonly fire: () => void;
}

/** Lets the promise continuations of fired timers run before the next one fires. */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * A clock that only moves when a test calls `advance`. Timers fire in order of
 * due time, and the continuations of each fired timer run before the next
 * fires, so code that sleeps in a loop behaves as it would on the wall clock.
 */
export class FakeClock implements Clock {
  #now: number;
  #seq = 0;
  #timers: FakeTimer[] = [];

  constructor(start = 1_700_000_000_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  /** Sleepers not yet woken. */
  get pending(): number {
    return this.#timers.length;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.#timers = this.#timers.filter((t) => t !== timer);
        reject(signal?.reason);
      };
      const timer: FakeTimer = {
        at: this.#now + Math.max(0, ms),
        seq: this.#seq++,
        fire: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#timers.push(timer);
    });
  }

  /** Moves time forward by `ms`, firing every timer due on the way. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    await settle();
    for (;;) {
      const next = this.#nextDue(target);
      if (next === undefined) break;
      this.#timers = this.#timers.filter((t) => t !== next);
      this.#now = next.at;
      next.fire();
      await settle();
    }
    this.#now = target;
    await settle();
  }

  /** Resolves once at least `count` sleepers are waiting (after yielding to pending work). */
  async untilSleeping(count = 1, maxTurns = 1000): Promise<void> {
    for (let i = 0; i < maxTurns && this.#timers.length < count; i++) await settle();
    if (this.#timers.length < count) {
      throw new Error(`FakeClock: expected ${count} sleepers, have ${this.#timers.length}`);
    }
  }

  #nextDue(target: number): FakeTimer | undefined {
    let best: FakeTimer | undefined;
    for (const t of this.#timers) {
      if (t.at > target) continue;
      if (!best || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t;
    }
    return best;
  }
}
