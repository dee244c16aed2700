// Reusable part buffers: the replicator reads every part into a buffer it
// holds until the part is written and hashed; reusing those buffers instead
// of allocating one per part keeps the garbage collector out of the copy loop.
// Buffers of 1 MiB and more are kept by size (rounded up to a whole MiB), and
// never more than `limit` bytes of them exist at once, handed out or free:
// when a new one would pass the limit, free buffers of other sizes are
// dropped first. Smaller requests are allocated and dropped.

export interface PooledBuffer {
  /** Exactly the requested number of bytes. */
  readonly bytes: Buffer;
  /** Bytes the buffer really occupies (its size rounded up to a whole MiB from 1 MiB on). */
  readonly capacity: number;
  /** Hands the buffer back; `bytes` must not be used after. A second call does nothing. */
  readonly give: () => void;
}

const MiB = 2 ** 20;

/** The bytes a buffer of `size` bytes occupies in the pool. */
export function bufferCapacity(size: number): number {
  return size < MiB ? size : Math.ceil(size / MiB) * MiB;
}

export class BufferPool {
  readonly #free = new Map<number, Buffer[]>();
  readonly #limit: number;
  /** Bytes of pooled buffers alive, free or handed out. */
  #kept = 0;
  #freeBytes = 0;

  /** Keeps at most `limit` bytes of buffers. */
  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Bytes of pooled buffers that exist, handed out or free. */
  get kept(): number {
    return this.#kept;
  }

  take(size: number): PooledBuffer {
    const capacity = bufferCapacity(size);
    if (capacity < MiB) return { bytes: Buffer.allocUnsafeSlow(size), capacity, give: () => {} };
    let base = this.#free.get(capacity)?.pop();
    if (base) this.#freeBytes -= capacity;
    else base = this.#allocate(capacity);
    const pooled = base !== undefined;
    const buffer = base ?? Buffer.allocUnsafeSlow(capacity);
    let given = false;
    return {
      bytes: buffer.subarray(0, size),
      capacity,
      give: () => {
        if (given || !pooled) return;
        given = true;
        const list = this.#free.get(capacity) ?? [];
        list.push(buffer);
        this.#free.set(capacity, list);
        this.#freeBytes += capacity;
      },
    };
  }

  /** Drops every free buffer (the garbage collector reclaims them). */
  clear(): void {
    this.#kept -= this.#freeBytes;
    this.#freeBytes = 0;
    this.#free.clear();
  }

  /** A new pooled buffer, after dropping free ones of other sizes if needed; undefined when the limit forbids. */
  #allocate(capacity: number): Buffer | undefined {
    for (const [size, list] of this.#free) {
      while (this.#kept + capacity > this.#limit && list.pop()) {
        this.#kept -= size;
        this.#freeBytes -= size;
      }
      if (list.length === 0) this.#free.delete(size);
    }
    if (this.#kept + capacity > this.#limit) return undefined;
    this.#kept += capacity;
    return Buffer.allocUnsafeSlow(capacity);
  }
}
