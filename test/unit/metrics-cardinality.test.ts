// Label cardinality of every metric the operator registers: no label whose
// values grow with the number of jobs (store URIs carry <namespace>/<job>), and
// the per-job series (lag, checkpoint interval) removed when its job is
// forgotten. The registry is built as the operator builds it (runtime,
// replication, failover and job metrics).

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Registry } from "prom-client";
import type { TrainingJob } from "../../src/api/trainingjob.ts";
import { type JobReplicationMetrics, replicationMetrics, storeLabel } from "../../src/checkpoint/metrics.ts";
import { failoverMetrics, jobMetrics } from "../../src/controller/trainingjob/failover-metrics.ts";
import { makeRuntimeMetrics } from "../../src/runtime/metrics.ts";

/** Label names whose values are bounded by the configuration (clusters, stores), by the code (enums) or by Node.js (process metrics). */
const BOUNDED = new Set([
  ...["controller", "result", "phase", "cluster", "verb", "reason", "from", "to", "source", "destination", "code"],
  ...["store", "op", "cloud", "outcome"],
  ...["le", "type", "space", "kind", "version", "major", "minor", "patch"],
]);
/** The metrics allowed a per-job series, each removed by forgetJob, with their labels that grow with jobs. */
const PER_JOB_LABELS = new Map([
  ["crosscloud_checkpoint_job_replication_lag_seconds", ["name", "namespace"]],
  ["crosscloud_checkpoint_job_interval_seconds", ["name", "namespace"]],
  // replica is bounded by the job's spec.replicas, not by the number of jobs
  ["crosscloud_checkpoint_upload_lag_steps", ["name", "namespace", "replica"]],
]);
const PER_JOB = new Set(PER_JOB_LABELS.keys());

function operatorRegistry() {
  const registry = new Registry();
  const runtime = makeRuntimeMetrics(registry);
  return {
    registry,
    runtime,
    replication: replicationMetrics(registry),
    failover: failoverMetrics(registry),
    jobs: jobMetrics(registry),
  };
}

const S3 = "s3://ckpt-use1";
const BLOB = "https://acct.blob.core.windows.net/ckpt";
const AZURITE = "http://127.0.0.1:10000/devstoreaccount1/ckpt";

/** What the operator records while `jobs` jobs run, replicate, fail over and fail a step. */
function drive(m: ReturnType<typeof operatorRegistry>, jobs: number) {
  for (let i = 0; i < jobs; i++) {
    const ns = `team${i % 3}`;
    const job = `job-${i}`;
    const hooks = i % 2 === 0 ? m.replication.forJob(`${ns}/${job}`) : m.replication;
    if (i % 2 === 0) m.replication.forJob(`${ns}/${job}`).checkpointInterval(600);
    if (i % 2 === 0) m.replication.forJob(`${ns}/${job}`).uploadLag(new Map([[0, 1]]));
    for (const [src, dst] of [
      [`${S3}/${ns}/${job}`, `${BLOB}/${ns}/${job}`],
      [`${S3}/${ns}/${job}`, `${AZURITE}/${ns}/${job}`],
    ] as const) {
      hooks.bytesRead(src, dst, 100);
      hooks.bytesWritten(src, dst, 100);
      hooks.stepReplicated(src, dst, 3);
      hooks.lag(src, dst, 12);
      hooks.stepFailed(src, dst, i % 2 ? "ChecksumMismatch" : "StoreFailed");
      m.replication.storeRequest(src, "list");
      m.replication.storeRequest(dst, `upload of part ${i + 1}`);
    }
    m.failover.moved("SpotEviction", "aws-east", "azure-west");
    m.failover.duration("SpotEviction", 20);
    m.failover.lostWork("SpotEviction", 60);
    m.runtime.reconcileDuration.observe({ controller: "trainingjob", result: "done" }, 0.01);
    m.runtime.reconcileErrors.inc({ controller: "trainingjob" });
    m.runtime.apiRequests.inc({ cluster: i % 2 ? "hub" : "aws-east", verb: "patch" });
    m.runtime.jobsByPhase.set({ phase: i % 2 ? "Running" : "Pending", cloud: i % 2 ? "aws" : "none" }, i);
    m.runtime.observeClusters(() => [{ cluster: "aws-east", cloud: "aws", reachable: true, ready: i % 2 === 0 }]);
    m.jobs.recorded(placedJob(ns, job, "aws-east"), placedJob(ns, job, "aws-east"), [
      { type: "Normal", reason: "Placed", message: "" },
      { type: "Normal", reason: "ScaledUp", message: "" },
      { type: "Warning", reason: "Failed", message: "" },
    ]);
  }
}

/** A job placed on `cluster` at epoch 1 a minute after its creation, having waited for a scale-up there. */
function placedJob(namespace: string, name: string, cluster: string): TrainingJob {
  return {
    apiVersion: "training.crosscloud.dev/v1alpha1",
    kind: "TrainingJob",
    metadata: { namespace, name, creationTimestamp: new Date("2026-01-01T00:00:00Z") },
    spec: {} as TrainingJob["spec"],
    status: {
      epoch: 1,
      placement: { cluster, cloud: "aws", placedAt: "2026-01-01T00:01:00Z" },
      scaleUp: { cluster, nodeGroup: "trn1" },
      conditions: [{ type: "Failed", status: "True", reason: "BackoffLimitExceeded" }],
    } as TrainingJob["status"],
  };
}

