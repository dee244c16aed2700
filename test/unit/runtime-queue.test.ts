// The work queue's contract on a FakeClock: de-duplication, keys re-added while
// processing, delayed adds, per-key backoff and its cap, forget, the overall
// token bucket, and shutdown.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FakeClock } from "../../src/runtime/clock.ts";
import { WorkQueue, type WorkQueueOptions } from "../../src/runtime/queue.ts";

function queue(options: WorkQueueOptions = {}) {
  const clock = new FakeClock();
  return { clock, q: new WorkQueue({ clock, qps: 1e9, burst: 1e9, ...options }) };
}

/** Takes every key that is ready now, marking each done. */
async function drain(q: WorkQueue): Promise<string[]> {
  const keys: string[] = [];
  while (q.length > 0) {
    const key = await q.get();
    assert.ok(key !== undefined);
    keys.push(key);
    q.done(key);
  }
  return keys;
}

/** Small deterministic PRNG for the property tests. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe("WorkQueue de-duplication", () => {
  const cases: Array<{ adds: string[]; handedOut: string[] }> = [
    { adds: ["a", "a", "a"], handedOut: ["a"] },
    { adds: ["a", "b", "a", "c", "b"], handedOut: ["a", "b", "c"] },
    { adds: [], handedOut: [] },
  ];
  for (const { adds, handedOut } of cases) {
    it(`adds ${JSON.stringify(adds)} hand out ${JSON.stringify(handedOut)} in first-added order`, async () => {
      const { q } = queue();
      for (const key of adds) q.add(key);
      assert.equal(q.length, handedOut.length);
      assert.deepEqual(await drain(q), handedOut);
    });
  }

  it("property: any add sequence hands out each distinct key exactly once, in first-seen order", async () => {
    const random = prng(42);
    for (let round = 0; round < 200; round++) {
      const { q } = queue();
      const adds = Array.from({ length: Math.floor(random() * 30) }, () => `k${Math.floor(random() * 8)}`);
      for (const key of adds) q.add(key);
      assert.deepEqual(await drain(q), [...new Set(adds)], `adds ${adds.join(",")}`);
    }
  });
});

describe("WorkQueue keys being processed", () => {
  it("a key added while processing is not handed out again until done(), then exactly once", async () => {
    const { q } = queue();
    q.add("a");
    assert.equal(await q.get(), "a");
    q.add("a");
    q.add("a");
    assert.equal(q.length, 0, "a key being processed must not be handed to a second worker");
    q.add("b");
    assert.equal(await q.get(), "b");
    q.done("b");
    q.done("a");
    assert.equal(q.length, 1);
    assert.equal(await q.get(), "a");
    q.done("a");
    assert.equal(q.length, 0);
  });

  it("a waiting get receives a key re-queued by done()", async () => {
    const { q } = queue();
    q.add("a");
    await q.get();
    const waiting = q.get();
    q.add("a");
    q.done("a");
    assert.equal(await waiting, "a");
  });

  it("done() of a key that was never handed out does nothing", () => {
    const { q } = queue();
    q.add("a");
    q.done("a");
    assert.equal(q.length, 1);
  });
});

describe("WorkQueue.addAfter", () => {
  it("hands keys out in order of due time, each not before its delay", async () => {
    const { clock, q } = queue();
    const delays: Record<string, number> = { c: 300, a: 100, d: 0, b: 200 };
    for (const [key, ms] of Object.entries(delays)) q.addAfter(key, ms);
    assert.deepEqual(await drain(q), ["d"], "a zero delay adds at once");
    const seen: string[] = [];
    for (const step of [99, 1, 99, 1, 99, 1]) {
      await clock.advance(step);
      seen.push(...(await drain(q)).map((k) => `${k}@${clock.now() % 1000}`));
    }
    assert.deepEqual(seen, ["a@100", "b@200", "c@300"]);
  });

  it("for one key, the earlier of two pending delays wins and the key comes once", async () => {
    const { clock, q } = queue();
    q.addAfter("a", 500);
    q.addAfter("a", 100);
    q.addAfter("a", 800);
    await clock.advance(100);
    assert.deepEqual(await drain(q), ["a"]);
    await clock.advance(1000);
    assert.deepEqual(await drain(q), [], "the superseded timers must not add the key again");
  });

  it("a delayed key that is already queued is not duplicated", async () => {
    const { clock, q } = queue();
    q.add("a");
    q.addAfter("a", 10);
    await clock.advance(10);
    assert.deepEqual(await drain(q), ["a"]);
  });
});

describe("WorkQueue.addRateLimited per-key backoff", () => {
  /** The delay before the key becomes ready, found by advancing 1 ms at a time. */
  async function readyAfter(clock: FakeClock, q: WorkQueue, key: string, limit: number): Promise<number> {
    const start = clock.now();
    q.addRateLimited(key);
    for (;;) {
      if (q.length > 0) {
        assert.equal(await q.get(), key);
        q.done(key);
        return clock.now() - start;
      }
      if (clock.now() - start > limit) throw new Error(`${key} not ready within ${limit} ms`);
      await clock.advance(1);
    }
  }

  it("grows base * 2^failures and stops at the cap", async () => {
    const { clock, q } = queue({ baseDelayMs: 5, maxDelayMs: 100 });
    const delays: number[] = [];
    for (let i = 0; i < 7; i++) delays.push(await readyAfter(clock, q, "a", 200));
    assert.deepEqual(delays, [5, 10, 20, 40, 80, 100, 100]);
    assert.equal(q.numRequeues("a"), 7);
  });

  it("property: the n-th retry waits min(max, base * 2^n) for random base and cap", async () => {
    const random = prng(7);
    for (let round = 0; round < 20; round++) {
      const base = 1 + Math.floor(random() * 20);
      const max = base + Math.floor(random() * 200);
      const { clock, q } = queue({ baseDelayMs: base, maxDelayMs: max });
      for (let n = 0; n < 6; n++) {
        assert.equal(
          await readyAfter(clock, q, "k", max + 1),
          Math.min(max, base * 2 ** n),
          `base ${base} max ${max} n ${n}`,
        );
      }
    }
  });

  it("keys back off independently", async () => {
    const { clock, q } = queue({ baseDelayMs: 10, maxDelayMs: 1000 });
    for (let i = 0; i < 3; i++) await readyAfter(clock, q, "a", 100);
    assert.equal(await readyAfter(clock, q, "b", 100), 10);
    assert.equal(q.numRequeues("a"), 3);
    assert.equal(q.numRequeues("b"), 1);
  });

  it("forget resets the key's backoff to the base delay", async () => {
    const { clock, q } = queue({ baseDelayMs: 10, maxDelayMs: 1000 });
    for (let i = 0; i < 4; i++) await readyAfter(clock, q, "a", 200);
    q.forget("a");
    assert.equal(q.numRequeues("a"), 0);
    assert.equal(await readyAfter(clock, q, "a", 200), 10);
  });
});

