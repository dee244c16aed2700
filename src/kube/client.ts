// The operator's HTTP client for one Kubernetes API server: JSON requests
// and watch streams over node:https, one pool of kept-alive connections per
// TLS identity, the kubeconfig's credentials read for every request (a
// rotated token, an exec plugin's, a cloud token held by BearerToken), and a
// deadline on everything.
//
// Written here instead of using @kubernetes/client-node's generated clients:
// loading that package loads all of its 2,742 model files (about 45 MiB of
// RSS before the operator holds anything) and its deserializer copies every
// object it returns (docs/benchmarks.md, "Scale"). Objects here are the API
// server's JSON as it is; client-node's types are used for them (type-only
// imports), with timestamps as the RFC 3339 strings the server sends.
//
// Deadlines (as src/runtime/deadline.ts describes them): a request gets no
// answer within `timeoutMs`, from sending it to the last byte of its
// response, and it is aborted, its socket destroyed, whether the server hung
// before, during or after the TLS handshake; the caller gets a NoAnswerError
// naming the server and the request. A fence (the leader's signal) stops every
// request at once: nothing is sent after it aborts, what is in flight is
// aborted, and every pooled connection is destroyed.

import http from "node:http";
import https from "node:https";
import { StringDecoder } from "node:string_decoder";
import type { Counter } from "prom-client";
import { FencedError, NoAnswerError, type RequestOutcome } from "../runtime/deadline.ts";
import type { KubeConfigView } from "./config.ts";

export type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export type Query = Readonly<Record<string, string | number | boolean | undefined>>;

export interface KubeRequest {
  readonly method: Method;
  /** The URL path below the server's, e.g. "/api/v1/namespaces/x/pods". */
  readonly path: string;
  readonly query?: Query;
  /** Sent as JSON. */
  readonly body?: unknown;
  /** Default application/json (a body's); patches name theirs. */
  readonly contentType?: string;
  /** The caller's cancellation: an aborted request rejects with the signal's reason and says nothing of the server. */
  readonly signal?: AbortSignal;
  /** How crosscloud_api_requests_total labels it; default from the method (GET: "read"). */
  readonly verb?: Verb;
}

/** The verbs crosscloud_api_requests_total counts requests by. */
export type Verb = "list" | "read" | "get" | "create" | "patch" | "replace" | "delete";

const VERB_OF: Readonly<Record<Method, Verb>> = {
  GET: "read",
  POST: "create",
  PUT: "replace",
  PATCH: "patch",
  DELETE: "delete",
};

export interface KubeClientOptions {
  /** Names the server in errors, e.g. `worker cluster "aws-sim"`. */
  readonly target: string;
  /** How long one request may take, from sending it to the last byte of its response. */
  readonly timeoutMs: number;
  /** Called after every request its caller did not cancel: the server answered (any HTTP status) or not. */
  readonly onOutcome?: (outcome: RequestOutcome) => void;
  /** Once it aborts, nothing more is sent, what is in flight is aborted, and pooled connections are closed. */
  readonly fence?: AbortSignal;
  /** Counts every request sent (watches not) by verb, labelled with `cluster`: crosscloud_api_requests_total. */
  readonly requests?: { readonly counter: Counter<"cluster" | "verb">; readonly cluster: string };
}

/** An HTTP error status from the API server, with the Status it sent (`body`). */
export class ApiError extends Error {
  /** The HTTP status code (404, 409, 422, ...). */
  readonly code: number;
  /** The Status object the server sent (or its text when it was not JSON). */
  readonly body: unknown;

  constructor(code: number, request: string, target: string, body: unknown) {
    const status = (typeof body === "object" && body !== null ? body : {}) as { message?: unknown; reason?: unknown };
    const said = typeof status.message === "string" ? status.message : typeof body === "string" ? body : "";
    const reason = typeof status.reason === "string" ? ` ${status.reason}` : "";
    super(`${request} to ${target}: HTTP ${code}${reason}${said ? `: ${said.slice(0, 2000)}` : ""}`);
    this.name = "ApiError";
    this.code = code;
    this.body = body;
  }
}

