// A TCP proxy for runtime tests: sits between a client and an API server (TLS
// passes through untouched), and can cut every connection and refuse new ones
// until restored, as a network outage would.

import { createConnection, createServer, type Server, type Socket } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";

export class TcpProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #down = false;
  #port = 0;
  /** Connections accepted (and forwarded) so far. */
  connections = 0;

  private constructor(target: { host: string; port: number }) {
    this.#server = createServer((client) => this.#accept(client, target));
  }

  /** Starts a proxy to `target` on an ephemeral 127.0.0.1 port. */
  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    const proxy = new TcpProxy(target);
    await new Promise<void>((resolve) => proxy.#server.listen(0, "127.0.0.1", resolve));
    proxy.#port = (proxy.#server.address() as { port: number }).port;
    return proxy;
  }

  get port(): number {
    return this.#port;
  }

  /** Destroys every open connection and refuses new ones until restore(). */
  cut(): void {
    this.#down = true;
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
  }

  restore(): void {
    this.#down = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: Socket, target: { host: string; port: number }): void {
    if (this.#down) {
      client.resetAndDestroy();
      return;
    }
    this.connections++;
    const upstream = createConnection(target);
    for (const [a, b] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      this.#sockets.add(a);
      a.on("error", () => b.destroy());
      a.on("close", () => {
        this.#sockets.delete(a);
        b.destroy();
      });
      a.pipe(b);
    }
  }
}

/** A copy of `kc` whose current cluster is reached through `proxy` (same TLS, same credentials). */
export function kubeConfigVia(kc: KubeConfig, proxy: TcpProxy): KubeConfig {
  const current = kc.getCurrentCluster();
  if (!current) throw new Error("the kubeconfig has no current cluster");
  const copy = new KubeConfig();
  copy.loadFromOptions({
    clusters: kc.clusters.map((c) =>
      c.name === current.name ? { ...c, server: `https://127.0.0.1:${proxy.port}` } : c,
    ),
    users: kc.users,
    contexts: kc.contexts,
    currentContext: kc.currentContext,
  });
  return copy;
}

/** Host and port of the kubeconfig's current cluster. */
export function serverOf(kc: KubeConfig): { host: string; port: number } {
  const url = new URL(kc.getCurrentCluster()?.server ?? "");
  return { host: url.hostname, port: Number(url.port || 443) };
}
