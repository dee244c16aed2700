// Memory per process, not per job: 20 jobs' replication passes run at once
// in one child process capped at a 512 MiB heap, S3 -> Blob in the sandbox,
// with a process-wide copy budget of 16 MiB and 16 copies. Every pass
// completes, every replica verifies, and the buffers the process holds stay
// within the budget plus what the HTTP clients allocate on their own, far
// under the cap. The code before the budget gave each pass its own 8 part
// buffers, so 20 passes held up to 160 at once (measured: 182 MiB of buffers
// for these 20 x 4.3 MiB, against 53 MiB with this budget).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { sha256Hex } from "../../src/checkpoint/hash.ts";
import { stepDir } from "../../src/checkpoint/manifest.ts";
import { readManifest } from "../../src/checkpoint/steps.ts";
import { readAll } from "../../src/checkpoint/store.ts";
import { type ManyJobsReport, removeJobs, replicateManyInChild, seedJobs, type Written } from "../support/many-jobs.ts";
import { uniqueName } from "../support/sandbox.ts";
import { MiB, sandboxStore } from "./checkpoint-support.ts";

const JOBS = 20;
const PART = MiB;
/** Per job one step: files of 3, 2 and 2 parts, and a small one (up to 8 part buffers a pass). */
const SIZES = [2 * PART + 777, PART + 12_345, PART + 1, 300_000];
const BUDGET_MIB = 16;
const HEAP_CAP_MIB = 512;
/**
 * Buffers the S3 and Blob clients allocate beside the part buffers (response
 * chunks, request bodies) stay allocated until V8 collects them, which it
 * schedules once external memory has grown by about 64 MiB.
 */
const CLIENT_SLACK_MIB = 64;

describe(`${JOBS} jobs replicating at once in one process`, () => {
  const prefixes = Array.from({ length: JOBS }, (_, i) => uniqueName(`mem${i}`));
  let written: Map<string, Written>;
  let report: ManyJobsReport;

  before(async () => {
    written = await seedJobs(prefixes, SIZES);
    report = await replicateManyInChild({
      prefixes,
      partSize: PART,
      heapCapMiB: HEAP_CAP_MIB,
      budgetMiB: BUDGET_MIB,
      copies: 16,
    });
    const mib = (n: number | undefined) => ((n ?? 0) / MiB).toFixed(1);
    console.log(
      `[memory] ${JOBS} passes in ${report.seconds.toFixed(1)} s; peak rss ${mib(report.peak.rss)} MiB,` +
        ` heapUsed ${mib(report.peak.heapUsed)}, arrayBuffers ${mib(report.peak.arrayBuffers)}` +
        ` (baseline ${mib(report.baseline.arrayBuffers)}); budget peak ${mib(report.budget?.peakBytes)} MiB,` +
        ` ${report.budget?.peakCopies} copies`,
    );
  });

  // Leave the sandbox's bucket and container as they were: nothing here is needed once checked.
  after(() => removeJobs(prefixes));

  it("every pass commits its step", () => {
    assert.deepEqual(
      report.outcomes,
      prefixes.map(() => ["1:committed"]),
    );
    const total = SIZES.reduce((a, b) => a + b, 0) * JOBS;
    assert.equal(report.bytesWritten, total);
  });

  it("every replica holds the source's bytes", async () => {
    for (const [i, prefix] of prefixes.entries()) {
      const dst = sandboxStore("azure-blob", `${prefix}/dst`);
      const { contents } = written.get(prefix) as Written;
      const manifest = await readManifest(dst, 1);
      assert.ok(manifest, `${prefix}: committed at the destination`);
      for (const f of manifest.files) {
        const body = contents.get(f.path) as Buffer;
        assert.equal(f.sha256, sha256Hex(body), `${prefix}/${f.path}: manifest checksum`);
        const key = `${stepDir(1)}/${f.path}`;
        assert.ok(await dst.holds(key, { size: body.length, sha256: sha256Hex(body) }), `${prefix}/${key} holds it`);
        // Every byte read back for a few of the jobs; the store's own checksums vouch for the rest.
        if (i % 7 === 0) assert.ok((await readAll(dst, key)).equals(body), `${prefix}/${key}: bytes`);
      }
    }
  });

  it(`holds no more part buffers than the budget, far under the ${HEAP_CAP_MIB} MiB cap`, () => {
    const buffers = report.peak.arrayBuffers - report.baseline.arrayBuffers;
    assert.ok(
      buffers <= (BUDGET_MIB + CLIENT_SLACK_MIB) * MiB,
      `buffers peaked at ${(buffers / MiB).toFixed(1)} MiB over the baseline: more than the ${BUDGET_MIB} MiB budget + ${CLIENT_SLACK_MIB} MiB`,
    );
    assert.ok(report.peak.heapUsed + buffers < HEAP_CAP_MIB * MiB, "heap and buffers under the cap");
    assert.ok(report.peak.rss < HEAP_CAP_MIB * MiB, `rss peaked at ${(report.peak.rss / MiB).toFixed(1)} MiB`);
    const budget = report.budget;
    assert.ok(budget, "the process has a copy budget");
    assert.ok(budget.peakBytes <= BUDGET_MIB * MiB, `budget peak ${budget.peakBytes}`);
    assert.ok(budget.peakCopies <= 16, `budget peak copies ${budget.peakCopies}`);
    assert.deepEqual([budget.bytes, budget.copies, budget.waiting], [0, 0, 0], "every lease given back");
  });
});
