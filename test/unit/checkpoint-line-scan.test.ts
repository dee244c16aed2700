// The pure part of the per-store lister: which prefix one listing of many
// lines needs, which line a listed key belongs to, grouping by line and step,
// change detection (key, ETag, size, last-modified), which manifests must be
// read, and the bounded operation label of the store request counter.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { byLine, linesOf, listingPrefix, manifestsToRead, sameListing } from "../../src/checkpoint/line-scan.ts";
import { operationLabel } from "../../src/checkpoint/metrics.ts";
import { groupSteps, stepsWith } from "../../src/checkpoint/steps.ts";
import type { ObjectInfo } from "../../src/checkpoint/store.ts";

const T0 = new Date("2026-01-31T12:00:00Z");
const obj = (key: string, etag = "e1", size = 10, lastModified = T0): ObjectInfo => ({ key, etag, size, lastModified });

describe("listingPrefix", () => {
  const rows: { name: string; lines: string[]; want: string }[] = [
    { name: "no line", lines: [], want: "" },
    { name: "one line: the line itself", lines: ["ml/llama"], want: "ml/llama/" },
    { name: "two jobs of a namespace", lines: ["ml/a", "ml/b"], want: "ml/" },
    { name: "whole segments only (ml/ab is not under ml/a)", lines: ["ml/a", "ml/ab"], want: "ml/" },
    { name: "nested lines", lines: ["ml/a", "ml/a/b"], want: "ml/a/" },
    { name: "deep common part", lines: ["t/x/y/1", "t/x/y/2", "t/x/y/3"], want: "t/x/y/" },
    { name: "two namespaces: the whole store", lines: ["ml/a", "cv/b"], want: "" },
    { name: "the same line twice", lines: ["ml/a", "ml/a"], want: "ml/a/" },
  ];
  for (const r of rows) it(r.name, () => assert.equal(listingPrefix(r.lines), r.want));
});

describe("linesOf", () => {
  const lines = new Set(["ml/a", "ml/a/b", "ml/c"]);
  const rows: { key: string; want: string[] }[] = [
    { key: "ml/a/step-1/manifest.json", want: ["ml/a"] },
    { key: "ml/a/b/step-2/x.bin", want: ["ml/a", "ml/a/b"] },
    { key: "ml/ab/step-1/manifest.json", want: [] },
    { key: "ml/c", want: [] },
    { key: "other/ml/a/step-1/x", want: [] },
    { key: "ml/c/step-9/.metadata", want: ["ml/c"] },
  ];
  for (const r of rows) it(r.key, () => assert.deepEqual(linesOf(r.key, lines), r.want));
});

describe("byLine", () => {
  it("gives each line its step objects and agent reports, keys relative to it, and drops the rest", () => {
    const listed = [
      obj("ml/a/notes.txt"),
      obj("ml/a/step-1/__0_0.distcp"),
      obj("ml/a/step-1/manifest.json"),
      obj("ml/a/b/step-2/x.bin"),
      obj("ml/a/step-x/y"),
      obj("ml/a/.crosscloud/agents/0.json"),
      obj("ml/a/.crosscloud/other.json"),
      obj("ml/b/step-3/manifest.json"),
      obj("ml/zz/step-1/manifest.json"),
    ];
    const got = byLine(listed, new Set(["ml/a", "ml/a/b", "ml/b", "ml/empty"]));
    const keys = (line: string) => got.get(line)?.map((o) => o.key);
    assert.deepEqual(
      keys("ml/a"),
      ["step-1/__0_0.distcp", "step-1/manifest.json", ".crosscloud/agents/0.json"],
      "step objects and the checkpoint agents' reports",
    );
    assert.deepEqual(keys("ml/a/b"), ["step-2/x.bin"]);
    assert.deepEqual(keys("ml/b"), ["step-3/manifest.json"]);
    assert.deepEqual(keys("ml/empty"), [], "a watched line that holds nothing has an empty listing");
    assert.equal(got.has("ml/zz"), false, "objects of unwatched lines are dropped");
    assert.equal(got.get("ml/a")?.[0]?.etag, "e1", "ETag, size and time are kept");
  });
});

