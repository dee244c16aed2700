// The cloud simulator: an HTTPS server speaking the EKS and ARM (AKS) APIs
// the operator calls, backed by the sandbox clusters (resizing a group adds
// or removes kwok nodes after a delay), with fault injection, and an admin
// API (/_admin/...) to change faults and group ownership while it runs.

import { readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { STATE_DIR } from "../paths.ts";
import { ensurePki } from "../pki.ts";
import { defaultTopology, type Topology, workerClusters } from "../topology.ts";
import { handleAdmin } from "./admin.ts";
import { armError, handleArm } from "./arm.ts";
import { eksError, handleEks } from "./eks.ts";
import { FaultInjector, type Faults, seededRandom, validateFaults } from "./faults.ts";
import type { SimRequest, SimResponse } from "./http.ts";

/** What route returns for a call the hang fault holds: no answer is ever sent. */
const HANG = Symbol("hang");

import { groupNodes, kwokResize } from "./nodes.ts";
import { CloudState, type SimGroup } from "./state.ts";

export interface CloudSimOptions {
  /** Port to listen on. Default 0: any free port (read it from `url`). */
  readonly port?: number;
  /** Address to listen on. Default 127.0.0.1 (the serving certificate's SAN). */
  readonly host?: string;
  /** The sandbox's shape. Default: defaultTopology() (SANDBOX_PORT_BASE, SANDBOX_NODES). */
  readonly topology?: Topology;
  /** Serving certificate and key (PEM paths). Default: the sandbox PKI's serving pair in SANDBOX_STATE_DIR/pki. */
  readonly tls?: { readonly cert: string; readonly key: string; readonly ca: string };
  /** How long a resize takes before nodes appear or go. Default 2000 ms. */
  readonly scaleDelayMs?: number;
  /** Faults from the start. Default: none. */
  readonly faults?: Faults;
  /** Seed of the fault dice, for reproducible runs. Default: random. */
  readonly seed?: number;
  /** Groups (`cluster/group`) an autoscaler owns from the start. Default: none. */
  readonly autoscalerOwned?: readonly string[];
  /** Clients of the sandbox clusters. Default: the sandbox's kubeconfigs. */
  readonly kubeConfigFor?: (cluster: string) => KubeConfig;
  /** Where to log each call. Default: nowhere. */
  readonly log?: (line: string) => void;
}

export interface CloudSim {
  /** https://127.0.0.1:<port>: the EKS endpoint and the ARM endpoint alike. */
  readonly url: string;
  /** The CA (PEM path) that signed the serving certificate: trust it (NODE_EXTRA_CA_CERTS or the SDK's agent). */
  readonly caFile: string;
  readonly state: CloudState;
  readonly faults: FaultInjector;
  stop(): Promise<void>;
}

/** The sandbox's admin kubeconfig of `cluster` (what sandbox:up writes to SANDBOX_STATE_DIR). */
function sandboxKubeConfig(cluster: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(join(STATE_DIR, `${cluster}.kubeconfig`));
  return kc;
}

async function initialGroups(
  o: CloudSimOptions,
  topology: Topology,
  kc: (c: string) => KubeConfig,
): Promise<SimGroup[]> {
  const owned = new Set(o.autoscalerOwned ?? []);
  const groups: SimGroup[] = [];
  for (const cluster of workerClusters(topology)) {
    for (const spec of cluster.nodeGroups) {
      const nodes = (
        await groupNodes(kc(cluster.name), spec).catch((err: Error) => {
          throw new Error(
            `cloudsim: cannot list the nodes of ${cluster.name} (is the sandbox up? npm run sandbox:up): ${err.message}`,
          );
        })
      ).length;
      groups.push({
        cluster,
        spec,
        minSize: spec.minSize,
        maxSize: Math.max(spec.maxSize, nodes),
        desiredSize: nodes,
        nodes,
        autoscalerOwned: owned.has(`${cluster.name}/${spec.name}`),
        changes: 0,
        createdAt: new Date(),
      });
    }
  }
  return groups;
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString();
  return text ? JSON.parse(text) : undefined;
}

function send(res: ServerResponse, r: SimResponse): void {
  const body = r.body === undefined ? "" : JSON.stringify(r.body);
  res.writeHead(r.status, { "content-type": "application/json", ...r.headers });
  res.end(body);
}

/** The answer for an injected fault, in the dialect of the API called. */
function faultResponse(fault: "throttle" | "error", arm: boolean): SimResponse {
  if (fault === "throttle") {
    return arm
      ? armError(429, "TooManyRequests", "Too many requests (injected by cloudsim)", { "Retry-After": "1" })
      : eksError(429, "ThrottlingException", "Rate exceeded (injected by cloudsim)");
  }
  return arm
    ? armError(503, "ServiceUnavailable", "Service unavailable (injected by cloudsim)")
    : eksError(500, "ServerException", "Internal error (injected by cloudsim)");
}

/** Starts the simulator; resolves once it listens. */
export async function startCloudSim(o: CloudSimOptions = {}): Promise<CloudSim> {
  const topology = o.topology ?? defaultTopology();
  const configs = new Map<string, KubeConfig>();
  const kc = (cluster: string) => {
    const found = configs.get(cluster) ?? (o.kubeConfigFor ?? sandboxKubeConfig)(cluster);
    configs.set(cluster, found);
    return found;
  };
  const pki = ensurePki(join(STATE_DIR, "pki"));
  const tls = o.tls ?? { cert: pki.servingCert, key: pki.servingKey, ca: pki.caCert };
  const faultErrors = validateFaults(o.faults ?? {});
  if (faultErrors.length > 0) throw new Error(`cloudsim faults: ${faultErrors.join("; ")}`);
  const faults = new FaultInjector(o.faults ?? {}, seededRandom(o.seed ?? Math.floor(Math.random() * 2 ** 31)));
  const state = new CloudState(await initialGroups(o, topology, kc), kwokResize(kc), o.scaleDelayMs ?? 2000);
  const caData = readFileSync(tls.ca).toString("base64");
  let baseUrl = "";
  const route = async (req: SimRequest): Promise<SimResponse | typeof HANG> => {
    const admin = handleAdmin(state, faults, req);
    if (admin) return admin;
    const arm = /^\/subscriptions\//i.test(req.path);
    if (faults.hangs(arm ? "azure" : "aws")) return HANG;
    const fault = faults.next();
    await faults.delay();
    if (fault) return faultResponse(fault, arm);
    const eksInfo = { endpoint: (c: { apiPort: number }) => `https://127.0.0.1:${c.apiPort}`, caData, version: "1.36" };
    return (
      handleEks(state, faults, eksInfo, req) ??
      handleArm(state, faults, (c) => `127.0.0.1:${c.apiPort}`, req) ??
      json404(req)
    );
  };
  const server = createServer({ cert: readFileSync(tls.cert), key: readFileSync(tls.key) }, (req, res) => {
    void (async () => {
      const url = new URL(req.url ?? "/", baseUrl);
      const parsed: SimRequest = {
        method: req.method ?? "GET",
        path: url.pathname,
        query: url.searchParams,
        body: await readBody(req),
        baseUrl,
      };
      const r = await route(parsed);
      if (r === HANG) {
        o.log?.(`${parsed.method} ${req.url} -> hung (never answered)`);
        return; // the response stays open until the client gives up or the simulator stops
      }
      o.log?.(`${parsed.method} ${req.url} -> ${r.status}`);
      send(res, r);
    })().catch((err: Error) => send(res, { status: 500, body: { message: `cloudsim: ${err.message}` } }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port ?? 0, o.host ?? "127.0.0.1", resolve);
  });
  baseUrl = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const stop = async () => {
    state.stop();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return { url: baseUrl, caFile: tls.ca, state, faults, stop };
}

function json404(req: SimRequest): SimResponse {
  return { status: 404, body: { message: `cloudsim: no route for ${req.method} ${req.path}` } };
}
