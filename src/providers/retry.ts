// Retries of cloud calls with p-retry: throttling, transient failures and
// requests that got no answer in time, exponential backoff, every request
// with a deadline, the whole call (retries and backoff included) with a
// deadline of its own, and a caller's AbortSignal that ends everything at once.

import pRetry, { AbortError } from "p-retry";
import { isRetryable, ProviderError } from "./errors.ts";

/** One cloud request without an answer this long is abandoned (and retried while the call's time lasts). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
/** A cloud call, with all its retries and their backoff, ends this long after it started. */
export const DEFAULT_CALL_TIMEOUT_MS = 30_000;

/** Backoff and deadlines of retried calls; every field has a default. */
export interface RetryOptions {
  /** Retries after the first attempt. Default 5. */
  readonly retries?: number;
  /** First delay. Default 500 ms (tests pass a few ms). */
  readonly minTimeoutMs?: number;
  /** Longest delay. Default 20000 ms. */
  readonly maxTimeoutMs?: number;
  /** How long one request may go unanswered before it is aborted. Default DEFAULT_REQUEST_TIMEOUT_MS (10 s). */
  readonly requestTimeoutMs?: number;
  /** How long a call may take with its retries and backoff; no retry starts after it. Default DEFAULT_CALL_TIMEOUT_MS (30 s). */
  readonly callTimeoutMs?: number;
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
  for (const key of ["requestTimeoutMs", "callTimeoutMs"] as const) {
    const v = o[key];
    if (v !== undefined && !(Number.isFinite(v) && v > 0)) {
      throw new Error(`RetryOptions.${key} must be a number of milliseconds > 0, got ${v}`);
    }
  }
}

/** "10s", "2.5s". */
export function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))}s`;
}

/**
 * A signal that aborts after `ms`, on a timer that keeps the process alive until it fires or `clear`
 * is called (AbortSignal.timeout's does not, and a call waiting on nothing else would end the process).
 */
export function timeoutSignal(ms: number): { readonly signal: AbortSignal; clear(): void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException(`no answer within ${ms} ms`, "TimeoutError")), ms);
  return { signal: controller.signal, clear: () => clearTimeout(timer) };
}

/**
 * How long the next attempt may wait for its answer: the request deadline, cut to what is left of
 * the call's; 0 when the call's time is up (no attempt starts then).
 */
export function attemptTimeoutMs(requestTimeoutMs: number, callTimeoutMs: number, elapsedMs: number): number {
  return Math.max(0, Math.min(requestTimeoutMs, callTimeoutMs - elapsedMs));
}

/**
 * The Timeout error of a call that ran out of time: what, within how long, after how many attempts,
 * and the last answer when there was one (a call throttled until its deadline did get answers).
 */
export function noAnswerError(
  what: string,
  o: { readonly requestTimeoutMs: number; readonly callTimeoutMs: number; readonly attempts: number },
  callExpired: boolean,
  last?: ProviderError,
): ProviderError {
  const tries = o.attempts === 1 ? "1 attempt" : `${o.attempts} attempts`;
  if (!callExpired) {
    return new ProviderError(
      "Timeout",
      `${what} did not answer within ${seconds(o.requestTimeoutMs)} (the request's deadline; ${tries})`,
    );
  }
  const message =
    last && last.code !== "Timeout"
      ? `${what} did not succeed within ${seconds(o.callTimeoutMs)} (the call's deadline; ${tries}; the last one: ${last.message})`
      : `${what} did not answer within ${seconds(o.callTimeoutMs)} (the call's deadline; ${tries}, each aborted after at most ${seconds(o.requestTimeoutMs)})`;
  return new ProviderError("Timeout", message);
}

/**
 * Runs `call` with the signal it must pass to its requests, translating its errors with `translate`,
 * and retries the retryable ones and the requests that were not answered within the request deadline,
 * until the call's deadline. What is thrown is always a ProviderError: Timeout when no answer came in
 * time, Aborted when the caller's signal fired, else the translated error.
 */