/** A watch that made no progress in time (connect or idle); the informer reconnects it. */
export class WatchTimeoutError extends Error {
  constructor(target: string, request: string, what: string) {
    super(`${request} to ${target}: ${what}`);
    this.name = "TimeoutError";
  }
}

/** Deadlines of a watch: for its response to start, then between two chunks of its stream. */
export interface WatchTimeouts {
  readonly connectMs: number;
  readonly idleMs: number;
}

/** TLS settings that make a connection; a change of any of them needs a new pool. */
const TLS_FIELDS = ["ca", "cert", "key", "pfx", "passphrase", "rejectUnauthorized", "servername"] as const;

/** Errors of a kept-alive socket the server closed as the request went out: sent again once on a new one. */
const STALE_SOCKET = new Set(["ECONNRESET", "EPIPE"]);

export class KubeClient {
  readonly target: string;
  readonly #config: KubeConfigView;
  readonly #o: KubeClientOptions;
  readonly #server: URL;
  #pool: { readonly tls: readonly unknown[]; readonly agent: http.Agent } | undefined;

  constructor(config: KubeConfigView, o: KubeClientOptions) {
    const cluster = config.getCurrentCluster();
    if (!cluster) throw new Error(`${o.target}: the kubeconfig has no current cluster; set its current-context`);
    if (cluster.proxyUrl) {
      throw new Error(
        `${o.target}: the kubeconfig's cluster "${cluster.name}" has proxy-url set, which this operator does not support; reach the API server directly (or through a network route) and remove proxy-url`,
      );
    }
    this.#server = new URL(cluster.server);
    if (this.#server.protocol !== "https:" && this.#server.protocol !== "http:") {
      throw new Error(
        `${o.target}: the server "${cluster.server}" is not an http(s) URL; fix clusters[].cluster.server`,
      );
    }
    this.target = o.target;
    this.#config = config;
    this.#o = o;
    o.fence?.addEventListener("abort", () => this.#pool?.agent.destroy(), { once: true });
  }

  /** The server's URL as the kubeconfig names it. */
  get server(): string {
    return this.#server.href.replace(/\/$/, "");
  }

  /** Sends `r` and returns the JSON it answers (undefined for an empty body); an error status rejects with an ApiError. */
  async request<T>(r: KubeRequest): Promise<T> {
    const requests = this.#o.requests;
    requests?.counter.inc({ cluster: requests.cluster, verb: r.verb ?? VERB_OF[r.method] });
    const { status, text } = await this.#exchange(r, undefined);
    const body = parseBody(text);
    if (status >= 400) throw new ApiError(status, describe(r), this.target, body);
    return body as T;
  }

  /**
   * Opens a watch (`r` is a GET with watch=true) and calls `onEvent` for every event it streams, until
   * the server ends it (resolves), `r.signal` aborts (resolves), or it fails: an error status (ApiError),
   * no answer, or no progress within `timeouts` (WatchTimeoutError).
   */
  async watch(
    r: KubeRequest,
    timeouts: WatchTimeouts,
    onEvent: (type: string, object: unknown) => void,
  ): Promise<void> {
    try {
      const { status, text } = await this.#exchange(r, { timeouts, onEvent });
      if (status >= 400) throw new ApiError(status, describe(r), this.target, parseBody(text));
    } catch (err) {
      if (r.signal?.aborted && !this.#o.fence?.aborted) return;
      throw err;
    }
  }

  /** Closes the pooled connections once their requests are done. */
  close(): void {
    const pool = this.#pool;
    this.#pool = undefined;
    pool?.agent.destroy();
  }

  async #exchange(r: KubeRequest, stream: StreamOptions | undefined): Promise<{ status: number; text: string }> {
    const what = describe(r);
    const fence = this.#o.fence;
    if (fence?.aborted) throw new FencedError(this.target, what, false, fence.reason);
    if (r.signal?.aborted) throw r.signal.reason;
    const options: https.RequestOptions = {};
    await this.#config.applyToHTTPSOptions(options);
    // The credentials took a turn of the event loop (a file read, an exec plugin): the fence may have fallen.
    if (fence?.aborted) throw new FencedError(this.target, what, false, fence.reason);
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.#send(r, options, stream);
      } catch (err) {
        const stopped = fence?.aborted || r.signal?.aborted;
        if (attempt === 0 && err instanceof StaleSocket && !stopped) continue;
        throw this.#failed(err instanceof StaleSocket ? err.cause : err, r, what);
      }
    }
  }

  #failed(err: unknown, r: KubeRequest, what: string): unknown {
    const fence = this.#o.fence;
    if (fence?.aborted) return new FencedError(this.target, what, true, fence.reason);
    if (r.signal?.aborted) return r.signal.reason; // cancelled by its caller: says nothing of the server
    if (err instanceof FromHandler) return err.cause; // the event handler's own error (or a line not JSON)
    if (err instanceof ApiError || err instanceof WatchTimeoutError) return err;
    const timedOut = err instanceof DeadlinePassed;
    const error = new NoAnswerError(
      this.target,
      what,
      timedOut ? this.#o.timeoutMs : undefined,
      timedOut ? undefined : err,
    );
    this.#o.onOutcome?.({ answered: false, error });
    return error;
  }

  #send(r: KubeRequest, options: https.RequestOptions, stream: StreamOptions | undefined) {
    const body = r.body === undefined ? undefined : Buffer.from(JSON.stringify(r.body));
    const headers: http.OutgoingHttpHeaders = {
      ...(options.headers as http.OutgoingHttpHeaders | undefined),
      Accept: "application/json",
      "User-Agent": "crosscloud-operator",
      ...(body ? { "Content-Type": r.contentType ?? "application/json", "Content-Length": body.length } : {}),
    };
    const secure = this.#server.protocol === "https:";
    const lib = secure ? https : http;
    return new Promise<{ status: number; text: string }>((resolve, reject) => {
      let settled = false;
      const req = lib.request({
        method: r.method,
        protocol: this.#server.protocol,
        hostname: this.#server.hostname.replace(/^\[|\]$/g, ""),
        port: this.#server.port || (secure ? 443 : 80),
        path: joinPath(this.#server.pathname, r.path, r.query),
        headers,
        agent: this.#agent(options),
        ...(options.auth ? { auth: options.auth } : {}),
      });
      let timer: NodeJS.Timeout | undefined;
      const arm = (ms: number, why: () => Error) => {
        clearTimeout(timer);
        timer = setTimeout(() => fail(why()), ms);
      };
      const abort = () => {
        // A reset, not a close: a server that has not read the request yet discards it instead of
        // reading it later (a fenced write must never land).
        if (this.#o.fence?.aborted) req.socket?.resetAndDestroy();
        fail(new Error("aborted"));
      };
      const signals = [r.signal, this.#o.fence].filter((s): s is AbortSignal => s !== undefined);
      const cleanup = () => {
        clearTimeout(timer);
        for (const s of signals) s.removeEventListener("abort", abort);
      };
      const fail = (err: unknown) => {
        if (settled) return;
        settled = true;
        cleanup();
        req.destroy();
        reject(err);
      };
      for (const s of signals) s.addEventListener("abort", abort, { once: true });
      if (stream)
        arm(stream.timeouts.connectMs, () => new WatchTimeoutError(this.target, describe(r), "no response in time"));
      else arm(this.#o.timeoutMs, () => new DeadlinePassed());
      req.on("error", (err: NodeJS.ErrnoException) => {
        const stale = req.reusedSocket && STALE_SOCKET.has(err.code ?? "") && !settled;
        fail(stale ? new StaleSocket(err) : err);
      });
      // After the error handler: destroying a request emits its error.
      if (signals.some((s) => s.aborted)) return abort();
      req.on("response", (res) => {
        const chunks: Buffer[] = [];
        const lines = stream && (res.statusCode ?? 0) < 400 ? new WatchLines(stream.onEvent) : undefined;
        if (lines && stream)
          arm(stream.timeouts.idleMs, () => new WatchTimeoutError(this.target, describe(r), "no event in time"));
        res.on("data", (chunk: Buffer) => {
          if (!lines || !stream) {
            chunks.push(chunk);
            return;
          }
          arm(stream.timeouts.idleMs, () => new WatchTimeoutError(this.target, describe(r), "no event in time"));
          try {
            lines.push(chunk);
          } catch (err) {
            fail(new FromHandler(err));
          }
        });
        res.on("error", fail);
        res.on("aborted", () => fail(new Error("the response was cut off")));
        res.on("end", () => {
          if (settled) return;
          settled = true;
          cleanup();
          this.#o.onOutcome?.({ answered: true });
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") });
        });
      });
      req.end(body);
    });
  }

  #agent(options: https.RequestOptions): http.Agent {
    const tls = TLS_FIELDS.map((f) => options[f]);
    if (this.#pool && sameTls(this.#pool.tls, tls)) return this.#pool.agent;
    const old = this.#pool?.agent;
    // The old pool's requests finish on their sockets; idle ones close now.
    if (old) setImmediate(() => old.destroy());
    const settings = Object.fromEntries(TLS_FIELDS.flatMap((f) => (options[f] === undefined ? [] : [[f, options[f]]])));
    const agent =
      this.#server.protocol === "https:"
        ? new https.Agent({ keepAlive: true, ...settings })
        : new http.Agent({ keepAlive: true });
    this.#pool = { tls, agent };
    return agent;
  }
}

interface StreamOptions {
  readonly timeouts: WatchTimeouts;
  readonly onEvent: (type: string, object: unknown) => void;
}

class DeadlinePassed extends Error {}

/** An error thrown while handling a watch event: passed on as it is, not as the server's failure. */
class FromHandler extends Error {
  constructor(cause: unknown) {
    super("watch event handler failed", { cause });
  }
}

class StaleSocket extends Error {
  constructor(cause: Error) {
    super(cause.message, { cause });
  }
}

/**
 * Splits a watch stream into its JSON lines, one event each. An event larger than a chunk is kept as
 * its pieces until its newline comes, and joined once: no rescan of what came before.
 */
export class WatchLines {
  readonly #onEvent: (type: string, object: unknown) => void;
  readonly #pieces: string[] = [];
  /** Keeps a character whose bytes a chunk boundary split until the rest of it comes. */
  readonly #decoder = new StringDecoder("utf8");

  constructor(onEvent: (type: string, object: unknown) => void) {
    this.#onEvent = onEvent;
  }

  push(chunk: Buffer): void {
    const text = this.#decoder.write(chunk);
    let from = 0;
    for (let end = text.indexOf("\n"); end !== -1; end = text.indexOf("\n", from)) {
      this.#pieces.push(text.slice(from, end));
      const line = this.#pieces.join("");
      this.#pieces.length = 0;
      from = end + 1;
      if (!line.trim()) continue;
      const event = JSON.parse(line) as { type?: unknown; object?: unknown };
      this.#onEvent(String(event.type), event.object);
    }
    if (from < text.length) this.#pieces.push(text.slice(from));
  }
}

function parseBody(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** "GET /api/v1/nodes" (the query string left out: it can be long and says little). */
function describe(r: KubeRequest): string {
  return `${r.method} ${r.path}`;
}

function joinPath(base: string, path: string, query: Query | undefined): string {
  const prefix = base.replace(/\/$/, "");
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== "") params.set(k, String(v));
  const q = params.toString();
  return `${prefix}${path}${q ? `?${q}` : ""}`;
}

function sameTls(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.every((x, i) => {
    const y = b[i];
    return Buffer.isBuffer(x) && Buffer.isBuffer(y) ? x.equals(y) : x === y;
  });
}
