// A cluster that does not serve Kueue's Workloads (aws-sim: Kueue only ever
// runs on the hub): the operator's Workload cache says so after one request,
// asks again only after KUEUE_CHECK_MS, and starts no informer; on a hub that
// serves them it lists and watches.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Counter, Registry } from "prom-client";
import { CustomObjectsApi } from "../../src/kube/apis.ts";
import { KubeClient } from "../../src/kube/client.ts";
import { KUEUE_CHECK_MS, KueueWorkloads } from "../../src/kueue/workloads.ts";
import { silentLogger } from "../../src/runtime/logger.ts";
import { ensureKueue } from "../support/kueue.ts";
import { clients, type SandboxCluster } from "../support/sandbox.ts";

function workloadsOn(cluster: SandboxCluster, now: () => number) {
  const registry = new Registry();
  const counter = new Counter({ name: "requests", help: "h", labelNames: ["cluster", "verb"], registers: [registry] });
  const client = new KubeClient(clients(cluster).kubeConfig, {
    target: cluster,
    timeoutMs: 10_000,
    requests: { counter, cluster },
  });
  const stop = new AbortController();
  const kueue = new KueueWorkloads({
    client,
    custom: new CustomObjectsApi(client),
    logger: silentLogger(),
    signal: stop.signal,
    onChange: () => {},
    now,
  });
  const sent = async () => (await registry.getMetricsAsJSON())[0]?.values.reduce((n, v) => n + v.value, 0) ?? 0;
  const close = () => {
    stop.abort();
    client.close();
  };
  return { kueue, sent, close };
}

describe("Kueue's Workloads, served or not", { timeout: 120_000 }, () => {
  it("a cluster without them: not ready, one request per KUEUE_CHECK_MS", async () => {
    let now = 1_000_000;
    const w = workloadsOn("aws-sim", () => now);
    try {
      assert.equal(await w.kueue.ready(), false);
      assert.equal(await w.sent(), 1);
      now += KUEUE_CHECK_MS - 1;
      assert.equal(await w.kueue.ready(), false);
      assert.equal(await w.sent(), 1, "not asked again within KUEUE_CHECK_MS");
      now += 1;
      assert.equal(await w.kueue.ready(), false);
      assert.equal(await w.sent(), 2);
      assert.deepEqual(w.kueue.list(), []);
    } finally {
      w.close();
    }
  });

  it("a hub running Kueue: ready once its Workloads are listed and watched", async () => {
    await ensureKueue();
    const w = workloadsOn("hub", () => Date.now());
    try {
      assert.equal(await w.kueue.ready(), true);
      assert.equal(await w.kueue.ready(), true);
      assert.ok((await w.sent()) >= 2, "the check, then the informer's list");
    } finally {
      w.close();
    }
  });
});
