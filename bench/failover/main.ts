// bench/failover: how long a TrainingJob takes to run again on another
// cluster after the one it runs on is lost, measured against the running
// sandbox through the operator process (as users run it). Scenarios:
//   partition-<N>s      a job on aws-sim/trn1 (Trainium first, H100 allowed),
//                       clusterLostTimeout N s; aws-sim's API server is paused
//                       (scripts/sandbox/faults.ts partition) until the job runs
//                       on azure-sim at epoch 2, then healed.
//   spot-eviction-<N>s  a Spot job (capacityType Any, LowestCost, H100) on
//                       azure-sim/ndh100spot, unschedulableTimeout N s; the whole
//                       spot pool is evicted (faults.ts evict) until the job runs
//                       elsewhere at epoch 2, then the pool is scaled back
//                       through the ARM API, as test/integration/sandbox-faults
//                       does.
// Each round: a fresh job on the cluster to be lost; a step written to its
// store (the trainer is simulated, test/support/failover.ts trainStep) and
// replicated (the other cluster's store shows it in status.checkpoint.stores);
// the fault; the wait for status.epoch 2 Running; then the record's runningAt
// minus the fault's time minus the timeout, and its lostWorkSeconds; restore;
// delete the job. Prints a markdown table and the defaults of Kueue
// MultiKueue and Karmada for comparison.
//
//   SANDBOX_STATE_DIR=... SANDBOX_PORT_BASE=... npm run bench:failover \
//     [-- --rounds 5 --scenarios partition-20s,partition-60s,spot-eviction-20s]
//   (or ROUNDS=... SCENARIOS=... in the environment; flags win)
//
// Needs the sandbox up (npm run sandbox:up, same SANDBOX_* env): it does not
// start one, and says so when none runs. It starts its own operator process
// (no leader election; the operator's defaults, e.g. a 10 s heartbeat, unless
// HEARTBEAT_MS and the like are set in the environment), so no other operator
// may be running against the same sandbox.
//
// Spot price: the built-in catalog has no spot price for
// Standard_ND96isr_H100_v5, so a spot node costs its on-demand price (98.32)
// and LowestCost would put an H100 job on aws-sim/p5 (55.04), not on the spot
// pool. The operator is given a CATALOG_FILE with a spot price below p5's
// (SPOT_PRICE below), as a real AKS spot pool would be priced.

import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { evict, heal, partition } from "../../scripts/sandbox/faults.ts";
import { STATE_DIR } from "../../scripts/sandbox/paths.ts";
import { Processes } from "../../scripts/sandbox/processes.ts";
import { kubeConfigFor, kubeconfigPath } from "../../scripts/sandbox/sandbox.ts";
import { defaultTopology } from "../../scripts/sandbox/topology.ts";
import type { TrainingJob, TrainingJobStatus } from "../../src/api/trainingjob.ts";
import { scaleAzurePool, simGroup } from "../../test/support/cloudsim.ts";
import { getCluster, movedAndRunning, podsOf, trainStep, waitReachable } from "../../test/support/failover.ts";
import { type OperatorProcess, prepareHub, startOperator, waitClustersReady } from "../../test/support/operator.ts";
import { eventually } from "../../test/support/sandbox.ts";
import { aTrainingJob } from "../../test/support/trainingjob.ts";
import { TrainingJobs, workloadOf } from "../../test/support/trainingjobs.ts";

type Worker = "aws-sim" | "azure-sim";
type FailoverRecord = NonNullable<TrainingJobStatus["failovers"]>[number];

