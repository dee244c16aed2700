// bench/checkpoint/jobs.ts: memory of many jobs replicating at once in one
// process. Seeds one committed step per job in the sandbox's S3 server, then
// for each budget replicates every job to Blob at once in a child process
// capped at --heap-mib (test/support/replicate-many.ts), and prints a table of
// peak RSS, heap and buffers with the time taken. --old <checkout> runs the same
// child against another checkout's src/ first (the code before the budget).
// Results are recorded in docs/benchmarks.md ("Memory: many jobs replicating at once").
//
//   SANDBOX_STATE_DIR=... SANDBOX_PORT_BASE=... node bench/checkpoint/jobs.ts \
//     [--jobs 20 --part-mib 4 --budgets 256,64 --copies 16 --heap-mib 512 --old /path/to/checkout]

import { parseArgs } from "node:util";
import { sandboxStore } from "../../test/integration/checkpoint-support.ts";
import { type ManyJobsReport, removeJobs, replicateManyInChild, seedJobs } from "../../test/support/many-jobs.ts";

const MiB = 2 ** 20;
const { values } = parseArgs({
  options: {
    jobs: { type: "string", default: "20" },
    "part-mib": { type: "string", default: "4" },
    budgets: { type: "string", default: "256,64" },
    copies: { type: "string", default: "16" },
    "heap-mib": { type: "string", default: "512" },
    old: { type: "string" },
  },
});
const part = Number(values["part-mib"]) * MiB;
const sizes = [2 * part + 777, part + 12_345, part + 1, 300_000];
const stamp = Date.now().toString(36);
const prefixes = Array.from({ length: Number(values.jobs) }, (_, i) => `bench-jobs-${stamp}-${i}`);
const log = (msg: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

/** Empties every job's destination, so each run copies everything. */
async function clearDestinations(): Promise<void> {
  await Promise.all(
    prefixes.map(async (p) => {
      const dst = sandboxStore("azure-blob", `${p}/dst`);
      for await (const o of dst.list("")) await dst.delete(o.key);
    }),
  );
}

const runs: { label: string; report: ManyJobsReport }[] = [];
const perJob = sizes.reduce((a, b) => a + b, 0);
log(`seeding ${prefixes.length} jobs of ${(perJob / MiB).toFixed(1)} MiB (parts of ${values["part-mib"]} MiB)`);
await seedJobs(prefixes, sizes);
try {
  const configs: { label: string; root?: string; budgetMiB?: number }[] = [
    ...(values.old ? [{ label: "before the budget", root: values.old }] : []),
    ...values.budgets.split(",").map((b) => ({ label: `budget ${b} MiB`, budgetMiB: Number(b) })),
  ];
  for (const c of configs) {
    await clearDestinations();
    log(`running: ${c.label}`);
    const report = await replicateManyInChild({
      prefixes,
      partSize: part,
      heapCapMiB: Number(values["heap-mib"]),
      copies: Number(values.copies),
      ...(c.budgetMiB !== undefined ? { budgetMiB: c.budgetMiB } : {}),
      ...(c.root ? { root: c.root } : {}),
    });
    const failed = report.outcomes.flat().filter((o) => !o.endsWith("committed"));
    if (failed.length > 0) throw new Error(`${c.label}: ${failed.join("; ")}`);
    runs.push({ label: c.label, report });
  }
} finally {
  await removeJobs(prefixes);
}

const mib = (n: number) => (n / MiB).toFixed(0);
console.log(
  `| ${values.jobs} jobs x ${(perJob / MiB).toFixed(1)} MiB | seconds | peak RSS MiB (start) | peak heap used MiB | peak buffers MiB | budget peak MiB / copies |`,
);
console.log("|---|---|---|---|---|---|");
for (const { label, report: r } of runs) {
  const budget = r.budget ? `${mib(r.budget.peakBytes)} / ${r.budget.peakCopies}` : "none";
  console.log(
    `| ${label} | ${r.seconds.toFixed(1)} | ${mib(r.peak.rss)} (${mib(r.baseline.rss)}) | ${mib(r.peak.heapUsed)} | ${mib(r.peak.arrayBuffers)} | ${budget} |`,
  );
}
