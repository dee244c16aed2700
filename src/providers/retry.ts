// Retries of cloud calls with p-retry: throttling and transient failures
// only, exponential backoff, and an AbortSignal that ends waiting at once.

import pRetry, { AbortError } from "p-retry";
import { isRetryable, ProviderError } from "./errors.ts";

/** Backoff of retried calls; every field has a default. */
export interface RetryOptions {
  /** Retries after the first attempt. Default 5. */
  readonly retries?: number;
  /** First delay. Default 500 ms (tests pass a few ms). */
  readonly minTimeoutMs?: number;
  /** Longest delay. Default 20000 ms. */
  readonly maxTimeoutMs?: number;
  /** Called on every failed attempt that will be retried (logging, metrics). */
  readonly onRetry?: (error: ProviderError, attempt: number) => void;
}

export function validateRetryOptions(o: RetryOptions): void {
  if (o.retries !== undefined && (!Number.isInteger(o.retries) || o.retries < 0)) {
    throw new Error(`RetryOptions.retries must be a whole number >= 0, got ${o.retries}`);
  }
  if (o.minTimeoutMs !== undefined && o.minTimeoutMs < 0) {
    throw new Error(`RetryOptions.minTimeoutMs must be >= 0, got ${o.minTimeoutMs}`);
  }
}

/**
 * Runs `call`, translating its errors with `translate`, and retries the
 * retryable ones. What is thrown is always a ProviderError.
 */
export async function withRetries<T>(
  what: string,
  call: () => Promise<T>,
  translate: (err: unknown, what: string) => ProviderError,
  options: RetryOptions & { readonly signal?: AbortSignal },
): Promise<T> {
  const attempt = async () => {
    try {
      return await call();
    } catch (err) {
      const typed = translate(err, what);
      throw isRetryable(typed) ? typed : new AbortError(typed);
    }
  };
  try {
    return await pRetry(attempt, {
      retries: options.retries ?? 5,
      minTimeout: options.minTimeoutMs ?? 500,
      maxTimeout: options.maxTimeoutMs ?? 20_000,
      randomize: true,
      signal: options.signal,
      onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
        if (retriesLeft > 0 && error instanceof ProviderError) options.onRetry?.(error, attemptNumber);
      },
    });
  } catch (err) {
    if (err instanceof ProviderError) throw err;
    if (options.signal?.aborted) throw new ProviderError("Aborted", `${what}: aborted`, { cause: err });
    const original = (err as { originalError?: unknown }).originalError;
    throw original instanceof ProviderError ? original : translate(err, what);
  }
}
