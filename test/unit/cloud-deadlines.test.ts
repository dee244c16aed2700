// Deadlines of cloud calls, without a cloud: the time an attempt may take
// within a call's budget, retries bounded in total time whatever the retry
// count, a caller's signal ending a call at once, the env that sets the
// deadlines, a token source that never answers, and the ComputeCluster's
// cloud listings, which never hold a caller longer than their wait and run
// one at a time per cluster. Calls that never answer are promises that settle
// only when their signal aborts, as the SDKs' requests do.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CloudTokens } from "../../src/clusters/cloud-auth.ts";
import { cloudDeadlinesFromEnv } from "../../src/clusters/providers.ts";
import { CloudNodeGroups, cloudCondition } from "../../src/controller/computecluster/cloud.ts";
import { ProviderError } from "../../src/providers/errors.ts";
import { FakeProvider } from "../../src/providers/fake.ts";
import { attemptTimeoutMs, withDeadline, withRetries } from "../../src/providers/retry.ts";
import type { CallOptions, NodeGroup } from "../../src/providers/types.ts";
import { timed } from "../support/timing.ts";

/** A request that never answers: it rejects (as an SDK's does) only when its signal aborts. */
function never(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    signal.addEventListener("abort", () => reject(Object.assign(new Error("aborted"), { name: "AbortError" })), {
      once: true,
    });
  });
}

const translate = (err: unknown, what: string) =>
  err instanceof ProviderError ? err : new ProviderError("Unknown", `${what}: ${String(err)}`);

/** Timers fire late on a busy machine, never early. */
const SLACK_MS = 400;

describe("attemptTimeoutMs", () => {
  const cases: { request: number; call: number; elapsed: number; want: number }[] = [
    { request: 10_000, call: 30_000, elapsed: 0, want: 10_000 },
    { request: 10_000, call: 30_000, elapsed: 25_000, want: 5_000 },
    { request: 10_000, call: 30_000, elapsed: 30_000, want: 0 },
    { request: 10_000, call: 30_000, elapsed: 45_000, want: 0 },
    { request: 40_000, call: 30_000, elapsed: 0, want: 30_000 },
  ];
  for (const c of cases) {
    it(`request ${c.request}, call ${c.call}, ${c.elapsed} elapsed -> ${c.want}`, () =>
      assert.equal(attemptTimeoutMs(c.request, c.call, c.elapsed), c.want));
  }
});

