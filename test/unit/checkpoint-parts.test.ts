// Part planning: part sizes within each store's limits, the part count limit
// raising the part size, and plans that cover every byte exactly once.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BLOB_LIMITS } from "../../src/checkpoint/azure-blob/blob-store.ts";
import { isCheckpointError } from "../../src/checkpoint/errors.ts";
import { choosePartSize, planParts } from "../../src/checkpoint/parts.ts";
import { S3_LIMITS } from "../../src/checkpoint/s3/s3-store.ts";

const MiB = 2 ** 20;
const GiB = 2 ** 30;

describe("choosePartSize", () => {
  const cases = [
    {
      name: "S3: the preferred size when it fits",
      limits: S3_LIMITS,
      size: 10 * GiB,
      preferred: 16 * MiB,
      want: 16 * MiB,
    },
    { name: "S3: raised to the 5 MiB minimum", limits: S3_LIMITS, size: 100 * MiB, preferred: 1 * MiB, want: 5 * MiB },
    {
      name: "S3: raised so 1 TiB fits 10,000 parts",
      limits: S3_LIMITS,
      size: 1024 * GiB,
      preferred: 16 * MiB,
      want: 105 * MiB,
    },
    { name: "Blob: no minimum", limits: BLOB_LIMITS, size: 100 * MiB, preferred: 1 * MiB, want: 1 * MiB },
    {
      name: "Blob: 1 TiB fits 50,000 blocks of 21 MiB",
      limits: BLOB_LIMITS,
      size: 1024 * GiB,
      preferred: 16 * MiB,
      want: 21 * MiB,
    },
    {
      name: "Blob: exactly at the block count",
      limits: BLOB_LIMITS,
      size: 50_000 * 4 * MiB,
      preferred: 4 * MiB,
      want: 4 * MiB,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = choosePartSize(c.size, c.limits, c.preferred);
      assert.equal(got, c.want);
      assert.ok(Math.ceil(c.size / got) <= c.limits.maxParts);
    });
  }
  it("refuses a file no plan can hold, with its size", () => {
    assert.throws(
      () => choosePartSize(6 * 10_000 * GiB, S3_LIMITS, 16 * MiB, "step-1/huge"),
      (err) => isCheckpointError(err, "TooLarge") && /step-1\/huge is 64424509440000 bytes/.test(err.message),
    );
  });
});

describe("planParts", () => {
  const cases = [
    { size: 0, partSize: 5, want: [[0, 0]] },
    { size: 1, partSize: 5, want: [[0, 1]] },
    { size: 5, partSize: 5, want: [[0, 5]] },
    {
      size: 11,
      partSize: 5,
      want: [
        [0, 5],
        [5, 5],
        [10, 1],
      ],
    },
    {
      size: 15,
      partSize: 5,
      want: [
        [0, 5],
        [5, 5],
        [10, 5],
      ],
    },
  ];
  for (const c of cases) {
    it(`${c.size} bytes in parts of ${c.partSize}`, () => {
      const plan = planParts(c.size, c.partSize);
      assert.deepEqual(
        plan.map((p) => [p.offset, p.size]),
        c.want,
      );
      assert.deepEqual(
        plan.map((p) => p.index),
        c.want.map((_, i) => i),
      );
    });
  }
  it("covers a large odd size exactly", () => {
    const size = 3 * GiB + 12345;
    const plan = planParts(size, 64 * MiB);
    assert.equal(
      plan.reduce((n, p) => n + p.size, 0),
      size,
    );
    assert.ok(plan.every((p, i) => i === 0 || p.offset === (plan[i - 1]?.offset ?? 0) + (plan[i - 1]?.size ?? 0)));
  });
  it("refuses nonsense", () => {
    assert.throws(() => planParts(-1, 5), /size must be an integer >= 0/);
    assert.throws(() => planParts(5, 0), /partSize must be an integer >= 1/);
  });
});