describe("WorkQueue overall rate limit", () => {
  it("lets a burst through at once, then one key per 1/qps seconds", async () => {
    const { clock, q } = queue({ baseDelayMs: 0, qps: 10, burst: 3 });
    for (const key of ["a", "b", "c", "d", "e", "f"]) q.addRateLimited(key);
    assert.deepEqual(await drain(q), ["a", "b", "c"], "the burst");
    const timeline: string[] = [];
    for (let t = 0; t < 4; t++) {
      await clock.advance(50);
      const keys = await drain(q);
      await clock.advance(50);
      timeline.push(`${keys.join("")}|${(await drain(q)).join("")}`);
    }
    assert.deepEqual(timeline, ["|d", "|e", "|f", "|"], "one key each 100 ms, none early");
  });

  it("the longer of backoff and the bucket's delay applies", async () => {
    const { clock, q } = queue({ baseDelayMs: 1000, qps: 1000, burst: 1 });
    q.addRateLimited("a");
    await clock.advance(999);
    assert.equal(q.length, 0);
    await clock.advance(1);
    assert.equal(q.length, 1);
  });

  it("rejects invalid options with the field named", () => {
    assert.throws(() => new WorkQueue({ qps: 0 }), /WorkQueueOptions\.qps/);
    assert.throws(() => new WorkQueue({ baseDelayMs: 10, maxDelayMs: 5 }), /WorkQueueOptions\.maxDelayMs/);
    assert.throws(() => new WorkQueue({ burst: 0.5 }), /WorkQueueOptions\.burst/);
  });
});

describe("WorkQueue shutdown", () => {
  it("unblocks every waiting get with undefined and ignores later adds", async () => {
    const { q } = queue();
    const waiting = [q.get(), q.get()];
    q.shutDown();
    assert.deepEqual(await Promise.all(waiting), [undefined, undefined]);
    q.add("a");
    q.addAfter("b", 10);
    q.addRateLimited("c");
    assert.equal(q.length, 0);
    assert.equal(await q.get(), undefined);
  });

  it("cancels delayed adds", async () => {
    const { clock, q } = queue();
    q.addAfter("a", 10);
    q.shutDown();
    await clock.advance(100);
    assert.equal(q.length, 0);
    assert.equal(clock.pending, 0, "no timer left behind");
  });

  it("a get whose signal aborts resolves undefined and does not swallow a later key", async () => {
    const { q } = queue();
    const abort = new AbortController();
    const waiting = q.get(abort.signal);
    abort.abort();
    assert.equal(await waiting, undefined);
    q.add("a");
    assert.equal(q.length, 1, "the aborted getter must not have taken the key");
  });
});
