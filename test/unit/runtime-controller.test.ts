// The controller maps each reconcile outcome onto its queue (forget, requeue
// after, back off, give up), records metrics, never runs more reconciles than
// it has workers or one key twice at once, and stops gracefully.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Registry } from "prom-client";
import { FakeClock } from "../../src/runtime/clock.ts";
import { Controller } from "../../src/runtime/controller.ts";
import { makeRuntimeMetrics } from "../../src/runtime/metrics.ts";
import { WorkQueue } from "../../src/runtime/queue.ts";
import { type ReconcileResult, Result, TerminalError } from "../../src/runtime/result.ts";

/** Yields to the event loop until `cond` holds (bounded). */
async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (cond()) return;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error(`never happened: ${what}`);
}

type Step = ReconcileResult | { readonly throws: Error };

/** A controller whose reconciler plays a script per key and records every call. */
function scripted(script: Record<string, Step[]>, options: { workers?: number } = {}) {
  const clock = new FakeClock();
  const queue = new WorkQueue({ clock, baseDelayMs: 100, maxDelayMs: 10_000 });
  const metrics = makeRuntimeMetrics(new Registry());
  const calls: string[] = [];
  const controller = new Controller({
    name: "test",
    queue,
    metrics,
    workers: options.workers ?? 2,
    reconcile: async (key) => {
      calls.push(key);
      const step = script[key]?.shift() ?? Result.done();
      if ("throws" in step) throw step.throws;
      return step;
    },
  });
  const stop = new AbortController();
  const running = controller.run(stop.signal);
  return { clock, queue, metrics, calls, controller, stop, running };
}

async function counter(metrics: ReturnType<typeof makeRuntimeMetrics>, result?: string) {
  if (result === undefined) {
    const errors = await metrics.reconcileErrors.get();
    return errors.values.find((v) => v.labels.controller === "test")?.value ?? 0;
  }
  const hist = await metrics.reconcileDuration.get();
  const count = hist.values.find(
    (v) => v.metricName === "crosscloud_reconcile_duration_seconds_count" && v.labels.result === result,
  );
  return count?.value ?? 0;
}

describe("Controller result handling", () => {
  const table: Array<{
    name: string;
    step: Step;
    rerunAfterMs: number | undefined;
    errors: number;
    result: string;
  }> = [
    { name: "done", step: Result.done(), rerunAfterMs: undefined, errors: 0, result: "done" },
    {
      name: "requeueAfter(5000)",
      step: Result.requeueAfter(5000),
      rerunAfterMs: 5000,
      errors: 0,
      result: "requeueAfter",
    },
    { name: "retry", step: Result.retry(new Error("boom")), rerunAfterMs: 100, errors: 1, result: "retry" },
    { name: "thrown Error", step: { throws: new Error("boom") }, rerunAfterMs: 100, errors: 1, result: "retry" },
    {
      name: "terminal",
      step: Result.terminal(new Error("bad spec")),
      rerunAfterMs: undefined,
      errors: 1,
      result: "terminal",
    },
    {
      name: "thrown TerminalError",
      step: { throws: new TerminalError("bad spec") },
      rerunAfterMs: undefined,
      errors: 1,
      result: "terminal",
    },
  ];
  for (const row of table) {
    it(`${row.name}: ${row.rerunAfterMs === undefined ? "not run again" : `run again after ${row.rerunAfterMs} ms`}`, async () => {
      const c = scripted({ k: [row.step] });
      c.controller.enqueue("k");
      await until("first reconcile", () => c.calls.length === 1);
      await until("result applied", () => c.controller.inFlight === 0);
      if (row.rerunAfterMs !== undefined) {
        await c.clock.advance(row.rerunAfterMs - 1);
        assert.equal(c.calls.length, 1, "not before the delay");
        await c.clock.advance(1);
        await until("second reconcile", () => c.calls.length === 2);
      } else {
        await c.clock.advance(60_000);
        assert.equal(c.calls.length, 1, "must not run again");
      }
      assert.equal(await counter(c.metrics), row.errors);
      assert.ok((await counter(c.metrics, row.result)) >= 1, `duration recorded with result=${row.result}`);
      c.stop.abort();
      await c.running;
    });
  }

  it("retries back off exponentially and a success forgets the failures", async () => {
    const fail = () => ({ throws: new Error("flaky") });
    const c = scripted({ k: [fail(), fail(), fail(), Result.done()] });
    c.controller.enqueue("k");
    const at: number[] = [];
    const start = c.clock.now();
    for (let n = 1; n <= 4; n++) {
      await until(`reconcile ${n}`, () => c.calls.length === n);
      at.push(c.clock.now() - start);
      await until("result applied", () => c.controller.inFlight === 0);
      if (n < 4) await c.clock.advance(100 * 2 ** (n - 1));
    }
    assert.deepEqual(at, [0, 100, 300, 700]);
    assert.equal(c.queue.numRequeues("k"), 0, "done forgets the key's failures");
    c.stop.abort();
    await c.running;
  });

  it("requeueAfter forgets earlier failures", async () => {
    const c = scripted({ k: [{ throws: new Error("x") }, Result.requeueAfter(1000)] });
    c.controller.enqueue("k");
    await until("first", () => c.calls.length === 1 && c.controller.inFlight === 0);
    assert.equal(c.queue.numRequeues("k"), 1);
    await c.clock.advance(100);
    await until("second", () => c.calls.length === 2 && c.controller.inFlight === 0);
    assert.equal(c.queue.numRequeues("k"), 0);
    c.stop.abort();
    await c.running;
  });
});

