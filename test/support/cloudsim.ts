// The sandbox cloud simulator's admin API (never faulted), for integration
// tests that read or set a node group's state: its size, bounds and changes.

import { readFileSync } from "node:fs";
import { request } from "node:https";
import { cloudSimUrl, sandboxCaPath } from "../../scripts/sandbox/sandbox.ts";

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
