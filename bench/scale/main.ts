// bench/scale: the operator holding many TrainingJobs at once. N jobs (default
// 1,000) of one replica, Trainium first and H100 allowed, are created on the
// hub of a sandbox whose workers have N kwok nodes in all (aws-sim trn1 N/2,
// azure-sim ndh100 N/2), so they are placed across both clouds. Measured:
// time until all run, the operator's peak RSS (VmHWM) and CPU seconds, its API
// requests per job, and where its memory goes: a heap snapshot summary by
// constructor (self sizes). With --cpu-profile, where its time goes: a CPU
// profile summary by package and by function (the profiler's samples take
// memory of their own, so measure RSS without it). With --soak-minutes M the jobs are then churned for M minutes
// (suspend, resume, delete and create again, steps committed into the stores)
// while RSS is sampled every 30 s; at the end every job must reach its
// expected phase with no ReconcileError, and RSS growth over the last two
// thirds of the soak is printed, with the V8 heap used at each sample and, from a
// second heap snapshot at the end, what the heap grew by, by constructor.
// Runs its own sandbox (state in /tmp/crosscloud-bench-scale, ports from
// 28000) and stops it at the end.
//
//   npm run bench:scale [-- --jobs 1000 --soak-minutes 0 --churn-per-minute 120
//                           --cpu-profile --max-old-space-mib M --node-options=... --node-flags=... --bare]
// The operator runs as the image runs it (bench/support/image.ts: compiled to dist/ by npm run build, with
// the image's process settings) unless --bare (src/main.ts on Node's type stripping, no settings).

import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    jobs: { type: "string", default: "1000" },
    "soak-minutes": { type: "string", default: "0" },
    "churn-per-minute": { type: "string", default: "120" },
    // V8's old space limit for the operator (--max-old-space-size), as a container's NODE_OPTIONS would set it.
    "max-old-space-mib": { type: "string" },
    // More of the operator's NODE_OPTIONS (V8 and Node flags), for trying settings.
    "node-options": { type: "string", default: "" },
    // More flags on the operator's node command line, as the image's ENTRYPOINT would carry them (any V8
    // flag: NODE_OPTIONS refuses most), space-separated.
    "node-flags": { type: "string", default: "" },
    // Runs the operator without the image's process settings (bench/support/image.ts).
    bare: { type: "boolean", default: false },
    // Runs the operator with --cpu-prof: where the time goes, at the cost of the profiler's own memory
    // (its samples), so the RSS of such a run is not the operator's.
    "cpu-profile": { type: "boolean", default: false },
  },
});
const HEAP_CAP = values["max-old-space-mib"];
const EXTRA_OPTIONS = values["node-options"];
const CPU_PROFILE = values["cpu-profile"];
const BARE = values.bare;
const N = Number(values.jobs);
const SOAK_MIN = Number(values["soak-minutes"]);
const CHURN = Number(values["churn-per-minute"]);
if (!(N >= 2) || !(SOAK_MIN >= 0) || !(CHURN >= 0)) throw new Error("--jobs >= 2, --soak-minutes >= 0");
process.env.SANDBOX_STATE_DIR ??= "/tmp/crosscloud-bench-scale";
process.env.SANDBOX_PORT_BASE ??= "28000";
process.env.SANDBOX_NODES = `aws-sim/trn1=${Math.ceil(N / 2)},azure-sim/ndh100=${Math.ceil(N / 2)}`;
const PROFILES = join(process.env.SANDBOX_STATE_DIR, "profiles");

const { up, down } = await import("../../scripts/sandbox/sandbox.ts");
const { prepareHub, startOperator, waitClustersReady } = await import("../../test/support/operator.ts");
const { TrainingJobs } = await import("../../test/support/trainingjobs.ts");
const { aTrainingJob } = await import("../../test/support/trainingjob.ts");
const { trainStep } = await import("../../test/support/failover.ts");
const { requestsBetween, scrapeRequests, total } = await import("../support/requests.ts");
const { cpuByFunction, heapByType, shareTable } = await import("../support/profile.ts");
const { IMAGE_ENV, IMAGE_NODE_FLAGS, buildImageScript } = await import("../support/image.ts");
// MALLOC_* variables of the bench's environment reach the operator (startOperator passes the environment on).
const MALLOC_ENV = Object.entries(process.env).filter(([k]) => k.startsWith("MALLOC_"));
const { cpuSeconds, procStatusMiB } = await import("../support/proc.ts");
type TrainingJob = import("../../src/api/trainingjob.ts").TrainingJob;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MiB = 1024 * 1024;

