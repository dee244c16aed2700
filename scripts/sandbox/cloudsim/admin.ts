// The simulator's admin API, for tests and people: read the state, change
// the faults, mark a group as owned by an autoscaler, change the resize
// delay, record a spot reclaim (`sandbox:evict` deletes the nodes, then tells
// the simulator the group lost them). Admin calls are never faulted.
//
//   GET  /_admin/state
//   PUT  /_admin/faults                              {"throttleRate":0.3,"errorRate":0,"latencyMs":50,"hang":["aws"]}
//   PUT  /_admin/node-groups/<cluster>/<group>         {"autoscalerOwned":true,"maxSize":8}
//   POST /_admin/node-groups/<cluster>/<group>/reclaim {"count":2}
//   PUT  /_admin/config                               {"scaleDelayMs":500}

import type { FaultInjector, Faults } from "./faults.ts";
import { json, type SimRequest, type SimResponse } from "./http.ts";
import type { CloudState } from "./state.ts";

/** A snapshot of the simulator for GET /_admin/state. */
export function adminState(state: CloudState, faults: FaultInjector): object {
  return {
    groups: state.groups.map((g) => ({
      cluster: g.cluster.name,
      group: g.spec.name,
      desiredSize: g.desiredSize,
      nodes: g.nodes,
      minSize: g.minSize,
      maxSize: g.maxSize,
      autoscalerOwned: g.autoscalerOwned,
      changes: g.changes,
      busy: state.busy(g),
    })),
    faults: faults.faults,
    injected: faults.injected,
  };
}

function putGroup(state: CloudState, cluster: string, group: string, body: Record<string, unknown>): SimResponse {
  const g = state.group(cluster, group);
  if (!g) return json(404, { message: `no node group ${cluster}/${group}` });
  if (body.autoscalerOwned !== undefined) g.autoscalerOwned = body.autoscalerOwned === true;
  if (Number.isInteger(body.maxSize)) g.maxSize = body.maxSize as number;
  if (Number.isInteger(body.minSize)) g.minSize = body.minSize as number;
  return json(200, { cluster, group, autoscalerOwned: g.autoscalerOwned, minSize: g.minSize, maxSize: g.maxSize });
}

/** The group shrinks by `count` machines the cloud took back; refused while it resizes. */
function reclaimGroup(state: CloudState, cluster: string, group: string, body: Record<string, unknown>): SimResponse {
  const g = state.group(cluster, group);
  if (!g) return json(404, { message: `no node group ${cluster}/${group}` });
  const count = body.count;
  if (!(typeof count === "number" && Number.isInteger(count) && count >= 1)) {
    return json(400, { message: `count must be a whole number >= 1, got ${JSON.stringify(count)}` });
  }
  if (state.busy(g)) {
    return json(409, { message: `node group ${cluster}/${group} is resizing; reclaim once its resize has finished` });
  }
  const before = g.desiredSize;
  state.reclaim(g, count);
  return json(200, { cluster, group, before, desiredSize: g.desiredSize, nodes: g.nodes, maxSize: g.maxSize });
}

/** Answers an admin call, or undefined when the path is not /_admin/. */
export function handleAdmin(state: CloudState, faults: FaultInjector, req: SimRequest): SimResponse | undefined {
  if (!req.path.startsWith("/_admin/")) return undefined;
  const body = (req.body ?? {}) as Record<string, unknown>;
  if (req.path === "/_admin/state" && req.method === "GET") return json(200, adminState(state, faults));
  if (req.path === "/_admin/faults" && req.method === "PUT") {
    try {
      faults.faults = body as Faults;
    } catch (err) {
      return json(400, { message: (err as Error).message });
    }
    return json(200, faults.faults);
  }
  if (req.path === "/_admin/config" && req.method === "PUT") {
    if (!(typeof body.scaleDelayMs === "number" && body.scaleDelayMs >= 0)) {
      return json(400, { message: `scaleDelayMs must be a number >= 0, got ${JSON.stringify(body.scaleDelayMs)}` });
    }
    state.delayMs = body.scaleDelayMs;
    return json(200, { scaleDelayMs: body.scaleDelayMs });
  }
  const m = /^\/_admin\/node-groups\/([^/]+)\/([^/]+)$/.exec(req.path);
  if (m && req.method === "PUT") return putGroup(state, m[1] ?? "", m[2] ?? "", body);
  const r = /^\/_admin\/node-groups\/([^/]+)\/([^/]+)\/reclaim$/.exec(req.path);
  if (r && req.method === "POST") return reclaimGroup(state, r[1] ?? "", r[2] ?? "", body);
  return json(404, { message: `no admin route ${req.method} ${req.path}` });
}
