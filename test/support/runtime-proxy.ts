// A TCP proxy for runtime tests: sits between a client and an API server (TLS
// passes through untouched), and can cut every connection and refuse new ones
// until restored, as a network outage would, or hang: accept connections and
// pass nothing either way until healed, as a frozen API server would, or slow
// down: deliver what the server sends only after a delay, as a loaded server
// or a long link would.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";

/** One direction of a forwarded connection: what it holds back while the proxy hangs. */
interface Flow {
  readonly queue: Buffer[];
  readonly to: Socket;
}

export class TcpProxy {
  readonly #server: Server;
  readonly #target: { host: string; port: number };
  readonly #sockets = new Set<Socket>();
  readonly #flows = new Set<Flow>();
  /** Connections accepted while hung, with what their clients sent: nothing is forwarded or answered. */
  readonly #held = new Map<Socket, Buffer[]>();
  #down = false;
  #hung = false;
  /** How long what the server sends is held before it is passed on. */
  #slowMs = 0;
  #port = 0;
  /** Connections accepted (and forwarded) so far. */
  connections = 0;
  /** Connections accepted while hung so far. */
  heldConnections = 0;

  private constructor(target: { host: string; port: number }) {
    this.#target = target;
    this.#server = createServer((client) => this.#accept(client));
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
    for (const socket of [...this.#sockets, ...this.#held.keys()]) socket.destroy();
    this.#sockets.clear();
    this.#held.clear();
  }

  restore(): void {
    this.#down = false;
  }

  /**
   * Until heal(): open connections pass nothing either way, and new ones are accepted and never
   * answered, as with a worker whose API server is frozen. Bytes are held back, not dropped, and a
   * client closing its connection is still noticed (held counts the ones left open).
   */
  hang(): void {
    this.#hung = true;
  }

  /** Ends a hang: what was held back is delivered, and held connections are forwarded from then on. */
  heal(): void {
    this.#hung = false;
    for (const flow of this.#flows) for (const chunk of flow.queue.splice(0)) flow.to.write(chunk);
    for (const [client, early] of this.#held) {
      client.removeAllListeners("data");
      this.#forward(client, early);
    }
    this.#held.clear();
  }

  /** From now on every chunk the server sends reaches the client `ms` later (0: at once again). */
  slow(ms: number): void {
    this.#slowMs = ms;
  }

  /** Sockets of forwarded connections (client and server sides) the proxy has not seen closed. */
  get open(): number {
    return this.#sockets.size;
  }

  /** Connections accepted while hung whose clients have not closed them (yet). */
  get held(): number {
    return this.#held.size;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    if (this.#down) {
      client.resetAndDestroy();
      return;
    }
    if (this.#hung) this.#hold(client);
    else this.#forward(client, []);
  }

  #hold(client: Socket): void {
    this.heldConnections++;
    const early: Buffer[] = [];
    this.#held.set(client, early);
    client.on("data", (chunk: Buffer) => early.push(chunk));
    client.on("error", () => client.destroy());
    client.on("close", () => this.#held.delete(client));
  }

  #forward(client: Socket, early: Buffer[]): void {
    this.connections++;
    const upstream = createConnection(this.#target);
    for (const chunk of early) upstream.write(chunk);
    this.#link(client, upstream, () => 0);
    this.#link(upstream, client, () => this.#slowMs);
  }

  /** Forwards what `from` sends to `to` after `delayMs()`, holding it back while hung; closing one closes the other. */
  #link(from: Socket, to: Socket, delayMs: () => number): void {
    const flow: Flow = { queue: [], to };
    this.#flows.add(flow);
    this.#sockets.add(from);
    const pass = (chunk: Buffer) => {
      if (this.#hung) flow.queue.push(chunk);
      else if (!to.destroyed) to.write(chunk);
    };
    from.on("data", (chunk: Buffer) => {
      const ms = delayMs();
      if (ms > 0) setTimeout(() => pass(chunk), ms);
      else pass(chunk);
    });
    from.on("error", () => to.destroy());
    from.on("close", () => {
      this.#sockets.delete(from);
      this.#flows.delete(flow);
      to.destroy();
    });
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

/**
 * Writes kubeConfigVia(kc, proxy) to a new file (for a child process's KUBECONFIG), removed when this
 * process exits; returns its path.
 */
export function writeKubeConfigVia(kc: KubeConfig, proxy: TcpProxy): string {
  const dir = mkdtempSync(join(tmpdir(), "kubeconfig-via-"));
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, "kubeconfig");
  writeFileSync(path, kubeConfigVia(kc, proxy).exportConfig(), { mode: 0o600 });
  return path;
}

/** Host and port of the kubeconfig's current cluster. */
export function serverOf(kc: KubeConfig): { host: string; port: number } {
  const url = new URL(kc.getCurrentCluster()?.server ?? "");
  return { host: url.hostname, port: Number(url.port || 443) };
}
