// Reusable part buffers: the replicator reads every part into a buffer it
// holds until the part is written and hashed; reusing those buffers instead
// of allocating one per part keeps the garbage collector out of the copy loop.
// At most `capacity` buffers of `unit` bytes are kept.

export interface PooledBuffer {
  /** Exactly the requested number of bytes. */
  readonly bytes: Buffer;
  /** Hands the buffer back; `bytes` must not be used after. */
  readonly give: () => void;
}

export class BufferPool {
  readonly #free: Buffer[] = [];
  readonly #unit: number;
  readonly #capacity: number;

  /** Keeps up to `capacity` buffers of `unit` bytes; larger requests are allocated and dropped. */
  constructor(unit: number, capacity: number) {
    this.#unit = unit;
    this.#capacity = capacity;
  }

  take(size: number): PooledBuffer {
    if (size > this.#unit) return { bytes: Buffer.allocUnsafeSlow(size), give: () => {} };
    const base = this.#free.pop() ?? Buffer.allocUnsafeSlow(this.#unit);
    let given = false;
    return {
      bytes: base.subarray(0, size),
      give: () => {
        if (given) return;
        given = true;
        if (this.#free.length < this.#capacity) this.#free.push(base);
      },
    };
  }
}
