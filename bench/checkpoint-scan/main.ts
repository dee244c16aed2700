// bench/checkpoint-scan: the store requests of checkpoint replication for N
// active jobs (default 200) with no new steps, and the time to notice a new
// step. Half the jobs write to the S3 store (versitygw), half to the Blob store
// (Azurite), each replicated to the other; their steps are written by the bench
// through the commit protocol (files, then the manifest), as a trainer does.
//
// Measured twice against the same lines: first the per-job pass the operator
// ran before (every job lists its lines and reads every manifest in both
// stores each interval: replicateCheckpoints with no lister, then a read of
// each store), then the operator's CheckpointSync (one lister per store, jobs
// poked every second as the reconciler would, more often than it does), over
// several intervals with no new step; then new steps committed at random
// moments, timed until the lister notices them and until both stores hold them.
// Requests are counted by crosscloud_store_requests_total.
//
// Uses the sandbox SANDBOX_STATE_DIR / SANDBOX_PORT_BASE name when its stores
// answer, else starts one there and stops it at the end.
//
//   npm run bench:checkpoint-scan [-- --jobs 200 --interval-ms 5000 --intervals 3 --new-steps 10]

import { parseArgs } from "node:util";
import { Registry } from "prom-client";

const { values } = parseArgs({
  options: {
    jobs: { type: "string", default: "200" },
    "interval-ms": { type: "string", default: "5000" },
    intervals: { type: "string", default: "3" },
    "new-steps": { type: "string", default: "10" },
  },
});
const N = Number(values.jobs);
const INTERVAL = Number(values["interval-ms"]);
const INTERVALS = Number(values.intervals);
const NEW_STEPS = Number(values["new-steps"]);
process.env.SANDBOX_STATE_DIR ??= "/tmp/crosscloud-bench-checkpoint-scan";
process.env.SANDBOX_PORT_BASE ??= "30000";

const { up, down } = await import("../../scripts/sandbox/sandbox.ts");
const { openStore, openStoreRoot } = await import("../../src/checkpoint/open-store.ts");
const { replicationMetrics } = await import("../../src/checkpoint/metrics.ts");
const { replicateCheckpoints } = await import("../../src/checkpoint/replicate.ts");
const { readSteps, listAll } = await Promise.all([
  import("../../src/checkpoint/steps.ts"),
  import("../../src/checkpoint/store.ts"),
]).then(([steps, store]) => ({ readSteps: steps.readSteps, listAll: store.listAll }));
const { storeUri } = await import("../../src/checkpoint/uri.ts");
const { CheckpointSync } = await import("../../src/controller/trainingjob/checkpoints.ts");
const { silentLogger } = await import("../../src/runtime/logger.ts");
const { commitLineStep, requestsSince, requestsTo, sandboxStores, storeRequests } = await import(
  "../../test/support/store-lines.ts"
);
type SyncPlan = import("../../src/controller/trainingjob/checkpoints.ts").SyncPlan;
type SandboxStore = import("../../test/support/store-lines.ts").SandboxStore;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const percentile = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? Number.NaN;
const stores = sandboxStores();

async function storesAnswer(): Promise<boolean> {
  try {
    const s = openStore(stores.s3.uri("probe"), { ...stores.s3.options, requestTimeoutMs: 2_000 });
    await listAll(s, "");
    return true;
  } catch {
    return false;
  }
}

