// Retention and fencing: which committed steps a store keeps (never the newest
// committed one), which it deletes, and which steps a stale epoch wrote.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isCheckpointError } from "../../src/checkpoint/errors.ts";
import { type EpochFence, isStale } from "../../src/checkpoint/fence.ts";
import { chooseRetention } from "../../src/checkpoint/retention.ts";

const steps = (...pairs: [number, number][]) => pairs.map(([step, epoch]) => ({ step, epoch }));

describe("chooseRetention", () => {
  const cases: {
    name: string;
    committed: { step: number; epoch: number }[];
    keep: number;
    fence?: EpochFence;
    want: { keep: number[]; remove: number[]; stale: number[] };
  }[] = [
    { name: "nothing committed", committed: [], keep: 3, want: { keep: [], remove: [], stale: [] } },
    {
      name: "fewer than keep",
      committed: steps([100, 1], [200, 1]),
      keep: 3,
      want: { keep: [200, 100], remove: [], stale: [] },
    },
    {
      name: "the oldest go, in any listing order",
      committed: steps([300, 1], [100, 1], [500, 1], [200, 1], [400, 1]),
      keep: 2,
      want: { keep: [500, 400], remove: [300, 200, 100], stale: [] },
    },
    {
      name: "keep 1 keeps the newest",
      committed: steps([1, 1], [2, 1], [3, 1]),
      keep: 1,
      want: { keep: [3], remove: [2, 1], stale: [] },
    },
    {
      name: "a fenced epoch's newer step neither counts nor is deleted",
      committed: steps([100, 1], [200, 1], [300, 2], [400, 1]),
      keep: 2,
      fence: { activeEpoch: 2, resumedFromStep: 200 },
      want: { keep: [300, 200], remove: [100], stale: [400] },
    },
    {
      name: "without a resume point every older epoch is stale",
      committed: steps([100, 1], [200, 2]),
      keep: 1,
      fence: { activeEpoch: 2 },
      want: { keep: [200], remove: [], stale: [100] },
    },
  ];
  for (const c of cases) {
    it(c.name, () => assert.deepEqual(chooseRetention(c.committed, c.keep, c.fence), c.want));
  }
  it("never deletes the newest committed step, whatever keep", () => {
    for (let keep = 1; keep <= 5; keep++) {
      const committed = steps([10, 1], [30, 1], [20, 1], [50, 1], [40, 1]);
      assert.ok(chooseRetention(committed, keep).keep.includes(50));
      assert.ok(!chooseRetention(committed, keep).remove.includes(50));
    }
  });
  for (const keep of [0, -1, 1.5, Number.NaN]) {
    it(`refuses keep ${keep}`, () =>
      assert.throws(
        () => chooseRetention([], keep),
        (err) => isCheckpointError(err, "InvalidOptions") && /keep must be an integer >= 1/.test(err.message),
      ));
  }
});

describe("isStale", () => {
  const cases: { name: string; step: number; epoch: number; fence?: EpochFence; stale: boolean }[] = [
    { name: "no fence", step: 5, epoch: 1, stale: false },
    { name: "the active epoch", step: 5, epoch: 2, fence: { activeEpoch: 2 }, stale: false },
    { name: "a newer epoch", step: 5, epoch: 3, fence: { activeEpoch: 2 }, stale: false },
    { name: "an older epoch, no resume point", step: 5, epoch: 1, fence: { activeEpoch: 2 }, stale: true },
    {
      name: "older epoch at the resume point",
      step: 5,
      epoch: 1,
      fence: { activeEpoch: 2, resumedFromStep: 5 },
      stale: false,
    },
    {
      name: "older epoch past the resume point",
      step: 6,
      epoch: 1,
      fence: { activeEpoch: 2, resumedFromStep: 5 },
      stale: true,
    },
  ];
  for (const c of cases) it(c.name, () => assert.equal(isStale(c, c.fence), c.stale));
});
