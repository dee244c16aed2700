// The operator's HTTP endpoints for the kubelet and Prometheus: /healthz
// (liveness), /readyz (readiness) and /metrics, on node:http. By default it
// listens on every IPv6 and IPv4 address (dual-stack `::`), or on every IPv4
// address where the host has no IPv6.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";

export interface HealthServerOptions {
  /** Port to listen on; 0 picks a free one (returned). */
  readonly port: number;
  /** Address to bind. Default `::` dual-stack (IPv6 and IPv4), or "0.0.0.0" where IPv6 is unavailable. */
  readonly host?: string;
  /** Served on /metrics. */
  readonly registry: Registry;
  /** /readyz answers 200 while this holds, 503 otherwise. */
  readonly ready: () => boolean;
  /**
   * Why the process should be restarted (controllers that stopped making progress, a wedged leader
   * loop): /healthz answers 500 with it, or 200 while it returns undefined. Default always healthy.
   */
  readonly unhealthy?: () => string | undefined;
  /** The reason /readyz gives when not ready. Default "not ready". */
  readonly notReadyReason?: () => string;
}

export interface HealthServer {
  readonly port: number;
  /** The address it listens on: "::" (dual-stack), "0.0.0.0" (IPv4 only), or the host it was given. */
  readonly host: string;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: string, contentType = "text/plain; charset=utf-8"): void {
  res.writeHead(status, { "content-type": contentType, "cache-control": "no-store" });
  res.end(body);
}

function check(res: ServerResponse, ok: boolean, reason: string): void {
  if (ok) send(res, 200, "ok\n");
  else send(res, 503, `${reason}\n`);
}

function safely(probe: () => boolean): [boolean, string | undefined] {
  try {
    return [probe(), undefined];
  } catch (err) {
    return [false, `probe failed: ${err instanceof Error ? err.message : String(err)}`];
  }
}

async function route(o: HealthServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.setHeader("allow", "GET, HEAD");
    return send(res, 405, "method not allowed: use GET\n");
  }
  const path = new URL(req.url ?? "/", "http://localhost").pathname;
  if (path === "/healthz" || path === "/livez") {
    let reason: string | undefined;
    try {
      reason = o.unhealthy?.();
    } catch (err) {
      reason = `probe failed: ${err instanceof Error ? err.message : String(err)}`;
    }
    return reason === undefined ? send(res, 200, "ok\n") : send(res, 500, `unhealthy: ${reason}\n`);
  }
  if (path === "/readyz") {
    const [ready, failed] = safely(o.ready);
    return check(res, ready, failed ?? `not ready: ${o.notReadyReason?.() ?? "starting"}`);
  }
  if (path === "/metrics") return send(res, 200, await o.registry.metrics(), o.registry.contentType);
  send(res, 404, `not found: ${path} (try /healthz, /readyz, /metrics)\n`);
}

/** Whether a failed listen on `::` means the host has no IPv6 (so IPv4 alone is the fallback). */
export function noIpv6(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === "EAFNOSUPPORT" || code === "EADDRNOTAVAIL" || code === "EPROTONOSUPPORT";
}

/** Starts the server; resolves once it listens. */
export async function startHealthServer(o: HealthServerOptions): Promise<HealthServer> {
  const server = createServer((req, res) => {
    route(o, req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, `error: ${err instanceof Error ? err.message : String(err)}\n`);
      else res.destroy();
    });
  });
  let host = o.host ?? "::";
  try {
    await listen(server, o.port, host);
  } catch (err) {
    if (o.host !== undefined || !noIpv6(err)) throw err;
    host = "0.0.0.0";
    await listen(server, o.port, host);
  }
  return {
    port: (server.address() as AddressInfo).port,
    host,
    close: () =>
      new Promise<void>((done, fail) => {
        server.close((err) => (err ? fail(err) : done()));
        server.closeAllConnections();
      }),
  };
}

/** Listens on `host` (on `::`, IPv4 too: ipv6Only is off); rejects with the listen error. */
function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ port, host, ipv6Only: false }, () => {
      server.off("error", reject);
      resolve();
    });
  });
}
