// Worker deadlines against real API servers: the sandbox's aws-sim reached
// through a TCP proxy that can hang (accept connections, pass nothing), the
// way a frozen worker API server behaves. A call to the hung worker rejects
// within its deadline naming the cluster while the healthy worker answers;
// its informers' watches are aborted and reconnected, lists of a new
// connection time out, and all of it works again once the proxy heals. The
// ComputeCluster reconciler, run in-process against the hub, writes
// Reachable=False with the last time the worker was reached, skips writes
// that would change nothing, and writes Reachable=True again after the heal.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { V1Pod } from "@kubernetes/client-node";
import { Counter } from "prom-client";
import type { ComputeCluster } from "../../src/api/computecluster.ts";
import { ClusterRegistry, type WorkerCluster } from "../../src/clusters/registry.ts";
import type { ComputeClusterReconciler } from "../../src/controller/computecluster/reconciler.ts";
import { CoreV1Api } from "../../src/kube/apis.ts";
import { KubeClient } from "../../src/kube/client.ts";
import { NoAnswerError } from "../../src/runtime/deadline.ts";
import { silentLogger } from "../../src/runtime/logger.ts";
import { type HubComputeCluster, hubComputeCluster } from "../support/hub-computecluster.ts";
import { kubeConfigVia, serverOf, TcpProxy } from "../support/runtime-proxy.ts";
import { clients, eventually, uniqueName } from "../support/sandbox.ts";
import { waitSynced } from "../support/workers.ts";

const DEADLINE_MS = 2_000;
/** Scheduling and TLS on a busy 2-core machine; a hang that is not aborted would take far longer. */
const SLACK_MS = 1_500;
const WATCH_IDLE_MS = 6_000;

const aws = clients("aws-sim");
const azure = clients("azure-sim");
const _hub = clients("hub");

function newRegistry(apiRequests?: Counter<"cluster" | "verb">): ClusterRegistry {
  return new ClusterRegistry({
    logger: silentLogger(),
    onChange: () => {},
    requestTimeoutMs: DEADLINE_MS,
    watchIdleTimeoutMs: WATCH_IDLE_MS,
    ...(apiRequests ? { apiRequests } : {}),
  });
}

/** The requests of the registries made here, by cluster and verb ("get" of a worker: its version). */
const versionRequests = new Counter({
  name: "worker_timeouts_requests_total",
  help: "requests",
  labelNames: ["cluster", "verb"] as const,
  registers: [],
});

async function versionGets(cluster: string): Promise<number> {
  const { values } = await versionRequests.get();
  return values.find((v) => v.labels.cluster === cluster && v.labels.verb === "get")?.value ?? 0;
}

/** The promise's outcome and how long it took. */
async function timed<T>(p: Promise<T>): Promise<{ ms: number; value?: T; error?: unknown }> {
  const started = Date.now();
  try {
    const value = await p;
    return { ms: Date.now() - started, value };
  } catch (error) {
    return { ms: Date.now() - started, error };
  }
}

function assertNoAnswerInTime(r: { ms: number; error?: unknown }, cluster: string, what: string): void {
  assert.ok(
    r.error instanceof NoAnswerError,
    `${what}: expected a NoAnswerError, got ${String(r.error ?? "an answer")}`,
  );
  assert.ok(r.error.timedOut, `${what}: ${r.error.message}`);
  // KubernetesObjectApi prefixes the message of a failed discovery request ("Failed to fetch resource metadata").
  assert.match(r.error.message, new RegExp(`worker cluster "${cluster}" did not answer .* within 2s`));
  assert.ok(r.ms >= DEADLINE_MS - 50 && r.ms <= DEADLINE_MS + SLACK_MS, `${what}: rejected after ${r.ms}ms`);
}