describe("withRetries under deadlines", () => {
  const fast = { minTimeoutMs: 1, maxTimeoutMs: 5 };

  it("a call that never answers fails at the call's deadline, naming it and the attempts", async () => {
    let attempts = 0;
    const r = await timed(() =>
      withRetries(
        "EKS cluster c: ListNodegroups",
        (signal) => {
          attempts++;
          return never(signal);
        },
        translate,
        { ...fast, retries: 100, requestTimeoutMs: 100, callTimeoutMs: 350 },
      ),
    );
    assert.ok(r.error instanceof ProviderError && r.error.code === "Timeout", String(r.error));
    assert.match(
      r.error.message,
      /^EKS cluster c: ListNodegroups did not answer within 0\.35s \(the call's deadline; /,
    );
    assert.ok(attempts >= 2 && attempts <= 4, `${attempts} attempts`);
    assert.ok(r.ms >= 340 && r.ms < 350 + SLACK_MS, `failed after ${r.ms}ms`);
  });

  it("a request that gets no answer is retried, and the next answer is returned", async () => {
    let attempts = 0;
    const value = await withRetries(
      "x",
      (signal) => (++attempts === 1 ? never(signal) : Promise.resolve("listed")),
      translate,
      { ...fast, requestTimeoutMs: 50, callTimeoutMs: 1_000 },
    );
    assert.equal(value, "listed");
    assert.equal(attempts, 2);
  });

  it("throttling forever ends at the call's deadline, not after the retry count", async () => {
    let attempts = 0;
    const r = await timed(() =>
      withRetries(
        "x",
        async () => {
          attempts++;
          throw new ProviderError("Throttled", "slow down");
        },
        translate,
        { retries: 1_000, minTimeoutMs: 20, maxTimeoutMs: 20, callTimeoutMs: 300 },
      ),
    );
    assert.ok(r.error instanceof ProviderError, String(r.error));
    assert.ok(["Throttled", "Timeout"].includes(r.error.code), r.error.code);
    assert.ok(r.ms < 300 + SLACK_MS, `gave up after ${r.ms}ms`);
    assert.ok(attempts > 2 && attempts < 50, `${attempts} attempts`);
  });

  it("the caller's signal ends a hung call at once with Aborted", async () => {
    const caller = new AbortController();
    setTimeout(() => caller.abort(), 50);
    const r = await timed(() =>
      withRetries("x", (signal) => never(signal), translate, {
        ...fast,
        requestTimeoutMs: 5_000,
        callTimeoutMs: 10_000,
        signal: caller.signal,
      }),
    );
    assert.ok(r.error instanceof ProviderError && r.error.code === "Aborted", String(r.error));
    assert.ok(r.ms < 50 + SLACK_MS, `aborted after ${r.ms}ms`);
  });

  it("an error that cannot succeed is not retried", async () => {
    let attempts = 0;
    await assert.rejects(
      withRetries(
        "x",
        async () => {
          attempts++;
          throw new ProviderError("Invalid", "bad");
        },
        translate,
        { ...fast, callTimeoutMs: 1_000 },
      ),
      (e: unknown) => e instanceof ProviderError && e.code === "Invalid",
    );
    assert.equal(attempts, 1);
  });
});

describe("withDeadline", () => {
  it("a method of several calls that does not finish fails at its deadline naming it", async () => {
    const r = await timed(() => withDeadline("AKS cluster rg/c: scaling agent pool p to 4", 100, undefined, never));
    assert.ok(r.error instanceof ProviderError && r.error.code === "Timeout", String(r.error));
    assert.equal(
      r.error.message,
      "AKS cluster rg/c: scaling agent pool p to 4 did not finish within 0.1s (the call's deadline)",
    );
    assert.ok(r.ms < 100 + SLACK_MS, `after ${r.ms}ms`);
  });
});

describe("cloudDeadlinesFromEnv", () => {
  const cases: { env: NodeJS.ProcessEnv; want?: object; error?: RegExp }[] = [
    { env: {}, want: {} },
    { env: { CLOUD_REQUEST_TIMEOUT_MS: "2000" }, want: { requestTimeoutMs: 2000 } },
    {
      env: { CLOUD_REQUEST_TIMEOUT_MS: "2000", CLOUD_CALL_TIMEOUT_MS: "8000" },
      want: { requestTimeoutMs: 2000, callTimeoutMs: 8000 },
    },
    { env: { CLOUD_CALL_TIMEOUT_MS: "soon" }, error: /CLOUD_CALL_TIMEOUT_MS must be a whole number .* got "soon"/ },
    { env: { CLOUD_REQUEST_TIMEOUT_MS: "0" }, error: /CLOUD_REQUEST_TIMEOUT_MS must be/ },
    {
      env: { CLOUD_REQUEST_TIMEOUT_MS: "5000", CLOUD_CALL_TIMEOUT_MS: "1000" },
      error: /CLOUD_CALL_TIMEOUT_MS \(1000\) is shorter than CLOUD_REQUEST_TIMEOUT_MS \(5000\)/,
    },
  ];
  for (const c of cases) {
    it(JSON.stringify(c.env), () => {
      if (c.error) assert.throws(() => cloudDeadlinesFromEnv(c.env), c.error);
      else assert.deepEqual(cloudDeadlinesFromEnv(c.env), c.want);
    });
  }
});

describe("CloudTokens under a deadline", () => {
  it("a token source that never answers fails at the deadline naming the cluster", async () => {
    const tokens = new CloudTokens({ eks: (_c, _r, signal) => never(signal), aks: never, timeoutMs: 100 });
    const r = await timed(() => tokens.token("aws-prod", { kind: "eks", clusterName: "prod", region: "us-east-1" }));
    assert.equal((r.error as Error)?.message, "the EKS token for cluster aws-prod did not come within 0.1s");
    assert.ok(r.ms < 100 + SLACK_MS, `after ${r.ms}ms`);
  });
});

/** A provider whose listings wait until the test answers them (or their signal aborts). */
class ControlledProvider extends FakeProvider {
  readonly pending: { resolve: (g: NodeGroup[]) => void; reject: (e: Error) => void }[] = [];
  listings = 0;

  override listNodeGroups(options?: CallOptions): Promise<NodeGroup[]> {
    this.listings++;
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      options?.signal?.addEventListener("abort", () => reject(new ProviderError("Aborted", "aborted")));
    });
  }
}

