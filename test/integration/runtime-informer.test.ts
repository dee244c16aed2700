// The informer on the sandbox's hub API server: it syncs, reports ConfigMap
// adds, updates and deletes, and survives an outage during which etcd is
// compacted: the watch's resourceVersion is gone (410), so it must relist,
// and it still delivers the object created and the one deleted meanwhile.
//
// Needs the hub's kube-apiserver to serve ConfigMap watches from etcd, not
// from its watch cache (which hides compaction): --watch-cache-sizes=configmaps#0.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { KubeConfig, V1ConfigMap } from "@kubernetes/client-node";
import { KubeClient } from "../../src/kube/client.ts";
import { Informer } from "../../src/runtime/informer.ts";
import { compactNow } from "../support/runtime-etcd.ts";
import { kubeConfigVia, serverOf, TcpProxy } from "../support/runtime-proxy.ts";
import { clients, eventually, uniqueName } from "../support/sandbox.ts";

const hub = clients("hub");
const namespace = uniqueName("rt-informer");

function configMap(name: string, data: Record<string, string> = {}): V1ConfigMap {
  return { metadata: { name, namespace, labels: { app: "runtime-informer" } }, data };
}

/** An informer on the test namespace's ConfigMaps that records every event as "verb:name". */
function configMapInformer(kubeConfig: KubeConfig = hub.kubeConfig) {
  const events: string[] = [];
  const informer = new Informer<V1ConfigMap>({
    client: new KubeClient(kubeConfig, { target: "the hub", timeoutMs: 10_000 }),
    name: "hub/configmaps",
    path: `/api/v1/namespaces/${namespace}/configmaps`,
    labelSelector: "app=runtime-informer",
    backoff: { initialMs: 100, maxMs: 1000 },
  });
  for (const verb of ["add", "update", "delete"] as const) {
    informer.on(verb, (cm) => events.push(`${verb}:${cm.metadata?.name}`));
  }
  let resyncs = 0;
  informer.onResync(() => resyncs++);
  return { informer, events, resyncs: () => resyncs };
}

const saw = (events: string[], event: string) => () => Promise.resolve(events.includes(event));

