// shard: integration files split into shards of about equal time (table tests, pure).

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { shard } from "../../scripts/test-shards.ts";

describe("shard", () => {
  const times: Record<string, number> = { a: 100, b: 60, c: 50, d: 30, e: 20 };
  const seconds = (f: string) => times[f] ?? 10;
  const cases: { name: string; files: string[]; shards: number; want: string[][] }[] = [
    { name: "one shard holds everything", files: ["b", "a"], shards: 1, want: [["a", "b"]] },
    {
      name: "longest first, each to the least loaded shard",
      files: ["a", "b", "c", "d", "e"],
      shards: 2,
      // a=100 | b=60, c -> 110 | d -> a's (100 < 110): 130 | e -> the other (110 < 130): 130
      want: [
        ["a", "d"],
        ["b", "c", "e"],
      ],
    },
    { name: "more shards than files leaves some empty", files: ["a"], shards: 3, want: [["a"], [], []] },
    { name: "unknown files count as the default", files: ["x", "y"], shards: 2, want: [["x"], ["y"]] },
  ];
  for (const c of cases) {
    it(c.name, () => assert.deepEqual(shard(c.files, c.shards, seconds), c.want));
  }

  it("every file lands in exactly one shard", () => {
    const files = Array.from({ length: 29 }, (_, i) => `f${i}`);
    const out = shard(files, 2, (f) => f.length * 7);
    assert.deepEqual(out.flat().sort(), [...files].sort());
  });
});