describe("CloudNodeGroups with a cloud that does not answer", () => {
  it("answers within its wait with a timed-out listing, and runs one listing per cluster", async () => {
    const provider = new ControlledProvider("aws");
    const groups = new CloudNodeGroups({ waitMs: 50, maxAgeMs: 0 });
    const [a, b] = await Promise.all([
      timed(() => groups.list("c", provider)),
      timed(() => groups.list("c", provider)),
    ]);
    for (const r of [a, b]) {
      assert.ok(r.ms < 50 + SLACK_MS, `waited ${r.ms}ms`);
      assert.equal(r.value?.ok, false);
      assert.ok(r.value && !r.value.ok && r.value.timedOut);
      assert.match(
        r.value && !r.value.ok ? r.value.message : "",
        /the aws API has not answered listing the node groups of c for [\d.]+s/,
      );
    }
    await groups.list("c", provider);
    assert.equal(provider.listings, 1, "callers share the listing in flight");

    // The provider's call deadline ends the listing: its Timeout is the cluster's listing from then on.
    provider.pending[0]?.reject(new ProviderError("Timeout", "EKS cluster c: ListNodegroups did not answer within 3s"));
    await new Promise((r) => setImmediate(r));
    const failed = await groups.list("c", provider);
    assert.deepEqual(failed, {
      ok: false,
      message: "EKS cluster c: ListNodegroups did not answer within 3s",
      timedOut: true,
    });
    const cond = cloudCondition(failed, "aws");
    assert.deepEqual([cond.status, cond.reason], ["False", "CloudAPITimeout"]);
    assert.match(cond.message, /did not answer within 3s/);
  });

  it("while a new listing hangs, callers get the last one that finished", async () => {
    let now = 0;
    const provider = new ControlledProvider("azure");
    const groups = new CloudNodeGroups({ waitMs: 50, maxAgeMs: 1_000, now: () => now });
    const first = groups.list("c", provider);
    provider.pending[0]?.resolve([]);
    assert.deepEqual(await first, { ok: true, groups: [] });
    now = 2_000;
    const r = await timed(() => groups.list("c", provider));
    assert.deepEqual(r.value, { ok: true, groups: [] });
    assert.ok(r.ms < 50 + SLACK_MS, `waited ${r.ms}ms`);
    assert.equal(provider.listings, 2);
  });

  it("another cluster's listing is not held by a hung one", async () => {
    const hung = new ControlledProvider("aws");
    const healthy = new FakeProvider("azure", []);
    const groups = new CloudNodeGroups({ waitMs: 5_000 });
    void groups.list("hung", hung);
    const r = await timed(() => groups.list("healthy", healthy));
    assert.deepEqual(r.value, { ok: true, groups: [] });
    assert.ok(r.ms < SLACK_MS, `took ${r.ms}ms`);
    hung.pending[0]?.resolve([]);
  });

  it("aborts the listings in flight when its signal fires", async () => {
    const stop = new AbortController();
    const provider = new ControlledProvider("aws");
    const groups = new CloudNodeGroups({ waitMs: 5_000, signal: stop.signal });
    const listing = timed(() => groups.list("c", provider));
    stop.abort();
    const r = await listing;
    assert.ok(r.ms < SLACK_MS, `took ${r.ms}ms`);
    assert.deepEqual(r.value, { ok: false, message: "aborted" });
  });
});