describe("worker requests to a hung API server", () => {
  const namespace = uniqueName("worker-timeouts");
  let proxy: TcpProxy;
  let registry: ClusterRegistry;
  let hung: WorkerCluster;
  let healthy: WorkerCluster;

  before(async () => {
    await aws.core.createNamespace({ body: { metadata: { name: namespace } } });
    proxy = await TcpProxy.start(serverOf(aws.kubeConfig));
    registry = newRegistry();
    hung = registry.connect("aws-via-proxy", kubeConfigVia(aws.kubeConfig, proxy), "1");
    healthy = registry.connect("azure-sim", azure.kubeConfig, "1");
    await Promise.all([waitSynced(hung), waitSynced(healthy)]);
  });
  after(async () => {
    registry.disconnectAll();
    await proxy.close();
    await aws.core.deleteNamespace({ name: namespace }).catch(() => {});
  });

  it("every client rejects within the deadline naming the cluster, while the healthy worker answers", async () => {
    proxy.hang();
    const [core, batch, objects, version, other] = await Promise.all([
      timed(hung.core.listNode()),
      timed(hung.batch.listJobForAllNamespaces()),
      timed(hung.objects.read({ apiVersion: "v1", kind: "Namespace", metadata: { name: "default" } })),
      timed(hung.versionApi.getCode()),
      timed(healthy.core.listNode()),
    ]);
    assertNoAnswerInTime(core, "aws-via-proxy", "core.listNode");
    assertNoAnswerInTime(batch, "aws-via-proxy", "batch.listJobForAllNamespaces");
    assertNoAnswerInTime(objects, "aws-via-proxy", "objects.read");
    assertNoAnswerInTime(version, "aws-via-proxy", "versionApi.getCode");
    assert.equal(other.error, undefined, `the healthy worker failed: ${String(other.error)}`);
    assert.ok(other.ms < 1_000, `the healthy worker took ${other.ms}ms`);

    const r = registry.reachability("aws-via-proxy");
    assert.equal(r?.reachable, false);
    assert.match(r?.lastError ?? "", /did not answer .* within 2s/);
    assert.ok(r?.lastReached, "it was reached before the hang");
    assert.equal(registry.reachability("azure-sim")?.reachable, true);
  });

  it("an informer's stuck watch is aborted and reconnected; a new connection's lists time out", async () => {
    // The frozen watch goes after the idle limit; each reconnect is held, and aborted after the
    // connect deadline (2 s), far sooner than the idle limit (6 s).
    const first = await eventually(
      "the pod informer's watch to time out",
      () => Promise.resolve(hung.pods.watchTimeouts),
      (n) => n >= 1,
      WATCH_IDLE_MS + SLACK_MS,
    );
    const started = Date.now();
    await eventually(
      "two more watch timeouts",
      () => Promise.resolve(hung.pods.watchTimeouts),
      (n) => n >= first + 2,
      2 * DEADLINE_MS + 2 * SLACK_MS,
    );
    const took = Date.now() - started;
    assert.ok(took < 2 * WATCH_IDLE_MS, `two reconnects took ${took}ms: the connect deadline is not in effect`);
    const late = registry.connect("aws-late", kubeConfigVia(aws.kubeConfig, proxy), "1");
    await eventually(
      "the new connection's lists to fail",
      () => Promise.resolve(late.nodes.restarts),
      (n) => n >= 1,
      DEADLINE_MS + SLACK_MS + 1_000,
    );
    assert.equal(late.nodes.synced, false);
    assert.equal(registry.reachability("aws-late")?.reachable, false);
  });

  it("once the server answers again, calls succeed and informers list and watch again", async () => {
    proxy.heal();
    const version = await hung.versionApi.getCode();
    assert.ok(version.gitVersion);
    assert.equal(registry.reachability("aws-via-proxy")?.reachable, true);
    const late = registry.get("aws-late");
    assert.ok(late);
    await waitSynced(late);

    const pod: V1Pod = {
      metadata: { name: "after-heal", namespace },
      spec: {
        containers: [{ name: "c", image: "busybox" }],
        nodeSelector: { "worker-timeouts.test/none": "true" }, // stays Pending: nothing to run
      },
    };
    // Retried: a new namespace's default ServiceAccount, which admission wants, may still be coming.
    await eventually("the pod to be created", () => aws.core.createNamespacedPod({ namespace, body: pod }), Boolean);
    await eventually(
      "the pod created after the heal in the old connection's cache",
      () => Promise.resolve(hung.pods.get(namespace, "after-heal")),
      Boolean,
      WATCH_IDLE_MS + 3 * DEADLINE_MS,
    );
    await eventually(
      "the pod in the new connection's cache",
      () => Promise.resolve(late.pods.get(namespace, "after-heal")),
      Boolean,
      WATCH_IDLE_MS + 3 * DEADLINE_MS,
    );
  });
});

