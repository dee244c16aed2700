// Deadlines on worker requests and what follows from them, pure parts: the
// no-answer messages, the registry's reachability record, paged lists, and the
// ComputeCluster status rules (when to write, what Reachable=False says). One
// case sends real requests to a local HTTP server that never answers, to prove
// the deadline aborts the socket, not just the promise.

import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import type { ComputeClusterStatus } from "../../src/api/computecluster.ts";
import { ClusterRegistry } from "../../src/clusters/registry.ts";
import {
  HEARTBEAT_REFRESH_MS,
  statusNeedsWrite,
  unreachableMessage,
} from "../../src/controller/computecluster/reconciler.ts";
import { KubeClient } from "../../src/kube/client.ts";
import type { KubeConfigView } from "../../src/kube/config.ts";
import { LIST_PAGE_SIZE, listPaged } from "../../src/kube/list.ts";
import {
  innermostMessage,
  NoAnswerError,
  noAnswerMessage,
  type RequestOutcome,
  seconds,
} from "../../src/runtime/deadline.ts";
import { silentLogger } from "../../src/runtime/logger.ts";

describe("no-answer messages", () => {
  const cases = [
    { ms: 10_000, want: "10s" },
    { ms: 2_500, want: "2.5s" },
    { ms: 250, want: "0.25s" },
  ];
  for (const c of cases) it(`seconds(${c.ms}) is ${c.want}`, () => assert.equal(seconds(c.ms), c.want));

  it("a deadline names the target, the request and the deadline, and says what to check", () => {
    const m = noAnswerMessage('worker cluster "aws-sim"', "GET /version", 10_000, new Error("aborted"));
    assert.equal(
      m,
      'worker cluster "aws-sim" did not answer GET /version within 10s (request aborted); ' +
        "check that its API server is up and reachable from the operator",
    );
  });

  it("a failed connection says why, from the innermost cause", () => {
    const cause = new TypeError("fetch failed", { cause: new Error("connect ECONNREFUSED 127.0.0.1:1") });
    const m = noAnswerMessage('worker cluster "x"', "GET /api/v1/nodes", undefined, cause);
    assert.match(
      m,
      /^worker cluster "x" did not answer GET \/api\/v1\/nodes: connect ECONNREFUSED 127\.0\.0\.1:1; check/,
    );
  });

  const inner = [
    { name: "plain error", err: new Error("boom"), want: "boom" },
    { name: "nested causes", err: new Error("a", { cause: new Error("b", { cause: new Error("c") }) }), want: "c" },
    { name: "a string", err: "just text", want: "just text" },
    { name: "a cause without message", err: new Error("outer", { cause: { code: 1 } }), want: "[object Object]" },
  ];
  for (const c of inner) it(`innermostMessage: ${c.name}`, () => assert.equal(innermostMessage(c.err), c.want));
});

describe("ClusterRegistry.reachability", () => {
  const t = (s: number) => new Date(Date.UTC(2026, 10, 30, 15, 40, s));
  type Step = { reached: Date } | { unreachable: string; lastKnown?: Date };
  const cases: { name: string; steps: Step[]; want: ReturnType<ClusterRegistry["reachability"]> }[] = [
    { name: "nothing known", steps: [], want: undefined },
    { name: "reached", steps: [{ reached: t(1) }], want: { reachable: true, lastReached: t(1) } },
    {
      name: "reached, then no answer: keeps the last reach and the error",
      steps: [{ reached: t(1) }, { unreachable: "timed out" }],
      want: { reachable: false, lastReached: t(1), lastError: "timed out" },
    },
    {
      name: "never reached: no lastReached",
      steps: [{ unreachable: "refused" }],
      want: { reachable: false, lastError: "refused" },
    },
    {
      name: "seeded from status after a restart",
      steps: [{ unreachable: "timed out", lastKnown: t(0) }],
      want: { reachable: false, lastReached: t(0), lastError: "timed out" },
    },
    {
      name: "an older seed does not move lastReached back",
      steps: [{ reached: t(5) }, { unreachable: "timed out", lastKnown: t(0) }],
      want: { reachable: false, lastReached: t(5), lastError: "timed out" },
    },
    {
      name: "answered again: reachable, error cleared",
      steps: [{ reached: t(1) }, { unreachable: "timed out" }, { reached: t(9) }],
      want: { reachable: true, lastReached: t(9) },
    },
    {
      name: "a late answer stamped earlier does not move lastReached back",
      steps: [{ reached: t(9) }, { reached: t(3) }],
      want: { reachable: true, lastReached: t(9) },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const registry = new ClusterRegistry({ logger: silentLogger(), onChange: () => {} });
      for (const s of c.steps) {
        if ("reached" in s) registry.markReached("w", s.reached);
        else registry.markUnreachable("w", s.unreachable, s.lastKnown);
      }
      assert.deepEqual(registry.reachability("w"), c.want);
    });
  }

  it("forget drops it; other clusters are separate", () => {
    const registry = new ClusterRegistry({ logger: silentLogger(), onChange: () => {} });
    registry.markReached("a", t(1));
    registry.markUnreachable("b", "refused");
    registry.forget("a");
    assert.equal(registry.reachability("a"), undefined);
    assert.equal(registry.reachability("b")?.reachable, false);
  });

  it("the request deadline defaults to 10 s and is an option", () => {
    const base = { logger: silentLogger(), onChange: () => {} };
    assert.equal(new ClusterRegistry(base).requestTimeoutMs, 10_000);
    assert.equal(new ClusterRegistry({ ...base, requestTimeoutMs: 2_000 }).requestTimeoutMs, 2_000);
  });
});

