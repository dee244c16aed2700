// Child process started by many-jobs.ts (the memory test, bench/checkpoint
// --jobs): runs one replication pass per job, all at once,
// S3 -> Blob in the sandbox, as the operator does for many jobs in one process,
// while sampling its own memory every few milliseconds. Prints one JSON line:
// the outcomes, the memory before and at its peak, and the copy budget's own
// account when the code has one (the budget is imported dynamically so the
// same child runs against code without one, which is how the test is shown to
// fail there).
//
//   node [--max-old-space-size=N] test/support/replicate-many.ts '{"prefixes":[...],"partSize":...}'

import { replicateCheckpoints } from "../../src/checkpoint/replicate.ts";
import { sandboxStore } from "../integration/checkpoint-support.ts";

interface Spec {
  /** One per job: the job's source is <prefix>/src in S3, its destination <prefix>/dst in Blob. */
  readonly prefixes: readonly string[];
  readonly partSize: number;
}

type Memory = Record<"rss" | "heapUsed" | "heapTotal" | "external" | "arrayBuffers", number>;

const spec = JSON.parse(process.argv[2] ?? "{}") as Spec;
const read = (): Memory => {
  const { rss, heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage();
  return { rss, heapUsed, heapTotal, external, arrayBuffers };
};
const baseline = read();
const peak: Memory = { ...baseline };
const sample = () => {
  const now = read();
  for (const k of Object.keys(peak) as (keyof Memory)[]) peak[k] = Math.max(peak[k], now[k]);
};
const sampler = setInterval(sample, 5);
const budget = await import("../../src/checkpoint/copy-budget.ts").catch(() => undefined);
const started = performance.now();
const reports = await Promise.all(
  spec.prefixes.map((prefix) =>
    replicateCheckpoints({
      source: sandboxStore("s3", `${prefix}/src`),
      destinations: [sandboxStore("azure-blob", `${prefix}/dst`)],
      fence: { activeEpoch: 1 },
      partSize: spec.partSize,
    }),
  ),
);
const seconds = (performance.now() - started) / 1000;
clearInterval(sampler);
sample();
process.stdout.write(
  `${JSON.stringify({
    outcomes: reports.map((r) => r.results.map((s) => `${s.step}:${s.outcome}${s.error ? ` ${s.error.message}` : ""}`)),
    bytesWritten: reports.reduce((n, r) => n + r.bytesWritten, 0),
    seconds,
    baseline,
    peak,
    budget: budget?.processCopyBudget().usage(),
  })}\n`,
);
