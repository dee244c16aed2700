// The health server over real HTTP on an ephemeral port: liveness (500 with
// the reason), readiness with its reason, Prometheus text with the runtime
// metrics, the errors, and by default a dual-stack listen reached on both
// ::1 and 127.0.0.1.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Registry } from "prom-client";
import { type HealthServer, noIpv6, startHealthServer } from "../../src/runtime/health.ts";
import { makeRuntimeMetrics } from "../../src/runtime/metrics.ts";

describe("health server", () => {
  let server: HealthServer;
  let ready = false;
  let unhealthy: string | undefined;
  const metrics = makeRuntimeMetrics(new Registry());
  const url = (path: string) => `http://127.0.0.1:${server.port}${path}`;

  before(async () => {
    server = await startHealthServer({
      port: 0,
      host: "127.0.0.1",
      registry: metrics.registry,
      ready: () => ready,
      unhealthy: () => unhealthy,
      notReadyReason: () => "informers not synced",
    });
  });
  after(() => server.close());

  it("listens on the ephemeral port it reports", () => {
    assert.ok(server.port > 0);
  });

  it("/healthz is 200 while unhealthy() is undefined, 500 with its reason otherwise", async () => {
    let res = await fetch(url("/healthz"));
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "ok\n");
    unhealthy = "controller trainingjob: no reconcile finished for 301s";
    res = await fetch(url("/healthz"));
    assert.equal(res.status, 500);
    assert.equal(await res.text(), "unhealthy: controller trainingjob: no reconcile finished for 301s\n");
    unhealthy = undefined;
    res = await fetch(url("/healthz"));
    assert.equal(res.status, 200);
    await res.text();
  });

  it("/readyz is 503 with the reason until ready, then 200", async () => {
    ready = false;
    let res = await fetch(url("/readyz"));
    assert.equal(res.status, 503);
    assert.match(await res.text(), /not ready: informers not synced/);
    ready = true;
    res = await fetch(url("/readyz"));
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "ok\n");
  });

  it("/metrics serves Prometheus text with the runtime and default metrics", async () => {
    metrics.reconcileErrors.inc({ controller: "trainingjob" });
    let running = 2;
    const unobserve = metrics.observePhases(() => [{ phase: "Running", cloud: "aws", count: running }]);
    running = 3; // read when scraped, not when registered
    metrics.apiRequests.inc({ cluster: "hub", verb: "list" });
    metrics.reconcileDuration.observe({ controller: "trainingjob", result: "done" }, 0.02);
    const res = await fetch(url("/metrics"));
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /text\/plain/);
    const text = await res.text();
    assert.match(text, /crosscloud_reconcile_errors_total\{controller="trainingjob"\} 1/);
    assert.match(text, /crosscloud_trainingjobs\{phase="Running",cloud="aws"\} 3/);
    unobserve();
    assert.match(text, /crosscloud_api_requests_total\{cluster="hub",verb="list"\} 1/);
    assert.match(
      text,
      /crosscloud_reconcile_duration_seconds_bucket\{le="0.025",controller="trainingjob",result="done"\} 1/,
    );
    assert.match(text, /^process_cpu_seconds_total /m, "default metrics are collected on the same registry");
  });

  it("a probe that throws is a 503 naming the failure, not a crash", async () => {
    const broken = await startHealthServer({
      port: 0,
      host: "127.0.0.1",
      registry: new Registry(),
      ready: () => {
        throw new Error("cache closed");
      },
    });
    try {
      const res = await fetch(`http://127.0.0.1:${broken.port}/readyz`);
      assert.equal(res.status, 503);
      assert.match(await res.text(), /probe failed: cache closed/);
    } finally {
      await broken.close();
    }
  });

  it("without a host it listens dual-stack: reached on ::1 and on 127.0.0.1", async () => {
    const dual = await startHealthServer({ port: 0, registry: new Registry(), ready: () => true });
    try {
      assert.equal(dual.host, "::");
      for (const address of ["[::1]", "127.0.0.1"]) {
        const res = await fetch(`http://${address}:${dual.port}/healthz`);
        assert.equal(res.status, 200, `GET /healthz on ${address}`);
        assert.equal(await res.text(), "ok\n");
      }
    } finally {
      await dual.close();
    }
  });

  it("falls back to IPv4 only for the errors of a host without IPv6", () => {
    const cases: [string | undefined, boolean][] = [
      ["EAFNOSUPPORT", true],
      ["EADDRNOTAVAIL", true],
      ["EPROTONOSUPPORT", true],
      ["EADDRINUSE", false],
      ["EACCES", false],
      [undefined, false],
    ];
    for (const [code, expected] of cases) {
      const err = Object.assign(new Error("listen failed"), code ? { code } : {});
      assert.equal(noIpv6(err), expected, String(code));
    }
  });

  it("unknown paths are 404 and other methods 405", async () => {
    let res = await fetch(url("/nope"));
    assert.equal(res.status, 404);
    await res.text();
    res = await fetch(url("/healthz"), { method: "POST" });
    assert.equal(res.status, 405);
    await res.text();
  });

  it("makeRuntimeMetrics twice on one registry reuses the metrics", () => {
    const again = makeRuntimeMetrics(metrics.registry);
    assert.equal(again.reconcileErrors, metrics.reconcileErrors);
  });
});