function job(name: string): TrainingJob {
  return aTrainingJob(name)
    .replicas(1)
    .accelerator("trainium1", 16)
    .accelerator("nvidia-h100", 8)
    .with((j) => {
      j.spec.template.metadata = { annotations: { "sandbox.crosscloud.dev/run-for": "24h" } };
    })
    .obj();
}

/** Creates in batches of 20, as a client applying many manifests would. */
async function createAll(tjs: InstanceType<typeof TrainingJobs>, names: readonly string[]): Promise<void> {
  for (let i = 0; i < names.length; i += 20) {
    await Promise.all(names.slice(i, i + 20).map((n) => tjs.create(job(n))));
  }
}

/** Polls the namespace until `done` holds for the list (or the timeout), returning it. */
async function until(
  tjs: InstanceType<typeof TrainingJobs>,
  what: string,
  done: (jobs: TrainingJob[]) => boolean,
  timeoutMs: number,
): Promise<TrainingJob[]> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const jobs = await tjs.list();
    if (done(jobs)) return jobs;
    if (Date.now() > end) {
      const phases = new Map<string, number>();
      for (const j of jobs) phases.set(j.status?.phase ?? "-", (phases.get(j.status?.phase ?? "-") ?? 0) + 1);
      throw new Error(`${what}: not within ${timeoutMs / 1000} s; phases ${JSON.stringify([...phases])}`);
    }
    await sleep(2_000);
  }
}

const running = (n: number) => (jobs: TrainingJob[]) =>
  jobs.length === n && jobs.every((j) => j.status?.phase === "Running");

