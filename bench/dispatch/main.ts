// bench/dispatch: N TrainingJobs of R replicas (default 500 x 4) dispatched by
// the operator to the sandbox's aws-sim (N x R Trainium kwok nodes), against
// the floor: a bare client creating the same worker Jobs and Services itself.
// Prints create-to-Running p50/p99, wall time, the operator's CPU seconds,
// peak RSS and API requests per job. Runs its own sandbox (state in
// /tmp/crosscloud-bench-dispatch, ports from 29000) and stops it at the end.
// The operator runs as the image runs it (bench/support/image.ts: compiled to
// dist/, the image's process settings) unless --bare.
//
//   npm run bench:dispatch [-- --jobs 500 --replicas 4 --bare]

import { parseArgs } from "node:util";
import { cpuSeconds, procStatusMiB } from "../support/proc.ts";
import { type RequestRow, requestsBetween, scrapeRequests, total } from "../support/requests.ts";

const { values } = parseArgs({
  options: {
    jobs: { type: "string", default: "500" },
    replicas: { type: "string", default: "4" },
    // The sandbox's example ComputeClusters give pods the store's keys (a Secret copied per job); a real
    // cluster's default is the pods' workload identity, which copies nothing.
    "pod-credentials": { type: "string", default: "WorkloadIdentity" },
    // Runs src/main.ts on Node's type stripping without the image's process settings.
    bare: { type: "boolean", default: false },
  },
});
const podCredentials = values["pod-credentials"];
if (podCredentials !== "WorkloadIdentity" && podCredentials !== "Secret")
  throw new Error(`--pod-credentials must be WorkloadIdentity or Secret, got ${podCredentials}`);
const N = Number(values.jobs);
const R = Number(values.replicas);
process.env.SANDBOX_STATE_DIR ??= "/tmp/crosscloud-bench-dispatch";
process.env.SANDBOX_PORT_BASE ??= "29000";
process.env.SANDBOX_NODES = `aws-sim/trn1=${N * R}`;

const { up, down } = await import("../../scripts/sandbox/sandbox.ts");
const { prepareHub, startOperator, waitClustersReady } = await import("../../test/support/operator.ts");
const { clients } = await import("../../test/support/sandbox.ts");
const { TrainingJobs } = await import("../../test/support/trainingjobs.ts");
const { aTrainingJob } = await import("../../test/support/trainingjob.ts");
const { renderWorkload } = await import("../../src/workload/render.ts");
const { instanceType } = await import("../../src/catalog/instance-types.ts");
const { trainingJobKeyOf } = await import("../../src/workload/names.ts");
const { IMAGE_ENV, IMAGE_NODE_FLAGS, buildImageScript } = await import("../support/image.ts");

const RUN_FOR = "1h"; // pods stay Running for the whole measurement
const percentile = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? Number.NaN;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function job(i: number) {
  return aTrainingJob(`bench-${i}`)
    .replicas(R)
    .accelerator("trainium1", 16)
    .with((j) => {
      j.spec.template.metadata = { annotations: { "sandbox.crosscloud.dev/run-for": RUN_FOR } };
    })
    .obj();
}

interface Row {
  readonly who: string;
  readonly p50: number;
  readonly p99: number;
  readonly wall: number;
  readonly cpu?: number;
  readonly rssMiB?: number;
  readonly requestsPerJob: number;
  /** The operator's requests per job by cluster and verb. */
  readonly byVerb?: readonly RequestRow[];
  /** The events the operator sent, by reason (counting repeats). */
  readonly eventReasons?: ReadonlyMap<string, number>;
  /** Each job's time split into stages, seconds per job (polled every 250 ms). */
  readonly stages?: readonly { readonly stage: string; readonly s: readonly number[] }[];
}