describe("the socket of a request to a hung server", () => {
  // An answered connection is closed as soon as its request is aborted (test/unit/worker-deadlines.test.ts).
  // A server that accepts TCP and never completes TLS (a frozen process) holds the socket in its
  // handshake: the deadline destroys that socket too.
  it("is closed at the deadline when the server never completes TLS", async () => {
    const proxy = await TcpProxy.start(serverOf(aws.kubeConfig));
    try {
      const core = new CoreV1Api(
        new KubeClient(kubeConfigVia(aws.kubeConfig, proxy), { target: "hung", timeoutMs: DEADLINE_MS }),
      );
      proxy.hang();
      const started = Date.now();
      const r = await timed(core.listNode());
      assert.ok(r.error instanceof NoAnswerError && r.error.timedOut, String(r.error));
      assert.equal(proxy.heldConnections, 1);
      await eventually(
        "the hung socket to be closed",
        () => Promise.resolve(proxy.held),
        (n) => n === 0,
        DEADLINE_MS + SLACK_MS,
      );
      assert.ok(Date.now() - started <= DEADLINE_MS + SLACK_MS, `closed after ${Date.now() - started}ms`);
    } finally {
      await proxy.close();
    }
  });
});

describe("ComputeCluster reconcile of a hung worker", () => {
  const name = uniqueName("hang");
  const namespace = uniqueName("worker-timeouts-hub");
  let proxy: TcpProxy;
  let registry: ClusterRegistry;
  let cc: HubComputeCluster;
  let reconciler: ComputeClusterReconciler;
  const read = () => cc.read();
  /** Reconciles once the reconciler's informer holds the hub's newest version of the ComputeCluster. */
  const reconcileFresh = () => cc.reconcileFresh(reconciler);

  const reachable = (c: ComputeCluster) => c.status?.conditions?.find((x) => x.type === "Reachable");

  before(async () => {
    proxy = await TcpProxy.start(serverOf(aws.kubeConfig));
    cc = await hubComputeCluster(name, namespace, kubeConfigVia(aws.kubeConfig, proxy).exportConfig());
    registry = newRegistry(versionRequests);
    // Every reconcile of this suite asks the worker: it reconciles right after the worker starts
    // hanging, where the operator's timer would come a heartbeat interval after the last answer.
    reconciler = cc.reconciler(registry, { heartbeatMs: 0 });
  });
  after(async () => {
    registry.disconnectAll();
    await proxy.close();
    await cc.remove();
  });

  it("is Reachable with a heartbeat, and skips a write that would change nothing", async () => {
    await reconcileFresh();
    const worker = registry.get(name);
    assert.ok(worker);
    await waitSynced(worker);
    await reconcileFresh(); // capacity from the synced informers
    const written = await read();
    assert.equal(reachable(written)?.status, "True", JSON.stringify(written.status));
    assert.ok(written.status?.lastHeartbeatTime);
    await reconcileFresh();
    const again = await read();
    assert.equal(
      again.metadata.resourceVersion,
      written.metadata.resourceVersion,
      "an unchanged status is not written",
    );
  });

  it("asks the worker for its version only when nothing it answered is newer than the heartbeat interval", async () => {
    const timed = cc.reconciler(registry, { heartbeatMs: 60_000 });
    const before = await versionGets(name);
    await cc.reconcileFresh(timed); // the suite's reconciles just asked: their answer is the heartbeat
    await cc.reconcileFresh(timed);
    assert.equal(await versionGets(name), before, "no version request within the interval");
    assert.equal(reachable(await read())?.status, "True");
    await reconcileFresh(); // heartbeatMs 0: asks
    assert.equal(await versionGets(name), before + 1);
  });

  it("writes Reachable=False with the last reach within the deadline, and keeps it while hung", async () => {
    proxy.hang();
    const { ms } = await reconcileFresh();
    assert.ok(ms <= DEADLINE_MS + SLACK_MS, `the reconcile took ${ms}ms`);
    const cc = await read();
    const cond = reachable(cc);
    assert.equal(cond?.status, "False");
    assert.equal(cond?.reason, "Unreachable");
    const server = `https://127.0.0.1:${proxy.port}`;
    assert.ok(
      cond?.message.startsWith(`no answer from ${server}: worker cluster "${name}" did not answer`),
      cond?.message,
    );
    const said = /; last reached (\S+)$/.exec(cond?.message ?? "")?.[1];
    assert.ok(said, `no last reach in: ${cond?.message}`);
    assert.equal(
      Date.parse(said),
      Date.parse(cc.status?.lastHeartbeatTime ?? ""),
      "message and lastHeartbeatTime agree",
    );
    assert.ok(Date.now() - Date.parse(said) < 60_000, `last reached ${said}`);
    const ready = cc.status?.conditions?.find((c) => c.type === "Ready");
    assert.equal(ready?.status, "False");

    await reconcileFresh();
    const still = await read();
    assert.equal(still.metadata.resourceVersion, cc.metadata.resourceVersion, "nothing changed, nothing written");
    assert.equal(still.status?.lastHeartbeatTime, cc.status?.lastHeartbeatTime);
  });

  it("is Reachable again with a new heartbeat once the worker answers", async () => {
    const before = Date.parse((await read()).status?.lastHeartbeatTime ?? "");
    proxy.heal();
    await reconcileFresh();
    const cc = await read();
    assert.equal(reachable(cc)?.status, "True", JSON.stringify(cc.status?.conditions));
    assert.ok(Date.parse(cc.status?.lastHeartbeatTime ?? "") > before);
    assert.equal(registry.reachability(name)?.reachable, true);
  });
});

