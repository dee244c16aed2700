// The operator's HTTP endpoints for the kubelet and Prometheus: /healthz
// (liveness), /readyz (readiness) and /metrics, on node:http.

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";

export interface HealthServerOptions {
  /** Port to listen on; 0 picks a free one (returned). */
  readonly port: number;
  /** Address to bind. Default "0.0.0.0" (all IPv4 interfaces, as a pod needs). */
  readonly host?: string;
  /** Served on /metrics. */
  readonly registry: Registry;
  /** /readyz answers 200 while this holds, 503 otherwise. */
  readonly ready: () => boolean;
  /** /healthz answers 200 while this holds, 503 otherwise. Default always live. */
  readonly live?: () => boolean;
  /** The reason /readyz gives when not ready. Default "not ready". */
  readonly notReadyReason?: () => string;
}

export interface HealthServer {
  readonly port: number;
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
    const [live, failed] = safely(o.live ?? (() => true));
    return check(res, live, failed ?? "not live");
  }
  if (path === "/readyz") {
    const [ready, failed] = safely(o.ready);
    return check(res, ready, failed ?? `not ready: ${o.notReadyReason?.() ?? "starting"}`);
  }
  if (path === "/metrics") return send(res, 200, await o.registry.metrics(), o.registry.contentType);
  send(res, 404, `not found: ${path} (try /healthz, /readyz, /metrics)\n`);
}

/** Starts the server; resolves once it listens. */
export function startHealthServer(o: HealthServerOptions): Promise<HealthServer> {
  const server = createServer((req, res) => {
    route(o, req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, `error: ${err instanceof Error ? err.message : String(err)}\n`);
      else res.destroy();
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.host ?? "0.0.0.0", () => {
      server.off("error", reject);
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () =>
          new Promise<void>((done, fail) => {
            server.close((err) => (err ? fail(err) : done()));
            server.closeAllConnections();
          }),
      });
    });
  });
}