describe("listPaged", () => {
  const collection = (n: number) => Array.from({ length: n }, (_, i) => i);
  /** Serves `items` in pages the way the API server does: limit, continue token, one resourceVersion. */
  const server = (items: number[], calls: { limit: number; continue?: string }[]) => {
    return async (p: { limit: number; continue?: string }) => {
      calls.push(p);
      const from = Number(p.continue ?? 0);
      const next = from + p.limit < items.length ? String(from + p.limit) : undefined;
      return { items: items.slice(from, from + p.limit), metadata: { resourceVersion: "42", continue: next } };
    };
  };
  for (const n of [0, 1, LIST_PAGE_SIZE, LIST_PAGE_SIZE + 1, 3 * LIST_PAGE_SIZE + 7]) {
    it(`${n} objects: every one, in ${Math.max(1, Math.ceil(n / LIST_PAGE_SIZE))} requests`, async () => {
      const calls: { limit: number; continue?: string }[] = [];
      const list = await listPaged(server(collection(n), calls));
      assert.deepEqual(list.items, collection(n));
      assert.equal(list.resourceVersion, "42");
      assert.equal(calls.length, Math.max(1, Math.ceil(n / LIST_PAGE_SIZE)));
      assert.ok(calls.every((c) => c.limit === LIST_PAGE_SIZE));
      assert.equal(calls[0]?.continue, undefined, "the first page has no continue token");
    });
  }
});

describe("ComputeCluster status: when to write", () => {
  const now = new Date("2026-11-30T15:40:00Z");
  const ago = (ms: number) => new Date(now.getTime() - ms).toISOString();
  const cond = (status: "True" | "False", message = "m") => ({
    type: "Reachable",
    status,
    reason: status === "True" ? "Heartbeat" : "Unreachable",
    message,
    lastTransitionTime: "2026-11-30T15:00:00Z",
  });
  const status = (over: Partial<ComputeClusterStatus> = {}): ComputeClusterStatus => ({
    observedGeneration: 1,
    conditions: [cond("True")],
    nodeGroups: [],
    kubernetesVersion: "v1.36.3",
    lastHeartbeatTime: ago(10_000),
    ...over,
  });
  const cases: { name: string; old: ComputeClusterStatus | undefined; next: ComputeClusterStatus; want: boolean }[] = [
    { name: "no status yet", old: undefined, next: status(), want: true },
    {
      name: "same, heartbeat written 10 s ago: skip",
      old: status(),
      next: status({ lastHeartbeatTime: now.toISOString() }),
      want: false,
    },
    {
      name: `same, heartbeat written ${HEARTBEAT_REFRESH_MS / 1000} s ago: refresh`,
      old: status({ lastHeartbeatTime: ago(HEARTBEAT_REFRESH_MS) }),
      next: status({ lastHeartbeatTime: now.toISOString() }),
      want: true,
    },
    {
      name: "same, just under the refresh age: skip",
      old: status({ lastHeartbeatTime: ago(HEARTBEAT_REFRESH_MS - 1) }),
      next: status({ lastHeartbeatTime: now.toISOString() }),
      want: false,
    },
    {
      name: "a condition changed: write",
      old: status(),
      next: status({ conditions: [cond("False")], lastHeartbeatTime: ago(10_000) }),
      want: true,
    },
    {
      name: "capacity changed: write, however fresh the heartbeat",
      old: status(),
      next: status({ nodeGroups: [{ name: "g", instanceType: "p5.48xlarge", freeNodes: 1 } as never] }),
      want: true,
    },
    {
      name: "unreachable, unchanged, heartbeat kept: skip however old it is",
      old: status({ conditions: [cond("False")], lastHeartbeatTime: ago(600_000) }),
      next: status({ conditions: [cond("False")], lastHeartbeatTime: ago(600_000) }),
      want: false,
    },
    {
      name: "the heartbeat time moves back (the true last reach): write",
      old: status({ lastHeartbeatTime: ago(1_000) }),
      next: status({ lastHeartbeatTime: ago(5_000) }),
      want: true,
    },
    {
      name: "undefined fields and key order do not count as changes",
      old: { lastHeartbeatTime: ago(1_000), nodeGroups: [], observedGeneration: 1 },
      next: { observedGeneration: 1, kubernetesVersion: undefined, nodeGroups: [], lastHeartbeatTime: ago(0) },
      want: false,
    },
  ];
  for (const c of cases) it(c.name, () => assert.equal(statusNeedsWrite(c.old, c.next, now), c.want));

  it("refreshes at most half the staleness placement tolerates (60 s)", () => {
    assert.ok(HEARTBEAT_REFRESH_MS <= 30_000);
  });
});