describe("groupSteps and stepsWith", () => {
  it("groups a line's objects by step, ascending, with manifest and .metadata found", () => {
    const all = groupSteps([
      obj("step-20/manifest.json"),
      obj("step-3/.metadata"),
      obj("step-3/__0_0.distcp"),
      obj("step-20/model.bin"),
      obj("loose.txt"),
    ]);
    assert.deepEqual(
      all.map((s) => [s.step, s.objects.length, s.manifest?.key, s.dcpMetadata?.key]),
      [
        [3, 2, undefined, "step-3/.metadata"],
        [20, 2, "step-20/manifest.json", undefined],
      ],
    );
  });

  it("makes a step committed, invalid or uncommitted from its parsed manifest", () => {
    const listed = [obj("step-1/manifest.json"), obj("step-2/manifest.json"), obj("step-3/model.bin")];
    const manifest = { step: 1, epoch: 1, createdAt: T0.toISOString(), files: [] };
    const steps = stepsWith(groupSteps(listed), (s) =>
      s.step === 1 ? { ok: true, manifest } : { ok: false, issues: ["not JSON"] },
    );
    assert.deepEqual(
      steps.committed.map((c) => [c.manifest.step, c.committedAt.toISOString()]),
      [[1, T0.toISOString()]],
    );
    assert.deepEqual(steps.invalid, [{ step: 2, issues: ["not JSON"] }]);
    assert.equal(steps.all.length, 3);
  });
});

describe("change detection", () => {
  const before = [obj("step-1/manifest.json"), obj("step-1/model.bin", "m", 100)];
  const rows: { name: string; after: ObjectInfo[]; same: boolean }[] = [
    { name: "the same listing", after: [obj("step-1/manifest.json"), obj("step-1/model.bin", "m", 100)], same: true },
    { name: "a new object", after: [...before, obj("step-2/manifest.json")], same: false },
    { name: "an object gone", after: [obj("step-1/manifest.json")], same: false },
    { name: "another ETag", after: [obj("step-1/manifest.json", "e2"), before[1] as ObjectInfo], same: false },
    { name: "another size", after: [obj("step-1/manifest.json", "e1", 11), before[1] as ObjectInfo], same: false },
    {
      name: "another last-modified time",
      after: [obj("step-1/manifest.json", "e1", 10, new Date(T0.getTime() + 1000)), before[1] as ObjectInfo],
      same: false,
    },
  ];
  for (const r of rows) it(r.name, () => assert.equal(sameListing(before, r.after), r.same));
});

describe("manifestsToRead", () => {
  const known = new Map([
    ["step-1/manifest.json", { info: obj("step-1/manifest.json") }],
    ["step-2/manifest.json", { info: obj("step-2/manifest.json", "old") }],
  ]);
  const rows: { name: string; listed: ObjectInfo[]; want: string[] }[] = [
    { name: "nothing new: no read", listed: [obj("step-1/manifest.json")], want: [] },
    {
      name: "a new step's manifest",
      listed: [obj("step-1/manifest.json"), obj("step-3/manifest.json")],
      want: ["step-3/manifest.json"],
    },
    {
      name: "a manifest written again (new ETag)",
      listed: [obj("step-2/manifest.json", "new")],
      want: ["step-2/manifest.json"],
    },
    { name: "a step without manifest needs none", listed: [obj("step-4/.metadata")], want: [] },
    {
      name: "the same ETag but a new time is read again",
      listed: [obj("step-1/manifest.json", "e1", 10, new Date(T0.getTime() + 1))],
      want: ["step-1/manifest.json"],
    },
  ];
  for (const r of rows)
    it(r.name, () =>
      assert.deepEqual(
        manifestsToRead(groupSteps(r.listed), known).map((o) => o.key),
        r.want,
      ),
    );
});

describe("operationLabel", () => {
  const rows: [string, string][] = [
    ["list", "list"],
    ["conditional put", "conditional put"],
    ["upload of part 7", "upload of part"],
    ["stage of block 12 from URL", "stage of block from URL"],
    ["commit of the block list", "commit of the block list"],
  ];
  for (const [operation, label] of rows)
    it(`${operation} -> ${label}`, () => assert.equal(operationLabel(operation), label));
});