/** Series per crosscloud_ metric family: distinct label sets (a histogram's buckets, sum and count are one). */
async function seriesCount(registry: Registry): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const metric of await registry.getMetricsAsJSON()) {
    if (!metric.name.startsWith("crosscloud_")) continue;
    const sets = new Set(
      metric.values.map((v) => {
        const { le: _le, ...labels } = v.labels as Record<string, unknown>;
        return JSON.stringify(Object.entries(labels).sort());
      }),
    );
    out.set(metric.name, sets.size);
  }
  return out;
}

describe("metric label cardinality", () => {
  it("declares only bounded labels, except on the per-job series that forgetJob removes", () => {
    const { registry } = operatorRegistry();
    for (const metric of registry.getMetricsAsArray()) {
      const names = (metric as unknown as { labelNames: string[] }).labelNames;
      const unbounded = names.filter((l) => !BOUNDED.has(l));
      const perJob = PER_JOB_LABELS.get(metric.name);
      if (perJob) assert.deepEqual(unbounded.sort(), perJob, metric.name);
      else assert.deepEqual(unbounded, [], `${metric.name} has labels that grow with jobs`);
    }
  });

  it("has as many series for 60 jobs as for 6, but for the per-job lag", async () => {
    const few = operatorRegistry();
    drive(few, 6);
    const many = operatorRegistry();
    drive(many, 60);
    const a = await seriesCount(few.registry);
    const b = await seriesCount(many.registry);
    for (const [name, n] of b) {
      if (PER_JOB.has(name)) continue;
      assert.equal(n, a.get(name), `${name}: ${a.get(name)} series for 6 jobs, ${n} for 60`);
    }
    assert.equal(b.get("crosscloud_checkpoint_job_replication_lag_seconds"), 30 * 2, "one per bound job and store");
    const text = await many.registry.metrics();
    const perJob = (l: string) => [...PER_JOB].some((name) => l.startsWith(name));
    const bounded = text.split("\n").filter((l) => l.startsWith("crosscloud_") && !perJob(l));
    assert.deepEqual(
      bounded.filter((l) => /team\d|job-\d/.test(l)),
      [],
      "no job or namespace in a bounded series",
    );
    assert.match(
      text,
      /crosscloud_checkpoint_bytes_written_total\{source="s3:\/\/ckpt-use1",destination="https:\/\/acct.blob.core.windows.net\/ckpt"\} 6000/,
    );
    assert.match(text, /crosscloud_store_requests_total\{store="s3:\/\/ckpt-use1",op="list"\} 120/);
    assert.match(
      text,
      /crosscloud_store_requests_total\{store="https:\/\/acct.blob.core.windows.net\/ckpt",op="upload of part"\} 60/,
    );
  });
});

describe("forgetJob", () => {
  const jobLines = (text: string, job: string) =>
    text.split("\n").filter((l) => l.startsWith("crosscloud_") && l.includes(`name="${job}"`));

  it("removes the job's series from the exposition text, and only its", async () => {
    const m = operatorRegistry();
    drive(m, 6);
    assert.equal(
      jobLines(await m.registry.metrics(), "job-2").length,
      4,
      "a lag per destination store, an interval, an upload lag",
    );
    m.replication.forgetJob("team2/job-2");
    const text = await m.registry.metrics();
    assert.deepEqual(jobLines(text, "job-2"), []);
    assert.equal(jobLines(text, "job-4").length, 4, "the other jobs keep theirs");
    assert.match(text, /crosscloud_checkpoint_replication_lag_seconds_count\{[^}]*\} 6/, "store-level series stay");
  });

  it("leaves no per-job series once every job is forgotten, and is harmless for a job with none", async () => {
    const m = operatorRegistry();
    drive(m, 6);
    for (let i = 0; i < 6; i++) m.replication.forgetJob(`team${i % 3}/job-${i}`);
    m.replication.forgetJob("nowhere/never-ran");
    assert.doesNotMatch(
      await m.registry.metrics(),
      /^crosscloud_checkpoint_(job_replication_lag_seconds|upload_lag_steps)\{/m,
    );
  });

  it("works through a second replicationMetrics() on the same registry", async () => {
    const registry = new Registry();
    const first: JobReplicationMetrics = replicationMetrics(registry);
    first.forJob("ml/train").lag(`${S3}/ml/train`, `${BLOB}/ml/train`, 5);
    replicationMetrics(registry).forgetJob("ml/train");
    assert.deepEqual(jobLines(await registry.metrics(), "train"), []);
  });
});

describe("storeLabel", () => {
  const rows: [string, string][] = [
    ["s3://ckpt-use1/ml/llama/step-3", "s3://ckpt-use1"],
    ["s3://ckpt-use1", "s3://ckpt-use1"],
    ["https://acct.blob.core.windows.net/ckpt/ml/llama", "https://acct.blob.core.windows.net/ckpt"],
    ["http://127.0.0.1:10000/devstoreaccount1/ckpt/a/b", "http://127.0.0.1:10000/devstoreaccount1/ckpt"],
    ["ftp://elsewhere/ml/llama", "invalid"],
  ];
  for (const [uri, label] of rows) it(`${uri} -> ${label}`, () => assert.equal(storeLabel(uri), label));
});
