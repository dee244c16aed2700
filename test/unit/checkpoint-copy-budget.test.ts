// The process-wide copy budget: never more bytes or copies out than its
// limits, passes served in turn, a waiter that aborts takes nothing and
// unblocks the others, a part larger than the budget is still copied (alone),
// and its environment variables are checked with a message naming them.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { budgetFromEnv, CopyBudget, DEFAULT_BUDGET, type Lease } from "../../src/checkpoint/copy-budget.ts";
import { isCheckpointError } from "../../src/checkpoint/errors.ts";

const MiB = 2 ** 20;
const tick = () => new Promise((r) => setImmediate(r));

describe("CopyBudget limits", () => {
  const rows = [
    { name: "copies bind", limits: { bytes: 64 * MiB, copies: 3 }, sizes: [MiB, MiB, MiB, MiB, MiB, MiB, MiB] },
    { name: "bytes bind", limits: { bytes: 5 * MiB, copies: 16 }, sizes: [2 * MiB, 2 * MiB, 2 * MiB, 2 * MiB] },
    {
      name: "sizes rounded up to a MiB count whole",
      limits: { bytes: 4 * MiB, copies: 16 },
      sizes: [MiB + 1, MiB + 1, MiB + 1, MiB + 1],
    },
    { name: "small files", limits: { bytes: MiB, copies: 2 }, sizes: [10, 0, 500_000, 7, 3] },
  ];
  for (const row of rows) {
    it(`never hands out more than its limits (${row.name})`, async () => {
      const budget = new CopyBudget(row.limits);
      const holders = [budget.holder(), budget.holder()];
      await Promise.all(
        row.sizes.map(async (size, i) => {
          const lease = await (holders[i % 2] ?? budget.holder()).take(size);
          assert.equal(lease.bytes.length, size);
          await tick();
          lease.release();
        }),
      );
      const usage = budget.usage();
      assert.ok(usage.peakCopies <= row.limits.copies, `peak copies ${usage.peakCopies}`);
      assert.ok(usage.peakBytes <= row.limits.bytes, `peak bytes ${usage.peakBytes}`);
      assert.deepEqual([usage.bytes, usage.copies, usage.waiting], [0, 0, 0], "everything given back");
    });
  }
});

describe("CopyBudget turns", () => {
  it("serves passes in turn: a pass with many parts queued does not hold up one that asks later", async () => {
    const budget = new CopyBudget({ bytes: 64 * MiB, copies: 1 });
    const busy = budget.holder();
    const late = budget.holder();
    const order: string[] = [];
    const take = async (h: typeof busy, name: string) => {
      const lease = await h.take(MiB);
      order.push(name);
      await tick();
      lease.release();
    };
    const all = [...Array.from({ length: 6 }, (_, i) => take(busy, `busy${i}`)), take(late, "late")];
    await Promise.all(all);
    assert.deepEqual(order.slice(0, 3), ["busy0", "busy1", "late"]);
  });

  it("a waiter whose signal fires is rejected, holds nothing, and unblocks the one behind it", async () => {
    const budget = new CopyBudget({ bytes: 4 * MiB, copies: 8 });
    const held = await budget.holder().take(3 * MiB);
    const abort = new AbortController();
    const big = budget.holder().take(2 * MiB, abort.signal); // does not fit: waits, and blocks its turn
    let smallGranted: Lease | undefined;
    const small = budget
      .holder()
      .take(MiB)
      .then((l) => {
        smallGranted = l;
        return l;
      });
    await tick();
    assert.equal(smallGranted, undefined, "the next pass's turn waits behind the blocked head");
    assert.equal(budget.usage().waiting, 2);
    abort.abort();
    await assert.rejects(big, (err) => isCheckpointError(err, "Aborted"));
    (await small).release();
    held.release();
    assert.deepEqual(budget.usage(), { bytes: 0, copies: 0, waiting: 0, peakBytes: 4 * MiB, peakCopies: 2 });
  });

  it("rejects at once when the signal has already fired", async () => {
    const budget = new CopyBudget({ bytes: MiB, copies: 1 });
    await assert.rejects(budget.holder().take(10, AbortSignal.abort()), (err) => isCheckpointError(err, "Aborted"));
    assert.equal(budget.usage().copies, 0);
  });

  it("grants a part larger than the whole budget alone, once nothing else is held", async () => {
    const budget = new CopyBudget({ bytes: 2 * MiB, copies: 4 });
    const a = await budget.holder().take(MiB);
    let bigGranted = false;
    const big = budget
      .holder()
      .take(5 * MiB)
      .then((l) => {
        bigGranted = true;
        return l;
      });
    await tick();
    assert.equal(bigGranted, false);
    a.release();
    const lease = await big;
    assert.equal(lease.bytes.length, 5 * MiB);
    let afterGranted = false;
    const after = budget
      .holder()
      .take(10)
      .then((l) => {
        afterGranted = true;
        return l;
      });
    await tick();
    assert.equal(afterGranted, false, "nothing else while the oversize part is out");
    lease.release();
    (await after).release();
  });

  it("a lease released twice is given back once", async () => {
    const budget = new CopyBudget({ bytes: 2 * MiB, copies: 2 });
    const a = await budget.holder().take(MiB);
    const b = await budget.holder().take(MiB);
    a.release();
    a.release();
    assert.deepEqual([budget.usage().bytes, budget.usage().copies], [MiB, 1]);
    b.release();
  });
});

describe("budgetFromEnv", () => {
  it("defaults, and reads MiB and copies", () => {
    assert.deepEqual(budgetFromEnv({}), DEFAULT_BUDGET);
    assert.deepEqual(budgetFromEnv({ CHECKPOINT_BUFFER_MIB: "64", CHECKPOINT_PART_COPIES: "6" }), {
      bytes: 64 * MiB,
      copies: 6,
    });
  });
  for (const [name, value] of [
    ["CHECKPOINT_BUFFER_MIB", "0"],
    ["CHECKPOINT_BUFFER_MIB", "lots"],
    ["CHECKPOINT_PART_COPIES", "1.5"],
    ["CHECKPOINT_PART_COPIES", "-2"],
  ] as const) {
    it(`refuses ${name}=${value}, naming the variable and the default`, () => {
      assert.throws(
        () => budgetFromEnv({ [name]: value }),
        (err: Error) =>
          isCheckpointError(err, "InvalidOptions") &&
          err.message.startsWith(`${name} must be a whole number >= 1`) &&
          err.message.includes("unset it for the default"),
      );
    });
  }
  it("refuses limits below 1 when built directly", () => {
    assert.throws(() => new CopyBudget({ bytes: 0, copies: 1 }), /copy budget bytes must be an integer >= 1/);
  });
});
