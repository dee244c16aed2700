// The kubeconfig's credentials on every request of a generated client, over
// one pool of kept-alive connections per client configuration.
//
// KubeConfig.applySecurityAuthentication (client-node 2.0) builds a new undici
// Agent for every request: every request opens a TCP connection, makes a TLS
// handshake with a new SecureContext (the CA bundle parsed again), and leaves
// the idle socket to its Agent's keep-alive timeout. At a thousand jobs that
// cost a third of the operator's CPU time and about 150 MiB of its peak RSS
// (docs/benchmarks.md). Here the headers (a bearer token,
// an exec plugin's or an authenticator's, read fresh for each request) are
// applied per request as client-node does, while the TLS material makes one
// Agent that every request shares; new TLS material (a client certificate
// renewed) makes a new Agent and closes the old one once its requests end.

import type { RequestOptions } from "node:https";
import type { KubeConfig, RequestContext, SecurityAuthentication } from "@kubernetes/client-node";
import { Agent, type Dispatcher, ProxyAgent } from "undici";

/** TLS settings that make a connection; a change of any of them needs a new pool. */
const TLS_FIELDS = ["ca", "cert", "key", "pfx", "passphrase", "rejectUnauthorized", "servername"] as const;

export class PooledAuthentication implements SecurityAuthentication {
  readonly #kubeConfig: KubeConfig;
  #pool: { readonly tls: readonly unknown[]; readonly dispatcher: Dispatcher | undefined } | undefined;

  /**
   * `fence`: once it aborts (this replica stopped leading), every connection of the pool is destroyed at
   * once, so that no byte of a request written before the abort is delivered later (a connection the
   * server was not reading would otherwise pass on what it held once the server reads again).
   */
  constructor(kubeConfig: KubeConfig, fence?: AbortSignal) {
    this.#kubeConfig = kubeConfig;
    fence?.addEventListener(
      "abort",
      () => {
        void this.#pool?.dispatcher?.destroy().catch(() => {});
      },
      { once: true },
    );
  }

  getName(): string {
    return "kubeconfig authentication over pooled connections";
  }

  async applySecurityAuthentication(context: RequestContext): Promise<void> {
    const options: RequestOptions = {};
    await this.#kubeConfig.applyToHTTPSOptions(options);
    if (options.auth) context.setHeaderParam("Authorization", `Basic ${Buffer.from(options.auth).toString("base64")}`);
    for (const [name, value] of Object.entries(options.headers ?? {})) context.setHeaderParam(name, `${value}`);
    const cluster = this.#kubeConfig.getCurrentCluster();
    if (cluster?.proxyUrl?.startsWith("socks")) {
      // A SOCKS proxy has no undici dispatcher here: client-node's own, one per request.
      await this.#kubeConfig.applySecurityAuthentication(context);
      return;
    }
    const dispatcher = this.#dispatcher(options);
    if (dispatcher) context.setDispatcher(dispatcher);
  }

  /** Closes the pool's connections once their requests are done. */
  async close(): Promise<void> {
    const pool = this.#pool;
    this.#pool = undefined;
    await pool?.dispatcher?.close();
  }

  #dispatcher(options: RequestOptions): Dispatcher | undefined {
    const tls = TLS_FIELDS.map((f) => options[f]);
    if (this.#pool && sameTls(this.#pool.tls, tls)) return this.#pool.dispatcher;
    void this.#pool?.dispatcher?.close().catch(() => {});
    const agentOptions = Object.fromEntries(
      TLS_FIELDS.flatMap((f) => (options[f] === undefined ? [] : [[f, options[f]]])),
    );
    const made = this.#kubeConfig.createDispatcherOptions(this.#kubeConfig.getCurrentCluster(), agentOptions);
    const dispatcher =
      made.type === "agent"
        ? new Agent({ connect: made.connect })
        : made.type === "proxy"
          ? new ProxyAgent({ uri: made.uri, requestTls: made.requestTls, connect: made.connect })
          : undefined;
    this.#pool = { tls, dispatcher };
    return dispatcher;
  }
}

function sameTls(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.every((x, i) => {
    const y = b[i];
    return Buffer.isBuffer(x) && Buffer.isBuffer(y) ? x.equals(y) : x === y;
  });
}