/** A reconciler that blocks every call until released, tracking concurrency. */
function gated() {
  const releases: Array<() => void> = [];
  const running = new Set<string>();
  let max = 0;
  let overlap = false;
  const reconcile = async (key: string) => {
    if (running.has(key)) overlap = true;
    running.add(key);
    max = Math.max(max, running.size);
    await new Promise<void>((r) => releases.push(r));
    running.delete(key);
    return Result.done();
  };
  return {
    reconcile,
    releases,
    get max() {
      return max;
    },
    get overlap() {
      return overlap;
    },
  };
}

describe("Controller concurrency", () => {
  it("runs at most `workers` reconciles at once and never one key twice at once", async () => {
    const g = gated();
    const controller = new Controller({ name: "c", workers: 3, reconcile: g.reconcile });
    const stop = new AbortController();
    const running = controller.run(stop.signal);
    for (let i = 0; i < 10; i++) controller.enqueue(`k${i}`);
    await until("three in flight", () => g.releases.length === 3);
    controller.enqueue("k0"); // k0 is in flight: must wait for it
    let released = 0;
    while (released < 11) {
      await until("a reconcile waiting", () => g.releases.length > released);
      g.releases[released++]?.();
      assert.ok(controller.inFlight <= 3);
    }
    await until("all done", () => controller.inFlight === 0 && controller.queue.length === 0);
    assert.equal(g.max, 3);
    assert.equal(g.overlap, false);
    assert.equal(g.releases.length, 11, "k0 re-added while in flight runs once more");
    stop.abort();
    await running;
  });
});