/** The floor: the same Jobs and Services created directly on the worker, timed to all pods ready. */
async function floor(): Promise<Row> {
  const aws = clients("aws-sim");
  const namespace = "bench-floor";
  await aws.core.createNamespace({ body: { metadata: { name: namespace } } });
  const created = new Map<string, number>();
  const started = performance.now();
  const target = {
    cluster: "aws-sim",
    namespace,
    cloud: "aws",
    nodeGroup: "trn1",
    instanceType: instanceType("trn1.32xlarge"),
    capacityType: "OnDemand",
  } as const;
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < N; i++) {
    const tj = job(i);
    tj.metadata.uid = `floor-${i}`;
    const option = tj.spec.accelerators[0];
    if (!option) throw new Error("no option");
    const w = renderWorkload({ job: tj, epoch: 1, option, target, checkpointUri: "s3://ckpt-aws-sim/bench" });
    pending.push(
      aws.batch.createNamespacedJob({ namespace, body: w.job }).then(() => {
        created.set(w.job.metadata?.name ?? "", performance.now());
        return aws.core.createNamespacedService({ namespace, body: w.service });
      }),
    );
    if (pending.length >= 20) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
  const running = new Map<string, number>();
  while (running.size < N) {
    const list = await aws.batch.listNamespacedJob({ namespace });
    for (const j of list.items) {
      const name = j.metadata?.name ?? "";
      if (!running.has(name) && (j.status?.ready ?? 0) >= R) running.set(name, performance.now());
    }
    await sleep(250);
  }
  const wall = (performance.now() - started) / 1000;
  const latencies = [...running].map(([name, t]) => (t - (created.get(name) ?? t)) / 1000);
  await aws.core.deleteNamespace({ name: namespace });
  // Wait for the floor's namespace to go (its pods, so the operator's run finds every node free, and
  // its Jobs, which carry the operator's labels: the operator would collect them as orphans).
  while (
    await aws.core.readNamespace({ name: namespace }).then(
      () => true,
      () => false,
    )
  )
    await sleep(1000);
  return {
    who: "bare client (floor)",
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    wall,
    requestsPerJob: 2,
  };
}

async function operatorRun(): Promise<Row> {
  const port = 29081;
  const operator = startOperator(
    "bench",
    {
      LEADER_ELECTION: "false",
      HEALTH_PORT: String(port),
      LOG_LEVEL: "error",
      WORKERS: "16",
      ...(values.bare ? {} : IMAGE_ENV),
    },
    values.bare ? undefined : buildImageScript(),
    values.bare ? [] : IMAGE_NODE_FLAGS,
  );
  const pid = operator.child.pid ?? 0;
  await waitClustersReady();
  const tjs = new TrainingJobs("bench-operator");
  await tjs.createNamespace();
  const cpu0 = cpuSeconds(pid);
  const req0 = await scrapeRequests(port);
  const created = new Map<string, number>();
  const started = performance.now();
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < N; i++) {
    pending.push(tjs.create(job(i)).then(() => created.set(`bench-${i}`, performance.now())));
    if (pending.length >= 20) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
  const running = new Map<string, number>();
  // The worker Jobs, polled as the floor polls its own: when each first showed and when all its
  // replicas were ready, to split each job's time into the operator's part and the worker's.
  const workerSeen = new Map<string, number>();
  const workerReady = new Map<string, number>();
  const aws = clients("aws-sim");
  const custom = clients("hub").kubeConfig.makeApiClient((await import("@kubernetes/client-node")).CustomObjectsApi);
  while (running.size < N) {
    const [list, workers] = await Promise.all([
      custom.listNamespacedCustomObject({
        group: "training.crosscloud.dev",
        version: "v1alpha1",
        namespace: tjs.namespace,
        plural: "trainingjobs",
      }) as Promise<{ items: { metadata: { name: string }; status?: { phase?: string } }[] }>,
      aws.batch.listNamespacedJob({ namespace: tjs.namespace }),
    ]);
    const now = performance.now();
    for (const j of list.items)
      if (!running.has(j.metadata.name) && j.status?.phase === "Running") running.set(j.metadata.name, now);
    for (const w of workers.items) {
      const name = trainingJobKeyOf(w.metadata?.labels)?.split("/")[1];
      if (!name) continue;
      if (!workerSeen.has(name)) workerSeen.set(name, now);
      if (!workerReady.has(name) && (w.status?.ready ?? 0) >= R) workerReady.set(name, now);
    }
    await sleep(250);
  }
  const wall = (performance.now() - started) / 1000;
  const requests = requestsBetween(req0, await scrapeRequests(port));
  const row: Row = {
    who: "crosscloud-operator",
    p50: 0,
    p99: 0,
    wall,
    cpu: cpuSeconds(pid) - cpu0,
    rssMiB: procStatusMiB(pid, "VmHWM"),
    requestsPerJob: total(requests) / N,
    byVerb: requests,
  };
  const latencies = [...running].map(([name, t]) => (t - (created.get(name) ?? t)) / 1000);
  const stage = (from: Map<string, number>, to: Map<string, number>) =>
    [...to].flatMap(([name, t]) => (from.has(name) ? [(t - (from.get(name) ?? t)) / 1000] : []));
  const stages = [
    {
      stage: "create to the worker Job (the operator: watch, finalizer, placement, status, Service, Job)",
      s: stage(created, workerSeen),
    },
    { stage: "worker Job to all replicas ready (the worker, as in the floor)", s: stage(workerSeen, workerReady) },
    {
      stage: "replicas ready to Running (the operator: the Job's status seen, status written)",
      s: stage(workerReady, running),
    },
  ];
  await operator.stop();
  // The events the operator sent, by reason: the hub creates above, explained.
  const events = await clients("hub").core.listNamespacedEvent({ namespace: tjs.namespace });
  const reasons = new Map<string, number>();
  for (const e of events.items) reasons.set(e.reason ?? "-", (reasons.get(e.reason ?? "-") ?? 0) + (e.count ?? 1));
  return { ...row, p50: percentile(latencies, 50), p99: percentile(latencies, 99), eventReasons: reasons, stages };
}

