// The store deadline's rules, without a store: the env that sets it, the
// time a request that sends a body gets, a request cut at its deadline (and
// not when its caller aborted), and a response body that stops coming (a
// real stream that sends one chunk and then nothing) cut after the deadline,
// not counting the time the reader spends between chunks.

import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { describe, it } from "node:test";
import { isCheckpointError } from "../../src/checkpoint/errors.ts";
import {
  DEFAULT_STORE_REQUEST_TIMEOUT_MS,
  guardBody,
  requestTimeoutMs,
  type StoreDeadline,
  storeTimeoutFromEnv,
  withStoreDeadline,
} from "../../src/checkpoint/store-deadline.ts";

const d: StoreDeadline = { timeoutMs: 100, store: "s3://ckpt at 10.0.0.1:9000" };
const SLACK_MS = 1_000;

function never(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) =>
    signal.addEventListener("abort", () => reject(new Error("aborted")), { once: true }),
  );
}

describe("storeTimeoutFromEnv", () => {
  const cases: { env: NodeJS.ProcessEnv; want?: number; error?: RegExp }[] = [
    { env: {}, want: DEFAULT_STORE_REQUEST_TIMEOUT_MS },
    { env: { STORE_REQUEST_TIMEOUT_MS: "5000" }, want: 5000 },
    { env: { STORE_REQUEST_TIMEOUT_MS: "-1" }, error: /STORE_REQUEST_TIMEOUT_MS must be a whole number .* got "-1"/ },
    { env: { STORE_REQUEST_TIMEOUT_MS: "30s" }, error: /STORE_REQUEST_TIMEOUT_MS must be .* got "30s"/ },
  ];
  for (const c of cases) {
    it(JSON.stringify(c.env), () => {
      if (c.error) assert.throws(() => storeTimeoutFromEnv(c.env), c.error);
      else assert.equal(storeTimeoutFromEnv(c.env), c.want);
    });
  }
});

describe("requestTimeoutMs", () => {
  const cases: [number, number][] = [
    [0, 100],
    [1, 1_100],
    [2 ** 20, 1_100],
    [16 * 2 ** 20, 16_100],
    [16 * 2 ** 20 + 1, 17_100],
  ];
  for (const [bytes, want] of cases)
    it(`${bytes} bytes -> ${want} ms`, () => assert.equal(requestTimeoutMs(d, bytes), want));
});

describe("withStoreDeadline", () => {
  it("cuts a request at its deadline with an error naming the store and the time", async () => {
    const started = Date.now();
    const err = await withStoreDeadline(d, "head", "ns/job/a.bin", undefined, never).catch((e: unknown) => e);
    assert.ok(isCheckpointError(err, "StoreFailed"), String(err));
    assert.equal(
      err.message,
      "head of ns/job/a.bin failed: the store s3://ckpt at 10.0.0.1:9000 did not answer within 0.1s (STORE_REQUEST_TIMEOUT_MS); check that it is up and reachable from here",
    );
    assert.ok(Date.now() - started < 100 + SLACK_MS);
  });

  it("leaves a caller's abort as the request's own error", async () => {
    const caller = new AbortController();
    setTimeout(() => caller.abort(), 20);
    const err = await withStoreDeadline(d, "head", "k", caller.signal, never).catch((e: unknown) => e);
    assert.equal((err as Error).message, "aborted");
  });
});

describe("guardBody", () => {
  it("fails a body whose next bytes do not come within the deadline, and destroys the stream", async () => {
    const stream = new PassThrough();
    stream.write(Buffer.from("first"));
    const chunks = guardBody(d, "read", "k", stream)[Symbol.asyncIterator]();
    assert.equal(Buffer.from((await chunks.next()).value ?? []).toString(), "first");
    const started = Date.now();
    const err = await chunks.next().catch((e: unknown) => e);
    assert.ok(isCheckpointError(err, "StoreFailed"), String(err));
    assert.match(
      err.message,
      /^read \(waiting for the next bytes\) of k failed: the store .* did not answer within 0\.1s/,
    );
    assert.ok(Date.now() - started < 100 + SLACK_MS, `after ${Date.now() - started}ms`);
    assert.equal(stream.destroyed, true);
  });

  it("does not count the reader's time between chunks", async () => {
    const stream = new PassThrough();
    const body = guardBody(d, "read", "k", stream);
    stream.write(Buffer.from("a"));
    const got: string[] = [];
    const reading = (async () => {
      for await (const c of body) {
        got.push(Buffer.from(c).toString());
        await new Promise((r) => setTimeout(r, 250)); // slower than the deadline
        if (got.length === 1) {
          stream.write(Buffer.from("b"));
          stream.end();
        }
      }
    })();
    await reading;
    assert.deepEqual(got, ["a", "b"]);
  });
});
