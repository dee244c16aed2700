// Waiting on a scale operation: the polling loop every provider shares, with
// a timeout, an AbortSignal, and an injectable sleep so tests do not wait.

import { isRetryable, isTimeout, ProviderError } from "./errors.ts";
import type { ScaleOperation, WaitOptions } from "./types.ts";

export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

/** setTimeout as a promise that rejects when `signal` fires. */
export const realSleep: Sleep = (ms, signal) =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });

/** Polls `describe` until the operation is done; see NodeGroupProvider.waitForScale. */
export async function pollScale(
  operation: ScaleOperation,
  describe: (op: ScaleOperation, signal?: AbortSignal) => Promise<ScaleOperation>,
  options: WaitOptions & { readonly sleep?: Sleep; readonly now?: () => number },
): Promise<ScaleOperation> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? realSleep;
  const deadline = now() + (options.timeoutMs ?? 600_000);
  let current = operation;
  for (;;) {
    if (options.signal?.aborted) throw new ProviderError("Aborted", `waiting for ${label(operation)}: aborted`);
    try {
      current = await describe(current, options.signal);
    } catch (err) {
      // Throttling, a 5xx, or a describe that got no answer within its deadline: ask again at the next poll.
      if (!isRetryable(err) && !isTimeout(err)) throw err;
    }
    if (current.status === "Succeeded") return current;
    if (current.status === "Failed") {
      throw new ProviderError("ScaleFailed", `${label(current)} failed: ${current.message ?? "no reason given"}`);
    }
    if (now() >= deadline) {
      throw new ProviderError(
        "Timeout",
        `${label(current)} still in progress after ${options.timeoutMs ?? 600_000} ms`,
      );
    }
    await sleep(options.pollIntervalMs ?? 5000, options.signal).catch(() => undefined);
  }
}

function label(op: ScaleOperation): string {
  return `scaling node group ${op.nodeGroup} to ${op.desiredSize} (operation ${op.id})`;
}