export async function withRetries<T>(
  what: string,
  call: (signal: AbortSignal) => Promise<T>,
  translate: (err: unknown, what: string) => ProviderError,
  options: RetryOptions & { readonly signal?: AbortSignal },
): Promise<T> {
  const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const callTimeoutMs = options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
  const caller = options.signal;
  const callTimer = timeoutSignal(callTimeoutMs);
  const callDeadline = callTimer.signal;
  const outer = caller ? AbortSignal.any([caller, callDeadline]) : callDeadline;
  const started = Date.now();
  let attempts = 0;
  let last: ProviderError | undefined;
  const timedOut = (callExpired: boolean) =>
    noAnswerError(what, { requestTimeoutMs, callTimeoutMs, attempts }, callExpired, last);
  const aborted = (cause?: unknown) => new ProviderError("Aborted", `${what}: aborted`, { cause });
  const attempt = async () => {
    const budget = attemptTimeoutMs(requestTimeoutMs, callTimeoutMs, Date.now() - started);
    if (caller?.aborted) throw new AbortError(aborted(caller.reason));
    if (budget <= 0 || callDeadline.aborted) throw new AbortError(timedOut(true));
    attempts++;
    const requestTimer = timeoutSignal(budget);
    const requestDeadline = requestTimer.signal;
    try {
      return await call(AbortSignal.any([outer, requestDeadline]));
    } catch (err) {
      if (caller?.aborted) throw new AbortError(aborted(err));
      if (callDeadline.aborted) throw new AbortError(timedOut(true));
      if (requestDeadline.aborted) {
        // An attempt cut short to the call's remaining time ended at the call's deadline, whichever timer fired first.
        if (budget < requestTimeoutMs) throw new AbortError(timedOut(true));
        last = timedOut(false);
        throw last; // retried while the call's time lasts
      }
      last = translate(err, what);
      throw isRetryable(last) ? last : new AbortError(last);
    } finally {
      requestTimer.clear();
    }
  };
  try {
    return await pRetry(attempt, {
      retries: options.retries ?? 5,
      minTimeout: options.minTimeoutMs ?? 500,
      maxTimeout: options.maxTimeoutMs ?? 20_000,
      randomize: true,
      maxRetryTime: callTimeoutMs,
      signal: outer,
      onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
        if (retriesLeft > 0 && error instanceof ProviderError) options.onRetry?.(error, attemptNumber);
      },
    });
  } catch (err) {
    if (caller?.aborted) throw err instanceof ProviderError && err.code === "Aborted" ? err : aborted(err);
    // The deadline passed during an attempt or a backoff (p-retry then rejects with an earlier error).
    if (callDeadline.aborted) throw timedOut(true);
    if (err instanceof ProviderError) throw err;
    const original = (err as { originalError?: unknown }).originalError;
    throw original instanceof ProviderError ? original : translate(err, what);
  } finally {
    callTimer.clear();
  }
}

/**
 * Runs `body`, a method made of several calls, under one deadline: its signal aborts when the caller's
 * does or `timeoutMs` passes, and what it throws then is Timeout naming `what` (or Aborted).
 */
export async function withDeadline<T>(
  what: string,
  timeoutMs: number,
  caller: AbortSignal | undefined,
  body: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const timer = timeoutSignal(timeoutMs);
  const deadline = timer.signal;
  try {
    return await body(caller ? AbortSignal.any([caller, deadline]) : deadline);
  } catch (err) {
    if (caller?.aborted) throw err instanceof ProviderError ? err : new ProviderError("Aborted", `${what}: aborted`);
    if (deadline.aborted && !(err instanceof ProviderError && err.code === "Timeout")) {
      throw new ProviderError("Timeout", `${what} did not finish within ${seconds(timeoutMs)} (the call's deadline)`, {
        cause: err,
      });
    }
    throw err;
  } finally {
    timer.clear();
  }
}