const t0 = performance.now();
await up();
console.error(`[bench] sandbox with ${N * R} trn1 nodes up in ${((performance.now() - t0) / 1000).toFixed(1)}s`);
try {
  await prepareHub();
  const custom = clients("hub").kubeConfig.makeApiClient((await import("@kubernetes/client-node")).CustomObjectsApi);
  for (const name of ["aws-sim", "azure-sim"]) {
    await custom.patchClusterCustomObject(
      {
        group: "training.crosscloud.dev",
        version: "v1alpha1",
        plural: "computeclusters",
        name,
        body: { spec: { checkpointStore: { podCredentials } } },
      },
      (await import("@kubernetes/client-node")).setHeaderOptions("Content-Type", "application/merge-patch+json"),
    );
  }
  const base = await floor();
  const op = await operatorRun();
  const rows = [base, op];
  console.log(
    `\n${N} TrainingJobs x ${R} replicas (create to all replicas Running), podCredentials ${podCredentials}\n`,
  );
  console.log("| who | p50 (s) | p99 (s) | wall (s) | CPU (s) | peak RSS (MiB) | API requests/job |");
  console.log("|---|---|---|---|---|---|---|");
  for (const r of rows) {
    console.log(
      `| ${r.who} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.wall.toFixed(1)} | ${r.cpu?.toFixed(1) ?? "-"} | ${r.rssMiB?.toFixed(0) ?? "-"} | ${r.requestsPerJob.toFixed(1)} |`,
    );
  }
  console.log("\nThe operator's API requests per job, by cluster and verb:\n");
  console.log("| cluster | verb | requests/job |");
  console.log("|---|---|---:|");
  for (const r of op.byVerb ?? []) console.log(`| ${r.cluster} | ${r.verb} | ${(r.count / N).toFixed(2)} |`);
  console.log("\nThe events it sent per job, by reason:\n");
  console.log("| reason | events/job |\n|---|---:|");
  const reasons = [...(op.eventReasons ?? [])].sort(([, a], [, b]) => b - a);
  for (const [reason, n] of reasons) console.log(`| ${reason} | ${(n / N).toFixed(2)} |`);
  console.log("\nWhere each job's time went (polled every 250 ms, so each stage is known to about 0.25 s):\n");
  console.log("| stage | p50 (s) | p99 (s) |\n|---|---:|---:|");
  for (const st of op.stages ?? [])
    console.log(`| ${st.stage} | ${percentile([...st.s], 50).toFixed(2)} | ${percentile([...st.s], 99).toFixed(2)} |`);
  console.log(
    `\nratio to the floor: p50 x${(op.p50 / base.p50).toFixed(2)}, p99 x${(op.p99 / base.p99).toFixed(2)}, wall x${(op.wall / base.wall).toFixed(2)}`,
  );
} finally {
  await down();
}
process.exit(0);
