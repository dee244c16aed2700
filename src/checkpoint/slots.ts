// A counting semaphore for part buffers: the replicator holds one slot per
// part it has in memory, so memory stays under slots x part size whatever the
// file sizes. Waiting for a slot ends with an Aborted error when the signal fires.

import { CheckpointError } from "./errors.ts";

export class Slots {
  #free: number;
  readonly #waiting: (() => void)[] = [];

  constructor(count: number) {
    if (!Number.isSafeInteger(count) || count < 1)
      throw new RangeError(`slot count must be an integer >= 1, got ${count}`);
    this.#free = count;
  }

  /** Resolves with a release function once a slot is free. */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) throw aborted();
    if (this.#free > 0) {
      this.#free--;
      return this.#releaser();
    }
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const i = this.#waiting.indexOf(grant);
        if (i >= 0) this.#waiting.splice(i, 1);
        reject(aborted());
      };
      const grant = () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      };
      this.#waiting.push(grant);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
    return this.#releaser();
  }

  #releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiting.shift();
      if (next) next();
      else this.#free++;
    };
  }
}

function aborted(): CheckpointError {
  return new CheckpointError({ code: "Aborted" }, "the operation was aborted");
}
