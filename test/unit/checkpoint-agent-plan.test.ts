// The checkpoint agent's pure decisions: which local steps are finished for a
// replica, the manifest its part records make (never before every replica's
// part of this epoch is in), and which committed local steps retention deletes.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type LocalStep,
  type LocalStepState,
  localStepsToDelete,
  manifestFromParts,
  type PartRecord,
  planScan,
} from "../../src/checkpoint/agent/plan.ts";

const step = (n: number, marks: { done?: boolean; metadata?: boolean } = {}): LocalStep => ({
  step: n,
  done: marks.done ?? false,
  metadata: marks.metadata ?? false,
});

describe("planScan", () => {
  const cases: {
    name: string;
    index: number;
    local: LocalStep[];
    uploaded?: number[];
    rank0?: number[];
    want: [number, LocalStepState][];
  }[] = [
    { name: "an empty dir", index: 0, local: [], want: [] },
    {
      name: "rank 0: .metadata or .done makes a step ready; neither, waiting",
      index: 0,
      local: [step(30), step(10, { metadata: true }), step(20, { done: true })],
      want: [
        [10, "ready"],
        [20, "ready"],
        [30, "waiting"],
      ],
    },
    {
      name: "rank 0 ignores what the store says about rank 0",
      index: 0,
      local: [step(10)],
      rank0: [10],
      want: [[10, "waiting"]],
    },
    {
      name: "another rank: a DCP step is ready once rank 0 finished it in the store",
      index: 3,
      local: [step(10), step(20)],
      rank0: [10],
      want: [
        [10, "ready"],
        [20, "waiting"],
      ],
    },
    {
      name: "another rank: its own .done is enough",
      index: 1,
      local: [step(10, { done: true })],
      want: [[10, "ready"]],
    },
    {
      name: "uploaded steps are left alone, whatever their marks",
      index: 2,
      local: [step(10, { done: true }), step(20, { metadata: true })],
      uploaded: [10, 20],
      rank0: [10],
      want: [
        [10, "uploaded"],
        [20, "uploaded"],
      ],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const facts = { index: c.index, uploaded: new Set(c.uploaded), finishedByRank0: new Set(c.rank0) };
      assert.deepEqual(
        planScan(c.local, facts).map((s) => [s.step, s.state]),
        c.want,
      );
    });
  }
});

const file = (path: string, size: number, sha = "a") => ({ path, size, sha256: sha.repeat(64) });
const part = (index: number, epoch: number, ...files: ReturnType<typeof file>[]): PartRecord => ({
  index,
  epoch,
  files,
});
const at = "2026-12-01T00:00:00.000Z";

describe("manifestFromParts", () => {
  it("waits for every replica, naming the missing ones", () => {
    const plan = manifestFromParts(7, 2, 4, [part(0, 2, file("a", 1)), part(2, 2, file("c", 1))], at);
    assert.deepEqual(plan, { ok: false, missing: [1, 3] });
  });
  it("ignores parts of another epoch (a stale placement's upload)", () => {
    const parts = [part(0, 2, file("a", 1)), part(1, 1, file("b", 1))];
    assert.deepEqual(manifestFromParts(7, 2, 2, parts, at), { ok: false, missing: [1] });
  });
  it("is the union of every part once all are there", () => {
    const parts = [part(1, 3, file("__1_0.distcp", 5, "b")), part(0, 3, file("__0_0.distcp", 4), file(".metadata", 1))];
    const plan = manifestFromParts(9, 3, 2, parts, at);
    assert.ok(plan.ok);
    assert.deepEqual(plan.manifest, {
      step: 9,
      epoch: 3,
      createdAt: at,
      files: [file("__0_0.distcp", 4), file(".metadata", 1), file("__1_0.distcp", 5, "b")],
    });
  });
  it("takes one path listed alike by two replicas once", () => {
    const plan = manifestFromParts(1, 1, 2, [part(0, 1, file("x", 3)), part(1, 1, file("x", 3))], at);
    assert.ok(plan.ok);
    assert.equal(plan.manifest.files.length, 1);
  });
  it("refuses one path uploaded by two replicas with different content", () => {
    const plan = manifestFromParts(1, 1, 2, [part(0, 1, file("x", 3)), part(1, 1, file("x", 3, "b"))], at);
    assert.equal(plan.ok, false);
    assert.match(plan.ok ? "" : (plan.conflict ?? ""), /x was uploaded by two replicas/);
  });
});

describe("localStepsToDelete", () => {
  const cases: { name: string; local: number[]; committed: number[]; keep: number; want: number[] }[] = [
    { name: "nothing committed: nothing deleted", local: [1, 2, 3, 4], committed: [], keep: 1, want: [] },
    { name: "keeps the newest committed", local: [1, 2, 3, 4], committed: [1, 2, 3, 4], keep: 2, want: [1, 2] },
    {
      name: "never an uncommitted step, even the oldest",
      local: [1, 2, 3, 4, 5],
      committed: [2, 3, 5],
      keep: 1,
      want: [2, 3],
    },
    {
      name: "an uploading newer step does not count toward keep",
      local: [10, 20, 30],
      committed: [10, 20],
      keep: 2,
      want: [],
    },
    { name: "committed steps no longer on disk are ignored", local: [5], committed: [1, 2, 3, 5], keep: 1, want: [] },
  ];
  for (const c of cases) {
    it(c.name, () => assert.deepEqual(localStepsToDelete(c.local, new Set(c.committed), c.keep), c.want));
  }
});
