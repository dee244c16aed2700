// The providers' shared rules, without a cloud: SDK errors translated into
// typed errors, the scale guard (max, min, autoscaler), retries of
// throttling only, and waiting on an operation with an injected clock.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { translateAksError } from "../../src/providers/aks/provider.ts";
import { nodeGroupFromEks, translateEksError } from "../../src/providers/eks/provider.ts";
import { isAutoscalerOwned, isExceedsMaxSize, isInvalid, ProviderError } from "../../src/providers/errors.ts";
import { guardScale } from "../../src/providers/guard.ts";
import { withRetries } from "../../src/providers/retry.ts";
import type { NodeGroup, ScaleOperation } from "../../src/providers/types.ts";
import { pollScale } from "../../src/providers/wait.ts";

describe("translating SDK errors", () => {
  const eks: [object, string][] = [
    [{ name: "ThrottlingException", $metadata: { httpStatusCode: 429 } }, "Throttled"],
    [{ name: "ResourceNotFoundException", $metadata: { httpStatusCode: 404 } }, "NotFound"],
    [{ name: "InvalidParameterException", $metadata: { httpStatusCode: 400 } }, "Invalid"],
    [{ name: "ServerException", $metadata: { httpStatusCode: 500 } }, "Unavailable"],
    [{ name: "SomethingNew", $metadata: { httpStatusCode: 503 } }, "Unavailable"],
    [{ name: "Error", code: "ECONNRESET" }, "Unavailable"],
    [{ name: "AbortError" }, "Aborted"],
  ];
  for (const [err, code] of eks) {
    it(`EKS ${JSON.stringify(err)} -> ${code}`, () => assert.equal(translateEksError(err, "x").code, code));
  }
  const aks: [object, string][] = [
    [{ name: "RestError", statusCode: 429 }, "Throttled"],
    [{ name: "RestError", statusCode: 404, code: "NotFound" }, "NotFound"],
    [{ name: "RestError", statusCode: 409, code: "OperationNotAllowed" }, "Conflict"],
    [{ name: "RestError", statusCode: 400, code: "QuotaExceeded" }, "InsufficientCapacity"],
    [{ name: "RestError", statusCode: 502 }, "Unavailable"],
  ];
  for (const [err, code] of aks) {
    it(`ARM ${JSON.stringify(err)} -> ${code}`, () => assert.equal(translateAksError(err, "x").code, code));
  }
  it("names what was being done", () => {
    const e = translateEksError({ name: "ThrottlingException", message: "Rate exceeded" }, "DescribeNodegroup trn1");
    assert.equal(e.message, "DescribeNodegroup trn1: EKS answered ThrottlingException: Rate exceeded");
  });
});

describe("guardScale", () => {
  const group: NodeGroup = {
    name: "trn1",
    instanceType: "trn1.32xlarge",
    capacityType: "OnDemand",
    minSize: 1,
    maxSize: 16,
    desiredSize: 4,
    status: "Active",
    cloudStatus: "ACTIVE",
    autoscalerOwned: false,
    issues: [],
  };
  it("allows a size within bounds", () => assert.equal(guardScale("c", group, 8), undefined));
  it("refuses past max", () => assert.throws(() => guardScale("c", group, 17), isExceedsMaxSize));
  it("refuses below min", () => assert.throws(() => guardScale("c", group, 0), isInvalid));
  it("refuses an autoscaler-owned group", () => {
    assert.throws(() => guardScale("c", { ...group, autoscalerOwned: true }, 5), isAutoscalerOwned);
  });
  it("does nothing when already at size", () => assert.equal(guardScale("c", group, 4)?.status, "Succeeded"));
  it("reads the cluster-autoscaler tag of an EKS group", () => {
    const g = nodeGroupFromEks({ nodegroupName: "x", tags: { "k8s.io/cluster-autoscaler/enabled": "true" } });
    assert.equal(g.autoscalerOwned, true);
  });

  it("reads the node group's capacity type: SPOT, CAPACITY_BLOCK (reserved, already paid for), else on-demand", () => {
    const cases: [string | undefined, string][] = [
      ["SPOT", "Spot"],
      ["CAPACITY_BLOCK", "Reserved"],
      ["ON_DEMAND", "OnDemand"],
      [undefined, "OnDemand"],
    ];
    for (const [eks, want] of cases) {
      const g = nodeGroupFromEks({ nodegroupName: "x", ...(eks ? { capacityType: eks as "SPOT" } : {}) });
      assert.equal(g.capacityType, want, String(eks));
    }
  });
});

describe("withRetries", () => {
  const translate = (err: unknown) => (err instanceof ProviderError ? err : new ProviderError("Unknown", String(err)));
  it("retries throttling until it succeeds", async () => {
    let calls = 0;
    const retried: number[] = [];
    const value = await withRetries(
      "x",
      async () => {
        calls++;
        if (calls < 3) throw new ProviderError("Throttled", "slow down");
        return "ok";
      },
      translate,
      { minTimeoutMs: 1, maxTimeoutMs: 2, onRetry: (_e, n) => retried.push(n) },
    );
    assert.equal(value, "ok");
    assert.equal(calls, 3);
    assert.deepEqual(retried, [1, 2]);
  });
  it("does not retry what cannot succeed", async () => {
    let calls = 0;
    await assert.rejects(
      withRetries(
        "x",
        async () => {
          calls++;
          throw new ProviderError("NotFound", "gone");
        },
        translate,
        { minTimeoutMs: 1 },
      ),
      (e: unknown) => e instanceof ProviderError && e.code === "NotFound",
    );
    assert.equal(calls, 1);
  });
  it("gives up after the retries with the last typed error", async () => {
    await assert.rejects(
      withRetries(
        "x",
        async () => {
          throw new ProviderError("Unavailable", "500");
        },
        translate,
        { retries: 2, minTimeoutMs: 1 },
      ),
      (e: unknown) => e instanceof ProviderError && e.code === "Unavailable",
    );
  });
});

describe("pollScale", () => {
  const op: ScaleOperation = { id: "u1", nodeGroup: "trn1", desiredSize: 5, status: "InProgress" };
  const clock = () => {
    let t = 0;
    return {
      now: () => t,
      sleep: async (ms: number) => {
        t += ms;
      },
    };
  };
  it("returns when the operation succeeds, tolerating throttling", async () => {
    const answers: (ScaleOperation | Error)[] = [
      op,
      new ProviderError("Throttled", "429"),
      { ...op, status: "Succeeded" },
    ];
    const done = await pollScale(
      op,
      async () => {
        const a = answers.shift();
        if (a instanceof Error) throw a;
        return a ?? op;
      },
      { ...clock(), pollIntervalMs: 10 },
    );
    assert.equal(done.status, "Succeeded");
  });
  it("fails typed when the operation fails", async () => {
    await assert.rejects(
      pollScale(op, async () => ({ ...op, status: "Failed", message: "no capacity" }), clock()),
      /failed: no capacity/,
    );
  });
  it("times out on the injected clock", async () => {
    await assert.rejects(
      pollScale(op, async () => op, { ...clock(), timeoutMs: 100, pollIntervalMs: 30 }),
      (e: unknown) => e instanceof ProviderError && e.code === "Timeout",
    );
  });
  it("stops when aborted", async () => {
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(
      pollScale(op, async () => op, { ...clock(), signal: ac.signal }),
      (e: unknown) => e instanceof ProviderError && e.code === "Aborted",
    );
  });
});