describe("Informer on the hub", () => {
  before(async () => {
    await hub.core.createNamespace({ body: { metadata: { name: namespace } } });
  });
  after(async () => {
    await hub.core.deleteNamespace({ name: namespace }).catch(() => {});
  });

  it("syncs existing objects, then sees add, update and delete", async () => {
    await hub.core.createNamespacedConfigMap({ namespace, body: configMap("before") });
    const stop = new AbortController();
    const { informer, events, resyncs } = configMapInformer();
    try {
      assert.equal(informer.synced, false);
      await informer.start(stop.signal);
      assert.equal(informer.synced, true);
      assert.equal(resyncs(), 1, "onResync runs after the first list");
      assert.deepEqual(events, ["add:before"], "the first list reports what exists");
      assert.equal(informer.get(namespace, "before")?.metadata?.name, "before");
      const changes = informer.changes;

      await hub.core.createNamespacedConfigMap({ namespace, body: configMap("a", { v: "1" }) });
      await eventually("add:a", saw(events, "add:a"), Boolean, 15_000);
      assert.equal(informer.changes, changes + 1, "an add is a change of the cache");
      await hub.core.replaceNamespacedConfigMap({ name: "a", namespace, body: configMap("a", { v: "2" }) });
      await eventually("update:a", saw(events, "update:a"), Boolean, 15_000);
      assert.equal(informer.get(namespace, "a")?.data?.v, "2", "the cache holds the newest version");
      assert.equal(informer.changes, changes + 2, "so is an update");
      await hub.core.deleteNamespacedConfigMap({ name: "a", namespace });
      await eventually("delete:a", saw(events, "delete:a"), Boolean, 15_000);
      assert.equal(informer.get(namespace, "a"), undefined);
      assert.equal(informer.changes, changes + 3, "and a delete");
      assert.deepEqual(
        informer.list(namespace).map((c) => c.metadata?.name),
        ["before"],
      );
      assert.equal(informer.restarts, 0);
      assert.equal(informer.relists, 0);
    } finally {
      stop.abort();
    }
    await hub.core.deleteNamespacedConfigMap({ name: "before", namespace });
  });

  it("relists after an outage during which etcd was compacted, missing nothing", async () => {
    const proxy = await TcpProxy.start(serverOf(hub.kubeConfig));
    const viaProxy = kubeConfigVia(hub.kubeConfig, proxy);
    const stop = new AbortController();
    const { informer, events, resyncs } = configMapInformer(viaProxy);
    try {
      await hub.core.createNamespacedConfigMap({ namespace, body: configMap("doomed") });
      await informer.start(stop.signal);
      await hub.core.createNamespacedConfigMap({ namespace, body: configMap("seen") });
      await eventually("add:seen", saw(events, "add:seen"), Boolean, 15_000);
      assert.ok(events.includes("add:doomed"));

      proxy.cut();
      await hub.core.createNamespacedConfigMap({ namespace, body: configMap("during-outage") });
      await hub.core.deleteNamespacedConfigMap({ name: "doomed", namespace });
      const revision = await compactNow();
      await eventually(
        "the informer to notice the outage",
        () => Promise.resolve(informer.restarts),
        (n) => n > 0,
        15_000,
      );
      proxy.restore();

      await eventually("add:during-outage", saw(events, "add:during-outage"), Boolean, 30_000);
      await eventually("delete:doomed (found by the relist)", saw(events, "delete:doomed"), Boolean, 30_000);
      const hint = "is the hub's kube-apiserver running with --watch-cache-sizes=configmaps#0?";
      assert.ok(informer.goneCount >= 1, `expected a 410 Gone after compacting etcd at revision ${revision}; ${hint}`);
      assert.ok(informer.relists >= 1, `expected a relist after the 410; ${hint}`);
      assert.ok(resyncs() >= 2, "onResync runs after the relist");
      assert.deepEqual(
        informer
          .list(namespace)
          .map((c) => c.metadata?.name)
          .sort(),
        ["during-outage", "seen"],
      );

      await hub.core.createNamespacedConfigMap({ namespace, body: configMap("after") });
      await eventually("add:after (watching again)", saw(events, "add:after"), Boolean, 15_000);
    } finally {
      stop.abort();
      await proxy.close();
    }
  });

  it("keeps retrying a list that fails and syncs once the server is back", async () => {
    const proxy = await TcpProxy.start(serverOf(hub.kubeConfig));
    const viaProxy = kubeConfigVia(hub.kubeConfig, proxy);
    const stop = new AbortController();
    const { informer } = configMapInformer(viaProxy);
    try {
      proxy.cut();
      const started = informer.start(stop.signal);
      await eventually(
        "two failed attempts",
        () => Promise.resolve(informer.restarts),
        (n) => n >= 2,
        15_000,
      );
      assert.equal(informer.synced, false);
      proxy.restore();
      await started;
      assert.equal(informer.synced, true);
    } finally {
      stop.abort();
      await proxy.close();
    }
  });

  it("start() rejects when stopped before the first sync; stop() is final", async () => {
    const proxy = await TcpProxy.start(serverOf(hub.kubeConfig));
    proxy.cut();
    const viaProxy = kubeConfigVia(hub.kubeConfig, proxy);
    const stop = new AbortController();
    const { informer } = configMapInformer(viaProxy);
    try {
      const started = informer.start(stop.signal);
      stop.abort();
      await assert.rejects(started, /stopped before it synced/);
      const restarts = informer.restarts;
      proxy.restore();
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(informer.restarts, restarts, "a stopped informer does not restart");
      assert.equal(informer.synced, false);
    } finally {
      await proxy.close();
    }
  });
});