describe("Reachable=False message", () => {
  const cases = [
    {
      name: "with the last reach",
      lastReached: new Date("2026-11-30T15:40:00Z"),
      want: "no answer from https://w:6443: did not answer within 10s; last reached 2026-11-30T15:40:00.000Z",
    },
    {
      name: "never reached",
      lastReached: undefined,
      want: "no answer from https://w:6443: did not answer within 10s; not reached since the operator started",
    },
  ];
  for (const c of cases)
    it(c.name, () =>
      assert.equal(unreachableMessage("https://w:6443", "did not answer within 10s", c.lastReached), c.want),
    );
});

/** A kubeconfig for a plain-HTTP server on this machine, without credentials. */
function localServer(port: number): KubeConfigView {
  const cluster = { name: "local", server: `http://127.0.0.1:${port}`, skipTLSVerify: false };
  return {
    clusters: [cluster],
    users: [],
    contexts: [],
    getCurrentContext: () => "local",
    getContextObject: () => null,
    getCurrentCluster: () => cluster,
    getCurrentUser: () => null,
    applyToHTTPSOptions: async () => {},
  };
}

describe("the client's deadline against a local server that never answers", () => {
  let server: Server;
  let port = 0;
  const open = new Set<Socket>();
  before(async () => {
    server = createServer((socket) => {
      open.add(socket);
      socket.resume(); // reads the request, never writes a byte
      socket.on("close", () => open.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as { port: number }).port;
  });
  after(async () => {
    for (const s of open) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it("rejects after the deadline with the target named, reports no answer, and closes the socket", async () => {
    const outcomes: RequestOutcome[] = [];
    const client = new KubeClient(localServer(port), {
      target: 'worker cluster "hung"',
      timeoutMs: 300,
      onOutcome: (o) => outcomes.push(o),
    });
    const started = Date.now();
    const err = await client.request({ method: "GET", path: "/version", query: { timeout: "1s" } }).then(
      () => assert.fail("a server that never answers cannot answer"),
      (e: unknown) => e,
    );
    const took = Date.now() - started;
    assert.ok(err instanceof NoAnswerError, `got ${String(err)}`);
    assert.equal(err.timedOut, true);
    assert.match(err.message, /^worker cluster "hung" did not answer GET \/version within 0\.3s \(request aborted\)/);
    assert.ok(took >= 290 && took < 2_000, `rejected after ${took}ms`);
    assert.equal(outcomes.length, 1);
    assert.equal(outcomes[0]?.answered, false);
    const deadline = Date.now() + 2_000;
    while (open.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(open.size, 0, "the aborted request's socket was closed");
  });

  it("a caller's own abort is passed through and says nothing about the server", async () => {
    const outcomes: RequestOutcome[] = [];
    const client = new KubeClient(localServer(port), {
      target: "t",
      timeoutMs: 5_000,
      onOutcome: (o) => outcomes.push(o),
    });
    const cancel = new AbortController();
    setTimeout(() => cancel.abort(new Error("caller gave up")), 50);
    const err = await client
      .request({ method: "GET", path: "/version", signal: cancel.signal })
      .catch((e: unknown) => e);
    assert.ok(!(err instanceof NoAnswerError), `got ${String(err)}`);
    assert.deepEqual(outcomes, []);
  });

  it("a refused connection is a NoAnswerError without timedOut", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const freePort = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const client = new KubeClient(localServer(freePort), { target: "t", timeoutMs: 5_000 });
    const err = await client.request({ method: "GET", path: "/version" }).catch((e: unknown) => e);
    assert.ok(err instanceof NoAnswerError, `got ${String(err)}`);
    assert.equal(err.timedOut, false);
    assert.match(err.message, /ECONNREFUSED/);
  });
});