// ---------------------------------------------------------------------------
// The defaults of the systems users would otherwise use (checked 2026-11-30):
//
// Kueue MultiKueue: workerLostTimeout defaults to 15 minutes.
//   kubernetes-sigs/kueue apis/config/v1beta2/defaults.go (and v1beta1):
//     DefaultMultiKueueWorkerLostTimeout = 15 * time.Minute
//   apis/config/v1beta2/configuration_types.go: "WorkerLostTimeout defines the
//   time a local workload's multikueue admission check state is kept Ready if
//   the connection with its reserving worker cluster is lost. Defaults to 15
//   minutes." (also site/content/en/docs/reference/kueue-config.v1beta2.md).
//   Only after it does the workload go back to the queue to be dispatched again.
//
// Karmada: cluster-monitor-grace-period defaults to 40 s
//   (karmada-io/karmada cmd/controller-manager/app/options/options.go,
//   "Specifies the grace period of allowing a running cluster to be
//   unresponsive before marking it unhealthy. (default 40s)"), and through
//   v1.13 karmada-webhook added to every PropagationPolicy a toleration of the
//   not-ready/unreachable NoExecute cluster taints of 300 s
//   (v1.13.0 cmd/webhook/app/options/options.go:
//   --default-not-ready-toleration-seconds / --default-unreachable-toleration-seconds, 300):
//   40 s + 300 s before a lost cluster's workloads were evicted. Caveats, from
//   the same repository: the Failover feature gate is off by default since
//   v1.12 (pkg/features/features.go; CHANGELOG-1.12 "#5899"); v1.14 stopped
//   tainting unhealthy clusters NoExecute by itself (ClusterTaintPolicy,
//   --enable-no-execute-taint-eviction off by default) and deprecated those two
//   webhook flags, which v1.15 removed (CHANGELOG-1.14/1.15, #6373, #6444).
//   So today's Karmada does not fail over a lost cluster by default at all;
//   40 s + 300 s is what an older release with the Failover gate on did.
// ---------------------------------------------------------------------------
const KUEUE_WORKER_LOST_S = 15 * 60;
const KARMADA_GRACE_S = 40;
const KARMADA_TOLERATION_S = 300;

/** A spot price for Standard_ND96isr_H100_v5 below p5.48xlarge's 55.04 (see the header). */
const SPOT_PRICE = "39.33";
const SPOT_POOL = "ndh100spot";
const RUN_FOR = "3600s"; // the simulated pods keep running through a round

// ------------------------------------------------------------------ options

const { values } = parseArgs({
  options: { rounds: { type: "string" }, scenarios: { type: "string" } },
});
const ROUNDS = Number(values.rounds ?? process.env.ROUNDS ?? "5");
const SCENARIO_NAMES = (values.scenarios ?? process.env.SCENARIOS ?? "partition-20s,partition-60s,spot-eviction-20s")
  .split(",")
  .map((s) => s.trim())
  .filter(Boolean);

interface Scenario {
  readonly name: string;
  readonly kind: "partition" | "spot";
  readonly timeoutS: number;
  /** Where the job starts: the cluster and node group the fault takes away. */
  readonly source: { readonly cluster: Worker; readonly group: string };
  /** The cluster whose store must hold the step before the fault. */
  readonly other: Worker;
}

function scenario(name: string): Scenario {
  const p = /^partition-(\d+)s$/.exec(name);
  if (p) {
    return {
      name,
      kind: "partition",
      timeoutS: Number(p[1]),
      source: { cluster: "aws-sim", group: "trn1" },
      other: "azure-sim",
    };
  }
  const s = /^spot-eviction(?:-(\d+)s)?$/.exec(name);
  if (s) {
    return {
      name,
      kind: "spot",
      timeoutS: Number(s[1] ?? 20),
      source: { cluster: "azure-sim", group: SPOT_POOL },
      other: "aws-sim",
    };
  }
  throw new Error(`unknown scenario "${name}": use partition-<N>s or spot-eviction-<N>s (e.g. partition-20s)`);
}

let scenarios: Scenario[];
try {
  if (!Number.isInteger(ROUNDS) || ROUNDS < 1) throw new Error(`rounds must be a whole number >= 1, not "${ROUNDS}"`);
  scenarios = SCENARIO_NAMES.map(scenario);
  if (scenarios.length === 0) throw new Error("no scenarios given");
} catch (err) {
  console.error(`bench:failover: ${(err as Error).message}`);
  process.exit(2);
}

