// Deadlines for the requests made to one Kubernetes API server, as the
// operator's client (src/kube/client.ts) keeps them: a request the server has
// not answered within the deadline is aborted, its socket destroyed (during
// the TCP or TLS handshake too), and its owner is told after every request
// whether the server answered, so that a hung server costs a caller at most
// the deadline. These are the errors and messages that says it with.
//
// A fence (an AbortSignal, the leader's: it aborts when this replica stops
// leading) stops every request of the library at once: none is sent after it
// aborted, and those in flight are aborted, so a reconcile that goes on after
// the Lease was lost gets a FencedError instead of writing.

export type RequestOutcome = { readonly answered: true } | { readonly answered: false; readonly error: NoAnswerError };

/** The server gave no HTTP answer: the deadline passed (the request was aborted) or the connection failed. */
export class NoAnswerError extends Error {
  /** The deadline that passed; undefined when the connection failed before it. */
  readonly timeoutMs: number | undefined;

  constructor(target: string, request: string, timeoutMs: number | undefined, cause: unknown) {
    super(noAnswerMessage(target, request, timeoutMs, cause), { cause });
    this.name = "NoAnswerError";
    this.timeoutMs = timeoutMs;
  }

  /** True when the deadline passed. */
  get timedOut(): boolean {
    return this.timeoutMs !== undefined;
  }
}

/** The fence of the client aborted: the request was not sent, or was aborted in flight, because this replica stopped leading. */
export class FencedError extends Error {
  constructor(target: string, request: string, sent: boolean, reason: unknown) {
    const why = reason instanceof Error ? reason.message : String(reason ?? "fenced");
    super(`${request} to ${target} ${sent ? "aborted in flight" : "not sent"}: this replica no longer leads (${why})`, {
      cause: reason,
    });
    this.name = "FencedError";
  }
}

/** "10s", "2.5s". */
export function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))}s`;
}

/** What a NoAnswerError says: who did not answer what, why, and what to check. */
export function noAnswerMessage(
  target: string,
  request: string,
  timeoutMs: number | undefined,
  cause: unknown,
): string {
  const hint = "check that its API server is up and reachable from the operator";
  if (timeoutMs !== undefined)
    return `${target} did not answer ${request} within ${seconds(timeoutMs)} (request aborted); ${hint}`;
  return `${target} did not answer ${request}: ${innermostMessage(cause)}; ${hint}`;
}

/** The most specific message in an error's cause chain ("fetch failed" says less than "connect ECONNREFUSED ..."). */
export function innermostMessage(err: unknown): string {
  let e = err as { message?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; depth < 5 && e && typeof e === "object" && e.cause; depth++) {
    e = e.cause as typeof e;
  }
  const message = e && typeof e === "object" ? e.message : undefined;
  return typeof message === "string" && message ? message : String(e);
}