describe("connections to a worker", () => {
  it("are kept alive and shared by the requests of one connection, not one TLS handshake per request", async () => {
    const proxy = await TcpProxy.start(serverOf(aws.kubeConfig));
    const registry = newRegistry();
    try {
      // No informers here: only the clients' own requests reach the proxy.
      const core = new CoreV1Api(
        new KubeClient(kubeConfigVia(aws.kubeConfig, proxy), { target: "aws-sim", timeoutMs: DEADLINE_MS }),
      );
      for (let i = 0; i < 20; i++) await core.listNamespace({ limit: 1 });
      assert.equal(proxy.connections, 1, `20 requests in a row opened ${proxy.connections} connections`);
      await Promise.all(Array.from({ length: 8 }, () => core.listNamespace({ limit: 1 })));
      assert.ok(proxy.connections <= 9, `8 requests at once opened ${proxy.connections - 1} more connections`);
      for (let i = 0; i < 10; i++) await core.listNamespace({ limit: 1 });
      const settled = proxy.connections;
      for (let i = 0; i < 10; i++) await core.listNamespace({ limit: 1 });
      assert.equal(proxy.connections, settled, "requests in a row after a burst opened new connections");
    } finally {
      registry.disconnectAll();
      await proxy.close();
    }
  });
});