/** The process's own memory figures from its /metrics (prom-client's defaults), 30 s after all ran. */
async function processMemory(port: number): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const read = (metric: string) =>
    Number(new RegExp(`^${metric}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text)?.[1] ?? Number.NaN);
  return new Map([
    ["V8 heap size, reserved", read("nodejs_heap_size_total_bytes")],
    ["V8 heap used", read("nodejs_heap_size_used_bytes")],
    ["external (Buffers, native)", read("nodejs_external_memory_bytes")],
  ]);
}

/** The newest file in `dir` whose name matches, once its size stops changing. */
async function settledFile(dir: string, pattern: RegExp, timeoutMs: number): Promise<string> {
  const end = Date.now() + timeoutMs;
  let last = -1;
  for (;;) {
    const files = existsSync(dir) ? readdirSync(dir).filter((f) => pattern.test(f)) : [];
    const newest = files.map((f) => join(dir, f)).sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
    if (newest) {
      const size = statSync(newest).size;
      if (size > 0 && size === last) return newest;
      last = size;
    }
    if (Date.now() > end) throw new Error(`no ${pattern} in ${dir} within ${timeoutMs / 1000} s`);
    await sleep(1_000);
  }
}

/** One churn action on a random job: suspend, resume, replace (delete and create anew) or a committed step. */
async function churnOnce(tjs: InstanceType<typeof TrainingJobs>, names: string[], next: () => string): Promise<void> {
  const i = Math.floor(Math.random() * names.length);
  const name = names[i] ?? "";
  const j = await tjs.get(name).catch(() => undefined);
  if (!j) return;
  const action = Math.random();
  if (j.spec.suspend) {
    await tjs.patch(name, { spec: { suspend: false } });
  } else if (action < 0.25) {
    await tjs.patch(name, { spec: { suspend: true } });
  } else if (action < 0.5) {
    await tjs.delete(name);
    const fresh = next();
    names[i] = fresh;
    await tjs.create(job(fresh));
  } else if (j.status?.phase === "Running" && j.status.placement?.cluster) {
    const cluster = j.status.placement.cluster as "aws-sim" | "azure-sim";
    const step = (j.status.checkpoint?.latestStep ?? 0) + 10;
    await trainStep(cluster, `${tjs.namespace}/${name}`, step, j.status.epoch ?? 1);
  }
}

rmSync(PROFILES, { recursive: true, force: true });
mkdirSync(PROFILES, { recursive: true });
const t0 = performance.now();
await up();
console.error(`[bench] sandbox with ${N} kwok nodes up in ${((performance.now() - t0) / 1000).toFixed(1)}s`);
try {
  await prepareHub();
  const port = 28081;
  const nodeFlags = [...(BARE ? [] : IMAGE_NODE_FLAGS), ...values["node-flags"].split(" ").filter(Boolean)];
  const operatorOptions = [
    `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${PROFILES}`,
    CPU_PROFILE ? "--cpu-prof" : "",
    HEAP_CAP ? `--max-old-space-size=${HEAP_CAP}` : "",
    EXTRA_OPTIONS,
  ]
    .filter(Boolean)
    .join(" ");
  const operator = startOperator(
    "bench-scale",
    {
      LEADER_ELECTION: "false",
      HEALTH_PORT: String(port),
      LOG_LEVEL: "warn",
      WORKERS: "16",
      NODE_OPTIONS: operatorOptions,
      ...(BARE ? {} : IMAGE_ENV),
    },
    BARE ? undefined : buildImageScript(),
    nodeFlags,
  );
  const pid = operator.child.pid ?? 0;
  await waitClustersReady();
  const tjs = new TrainingJobs("bench-scale");
  await tjs.createNamespace();
  const names = Array.from({ length: N }, (_, i) => `scale-${i}`);
  const req0 = await scrapeRequests(port);
  const cpu0 = cpuSeconds(pid);
  const started = performance.now();
  await createAll(tjs, names);
  const jobs = await until(tjs, `${N} jobs Running`, running(N), 30 * 60_000);
  const toRunning = (performance.now() - started) / 1000;
  const requests = requestsBetween(req0, await scrapeRequests(port));
  const byCluster = new Map<string, number>();
  for (const j of jobs) {
    const c = j.status?.placement?.cluster ?? "-";
    byCluster.set(c, (byCluster.get(c) ?? 0) + 1);
  }
  await sleep(30_000); // a steady state: replication passes, heartbeats
  const settledRss = procStatusMiB(pid, "VmRSS");
  // What the RSS is: anonymous memory (V8's heap, malloc) and mapped files (node's own code, libraries).
  const rssParts = (["RssAnon", "RssFile"] as const).map((k) => [k, procStatusMiB(pid, k)] as const);
  const peakRss = procStatusMiB(pid, "VmHWM"); // before the snapshot, which takes memory of its own
  const cpu = cpuSeconds(pid) - cpu0;
  const memory = await processMemory(port);
  operator.child.kill("SIGUSR2");
  const heap = heapByType(await settledFile(PROFILES, /\.heapsnapshot$/, 300_000));

  console.log(
    `\n${N} TrainingJobs of 1 replica on ${N} kwok nodes (${JSON.stringify([...byCluster])}); operator flags: ${nodeFlags.join(" ") || "none"}, NODE_OPTIONS: ${operatorOptions}${
      BARE
        ? ""
        : `, ${Object.entries(IMAGE_ENV)
            .map(([k, v]) => `${k}=${v}`)
            .join(" ")}`
    }${MALLOC_ENV.map(([k, v]) => `, ${k}=${v}`).join("")}\n`,
  );
  console.log("| measure | value |\n| --- | ---: |");
  console.log(`| create to all Running (s) | ${toRunning.toFixed(1)} |`);
  console.log(`| operator CPU (s) | ${cpu.toFixed(1)} |`);
  console.log(`| operator peak RSS (MiB) | ${peakRss.toFixed(0)} |`);
  console.log(`| operator RSS 30 s after (MiB) | ${settledRss.toFixed(0)} |`);
  for (const [k, mib] of rssParts) console.log(`| of which ${k} (MiB) | ${mib.toFixed(0)} |`);
  console.log(`| V8 heap in the snapshot (MiB) | ${(heap.total / MiB).toFixed(1)} |`);
  for (const [what, bytes] of memory) console.log(`| ${what} (MiB) | ${(bytes / MiB).toFixed(1)} |`);
  console.log(`| API requests per job | ${(total(requests) / N).toFixed(2)} |`);
  console.log("\nHeap by constructor (self size, MiB):\n");
  console.log(
    shareTable(
      ["constructor or kind", "MiB"],
      heap.shares.map((s) => ({ ...s, amount: s.amount / MiB })),
      heap.total / MiB,
      15,
    ),
  );

  if (SOAK_MIN > 0) {
    let counter = N;
    const samples: { minute: number; rssMiB: number; heapUsedMiB: number }[] = [];
    const soakStart = Date.now();
    const interval = CHURN > 0 ? 60_000 / CHURN : Number.POSITIVE_INFINITY;
    let nextSample = soakStart;
    let errors = 0;
    while (Date.now() - soakStart < SOAK_MIN * 60_000) {
      if (Date.now() >= nextSample) {
        const heapUsed = (await processMemory(port)).get("V8 heap used") ?? Number.NaN;
        samples.push({
          minute: (Date.now() - soakStart) / 60_000,
          rssMiB: procStatusMiB(pid, "VmRSS"),
          heapUsedMiB: heapUsed / MiB,
        });
        nextSample += 30_000;
      }
      await churnOnce(tjs, names, () => `scale-${counter++}`).catch(() => {
        errors += 1;
      });
      await sleep(Math.min(interval, 30_000));
    }
    // Back to a steady state: every job resumed and Running, no ReconcileError anywhere.
    for (const name of names) await tjs.patch(name, { spec: { suspend: false } }).catch(() => {});
    const end = await until(tjs, "every job Running after the soak", running(names.length), 10 * 60_000);
    const failing = end.filter((j) => j.status?.conditions?.some((c) => c.type === "ReconcileError"));
    const tail = samples.filter((s) => s.minute >= SOAK_MIN / 3);
    const lo = Math.min(...tail.map((s) => s.rssMiB));
    const hi = Math.max(...tail.map((s) => s.rssMiB));
    console.log(`\nSoak: ${SOAK_MIN} min, ${CHURN} actions a minute, ${counter - N} jobs replaced\n`);
    console.log("| minute | RSS (MiB) | V8 heap used (MiB) |\n| ---: | ---: | ---: |");
    for (const s of samples)
      console.log(`| ${s.minute.toFixed(1)} | ${s.rssMiB.toFixed(0)} | ${s.heapUsedMiB.toFixed(1)} |`);
    console.log(
      `\nRSS over the last two thirds: ${lo.toFixed(0)}-${hi.toFixed(0)} MiB (${((100 * (hi - lo)) / lo).toFixed(1)} % above its low); jobs with ReconcileError at the end: ${failing.length}; churn requests that failed: ${errors}; all ${end.length} Running.`,
    );
    // What the heap holds now that it did not before the soak: a second snapshot, by constructor.
    const before = readdirSync(PROFILES).filter((f) => f.endsWith(".heapsnapshot")).length;
    operator.child.kill("SIGUSR2");
    await until(
      tjs,
      "the second heap snapshot",
      () => readdirSync(PROFILES).filter((f) => f.endsWith(".heapsnapshot")).length > before,
      300_000,
    );
    const after = heapByType(await settledFile(PROFILES, /\.heapsnapshot$/, 300_000));
    const was = new Map(heap.shares.map((x) => [x.what, x]));
    const growth = after.shares
      .map((x) => ({
        what: x.what,
        mib: (x.amount - (was.get(x.what)?.amount ?? 0)) / MiB,
        count: (x.count ?? 0) - (was.get(x.what)?.count ?? 0),
      }))
      .sort((a, b) => b.mib - a.mib)
      .slice(0, 12);
    console.log(
      `\nHeap after the soak: ${(after.total / MiB).toFixed(1)} MiB (before: ${(heap.total / MiB).toFixed(1)}). Grown most, by constructor:\n`,
    );
    console.log("| constructor or kind | MiB | objects |\n| --- | ---: | ---: |");
    for (const g of growth)
      console.log(`| ${g.what} | ${g.mib >= 0 ? "+" : ""}${g.mib.toFixed(1)} | ${g.count >= 0 ? "+" : ""}${g.count} |`);
  }

  await operator.stop();
  if (CPU_PROFILE) {
    const cpuProfile = cpuByFunction(await settledFile(PROFILES, /\.cpuprofile$/, 120_000));
    console.log(`\nCPU by package or file (self time, s of ${(cpuProfile.totalMs / 1000).toFixed(1)}):\n`);
    console.log(
      shareTable(
        ["package or file", "s"],
        cpuProfile.owners.map((s) => ({ ...s, amount: s.amount / 1000 })),
        cpuProfile.totalMs / 1000,
      ),
    );
    console.log("\nCPU by function (self time, s):\n");
    console.log(
      shareTable(
        ["function", "s"],
        cpuProfile.functions.map((s) => ({ ...s, amount: s.amount / 1000 })),
        cpuProfile.totalMs / 1000,
      ),
    );
  }
} finally {
  await down();
}
process.exit(0);
