// The sandbox cloud simulator for integration tests and benchmarks: its admin
// API (never faulted), to read or set a node group's state, and its ARM API,
// to scale an AKS pool back as the operator would.

import { readFileSync } from "node:fs";
import { request } from "node:https";
import type { ContainerServiceClient } from "@azure/arm-containerservice";
import { SANDBOX_GROUP_LABEL } from "../../scripts/sandbox/nodes.ts";
import { cloudSimUrl, sandboxCaPath } from "../../scripts/sandbox/sandbox.ts";
import { createAksClient } from "../../src/providers/aks/client.ts";
import { clients, eventually } from "./sandbox.ts";

export interface SimGroupState {
  cluster: string;
  group: string;
  desiredSize: number;
  nodes: number;
  maxSize: number;
  changes: number;
}

/** One call to the simulator's admin API; rejects on a status >= 300. */
export function admin(method: string, path: string, body?: unknown): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${cloudSimUrl()}${path}`,
      { method, ca: readFileSync(sandboxCaPath()), headers: { "content-type": "application/json" } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString();
          if ((res.statusCode ?? 0) >= 300) reject(new Error(`${method} ${path}: ${res.statusCode} ${text}`));
          else resolve(text ? JSON.parse(text) : undefined);
        });
      },
    );
    req.on("error", reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

export async function simGroup(cluster: string, group: string): Promise<SimGroupState> {
  const state = (await admin("GET", "/_admin/state")) as { groups: SimGroupState[] };
  const g = state.groups.find((x) => x.cluster === cluster && x.group === group);
  if (!g) throw new Error(`the simulator has no ${cluster}/${group}`);
  return g;
}

/** The ARM client of the sandbox's AKS pools, against the cloud simulator (which takes any token). */
export function sandboxAksClient(): ContainerServiceClient {
  return createAksClient(
    { getToken: async () => ({ token: "sandbox", expiresOnTimestamp: Date.now() + 3_600_000 }) },
    {
      subscriptionId: "00000000-0000-0000-0000-000000000000",
      endpoint: cloudSimUrl(),
      ca: readFileSync(sandboxCaPath()),
    },
  );
}

/** The Ready nodes of an azure-sim pool. */
export async function readyPoolNodes(pool: string): Promise<number> {
  const nodes = await clients("azure-sim").core.listNode({ labelSelector: `${SANDBOX_GROUP_LABEL}=${pool}` });
  return nodes.items.filter((n) => n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")).length;
}

/** Scales an azure-sim pool to `count` through the ARM API (as the operator would) and waits for its Ready nodes. */
export async function scaleAzurePool(pool: string, count: number, timeoutMs = 120_000): Promise<void> {
  if ((await simGroup("azure-sim", pool)).desiredSize !== count) {
    const aks = sandboxAksClient();
    const current = await aks.agentPools.get("sandbox", "azure-sim", pool);
    await aks.agentPools
      .createOrUpdate("sandbox", "azure-sim", pool, { ...current, count }, { updateIntervalInMs: 250 })
      .pollUntilDone();
  }
  await eventually(
    `${count} Ready ${pool} nodes`,
    () => readyPoolNodes(pool),
    (n) => n === count,
    timeoutMs,
  );
}