const log = (msg: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const seconds = (ms: number) => ms / 1000;
const percentile = (xs: readonly number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? Number.NaN;

/** Runs a sandbox fault command with its report on stderr, so stdout holds only the table. */
async function quietly<T>(fn: () => Promise<T>): Promise<T> {
  const original = console.log;
  console.log = (...args: unknown[]) => process.stderr.write(`  ${args.map(String).join(" ")}\n`);
  try {
    return await fn();
  } finally {
    console.log = original;
  }
}

// ------------------------------------------------------- the sandbox is up

/** GET /version on the hub, with the sandbox's kubeconfig: true when it answers within 5 s. */
async function hubAnswers(): Promise<boolean> {
  const hub = defaultTopology().clusters.find((c) => c.name === "hub");
  const options: Parameters<typeof request>[1] = { agent: false, timeout: 5_000 };
  await kubeConfigFor("hub").applyToHTTPSOptions(options);
  return new Promise((resolve) => {
    const req = request(`https://127.0.0.1:${hub?.apiPort}/version`, options, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", () => resolve(false));
    req.end();
  });
}

/** Exits 2, saying how to start the sandbox, unless the sandbox runs whole and unfaulted. */
async function assertSandboxUp(): Promise<void> {
  const env = `SANDBOX_STATE_DIR=${STATE_DIR} SANDBOX_PORT_BASE=${process.env.SANDBOX_PORT_BASE ?? "17000"}`;
  const fail = (why: string): never => {
    console.error(
      `bench:failover needs a running sandbox, and ${why}.\n` +
        `Start one:  ${env} npm run sandbox:up\n` +
        `then run:   ${env} npm run bench:failover\n` +
        `and stop it afterwards:  ${env} npm run sandbox:down`,
    );
    process.exit(2);
  };
  const alive = new Processes(STATE_DIR).alive();
  if (alive.length === 0) fail(`nothing of one runs from ${STATE_DIR}`);
  const names = new Set(alive.map((r) => r.name));
  const needed = [
    "etcd",
    "s3",
    "azurite",
    "cloudsim",
    ...["hub", "aws-sim", "azure-sim"].map((c) => `${c}-kube-apiserver`),
    ...["aws-sim", "azure-sim"].flatMap((c) => [`${c}-kube-controller-manager`, `${c}-kube-scheduler`, `${c}-kwok`]),
  ];
  const missing = needed.filter((n) => !names.has(n));
  if (missing.length > 0) fail(`the one in ${STATE_DIR} is missing ${missing.join(", ")} (restart it)`);
  const paused = alive.filter((r) => r.pausedAt).map((r) => r.name.replace(/-kube-apiserver$/, ""));
  if (paused.length > 0) {
    fail(`${paused.join(", ")} is partitioned (an earlier run?); heal it first: npm run sandbox:heal -- ${paused[0]}`);
  }
  try {
    if (!existsSync(kubeconfigPath("hub"))) fail(`${kubeconfigPath("hub")} is missing`);
    if (!(await hubAnswers())) fail(`its hub (port ${process.env.SANDBOX_PORT_BASE ?? 17000} + 443) does not answer`);
  } catch (err) {
    fail(`its hub cannot be reached: ${(err as Error).message}`);
  }
  const spot = await simGroup("azure-sim", SPOT_POOL);
  if (spot.desiredSize !== spotPoolSize()) {
    fail(
      `azure-sim/${SPOT_POOL} has ${spot.desiredSize} nodes, not the sandbox's ${spotPoolSize()} ` +
        "(an eviction left over? restart the sandbox)",
    );
  }
}

function spotPoolSize(): number {
  const azure = defaultTopology().clusters.find((c) => c.name === "azure-sim");
  return azure?.nodeGroups.find((g) => g.name === SPOT_POOL)?.count ?? 0;
}

// ---------------------------------------------------------------- the jobs

function partitionJob(name: string, timeoutS: number): TrainingJob {
  return aTrainingJob(name)
    .replicas(1)
    .accelerator("trainium1", 16, { image: "example.com/train:neuron" })
    .accelerator("nvidia-h100", 8, { image: "example.com/train:cuda" })
    .with((j) => {
      j.spec.placement.strategy = "Preference";
      j.spec.failover.clusterLostTimeout = `${timeoutS}s`;
      j.spec.template.metadata = { annotations: { "sandbox.crosscloud.dev/run-for": RUN_FOR } };
    })
    .obj();
}

function spotJob(name: string, timeoutS: number): TrainingJob {
  return aTrainingJob(name)
    .replicas(1)
    .accelerator("nvidia-h100", 8, { image: "example.com/train:cuda" })
    .with((j) => {
      j.spec.placement.capacityType = "Any";
      j.spec.placement.strategy = "LowestCost";
      j.spec.failover.unschedulableTimeout = `${timeoutS}s`;
      j.spec.template.metadata = { annotations: { "sandbox.crosscloud.dev/run-for": RUN_FOR } };
    })
    .obj();
}

// ------------------------------------------------------------------ faults

/** Scales the spot pool back through the ARM API (as the operator would) and waits for its Ready nodes. */
async function restoreSpotPool(): Promise<void> {
  await scaleAzurePool(SPOT_POOL, spotPoolSize());
}

async function inject(s: Scenario): Promise<void> {
  if (s.kind === "partition") await quietly(() => partition(s.source.cluster));
  else await quietly(() => evict(`${s.source.cluster}/${s.source.group}`, undefined));
}

async function undo(s: Scenario): Promise<void> {
  if (s.kind === "partition") {
    await quietly(() => heal(s.source.cluster));
    await waitReachable(s.source.cluster, "True", 120_000);
  } else {
    await restoreSpotPool();
  }
}

// ------------------------------------------------------------------ rounds

interface Sample {
  /** runningAt − fault − timeout, seconds. */
  readonly overTimeout: number;
  readonly lostWork: number;
  readonly to: string;
}

interface Outcome {
  readonly scenario: Scenario;
  readonly samples: Sample[];
  readonly failures: string[];
}

// Made once the sandbox is known to be up (its clients read the sandbox's kubeconfigs).
let tjs: TrainingJobs;
let operator: OperatorProcess | undefined;

/** What a failed round leaves to read: the job's status and the operator's log lines about it. */
async function diagnose(name: string): Promise<string> {
  const status = await tjs.get(name).then(
    (j) => JSON.stringify(j.status, null, 1),
    (err: Error) => `(could not read the job: ${err.message})`,
  );
  const lines = (operator?.logs() ?? "").split("\n").filter((l) => l.includes(name));
  return `status of ${tjs.namespace}/${name}:\n${status}\noperator log lines naming it (last 40 of ${lines.length}):\n${lines.slice(-40).join("\n")}`;
}

/** Deletes the job and waits until it and its workloads are gone, and the source group is all free again. */
async function removeJob(s: Scenario, name: string, uid: string): Promise<void> {
  await tjs.delete(name).catch(() => {});
  await eventually(
    `TrainingJob ${name} gone from the hub`,
    () =>
      tjs.get(name).then(
        () => false,
        (err: { code?: number }) => err.code === 404,
      ),
    (gone) => gone,
    120_000,
  );
  for (const cluster of ["aws-sim", "azure-sim"] as const) {
    await eventually(
      `${name}'s workload gone from ${cluster}`,
      () => workloadOf(cluster, uid),
      (w) => w.jobs.length === 0 && w.pods.length === 0,
      120_000,
    );
  }
  // The next round's job must land on the source group again: wait until the operator sees it all free.
  await eventually(
    `${s.source.cluster}/${s.source.group} all free in the ComputeCluster's status`,
    () => getCluster(s.source.cluster),
    (cc) => {
      const g = cc.status?.nodeGroups?.find((x) => x.name === s.source.group);
      return g !== undefined && (g.nodes ?? 0) > 0 && g.freeNodes === g.nodes;
    },
    120_000,
  );
}

async function round(s: Scenario, i: number): Promise<Sample> {
  const name = `${s.name}-${i}`;
  // The job's checkpoint line: the default, <namespace>/<name>.
  const prefix = `${tjs.namespace}/${name}`;
  const step = 100 * i;
  const created = await tjs.create(s.kind === "partition" ? partitionJob(name, s.timeoutS) : spotJob(name, s.timeoutS));
  const uid = created.metadata.uid ?? "";
  let faulted = false;
  try {
    const running = await tjs.waitForPhase(name, "Running", [], 120_000);
    const where = `${running.status?.placement?.cluster}/${running.status?.placement?.nodeGroup}`;
    if (where !== `${s.source.cluster}/${s.source.group}`) {
      throw new Error(
        `the job started on ${where}, not on ${s.source.cluster}/${s.source.group}: ${running.status?.placement?.reason}`,
      );
    }
    await trainStep(s.source.cluster, prefix, step, 1);
    await eventually(
      `step ${step} replicated to ${s.other}'s store`,
      () => tjs.get(name),
      (j) => j.status?.checkpoint?.stores?.find((x) => x.cluster === s.other)?.latestStep === step,
      120_000,
    );
    const fault = Date.now();
    faulted = true;
    await inject(s);
    const injected = Date.now();
    const moved = await eventually(
      "the job Running elsewhere at epoch 2",
      () => tjs.get(name),
      movedAndRunning(2),
      (s.timeoutS + 240) * 1000,
    );
    const record = moved.status?.failovers?.find((f) => f.epoch === 2) as FailoverRecord;
    const runningAt = Date.parse(record.runningAt ?? "");
    const sample: Sample = {
      overTimeout: seconds(runningAt - fault) - s.timeoutS,
      lostWork: record.lostWorkSeconds ?? Number.NaN,
      to: record.to ?? "?",
    };
    const rel = (t: string | undefined) => (t ? `${seconds(Date.parse(t) - fault).toFixed(1)}s` : "-");
    log(
      `${name}: ${record.reason} ${record.from} -> ${record.to}, resumed from step ${record.resumedFromStep}; ` +
        `after the fault (its command took ${seconds(injected - fault).toFixed(1)}s): at ${rel(record.at)}, launched ${rel(record.launchedAt)}, running ${rel(record.runningAt)}; ` +
        `Running − timeout ${sample.overTimeout.toFixed(1)}s, lost work ${sample.lostWork}s`,
    );
    const expected = s.kind === "partition" ? "ClusterLost" : "CapacityLost";
    const oddities = [
      record.reason !== expected ? `reason ${record.reason}, expected ${expected}` : "",
      record.resumedFromStep !== step ? `resumed from step ${record.resumedFromStep}, expected ${step}` : "",
      (
        s.kind === "partition"
          ? record.to?.startsWith(`${s.source.cluster}/`)
          : record.to === `${s.source.cluster}/${s.source.group}`
      )
        ? `moved to the lost ${record.to}`
        : "",
    ].filter(Boolean);
    if (oddities.length > 0) log(`${name}: unexpected record: ${oddities.join("; ")}`);
    if (s.kind === "partition") {
      // Heal, then let the fence remove epoch 1 from aws-sim before the job goes.
      await undo(s);
      faulted = false;
      await eventually(
        `${name}'s epoch-1 pods gone from ${s.source.cluster} (fenced)`,
        () => podsOf(s.source.cluster, created, 1),
        (pods) => pods.length === 0,
        120_000,
      );
    }
    return sample;
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${await diagnose(name)}`);
  } finally {
    if (faulted) await undo(s);
    await removeJob(s, name, uid);
  }
}

async function runScenario(s: Scenario): Promise<Outcome> {
  const outcome: Outcome = { scenario: s, samples: [], failures: [] };
  for (let i = 1; i <= ROUNDS; i++) {
    log(`${s.name}: round ${i}/${ROUNDS}`);
    try {
      outcome.samples.push(await round(s, i));
    } catch (err) {
      const message = (err as Error).message;
      log(`${s.name} round ${i} FAILED: ${message}`);
      outcome.failures.push(`round ${i}: ${message}`);
      if (outcome.failures.length >= 2) {
        log(`${s.name}: two rounds failed, skipping the rest of this scenario`);
        break;
      }
    }
  }
  return outcome;
}

// ------------------------------------------------------------------ report

function report(outcomes: readonly Outcome[]): void {
  const f = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : "-");
  console.log(`\nFailover: time from the fault to the job Running elsewhere, minus the failover timeout\n`);
  console.log(
    "| scenario | timeout (s) | rounds | p50 Running − timeout (s) | p99 Running − timeout (s) | p50 lost work (s) | p99 lost work (s) | moved to |",
  );
  console.log("|---|---|---|---|---|---|---|---|");
  for (const o of outcomes) {
    const over = o.samples.map((x) => x.overTimeout);
    const lost = o.samples.map((x) => x.lostWork);
    const to = [...new Set(o.samples.map((x) => x.to))].join(", ") || "-";
    const rounds = o.failures.length > 0 ? `${o.samples.length} (+${o.failures.length} failed)` : `${o.samples.length}`;
    console.log(
      `| ${o.scenario.name} | ${o.scenario.timeoutS} | ${rounds} | ${f(percentile(over, 50))} | ${f(percentile(over, 99))} | ${f(percentile(lost, 50))} | ${f(percentile(lost, 99))} | ${to} |`,
    );
  }
  console.log(
    "\np99 is the largest of the rounds when there are fewer than 100. The fault's time is taken just before " +
      "the fault command (partition: the API server paused; eviction: the spot nodes reclaimed); lost work is the " +
      "record's lostWorkSeconds (when the trouble began minus when the resumed step was committed).",
  );
  const karmada = KARMADA_GRACE_S + KARMADA_TOLERATION_S;
  for (const o of outcomes.filter((x) => x.scenario.kind === "partition" && x.samples.length > 0)) {
    const total = percentile(
      o.samples.map((x) => x.overTimeout + o.scenario.timeoutS),
      50,
    );
    console.log(
      `\n${o.scenario.name}: Running elsewhere ${total.toFixed(1)} s (p50) after the partition. Defaults users would ` +
        `otherwise get: Kueue MultiKueue keeps a lost worker's workload for workerLostTimeout = ${KUEUE_WORKER_LOST_S / 60} min ` +
        `(${KUEUE_WORKER_LOST_S} s) before it re-queues it (${(KUEUE_WORKER_LOST_S / total).toFixed(0)}x later, before any new ` +
        `dispatch); Karmada marks the cluster unhealthy after cluster-monitor-grace-period ${KARMADA_GRACE_S} s and evicted ` +
        `after the ${KARMADA_TOLERATION_S} s default toleration = ${karmada} s (${(karmada / total).toFixed(0)}x later, before ` +
        "rescheduling; that default toleration is gone since v1.15 and cluster failover is off by default since v1.12).",
    );
  }
  const failures = outcomes.flatMap((o) => o.failures.map((x) => `${o.scenario.name} ${x}`));
  if (failures.length > 0) console.log(`\nFailed rounds:\n${failures.join("\n\n")}`);
}

// -------------------------------------------------------------------- main

await assertSandboxUp();
tjs = new TrainingJobs(`bench-failover-${Date.now().toString(36)}`);
const catalogDir = mkdtempSync(join(tmpdir(), "bench-failover-"));
const catalogFile = join(catalogDir, "catalog.yaml");
writeFileSync(
  catalogFile,
  `instanceTypes:\n  - name: Standard_ND96isr_H100_v5\n    spotPricePerHour: "${SPOT_PRICE}"\n`,
);

let interrupted = false;
process.on("SIGINT", () => {
  if (interrupted) process.exit(130);
  interrupted = true;
  log("interrupted: healing the workers, restoring the spot pool, stopping the operator (Ctrl-C again to quit now)");
  void (async () => {
    for (const c of ["aws-sim", "azure-sim"]) await quietly(() => heal(c)).catch(() => {});
    await restoreSpotPool().catch(() => {});
    await operator?.stop();
    await tjs.deleteNamespace();
    rmSync(catalogDir, { recursive: true, force: true });
    process.exit(130);
  })();
});

const outcomes: Outcome[] = [];
try {
  await prepareHub();
  await tjs.createNamespace();
  const since = new Date();
  operator = startOperator("bench-failover", {
    LEADER_ELECTION: "false",
    HEALTH_PORT: "0",
    LOG_LEVEL: "info",
    CATALOG_FILE: catalogFile,
  });
  await waitClustersReady(since);
  log(
    `operator up (heartbeat ${process.env.HEARTBEAT_MS ?? "10000 (default)"} ms); ${ROUNDS} round(s) of ` +
      scenarios.map((s) => s.name).join(", "),
  );
  for (const s of scenarios) outcomes.push(await runScenario(s));
} finally {
  await operator?.stop();
  if (operator) {
    const logFile = join(tmpdir(), `bench-failover-operator-${Date.now().toString(36)}.log`);
    writeFileSync(logFile, operator.logs());
    log(`the operator's log: ${logFile}`);
  }
  await tjs.deleteNamespace();
  rmSync(catalogDir, { recursive: true, force: true });
}
report(outcomes);
process.exit(outcomes.some((o) => o.failures.length > 0) ? 1 : 0);
