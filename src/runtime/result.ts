// What a reconcile pass reports back to its controller: done, look again after
// a delay, a retryable error (per-key backoff) or a terminal error (logged and
// not retried), in the manner of controller-runtime's reconcile.Result.

/** The outcome of one reconcile pass. */
export type ReconcileResult =
  | { readonly kind: "done" }
  | { readonly kind: "requeueAfter"; readonly afterMs: number }
  | { readonly kind: "retry"; readonly error: Error }
  | { readonly kind: "terminal"; readonly error: Error };

/**
 * Thrown by a reconciler when retrying cannot help (an invalid spec, a missing
 * referenced object the user must create): the controller logs it and forgets
 * the key. Any other thrown error is retried with backoff.
 */
export class TerminalError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TerminalError";
  }
}

/** Turns anything thrown into an Error, keeping Errors as they are. */
export function toError(error: unknown): Error {
  if (error instanceof Error) return error;
  return new Error(typeof error === "string" ? error : `non-error thrown: ${String(error)}`);
}

/** Builders for ReconcileResult. */
export const Result = {
  done(): ReconcileResult {
    return { kind: "done" };
  },
  requeueAfter(ms: number): ReconcileResult {
    if (!Number.isFinite(ms) || ms < 0) {
      throw new RangeError(`Result.requeueAfter: ms must be a finite number >= 0, got ${ms}`);
    }
    return { kind: "requeueAfter", afterMs: ms };
  },
  retry(error: unknown): ReconcileResult {
    return { kind: "retry", error: toError(error) };
  },
  terminal(error: unknown): ReconcileResult {
    return { kind: "terminal", error: toError(error) };
  },
} as const;

/** Maps a thrown value to a result: TerminalError is terminal, anything else a retry. */
export function resultFromThrown(error: unknown): ReconcileResult {
  return error instanceof TerminalError ? Result.terminal(error) : Result.retry(error);
}
