// Deadlines for the requests made to one Kubernetes API server: an HTTP
// library for @kubernetes/client-node's generated clients that aborts a
// request (an AbortSignal into fetch) when the server has not answered within
// the deadline, and tells its owner after every request whether the server
// answered, so that a hung server costs a caller at most the deadline.
//
// The abort closes an established connection at once. A connection still in
// its TCP or TLS handshake (a frozen server process, a black-holed address)
// is not cancelled by undici; its connect timeout (10 s) closes it.
//
// A fence (an AbortSignal, the leader's: it aborts when this replica stops
// leading) stops every request of the library at once: none is sent after it
// aborted, and those in flight are aborted, so a reconcile that goes on after
// the Lease was lost gets a FencedError instead of writing.

import {
  type Configuration,
  createConfiguration,
  type HttpLibrary,
  IsomorphicFetchHttpLibrary,
  type KubeConfig,
  type RequestContext,
  type ResponseBody,
  ResponseContext,
  ServerConfiguration,
  setHeaderMiddleware,
  wrapHttpLibrary,
} from "@kubernetes/client-node";
import { PooledAuthentication } from "./pooled-auth.ts";

export interface DeadlineOptions {
  /** Names the server in errors, e.g. `worker cluster "aws-sim"`. */
  readonly target: string;
  /** How long one request may take, from sending it to the last byte of its response. */
  readonly timeoutMs: number;
  /** Called after every request its caller did not cancel: the server answered (any HTTP status) or not. */
  readonly onOutcome?: (outcome: RequestOutcome) => void;
  /** Sends the requests. Default @kubernetes/client-node's fetch. */
  readonly inner?: HttpLibrary;
  /**
   * Once this aborts (this replica lost or gave up its Lease), no request is sent any more and those in
   * flight are aborted: they reject with a FencedError. Default none.
   */
  readonly fence?: AbortSignal;
}

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

/** An HTTP library that gives every request the deadline of `o` (see the module comment). */
export function deadlineHttpLibrary(o: DeadlineOptions): HttpLibrary {
  const inner = o.inner ?? new IsomorphicFetchHttpLibrary();
  return wrapHttpLibrary({ send: (request) => send(o, inner, request) });
}

/**
 * A client configuration for the current cluster of `kubeConfig` (its server, TLS and credentials, as
 * KubeConfig.makeApiClient makes it) whose requests have the deadline of `o`. Pass it to the
 * constructor of a generated API (`new CoreV1Api(config)`).
 */
export function deadlineConfiguration(kubeConfig: KubeConfig, o: DeadlineOptions): Configuration {
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new Error(`${o.target}: the kubeconfig has no current cluster; set its current-context`);
  return createConfiguration({
    baseServer: new ServerConfiguration(cluster.server, {}),
    // One pool of kept-alive connections for all requests of this configuration (pooled-auth.ts).
    authMethods: { default: new PooledAuthentication(kubeConfig, o.fence) },
    middleware: [setHeaderMiddleware("User-Agent", "crosscloud-operator")],
    httpApi: deadlineHttpLibrary(o),
  });
}

async function send(o: DeadlineOptions, inner: HttpLibrary, request: RequestContext): Promise<ResponseContext> {
  const what = describeRequest(request);
  const fence = o.fence;
  if (fence?.aborted) throw new FencedError(o.target, what, false, fence.reason);
  const deadline = AbortSignal.timeout(o.timeoutMs);
  const caller = request.getSignal();
  request.setSignal(AbortSignal.any([caller, deadline, fence].filter((s) => s !== undefined)));
  const failed = (err: unknown): unknown => {
    if (fence?.aborted) return new FencedError(o.target, what, true, fence.reason);
    if (caller?.aborted) return err; // cancelled by its caller: says nothing about the server
    const error = new NoAnswerError(o.target, what, deadline.aborted ? o.timeoutMs : undefined, err);
    o.onOutcome?.({ answered: false, error });
    return error;
  };
  let response: ResponseContext;
  try {
    response = await inner.send(request).toPromise();
  } catch (err) {
    throw failed(err);
  }
  o.onOutcome?.({ answered: true });
  // The deadline stays armed while the body is read: a server that sends headers and then hangs is aborted too.
  return new ResponseContext(response.httpStatusCode, response.headers, guardedBody(response.body, failed));
}

/** "GET /api/v1/nodes" (the query string left out: it can be long and says little). */
function describeRequest(request: RequestContext): string {
  const url = request.getUrl();
  let path = url;
  try {
    path = new URL(url).pathname;
  } catch {
    // keep the URL as it is
  }
  return `${request.getHttpMethod()} ${path}`;
}

function guardedBody(body: ResponseBody, failed: (err: unknown) => unknown): ResponseBody {
  return {
    text: () =>
      body.text().catch((err: unknown) => {
        throw failed(err);
      }),
    binary: () =>
      body.binary().catch((err: unknown) => {
        throw failed(err);
      }),
    stream: () => body.stream(),
  };
}
