// Deadlines of object-store calls: every request to S3 or Blob storage is
// aborted when the server has not answered within the store's deadline (a
// request that sends a body gets one more second per MiB), and a response
// body is aborted when no bytes arrive for that long. What the caller gets
// then says which store did not answer what within how long, naming the
// store by its URI and server host, never by its credentials.

import { CheckpointError } from "./errors.ts";

/** The env variable of the deadline (milliseconds). */
export const STORE_TIMEOUT_ENV = "STORE_REQUEST_TIMEOUT_MS";
export const DEFAULT_STORE_REQUEST_TIMEOUT_MS = 30_000;
/** What a request that sends a body gets on top of the deadline, per MiB it sends. */
export const STORE_MS_PER_MIB = 1_000;

/** The deadline the env sets (STORE_REQUEST_TIMEOUT_MS), else the default; throws naming a bad value. */
export function storeTimeoutFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const text = env[STORE_TIMEOUT_ENV];
  if (text === undefined || text === "") return DEFAULT_STORE_REQUEST_TIMEOUT_MS;
  const ms = Number(text);
  if (!Number.isInteger(ms) || ms <= 0) {
    throw new Error(
      `${STORE_TIMEOUT_ENV} must be a whole number of milliseconds > 0, got ${JSON.stringify(text)}; unset it for the default (${DEFAULT_STORE_REQUEST_TIMEOUT_MS})`,
    );
  }
  return ms;
}

/** A store's deadline and how errors name it. */
export interface StoreDeadline {
  /** How long a request may wait for its answer, and a response body for its next bytes. */
  readonly timeoutMs: number;
  /** The store in errors: its URI without prefix and its server's host, e.g. `s3://ckpt at 127.0.0.1:9000`. */
  readonly store: string;
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))}s`;
}

/** The error of a request the store did not answer in time. */
export function storeTimeout(d: StoreDeadline, operation: string, key: string, timeoutMs: number): CheckpointError {
  return new CheckpointError(
    { code: "StoreFailed", operation, key },
    `${operation} of ${key} failed: the store ${d.store} did not answer within ${seconds(timeoutMs)} (${STORE_TIMEOUT_ENV}); check that it is up and reachable from here`,
  );
}

/** The deadline of a request that sends `bodyBytes`. */
export function requestTimeoutMs(d: StoreDeadline, bodyBytes = 0): number {
  return d.timeoutMs + Math.ceil(bodyBytes / 2 ** 20) * STORE_MS_PER_MIB;
}

/**
 * Runs `request` with a signal that aborts at the deadline (or with the caller's `signal`); when the
 * deadline aborted it, throws the store's timeout error instead of what the request threw.
 */
export async function withStoreDeadline<T>(
  d: StoreDeadline,
  operation: string,
  key: string,
  signal: AbortSignal | undefined,
  request: (signal: AbortSignal) => Promise<T>,
  bodyBytes = 0,
): Promise<T> {
  const timeoutMs = requestTimeoutMs(d, bodyBytes);
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(storeTimeout(d, operation, key, timeoutMs)), timeoutMs);
  try {
    return await request(signal ? AbortSignal.any([signal, deadline.signal]) : deadline.signal);
  } catch (err) {
    if (deadline.signal.aborted && !signal?.aborted) throw deadline.signal.reason;
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** withStoreDeadline bound to one store's deadline: what each store adapter calls its requests with. */
export type TimedRequest = <T>(
  operation: string,
  key: string,
  signal: AbortSignal | undefined,
  request: (signal: AbortSignal) => Promise<T>,
  bodyBytes?: number,
) => Promise<T>;

/** Told of every request a store adapter sends (its operation and the key relative to the bucket or container), before it goes. */
export type RequestHook = (operation: string, key: string) => void;

export function timedRequests(d: StoreDeadline, onRequest?: RequestHook): TimedRequest {
  return (operation, key, signal, request, bodyBytes) => {
    onRequest?.(operation, key);
    return withStoreDeadline(d, operation, key, signal, request, bodyBytes);
  };
}

/**
 * `body` (a response stream), failing with the store's timeout error when its next bytes do not come
 * within the deadline; the stream is destroyed then. Time the reader spends between chunks is not counted.
 */
export function guardBody(
  d: StoreDeadline,
  operation: string,
  key: string,
  body: AsyncIterable<Uint8Array>,
): AsyncIterable<Uint8Array> {
  return {
    async *[Symbol.asyncIterator]() {
      const it = body[Symbol.asyncIterator]();
      // One timer and one "late" promise per body, not per chunk (a 16 MiB read is ~256 chunks):
      // the timer is re-armed at each wait, and fires only while the reader waits for bytes.
      let waiting = false;
      let timedOut: Error | undefined;
      let late: (err: Error) => void = () => {};
      const lateness = new Promise<never>((_, reject) => {
        late = reject;
      });
      lateness.catch(() => {}); // observed through the race below
      const timer = setTimeout(() => {
        if (!waiting) return; // the reader holds a chunk: the next wait re-arms the timer
        timedOut = storeTimeout(d, `${operation} (waiting for the next bytes)`, key, d.timeoutMs);
        late(timedOut);
      }, d.timeoutMs);
      let finished = false;
      try {
        for (;;) {
          waiting = true;
          timer.refresh();
          let next: IteratorResult<Uint8Array>;
          try {
            next = await Promise.race([it.next(), lateness]);
          } catch (err) {
            if (err === timedOut) {
              (body as { destroy?: (e?: Error) => void }).destroy?.();
              finished = true;
            }
            throw err;
          } finally {
            waiting = false;
          }
          if (next.done) {
            finished = true;
            return;
          }
          yield next.value;
        }
      } finally {
        clearTimeout(timer);
        // A reader that stopped early releases the stream; a stream that ended or was destroyed needs nothing.
        if (!finished) await it.return?.();
      }
    },
  };
}
