// The checkpoint manifest of API.md: what parses, what is refused and with
// which message naming the field, and how a copy is compared to its origin.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  checkPath,
  type Manifest,
  manifestKey,
  parseManifest,
  parseStepDir,
  sameCommit,
  serializeManifest,
} from "../../src/checkpoint/manifest.ts";

const SHA = "a".repeat(64);
const good = {
  step: 1200,
  epoch: 2,
  createdAt: "2026-11-27T10:00:00Z",
  files: [
    { path: "__0_0.distcp", size: 10, sha256: SHA },
    { path: "model/.metadata", size: 0 },
  ],
};

describe("parseManifest", () => {
  it("accepts the API.md format, with and without checksums", () => {
    const r = parseManifest(JSON.stringify(good), 1200);
    assert.ok(r.ok);
    assert.deepEqual(r.manifest, good);
  });

  it("ignores fields it does not know (forward compatible)", () => {
    const r = parseManifest(JSON.stringify({ ...good, writer: "torch 2.9" }));
    assert.ok(r.ok);
    assert.equal("writer" in r.manifest, false);
  });

  const refused: { name: string; text: string; expectedStep?: number; issue: RegExp }[] = [
    { name: "not JSON", text: "{", issue: /^not JSON/ },
    { name: "an array", text: "[]", issue: /must be a JSON object/ },
    {
      name: "negative step",
      text: JSON.stringify({ ...good, step: -1 }),
      issue: /^step: must be an integer >= 0, got -1/,
    },
    { name: "fractional step", text: JSON.stringify({ ...good, step: 1.5 }), issue: /^step: must be an integer/ },
    {
      name: "step of another dir",
      text: JSON.stringify(good),
      expectedStep: 1300,
      issue: /^step: is 1200 but the manifest is in step-1300\//,
    },
    { name: "epoch 0", text: JSON.stringify({ ...good, epoch: 0 }), issue: /^epoch: must be an integer >= 1, got 0/ },
    { name: "epoch missing", text: JSON.stringify({ ...good, epoch: undefined }), issue: /^epoch: .* got nothing/ },
    {
      name: "createdAt not ISO",
      text: JSON.stringify({ ...good, createdAt: "yesterday" }),
      issue: /^createdAt: must be an ISO 8601/,
    },
    {
      name: "createdAt without zone",
      text: JSON.stringify({ ...good, createdAt: "2026-11-27T10:00:00" }),
      issue: /^createdAt/,
    },
    { name: "files not an array", text: JSON.stringify({ ...good, files: {} }), issue: /^files: must be an array/ },
    {
      name: "absolute path",
      text: JSON.stringify({ ...good, files: [{ path: "/etc/x", size: 1 }] }),
      issue: /^files\[0\]\.path: .* relative/,
    },
    {
      name: "dot-dot path",
      text: JSON.stringify({ ...good, files: [{ path: "a/../b", size: 1 }] }),
      issue: /^files\[0\]\.path: .*"\.\."/,
    },
    {
      name: "the manifest itself",
      text: JSON.stringify({ ...good, files: [{ path: "manifest.json", size: 1 }] }),
      issue: /is the manifest itself/,
    },
    {
      name: "the reserved dir",
      text: JSON.stringify({ ...good, files: [{ path: ".crosscloud/x", size: 1 }] }),
      issue: /reserved/,
    },
    {
      name: "a path twice",
      text: JSON.stringify({
        ...good,
        files: [
          { path: "a", size: 1 },
          { path: "a", size: 2 },
        ],
      }),
      issue: /^files\[1\]\.path: "a" is listed twice/,
    },
    {
      name: "negative size",
      text: JSON.stringify({ ...good, files: [{ path: "a", size: -3 }] }),
      issue: /^files\[0\]\.size: .* got -3/,
    },
    {
      name: "size as string",
      text: JSON.stringify({ ...good, files: [{ path: "a", size: "3" }] }),
      issue: /^files\[0\]\.size/,
    },
    {
      name: "uppercase checksum",
      text: JSON.stringify({ ...good, files: [{ path: "a", size: 1, sha256: "A".repeat(64) }] }),
      issue: /^files\[0\]\.sha256: must be 64 lowercase hex/,
    },
    {
      name: "short checksum",
      text: JSON.stringify({ ...good, files: [{ path: "a", size: 1, sha256: "ab" }] }),
      issue: /^files\[0\]\.sha256/,
    },
  ];
  for (const c of refused) {
    it(`refuses ${c.name}, naming the field`, () => {
      const r = parseManifest(c.text, c.expectedStep);
      assert.equal(r.ok, false);
      if (r.ok) return;
      assert.ok(
        r.issues.some((i) => c.issue.test(i)),
        `issues ${JSON.stringify(r.issues)} do not match ${c.issue}`,
      );
    });
  }

  it("reports every issue at once", () => {
    const r = parseManifest(JSON.stringify({ step: "x", epoch: 0, createdAt: 1, files: [{ path: "", size: -1 }] }));
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.issues.length, 5);
  });
});

describe("serializeManifest", () => {
  it("round-trips through parseManifest, files sorted by path", () => {
    const m: Manifest = { ...good, files: [...good.files].reverse() };
    const r = parseManifest(serializeManifest(m), 1200);
    assert.ok(r.ok);
    assert.deepEqual(
      r.manifest.files.map((f) => f.path),
      ["__0_0.distcp", "model/.metadata"],
    );
  });
});

describe("step directories", () => {
  const cases: [string, number | undefined][] = [
    ["step-0", 0],
    ["step-12000", 12000],
    ["step-012", undefined],
    ["step-", undefined],
    ["step-1a", undefined],
    ["checkpoint-100", undefined],
    ["step-99999999999999999999", undefined],
  ];
  for (const [name, step] of cases) {
    it(`${name} -> ${step}`, () => assert.equal(parseStepDir(name), step));
  }
  it("puts the manifest in step-N/", () => assert.equal(manifestKey(7), "step-7/manifest.json"));
  it("accepts nested relative paths", () => assert.equal(checkPath("model/optim/__3_0.distcp"), undefined));
});

describe("sameCommit", () => {
  const origin: Manifest = {
    ...good,
    files: [
      { path: "a", size: 1 },
      { path: "b", size: 2, sha256: SHA },
    ],
  };
  const copy: Manifest = {
    ...origin,
    files: [
      { path: "a", size: 1, sha256: "b".repeat(64) },
      { path: "b", size: 2, sha256: SHA },
    ],
  };
  const cases: { name: string; copy: Manifest; same: boolean }[] = [
    { name: "the copy adds checksums the origin lacked", copy, same: true },
    { name: "another epoch", copy: { ...copy, epoch: 3 }, same: false },
    { name: "another commit time", copy: { ...copy, createdAt: "2026-11-27T11:00:00Z" }, same: false },
    { name: "a size differs", copy: { ...copy, files: [{ path: "a", size: 9 }, copy.files[1] as never] }, same: false },
    {
      name: "a checksum differs",
      copy: { ...copy, files: [copy.files[0] as never, { path: "b", size: 2, sha256: "c".repeat(64) }] },
      same: false,
    },
    { name: "a file missing", copy: { ...copy, files: [copy.files[0] as never] }, same: false },
  ];
  for (const c of cases) it(c.name, () => assert.equal(sameCommit(origin, c.copy), c.same));
});
