// One budget per process for the memory and the concurrency of checkpoint
// copies. Every replication pass (the operator runs one per job) takes each
// part's buffer and its right to copy (read, hash, write) from the same
// budget, so memory is bounded per process, not per job: at most `bytes` of
// part buffers and `copies` part copies in flight, whatever the number of
// jobs. Passes waiting for room are served in turn, one request per pass at a
// time, so a pass with many files does not starve the others; a waiting
// request ends with Aborted when its signal fires, and gives nothing back
// because it held nothing.

import { BufferPool, bufferCapacity } from "./buffer-pool.ts";
import { CheckpointError } from "./errors.ts";

const MiB = 2 ** 20;

export interface BudgetLimits {
  /** Bytes of part buffers held at once by every pass together. */
  readonly bytes: number;
  /** Part copies (one part read, hashed and written, or one small file) in flight at once. */
  readonly copies: number;
}

/** 256 MiB of buffers (16 parts of the default 16 MiB) and 16 copies. */
export const DEFAULT_BUDGET: BudgetLimits = { bytes: 256 * MiB, copies: 16 };

/** A part's buffer and copy slot; `release` gives both back (a second call does nothing). */
export interface Lease {
  readonly bytes: Buffer;
  readonly release: () => void;
}

/** What is held and waiting now, and the most ever held at once. */
export interface BudgetUsage {
  readonly bytes: number;
  readonly copies: number;
  readonly waiting: number;
  readonly peakBytes: number;
  readonly peakCopies: number;
}

interface Request {
  readonly size: number;
  readonly charge: number;
  readonly grant: () => void;
}

/** One pass's access to the budget: its requests wait in its own queue and take turns with other passes'. */
export interface BudgetHolder {
  /** A buffer of exactly `size` bytes and a copy slot, once the budget has room for them. */
  take(size: number, signal?: AbortSignal): Promise<Lease>;
}

const IDLE_TRIM_MS = 30_000;

export class CopyBudget {
  readonly limits: BudgetLimits;
  readonly #pool: BufferPool;
  /** Queues of the holders that have requests waiting, in turn order. */
  readonly #ring: Request[][] = [];
  #turn = 0;
  #bytes = 0;
  #copies = 0;
  #peakBytes = 0;
  #peakCopies = 0;
  #trim: NodeJS.Timeout | undefined;

  constructor(limits: BudgetLimits = DEFAULT_BUDGET) {
    for (const field of ["bytes", "copies"] as const) {
      const v = limits[field];
      if (!Number.isSafeInteger(v) || v < 1) {
        throw new CheckpointError(
          { code: "InvalidOptions", field },
          `copy budget ${field} must be an integer >= 1, got ${v}`,
        );
      }
    }
    this.limits = limits;
    this.#pool = new BufferPool(limits.bytes);
  }

  /** A new holder, for one pass. */
  holder(): BudgetHolder {
    const queue: Request[] = [];
    return { take: (size, signal) => this.#take(queue, size, signal) };
  }

  usage(): BudgetUsage {
    return {
      bytes: this.#bytes,
      copies: this.#copies,
      waiting: this.#ring.reduce((n, q) => n + q.length, 0),
      peakBytes: this.#peakBytes,
      peakCopies: this.#peakCopies,
    };
  }

  #take(queue: Request[], size: number, signal: AbortSignal | undefined): Promise<Lease> {
    if (signal?.aborted) return Promise.reject(aborted());
    const charge = bufferCapacity(size);
    return new Promise<Lease>((resolve, reject) => {
      const onAbort = () => {
        this.#withdraw(queue, request);
        reject(aborted());
      };
      const request: Request = {
        size,
        charge,
        grant: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve(this.#lease(size, charge));
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      if (queue.length === 0) this.#ring.push(queue);
      queue.push(request);
      this.#dispatch();
    });
  }

  /** Grants waiting requests in turn, one per holder per round, while the head of the next holder's queue fits. */
  #dispatch(): void {
    while (this.#ring.length > 0) {
      this.#turn %= this.#ring.length;
      const queue = this.#ring[this.#turn] as Request[];
      const head = queue[0] as Request;
      if (!this.#fits(head.charge)) return;
      queue.shift();
      if (queue.length === 0) this.#ring.splice(this.#turn, 1);
      else this.#turn++;
      this.#bytes += head.charge;
      this.#copies++;
      this.#peakBytes = Math.max(this.#peakBytes, this.#bytes);
      this.#peakCopies = Math.max(this.#peakCopies, this.#copies);
      head.grant();
    }
  }

  /** A request larger than the whole budget is granted alone, so it is never stuck. */
  #fits(charge: number): boolean {
    if (this.#copies >= this.limits.copies) return false;
    return this.#bytes === 0 || this.#bytes + charge <= this.limits.bytes;
  }

  #lease(size: number, charge: number): Lease {
    clearTimeout(this.#trim);
    const buffer = this.#pool.take(size);
    let released = false;
    return {
      bytes: buffer.bytes,
      release: () => {
        if (released) return;
        released = true;
        buffer.give();
        this.#bytes -= charge;
        this.#copies--;
        this.#dispatch();
        if (this.#copies === 0) this.#trim = setTimeout(() => this.#pool.clear(), IDLE_TRIM_MS).unref();
      },
    };
  }

  #withdraw(queue: Request[], request: Request): void {
    const i = queue.indexOf(request);
    if (i < 0) return;
    queue.splice(i, 1);
    if (queue.length === 0) {
      const at = this.#ring.indexOf(queue);
      this.#ring.splice(at, 1);
      if (at < this.#turn) this.#turn--;
    }
    // The withdrawn request may have been the head that blocked the others.
    this.#dispatch();
  }
}

function aborted(): CheckpointError {
  return new CheckpointError({ code: "Aborted" }, "the operation was aborted");
}

/** The environment variables that size the process's budget. */
export const BUDGET_ENV = { bytes: "CHECKPOINT_BUFFER_MIB", copies: "CHECKPOINT_PART_COPIES" } as const;

/** The budget's limits from CHECKPOINT_BUFFER_MIB and CHECKPOINT_PART_COPIES (DEFAULT_BUDGET where unset). */
export function budgetFromEnv(env: NodeJS.ProcessEnv = process.env): BudgetLimits {
  const read = (name: string, fallback: number, what: string): number => {
    const text = env[name];
    if (text === undefined || text === "") return fallback;
    const n = Number(text);
    if (!Number.isSafeInteger(n) || n < 1) {
      throw new CheckpointError(
        { code: "InvalidOptions", field: name },
        `${name} must be a whole number >= 1 (${what}), got ${JSON.stringify(text)}; unset it for the default ${fallback}`,
      );
    }
    return n;
  };
  return {
    bytes:
      read(BUDGET_ENV.bytes, DEFAULT_BUDGET.bytes / MiB, "MiB of part buffers shared by every replication pass") * MiB,
    copies: read(BUDGET_ENV.copies, DEFAULT_BUDGET.copies, "part copies in flight across every replication pass"),
  };
}

let shared: CopyBudget | undefined;

/** The process's one budget, sized from the environment on first use; every pass uses it unless given another. */
export function processCopyBudget(): CopyBudget {
  shared ??= new CopyBudget(budgetFromEnv());
  return shared;
}
