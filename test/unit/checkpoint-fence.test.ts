// isStale: which committed steps a fenced epoch wrote, by the active epoch's resume step (the old
// rule) and by the job's lineage of moves (table tests). checkpoint-retention.test.ts covers the
// old rule through chooseRetention; here the lineage.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type EpochFence, type EpochStart, isStale } from "../../src/checkpoint/fence.ts";

/** epoch 1 -> epoch 2 resumed from step 100 -> epoch 3 resumed from step 200. */
const resumedTwice: EpochStart[] = [
  { epoch: 2, resumedFromStep: 100 },
  { epoch: 3, resumedFromStep: 200 },
];

interface Case {
  name: string;
  step: number;
  epoch: number;
  fence: EpochFence | undefined;
  stale: boolean;
}

function run(cases: Case[]): void {
  for (const tc of cases) {
    it(`${tc.name}: epoch ${tc.epoch} step ${tc.step} is ${tc.stale ? "stale" : "valid"}`, () =>
      assert.equal(isStale({ step: tc.step, epoch: tc.epoch }, tc.fence), tc.stale));
  }
}

describe("isStale with a lineage", () => {
  const at3: EpochFence = { activeEpoch: 3, lineage: resumedTwice };
  run([
    { name: "epoch 1, at epoch 2's resume step", step: 100, epoch: 1, fence: at3, stale: false },
    { name: "epoch 1, below epoch 2's resume step", step: 50, epoch: 1, fence: at3, stale: false },
    {
      name: "epoch 1, above epoch 2's resume step (though below epoch 3's)",
      step: 150,
      epoch: 1,
      fence: at3,
      stale: true,
    },
    { name: "epoch 1, above both resume steps", step: 250, epoch: 1, fence: at3, stale: true },
    { name: "epoch 2, at epoch 3's resume step", step: 200, epoch: 2, fence: at3, stale: false },
    { name: "epoch 2, below epoch 2's own resume step", step: 90, epoch: 2, fence: at3, stale: false },
    { name: "epoch 2, above epoch 3's resume step", step: 250, epoch: 2, fence: at3, stale: true },
    { name: "the active epoch, low step", step: 1, epoch: 3, fence: at3, stale: false },
    { name: "the active epoch, high step", step: 10_000, epoch: 3, fence: at3, stale: false },
    { name: "an epoch newer than the active one", step: 10_000, epoch: 4, fence: at3, stale: false },
  ]);
});

describe("isStale with a lineage, seen from an earlier active epoch", () => {
  // Epoch 3's move is in the lineage but not active yet: only epoch 2's resume step fences.
  const at2: EpochFence = { activeEpoch: 2, lineage: resumedTwice };
  run([
    { name: "epoch 1 at epoch 2's resume step", step: 100, epoch: 1, fence: at2, stale: false },
    { name: "epoch 1 above epoch 2's resume step", step: 150, epoch: 1, fence: at2, stale: true },
    {
      name: "epoch 2 above epoch 3's resume step (epoch 3 is not active)",
      step: 250,
      epoch: 2,
      fence: at2,
      stale: false,
    },
  ]);
});

describe("isStale with a lineage where an epoch started from scratch", () => {
  // epoch 1 -> epoch 2 resumed from 100 -> epoch 3 from scratch.
  const fromScratch: EpochFence = { activeEpoch: 3, lineage: [{ epoch: 2, resumedFromStep: 100 }, { epoch: 3 }] };
  run([
    { name: "epoch 1, even at epoch 2's resume step", step: 100, epoch: 1, fence: fromScratch, stale: true },
    { name: "epoch 1, step 0", step: 0, epoch: 1, fence: fromScratch, stale: true },
    { name: "epoch 2, any step", step: 150, epoch: 2, fence: fromScratch, stale: true },
    { name: "epoch 3, any step", step: 5, epoch: 3, fence: fromScratch, stale: false },
  ]);
  // epoch 1 -> epoch 2 from scratch -> epoch 3 resumed from 50 (written by epoch 2).
  const scratchThenResume: EpochFence = { activeEpoch: 3, lineage: [{ epoch: 2 }, { epoch: 3, resumedFromStep: 50 }] };
  run([
    {
      name: "epoch 1 below epoch 3's resume step is still fenced by epoch 2",
      step: 10,
      epoch: 1,
      fence: scratchThenResume,
      stale: true,
    },
    { name: "epoch 2 at epoch 3's resume step", step: 50, epoch: 2, fence: scratchThenResume, stale: false },
    { name: "epoch 2 above epoch 3's resume step", step: 51, epoch: 2, fence: scratchThenResume, stale: true },
  ]);
  // A resume from step 0 is a resume, not a start from scratch.
  const fromZero: EpochFence = { activeEpoch: 2, lineage: [{ epoch: 2, resumedFromStep: 0 }] };
  run([
    { name: "resumed from step 0, epoch 1 step 0", step: 0, epoch: 1, fence: fromZero, stale: false },
    { name: "resumed from step 0, epoch 1 step 1", step: 1, epoch: 1, fence: fromZero, stale: true },
  ]);
});

describe("isStale: epochs not in the lineage fence nothing", () => {
  // Epoch 2 was a new placement after epoch 1's workload was confirmed gone (no failover record):
  // only epoch 3's move fences.
  const gap: EpochFence = { activeEpoch: 3, lineage: [{ epoch: 3, resumedFromStep: 200 }] };
  const none: EpochFence = { activeEpoch: 3, lineage: [] };
  run([
    { name: "epoch 1 below the only move's resume step", step: 150, epoch: 1, fence: gap, stale: false },
    { name: "epoch 1 above the only move's resume step", step: 250, epoch: 1, fence: gap, stale: true },
    { name: "epoch 2 above the only move's resume step", step: 201, epoch: 2, fence: gap, stale: true },
    { name: "an empty lineage, epoch 1", step: 10_000, epoch: 1, fence: none, stale: false },
    { name: "an empty lineage, epoch 2", step: 10_000, epoch: 2, fence: none, stale: false },
    {
      name: "a lineage entry at or below the step's own epoch",
      step: 500,
      epoch: 2,
      fence: { activeEpoch: 3, lineage: [{ epoch: 1 }, { epoch: 2, resumedFromStep: 10 }] },
      stale: false,
    },
    {
      name: "the lineage wins over resumedFromStep",
      step: 500,
      epoch: 1,
      fence: { activeEpoch: 2, resumedFromStep: 100, lineage: [] },
      stale: false,
    },
  ]);
});

describe("isStale without a lineage (the resumedFromStep rule)", () => {
  run([
    { name: "no fence", step: 5, epoch: 1, fence: undefined, stale: false },
    { name: "the active epoch", step: 5, epoch: 3, fence: { activeEpoch: 3 }, stale: false },
    { name: "older epoch, no resume point", step: 5, epoch: 1, fence: { activeEpoch: 3 }, stale: true },
    {
      name: "older epoch at the resume point",
      step: 200,
      epoch: 1,
      fence: { activeEpoch: 3, resumedFromStep: 200 },
      stale: false,
    },
    {
      name: "two epochs older, at the resume point (no lineage: the old rule does not look further back)",
      step: 150,
      epoch: 1,
      fence: { activeEpoch: 3, resumedFromStep: 200 },
      stale: false,
    },
    {
      name: "older epoch past the resume point",
      step: 201,
      epoch: 2,
      fence: { activeEpoch: 3, resumedFromStep: 200 },
      stale: true,
    },
  ]);
});