describe("Controller graceful stop", () => {
  it("waits for in-flight reconciles, hands them an aborted signal, and starts no new ones", async () => {
    const seen: AbortSignal[] = [];
    const releases: Array<() => void> = [];
    const controller = new Controller({
      name: "c",
      workers: 2,
      reconcile: async (_key, signal) => {
        seen.push(signal);
        await new Promise<void>((r) => releases.push(r));
        return Result.done();
      },
    });
    const stop = new AbortController();
    let finished = false;
    const running = controller.run(stop.signal).then(() => {
      finished = true;
    });
    for (const key of ["a", "b", "c", "d"]) controller.enqueue(key);
    await until("two in flight", () => releases.length === 2);
    stop.abort();
    assert.ok(
      seen.every((s) => s.aborted),
      "reconciles see the abort",
    );
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(finished, false, "run() must wait for in-flight reconciles");
    for (const release of releases) release();
    await running;
    assert.equal(seen.length, 2, "queued keys are not started after the stop");
    controller.enqueue("e");
    assert.equal(controller.inFlight, 0);
  });

  it("reports queue depth while running and stops reporting after", async () => {
    const metrics = makeRuntimeMetrics(new Registry());
    const controller = new Controller({
      name: "depth",
      workers: 1,
      metrics,
      // finishes only on stop: the other keys stay queued
      reconcile: (_key, signal) =>
        new Promise((resolve) => signal.addEventListener("abort", () => resolve(Result.done()))),
    });
    const stop = new AbortController();
    const running = controller.run(stop.signal);
    for (const key of ["a", "b", "c"]) controller.enqueue(key);
    await until("one in flight", () => controller.inFlight === 1);
    assert.match(await metrics.registry.metrics(), /crosscloud_workqueue_depth\{controller="depth"\} 2/);
    stop.abort();
    await running;
    assert.doesNotMatch(await metrics.registry.metrics(), /crosscloud_workqueue_depth\{controller="depth"\}/);
  });

  it("is stalled once a reconcile has run past the threshold with none finished, and not while others finish or it idles", async () => {
    let now = 1_000_000;
    const gates = new Map<string, () => void>();
    const controller = new Controller({
      name: "stall",
      workers: 2,
      now: () => now,
      reconcile: (key) =>
        new Promise((resolve) => {
          gates.set(key, () => resolve(Result.done()));
        }),
    });
    const stop = new AbortController();
    const running = controller.run(stop.signal);
    assert.equal(controller.stalled(1000), undefined, "idle: nothing to do is not a stall");
    now += 60_000;
    assert.equal(controller.stalled(1000), undefined, "a long idle is not a stall");
    controller.enqueue("hung");
    controller.enqueue("quick");
    await until("two in flight", () => controller.inFlight === 2);
    now += 1000;
    assert.equal(controller.stalled(1000), undefined, "within the threshold");
    now += 600;
    gates.get("quick")?.();
    await until("quick done", () => controller.inFlight === 1);
    now += 900;
    assert.equal(controller.stalled(1000), undefined, "another reconcile finished 900 ms ago: progress");
    now += 200;
    assert.match(
      controller.stalled(1000) ?? "",
      /controller stall: no reconcile finished for 1s \(1 running, 0 waiting/,
    );
    controller.enqueue("waiting");
    await until("the free worker starts it", () => controller.inFlight === 2);
    assert.match(controller.stalled(1000) ?? "", /2 running/, "starting another reconcile is not progress");
    gates.get("hung")?.();
    await until("the waiting key runs", () => gates.has("waiting"));
    assert.equal(controller.stalled(1000), undefined, "a reconcile finished: progress again");
    gates.get("waiting")?.();
    await until("idle", () => controller.inFlight === 0);
    stop.abort();
    await running;
  });

  it("a reconcile that fails because the controller stopped is not counted as an error", async () => {
    const metrics = makeRuntimeMetrics(new Registry());
    const controller = new Controller({
      name: "test",
      workers: 1,
      metrics,
      // fails the way a fenced client does once the leading signal aborts
      reconcile: (_key, signal) =>
        new Promise((_resolve, reject) =>
          signal.addEventListener("abort", () => reject(new Error("aborted in flight: this replica no longer leads"))),
        ),
    });
    const stop = new AbortController();
    const running = controller.run(stop.signal);
    controller.enqueue("a");
    await until("in flight", () => controller.inFlight === 1);
    stop.abort();
    await running;
    assert.equal(await counter(metrics), 0);
  });

  it("rejects a worker count below 1", () => {
    assert.throws(() => new Controller({ name: "x", workers: 0, reconcile: async () => Result.done() }), /workers/);
  });
});
