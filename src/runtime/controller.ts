// Runs a reconciler over a work queue: a fixed pool of workers pulls keys and
// maps each ReconcileResult onto the queue (forget, requeue after a delay,
// back off, or give up), recording duration and errors, and stops gracefully.
// It also says whether it makes progress (stalled()), for the liveness probe.

import { type Logger, silentLogger } from "./logger.ts";
import type { RuntimeMetrics } from "./metrics.ts";
import { WorkQueue } from "./queue.ts";
import { type ReconcileResult, resultFromThrown } from "./result.ts";

export interface ControllerOptions {
  /** Names the controller in logs and metrics, e.g. "trainingjob". */
  readonly name: string;
  /** Keys reconciled at once; never the same key twice at once. Default 4. */
  readonly workers?: number;
  /** One level-triggered pass for `key` (usually "namespace/name"); the signal aborts on shutdown. */
  readonly reconcile: (key: string, signal: AbortSignal) => Promise<ReconcileResult>;
  /** The queue to pull from. Default a new WorkQueue with its defaults. */
  readonly queue?: WorkQueue;
  /** Where duration, errors and queue depth go. Default none. */
  readonly metrics?: RuntimeMetrics;
  /** Default a silent logger. */
  readonly logger?: Logger;
  /** Milliseconds since the epoch, for stalled(). Default Date.now. */
  readonly now?: () => number;
}

export class Controller {
  readonly name: string;
  readonly queue: WorkQueue;
  readonly #workers: number;
  readonly #reconcile: ControllerOptions["reconcile"];
  readonly #metrics: RuntimeMetrics | undefined;
  readonly #log: Logger;
  readonly #now: () => number;
  #inFlight = 0;
  /** When a reconcile last finished, or when the workers went from idle to busy, whichever is later. */
  #progressAt = 0;

  constructor(options: ControllerOptions) {
    const workers = options.workers ?? 4;
    if (!Number.isInteger(workers) || workers < 1) {
      throw new RangeError(`ControllerOptions.workers must be an integer >= 1, got ${workers}`);
    }
    this.name = options.name;
    this.#workers = workers;
    this.#reconcile = options.reconcile;
    this.queue = options.queue ?? new WorkQueue();
    this.#metrics = options.metrics;
    this.#log = (options.logger ?? silentLogger()).child({ controller: options.name });
    this.#now = options.now ?? Date.now;
  }

  /**
   * Why the controller makes no progress: reconciles are running (so keys wait or are being worked on)
   * and none has finished for longer than `thresholdMs`. Undefined while it progresses or is idle.
   */
  stalled(thresholdMs: number): string | undefined {
    if (this.#inFlight === 0) return undefined;
    const idle = this.#now() - this.#progressAt;
    if (idle <= thresholdMs) return undefined;
    return (
      `controller ${this.name}: no reconcile finished for ${Math.round(idle / 1000)}s ` +
      `(${this.#inFlight} running, ${this.queue.length} waiting; limit ${Math.round(thresholdMs / 1000)}s)`
    );
  }

  /** Reconciles currently running. */
  get inFlight(): number {
    return this.#inFlight;
  }

  enqueue(key: string): void {
    this.queue.add(key);
  }

  enqueueAfter(key: string, ms: number): void {
    this.queue.addAfter(key, ms);
  }

  /** Runs the workers until `signal` aborts; resolves once every in-flight reconcile has returned. */
  async run(signal: AbortSignal): Promise<void> {
    const unobserve = this.#metrics?.observeQueue(this.name, () => this.queue.length);
    const stop = () => this.queue.shutDown();
    if (signal.aborted) stop();
    signal.addEventListener("abort", stop, { once: true });
    this.#log.info("controller started", { workers: this.#workers });
    try {
      await Promise.all(Array.from({ length: this.#workers }, () => this.#work(signal)));
    } finally {
      signal.removeEventListener("abort", stop);
      unobserve?.();
      this.#log.info("controller stopped");
    }
  }

  async #work(signal: AbortSignal): Promise<void> {
    for (;;) {
      const key = await this.queue.get(signal);
      if (key === undefined) return;
      try {
        await this.#process(key, signal);
      } finally {
        this.queue.done(key);
      }
    }
  }

  async #process(key: string, signal: AbortSignal): Promise<void> {
    const started = performance.now();
    if (this.#inFlight++ === 0) this.#progressAt = this.#now();
    let result: ReconcileResult;
    try {
      result = await this.#reconcile(key, signal);
    } catch (err) {
      result = resultFromThrown(err);
    } finally {
      this.#inFlight--;
      this.#progressAt = this.#now();
    }
    if (signal.aborted && (result.kind === "retry" || result.kind === "terminal")) {
      // Cut short by the stop (a lost Lease fences the clients): not an error of the object.
      this.#log.info("reconcile cut short: the controller is stopping", { object: key, error: result.error });
      return;
    }
    const seconds = (performance.now() - started) / 1000;
    this.#metrics?.reconcileDuration.observe({ controller: this.name, result: result.kind }, seconds);
    this.#apply(key, result);
  }

  #apply(key: string, result: ReconcileResult): void {
    switch (result.kind) {
      case "done":
        this.queue.forget(key);
        return;
      case "requeueAfter":
        this.queue.forget(key);
        this.queue.addAfter(key, result.afterMs);
        return;
      case "retry":
        this.#metrics?.reconcileErrors.inc({ controller: this.name });
        this.queue.addRateLimited(key);
        this.#log.warn("reconcile failed; will retry", {
          object: key,
          retries: this.queue.numRequeues(key),
          error: result.error,
        });
        return;
      case "terminal":
        this.#metrics?.reconcileErrors.inc({ controller: this.name });
        this.queue.forget(key);
        this.#log.error("reconcile failed; not retrying", { object: key, error: result.error });
        return;
    }
  }
}
