// The providers' small vocabulary of failures (after Karpenter's typed cloud
// provider errors): every SDK error is translated into a ProviderError at the
// adapter boundary, so callers decide on a code, never on an SDK's shape.

/** What went wrong, as far as the operator needs to know to decide what to do next. */
export type ProviderErrorCode =
  /** The cluster, node group or operation does not exist. */
  | "NotFound"
  /** The cloud asked us to slow down (HTTP 429): retried with backoff. */
  | "Throttled"
  /** A server-side or network failure (5xx, connection reset): retried with backoff. */
  | "Unavailable"
  /** The cloud has no capacity or quota for the request. */
  | "InsufficientCapacity"
  /** A cluster autoscaler or Karpenter owns the group's size: the operator must not set it. */
  | "AutoscalerOwned"
  /** The requested size is above the group's maxSize. */
  | "ExceedsMaxSize"
  /** The request is malformed or below the group's minSize. */
  | "Invalid"
  /** Another operation on the resource is in progress. */
  | "Conflict"
  /** The scale operation ended in failure. */
  | "ScaleFailed"
  /** Waiting ran out of time. */
  | "Timeout"
  /** The caller's AbortSignal fired. */
  | "Aborted"
  /** Anything else: the message says what the cloud answered. */
  | "Unknown";

export class ProviderError extends Error {
  readonly code: ProviderErrorCode;
  constructor(code: ProviderErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ProviderError";
    this.code = code;
  }
}

const hasCode =
  (code: ProviderErrorCode) =>
  (err: unknown): err is ProviderError =>
    err instanceof ProviderError && err.code === code;

export const isNotFound = hasCode("NotFound");
export const isThrottled = hasCode("Throttled");
export const isUnavailable = hasCode("Unavailable");
export const isInsufficientCapacity = hasCode("InsufficientCapacity");
export const isAutoscalerOwned = hasCode("AutoscalerOwned");
export const isExceedsMaxSize = hasCode("ExceedsMaxSize");
export const isInvalid = hasCode("Invalid");
export const isConflict = hasCode("Conflict");
export const isScaleFailed = hasCode("ScaleFailed");
export const isTimeout = hasCode("Timeout");
export const isAborted = hasCode("Aborted");

/** Throttling and transient server or network failures: worth another attempt. */
export function isRetryable(err: unknown): boolean {
  return isThrottled(err) || isUnavailable(err);
}

const NETWORK_CODES = new Set(["ECONNRESET", "ECONNREFUSED", "ETIMEDOUT", "EPIPE", "EAI_AGAIN", "ENOTFOUND"]);

/** The code for an HTTP status and a network error code, shared by the adapters. */
export function codeFromStatus(status: number | undefined, networkCode?: string): ProviderErrorCode {
  if (status === 429) return "Throttled";
  if (status === 404) return "NotFound";
  if (status === 409) return "Conflict";
  if (status === 400 || status === 422) return "Invalid";
  if (status !== undefined && status >= 500) return "Unavailable";
  if (networkCode && NETWORK_CODES.has(networkCode)) return "Unavailable";
  return "Unknown";
}
