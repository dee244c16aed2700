// The fake provider that controller tests use keeps the interface's
// contract: idempotent tokens, the scale guard, queued errors, recorded calls.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isAutoscalerOwned, isExceedsMaxSize, isThrottled, ProviderError } from "../../src/providers/errors.ts";
import { FakeProvider } from "../../src/providers/fake.ts";
import type { NodeGroup } from "../../src/providers/types.ts";

const trn1: NodeGroup = {
  name: "trn1",
  instanceType: "trn1.32xlarge",
  capacityType: "OnDemand",
  minSize: 0,
  maxSize: 8,
  desiredSize: 4,
  status: "Active",
  cloudStatus: "ACTIVE",
  autoscalerOwned: false,
  issues: [],
};

describe("FakeProvider", () => {
  it("scales once per client token and completes on demand", async () => {
    const fake = new FakeProvider("aws", [trn1]);
    const a = await fake.scaleNodeGroup("trn1", 6, "job-uid-1");
    const b = await fake.scaleNodeGroup("trn1", 6, "job-uid-1");
    assert.equal(a.id, b.id);
    assert.equal(fake.calls.filter((c) => c.method === "scaleNodeGroup").length, 2);
    fake.complete(a.id);
    assert.equal((await fake.waitForScale(a)).status, "Succeeded");
    assert.equal((await fake.getNodeGroup("trn1")).desiredSize, 6);
  });
  it("applies the guard", async () => {
    const fake = new FakeProvider("aws", [trn1, { ...trn1, name: "owned", autoscalerOwned: true }]);
    await assert.rejects(fake.scaleNodeGroup("trn1", 9, "t"), isExceedsMaxSize);
    await assert.rejects(fake.scaleNodeGroup("owned", 5, "t2"), isAutoscalerOwned);
  });
  it("throws queued errors in order", async () => {
    const fake = new FakeProvider("azure", [trn1]);
    fake.queueError("listNodeGroups", new ProviderError("Throttled", "429"));
    await assert.rejects(fake.listNodeGroups(), isThrottled);
    assert.equal((await fake.listNodeGroups()).length, 1);
  });
});
