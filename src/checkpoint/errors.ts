// The typed errors of checkpoint storage and replication: one class carrying a
// discriminated detail, SDK errors translated into it at the store adapters.

/** What went wrong, by kind; each kind carries what a caller needs to act on it. */
export type CheckpointErrorDetail =
  | { readonly code: "InvalidUri"; readonly uri: string }
  | { readonly code: "InvalidManifest"; readonly key: string; readonly issues: readonly string[] }
  | { readonly code: "InvalidOptions"; readonly field: string }
  | { readonly code: "NotFound"; readonly key: string }
  | { readonly code: "SizeMismatch"; readonly key: string; readonly expected: number; readonly actual: number }
  | { readonly code: "ChecksumMismatch"; readonly key: string; readonly expected: string; readonly actual: string }
  | { readonly code: "TooLarge"; readonly key: string; readonly size: number }
  | { readonly code: "Unsupported"; readonly operation: string }
  | { readonly code: "Aborted" }
  | { readonly code: "StoreFailed"; readonly operation: string; readonly key: string };

export type CheckpointErrorCode = CheckpointErrorDetail["code"];

/** The one error type of src/checkpoint; `detail.code` says which kind it is. */
export class CheckpointError extends Error {
  readonly detail: CheckpointErrorDetail;

  constructor(detail: CheckpointErrorDetail, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "CheckpointError";
    this.detail = detail;
  }
}

export function isCheckpointError(err: unknown, code?: CheckpointErrorCode): err is CheckpointError {
  return err instanceof CheckpointError && (code === undefined || err.detail.code === code);
}

/** True for an abort, whether ours or the SDK's (AbortError) translation of it. */
export function isAbort(err: unknown): boolean {
  if (isCheckpointError(err, "Aborted")) return true;
  const name = (err as { name?: unknown } | undefined)?.name;
  return name === "AbortError" || name === "RequestAbortedError";
}

/** Throws an Aborted CheckpointError when the signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new CheckpointError({ code: "Aborted" }, "the operation was aborted");
}

/** Rethrows an SDK failure as a StoreFailed CheckpointError, keeping aborts as Aborted. */
export function storeFailed(operation: string, key: string, cause: unknown): CheckpointError {
  if (isCheckpointError(cause)) return cause;
  if (isAbort(cause)) return new CheckpointError({ code: "Aborted" }, "the operation was aborted", { cause });
  const why = cause instanceof Error ? cause.message : String(cause);
  return new CheckpointError({ code: "StoreFailed", operation, key }, `${operation} of ${key} failed: ${why}`, {
    cause,
  });
}