/** Runs `fn` over `items`, `n` at a time. */
async function pool<T>(items: readonly T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

const started = !(await storesAnswer());
if (started) await up();
const registry = new Registry();
const metrics = replicationMetrics(registry);
const namespace = `bench-${Date.now().toString(36)}`;
const jobs = Array.from({ length: N }, (_, i) => {
  const [source, destination] = i % 2 === 0 ? [stores.s3, stores.blob] : [stores.blob, stores.s3];
  return { key: `${namespace}/job-${i}`, line: `${namespace}/job-${i}`, source, destination };
});
const target = (s: SandboxStore, line: string) => ({
  cluster: s.kind === "s3" ? "aws-sim" : "azure-sim",
  uri: s.uri(line),
  options: s.options,
});
const plan = (j: (typeof jobs)[number]): SyncPlan => ({
  epoch: 1,
  source: target(j.source, j.line),
  destinations: [target(j.destination, j.line)],
  keep: 2,
  placedAt: new Date(Date.now() - 3_600_000),
});
const roots = [stores.s3.root, stores.blob.root];
const perStore = (sent: Map<string, number>, intervals: number) =>
  roots.map((root) => ({
    root,
    all: requestsTo(sent, root) / intervals,
    list: requestsTo(sent, root, "list") / intervals,
    read: requestsTo(sent, root, "read") / intervals,
  }));

try {
  console.log(`writing 2 steps of ${N} jobs (half in each store)`);
  await pool(jobs, 16, async (j) => {
    await commitLineStep(j.source, j.line, 1);
    await commitLineStep(j.source, j.line, 2);
  });

  // Before: each job's pass on its own, as the operator ran it every interval until this change.
  const counted = new Map(
    [stores.s3, stores.blob].map((s) => [
      s.kind,
      openStoreRoot(storeUri(s.uri("x")), s.options, (op) => metrics.storeRequest(s.root, op)),
    ]),
  );
  const perJobPass = async (j: (typeof jobs)[number]) => {
    const at = (s: SandboxStore) => counted.get(s.kind)?.at(j.line) ?? openStore(s.uri(j.line), s.options);
    const [source, destination] = [at(j.source), at(j.destination)];
    await replicateCheckpoints({
      source,
      destinations: [destination],
      fence: { activeEpoch: 1 },
      keep: 2,
      commitDcp: {},
    });
    for (const s of [source, destination]) await readSteps(s);
  };
  console.log("before: one pass per job (replicating, then again with nothing new)");
  await pool(jobs, 8, perJobPass);
  let mark = await storeRequests(registry);
  const beforeStarted = Date.now();
  await pool(jobs, 8, perJobPass);
  const beforeMs = Date.now() - beforeStarted;
  const before = perStore(requestsSince(mark, await storeRequests(registry)), 1);

  // After: the operator's CheckpointSync, one lister per store.
  const sync = new CheckpointSync({ logger: silentLogger(), metrics, onResult: () => {}, intervalMs: INTERVAL });
  const pokeAll = () => jobs.map((j) => sync.poke(j.key, plan(j)));
  console.log(`after: CheckpointSync, interval ${INTERVAL} ms`);
  const warm = Date.now();
  while (pokeAll().some((r) => r === undefined) && Date.now() - warm < 10 * INTERVAL) await sleep(200);
  await sleep(INTERVAL); // passes that follow their own writes settle
  mark = await storeRequests(registry);
  const idleStarted = Date.now();
  while (Date.now() - idleStarted < INTERVALS * INTERVAL) {
    pokeAll();
    await sleep(1_000);
  }
  const idle = perStore(requestsSince(mark, await storeRequests(registry)), INTERVALS);

  console.log(`committing ${NEW_STEPS} new steps at random moments`);
  const noticed: number[] = [];
  const replicated: number[] = [];
  const chosen = [...jobs].sort(() => Math.random() - 0.5).slice(0, NEW_STEPS);
  await Promise.all(
    chosen.map(async (j, i) => {
      await sleep(Math.random() * 2 * INTERVAL + i * 50);
      const ref = sync.stores.ref(j.source.uri(j.line), j.source.options);
      const version = sync.stores.version(ref);
      await commitLineStep(j.source, j.line, 3);
      const t0 = Date.now();
      let seen = false;
      while (Date.now() - t0 < 5 * INTERVAL) {
        if (!seen && sync.stores.version(ref) !== version) {
          noticed.push(Date.now() - t0);
          seen = true;
        }
        const r = sync.poke(j.key, plan(j));
        if (r?.status.stores.every((s) => s.latestStep === 3)) {
          replicated.push(Date.now() - t0);
          return;
        }
        await sleep(50);
      }
    }),
  );
  sync.stopAll();

  const row = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
  const fmt = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(1));
  const lines = [
    `checkpoint scans, ${N} active jobs (keep 2; half written to each store, replicated to the other), interval ${INTERVAL} ms`,
    "",
    row(["", "store", "requests / store / interval", "of which list", "of which manifest read"]),
    row(["---", "---", "---:", "---:", "---:"]),
    ...before.map((b) => row(["before: a pass per job", b.root, fmt(b.all), fmt(b.list), fmt(b.read)])),
    ...idle.map((a) => row(["after: a lister per store", a.root, fmt(a.all), fmt(a.list), fmt(a.read)])),
    "",
    `(before: one round of ${N} per-job passes with nothing new took ${(beforeMs / 1000).toFixed(1)} s; after: measured over ${INTERVALS} intervals, jobs poked every second)`,
    "",
    row(["new committed step", "n", "p50 ms", "max ms", "interval ms"]),
    row(["---", "---:", "---:", "---:", "---:"]),
    row(["commit -> noticed by the lister", noticed.length, percentile(noticed, 50), Math.max(...noticed), INTERVAL]),
    row(["commit -> in both stores", replicated.length, percentile(replicated, 50), Math.max(...replicated), INTERVAL]),
  ];
  console.log(`\n${lines.join("\n")}`);
  if (noticed.length < NEW_STEPS || replicated.length < NEW_STEPS) process.exitCode = 1;
} finally {
  if (started) await down();
}
