// The process-wide copy budget on real stores (the sandbox's S3 server and
// Azurite): a pass that fails, one aborted mid-copy and one aborted while it
// waits for room each leave the budget as they found it, and a pass that
// starts while another holds the budget with many parts is served in turn.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { CopyBudget } from "../../src/checkpoint/copy-budget.ts";
import { isCheckpointError } from "../../src/checkpoint/errors.ts";
import { stepDir } from "../../src/checkpoint/manifest.ts";
import { replicateCheckpoints } from "../../src/checkpoint/replicate.ts";
import type { ObjectStore } from "../../src/checkpoint/store.ts";
import { eventually } from "../support/sandbox.ts";
import { MiB, sandboxStore, writeStep } from "./checkpoint-support.ts";

function pass(source: ObjectStore, destination: ObjectStore, budget: CopyBudget, extra = {}) {
  return replicateCheckpoints({
    source,
    destinations: [destination],
    fence: { activeEpoch: 1 },
    partSize: MiB,
    budget,
    ...extra,
  });
}

const untouched = (b: CopyBudget) => {
  const { bytes, copies, waiting } = b.usage();
  return { bytes, copies, waiting };
};
const EMPTY = { bytes: 0, copies: 0, waiting: 0 };

describe("the copy budget on real stores", () => {
  it("a step that fails its checksum gives back every buffer it took", async () => {
    const source = sandboxStore("s3");
    await writeStep(source, 3, [3 * MiB + 5, 2 * MiB]);
    await source.put(`${stepDir(3)}/__0_0.distcp`, randomBytes(3 * MiB + 5)); // same size, other bytes
    const budget = new CopyBudget({ bytes: 4 * MiB, copies: 3 });
    const report = await pass(source, sandboxStore("azure-blob"), budget);
    assert.ok(isCheckpointError(report.results[0]?.error, "ChecksumMismatch"), String(report.results[0]?.error));
    assert.ok(budget.usage().peakCopies >= 1, "the pass copied through the budget");
    assert.deepEqual(untouched(budget), EMPTY);
  });

  it("a pass aborted mid-copy gives back every buffer before it rejects", async () => {
    const source = sandboxStore("s3");
    await writeStep(source, 4, [6 * MiB, 6 * MiB, 100_000]);
    const budget = new CopyBudget({ bytes: 3 * MiB, copies: 3 });
    const abort = new AbortController();
    const run = pass(source, sandboxStore("azure-blob"), budget, {
      signal: abort.signal,
      onEvent: (e: { type: string }) => {
        if (e.type === "part-written") abort.abort();
      },
    });
    await assert.rejects(run, (err) => isCheckpointError(err, "Aborted"));
    // At least the part whose write aborted it was held; never more than the budget.
    const peak = budget.usage().peakBytes;
    assert.ok(peak >= MiB && peak <= 3 * MiB, `parts were in flight when it was aborted (peak ${peak} bytes)`);
    assert.deepEqual(untouched(budget), EMPTY);
  });

  it("a pass waiting for room stops when its signal fires, holding nothing", async () => {
    const source = sandboxStore("s3");
    await writeStep(source, 5, [2 * MiB]);
    const budget = new CopyBudget({ bytes: 4 * MiB, copies: 1 });
    const other = await budget.holder().take(MiB); // another job's part, holding the only copy
    const abort = new AbortController();
    const run = pass(source, sandboxStore("azure-blob"), budget, { signal: abort.signal });
    await eventually(
      "the pass to wait for the budget",
      async () => budget.usage().waiting,
      (n) => n === 1,
      30_000,
    );
    abort.abort();
    await assert.rejects(run, (err) => isCheckpointError(err, "Aborted"));
    assert.deepEqual(untouched(budget), { bytes: MiB, copies: 1, waiting: 0 }, "only the other job's part");
    other.release();
    assert.deepEqual(untouched(budget), EMPTY);
  });

  it("a pass that starts while another holds the budget is served in turn, not after it", async () => {
    const big = sandboxStore("s3");
    const small = sandboxStore("s3");
    // 64 parts of 1 MiB: enough that the small pass's list and manifest reads come before the big one ends.
    await writeStep(big, 6, [16 * MiB, 16 * MiB, 16 * MiB, 16 * MiB]);
    await writeStep(small, 6, [MiB + 1]);
    const budget = new CopyBudget({ bytes: 2 * MiB, copies: 2 });
    let bigParts = 0;
    let bigPartsWhenSmallDone = -1;
    const first = pass(big, sandboxStore("azure-blob"), budget, {
      onEvent: (e: { type: string }) => {
        if (e.type === "part-written") bigParts++;
      },
    });
    await eventually(
      "the first pass to hold the budget",
      async () => budget.usage(),
      (u) => u.waiting > 0,
      30_000,
    );
    const second = pass(small, sandboxStore("azure-blob"), budget).then((r) => {
      bigPartsWhenSmallDone = bigParts;
      return r;
    });
    const [a, b] = await Promise.all([first, second]);
    assert.deepEqual([a.results[0]?.outcome, b.results[0]?.outcome], ["committed", "committed"]);
    assert.ok(
      bigPartsWhenSmallDone < 64,
      `the small pass finished after ${bigPartsWhenSmallDone} of the big pass's 64 parts`,
    );
    assert.deepEqual(untouched(budget), EMPTY);
  });
});
