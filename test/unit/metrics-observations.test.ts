// The metrics added for alerts and the dashboard, as the operator feeds them:
// what a pass's events say (jobObservations), a job's checkpoint interval, the
// TrainingJobs by phase and cloud, the ComputeClusters' conditions and the
// leader gauge, each read from the exposition text a scrape gets.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Registry } from "prom-client";
import type { ComputeCluster } from "../../src/api/computecluster.ts";
import type { TrainingJob } from "../../src/api/trainingjob.ts";
import { checkpointIntervalSeconds, replicationMetrics } from "../../src/checkpoint/metrics.ts";
import type { PendingEvent } from "../../src/controller/events.ts";
import { type JobObservation, jobMetrics, jobObservations } from "../../src/controller/trainingjob/failover-metrics.ts";
import { clusterStates, countPhases } from "../../src/operator.ts";
import { makeRuntimeMetrics } from "../../src/runtime/metrics.ts";

type Status = NonNullable<TrainingJob["status"]>;

function job(status: Status = {}, created = "2026-03-01T10:00:00Z"): TrainingJob {
  return {
    apiVersion: "training.crosscloud.dev/v1alpha1",
    kind: "TrainingJob",
    metadata: { namespace: "ml", name: "llm", creationTimestamp: new Date(created) },
    spec: {} as TrainingJob["spec"],
    status,
  };
}

const ev = (reason: string): PendingEvent => ({ type: "Normal", reason, message: `${reason} message` });
const placedAt = (at: string, epoch = 1, cloud: "aws" | "azure" = "azure"): Status => ({
  epoch,
  placement: { cluster: "aks-west", cloud, placedAt: at },
});
const waiting: Status = { phase: "Scaling", scaleUp: { cluster: "eks-east", nodeGroup: "trn2", targetSize: 4 } };

describe("jobObservations", () => {
  const cases: { name: string; before: TrainingJob; after: TrainingJob; events: string[]; want: JobObservation[] }[] = [
    {
      name: "the first placement: seconds from creation, by cloud",
      before: job(),
      after: job(placedAt("2026-03-01T10:02:30Z")),
      events: ["Placed", "Launched"],
      want: [{ kind: "placed", cloud: "azure", seconds: 150 }],
    },
    {
      name: "a later epoch's placement (a move) is not a first placement",
      before: job(placedAt("2026-03-01T10:01:00Z")),
      after: job(placedAt("2026-03-01T12:00:00Z", 2, "aws")),
      events: ["Placed"],
      want: [],
    },
    {
      name: "a scale-up asked for: the cluster asked",
      before: job(),
      after: job(waiting),
      events: ["ScalingUp"],
      want: [{ kind: "scaleUp", cluster: "eks-east", outcome: "requested" }],
    },
    {
      name: "timed out, then another group asked: each with its own cluster",
      before: job(waiting),
      after: job({
        phase: "Scaling",
        scaleUp: { cluster: "aks-west", nodeGroup: "nd96", targetSize: 2 },
        excludedNodeGroups: [{ cluster: "eks-east", nodeGroup: "trn2", reason: "ScaleUpTimedOut" }],
      }),
      events: ["ScaleUpTimedOut", "ScalingUp"],
      want: [
        { kind: "scaleUp", cluster: "eks-east", outcome: "timed_out" },
        { kind: "scaleUp", cluster: "aks-west", outcome: "requested" },
      ],
    },
    {
      name: "refused by the cloud: the group just excluded",
      before: job(),
      after: job({
        excludedNodeGroups: [
          { cluster: "eks-east", nodeGroup: "p5", reason: "ScaleUpTimedOut" },
          { cluster: "aks-west", nodeGroup: "nd96", reason: "ScaleUpRefused" },
        ],
      }),
      events: ["ScaleUpFailed"],
      want: [{ kind: "scaleUp", cluster: "aks-west", outcome: "refused" }],
    },
    {
      name: "nodes came: succeeded, and the first placement",
      before: job(waiting),
      after: job({ ...placedAt("2026-03-01T10:10:00Z", 1, "aws") }),
      events: ["ScaledUp", "Placed"],
      want: [
        { kind: "scaleUp", cluster: "eks-east", outcome: "succeeded" },
        { kind: "placed", cloud: "aws", seconds: 600 },
      ],
    },
    {
      name: "failed: by the reason of its Failed condition",
      before: job({ phase: "Running" }),
      after: job({
        phase: "Failed",
        conditions: [
          { type: "Running", status: "False", reason: "BackoffLimitExceeded" },
          { type: "Failed", status: "True", reason: "BackoffLimitExceeded" },
        ],
      } as Status),
      events: ["Failed"],
      want: [{ kind: "finished", phase: "Failed", reason: "BackoffLimitExceeded" }],
    },
    {
      name: "events that are none of these observe nothing",
      before: job({ phase: "Running" }),
      after: job({ phase: "Running" }),
      events: ["Running", "PodFailed", "FailedOver", "NotPlaced"],
      want: [],
    },
  ];
  for (const c of cases) {
    it(c.name, () => assert.deepEqual(jobObservations(c.before, c.after, c.events.map(ev)), c.want));
  }

  it("jobMetrics records them as the scrape shows", async () => {
    const registry = new Registry();
    const m = jobMetrics(registry);
    m.recorded(job(waiting), job(placedAt("2026-03-01T10:00:45Z")), [ev("ScaledUp"), ev("Placed")]);
    m.recorded(
      job(),
      job({ conditions: [{ type: "Failed", status: "True", reason: "FailoverLimitReached" }] } as Status),
      [ev("Failed")],
    );
    jobMetrics(registry).recorded(job(), job(waiting), [ev("ScalingUp")]); // a second call on the registry reuses
    const text = await registry.metrics();
    assert.match(text, /crosscloud_placement_duration_seconds_bucket\{le="30",cloud="azure"\} 0/);
    assert.match(text, /crosscloud_placement_duration_seconds_bucket\{le="60",cloud="azure"\} 1/);
    assert.match(text, /crosscloud_placement_duration_seconds_sum\{cloud="azure"\} 45/);
    assert.match(text, /crosscloud_scaleups_total\{cluster="eks-east",outcome="succeeded"\} 1/);
    assert.match(text, /crosscloud_scaleups_total\{cluster="eks-east",outcome="requested"\} 1/);
    assert.match(text, /crosscloud_trainingjobs_finished_total\{phase="Failed",reason="FailoverLimitReached"\} 1/);
  });
});

describe("checkpointIntervalSeconds", () => {
  const at = (step: number, epoch: number, createdAt: string) => ({ step, epoch, createdAt });
  const cases: { name: string; steps: ReturnType<typeof at>[]; want: number | undefined }[] = [
    { name: "no step", steps: [], want: undefined },
    { name: "one step", steps: [at(100, 1, "2026-03-01T10:00:00Z")], want: undefined },
    {
      name: "the two newest steps, whatever the order given",
      steps: [
        at(300, 1, "2026-03-01T10:20:00Z"),
        at(100, 1, "2026-03-01T10:00:00Z"),
        at(200, 1, "2026-03-01T10:10:00Z"),
      ],
      want: 600,
    },
    {
      name: "of the newest epoch only: a move's downtime is no interval",
      steps: [
        at(200, 1, "2026-03-01T10:10:00Z"),
        at(210, 2, "2026-03-01T11:00:00Z"),
        at(220, 2, "2026-03-01T11:05:00Z"),
      ],
      want: 300,
    },
    {
      name: "the first step of a new epoch: none yet",
      steps: [
        at(100, 1, "2026-03-01T10:00:00Z"),
        at(200, 1, "2026-03-01T10:10:00Z"),
        at(210, 2, "2026-03-01T11:00:00Z"),
      ],
      want: undefined,
    },
    {
      name: "commit times out of order: no interval",
      steps: [at(100, 1, "2026-03-01T10:10:00Z"), at(200, 1, "2026-03-01T10:00:00Z")],
      want: undefined,
    },
  ];
  for (const c of cases) it(c.name, () => assert.equal(checkpointIntervalSeconds(c.steps), c.want));

  it("is a per-job gauge beside the lag, kept when undefined and removed by forgetJob", async () => {
    const registry = new Registry();
    const m = replicationMetrics(registry);
    m.forJob("ml/llm").checkpointInterval(900);
    m.forJob("ml/llm").checkpointInterval(undefined);
    m.forJob("ml/other").checkpointInterval(60);
    assert.match(
      await registry.metrics(),
      /crosscloud_checkpoint_job_interval_seconds\{namespace="ml",name="llm"\} 900/,
    );
    m.forgetJob("ml/llm");
    const text = await registry.metrics();
    assert.doesNotMatch(text, /name="llm"/);
    assert.match(text, /crosscloud_checkpoint_job_interval_seconds\{namespace="ml",name="other"\} 60/);
  });
});

describe("TrainingJobs by phase and cloud", () => {
  it("counts placed jobs by their cloud, the others as none, and every phase has a series", () => {
    const counts = countPhases([
      job({ phase: "Running", placement: { cloud: "aws" } }),
      job({ phase: "Running", placement: { cloud: "aws" } }),
      job({ phase: "Running", placement: { cloud: "azure" } }),
      job({}),
    ]);
    const by = (phase: string, cloud: string) => counts.find((c) => c.phase === phase && c.cloud === cloud)?.count;
    assert.equal(by("Running", "aws"), 2);
    assert.equal(by("Running", "azure"), 1);
    assert.equal(by("Pending", "none"), 1, "no status: Pending, not placed");
    assert.equal(by("Failed", "none"), 0);
    assert.equal(by("Running", "none"), 0);
  });

  it("a phase and cloud that no job is in any more has no series at the next scrape", async () => {
    const m = makeRuntimeMetrics(new Registry());
    let jobs = [job({ phase: "Running", placement: { cloud: "aws" } })];
    m.observePhases(() => countPhases(jobs));
    assert.match(await m.registry.metrics(), /crosscloud_trainingjobs\{phase="Running",cloud="aws"\} 1/);
    jobs = [job({ phase: "Succeeded", placement: { cloud: "azure" } })];
    const text = await m.registry.metrics();
    assert.doesNotMatch(text, /cloud="aws"/);
    assert.match(text, /crosscloud_trainingjobs\{phase="Succeeded",cloud="azure"\} 1/);
    assert.match(text, /crosscloud_trainingjobs\{phase="Running",cloud="none"\} 0/);
  });
});

describe("ComputeClusters and the leader", () => {
  const cc = (name: string, cloud: "aws" | "azure", reachable: string, ready: string): ComputeCluster =>
    ({
      metadata: { name },
      spec: { cloud },
      status: {
        conditions: [
          { type: "Reachable", status: reachable, reason: "r" },
          { type: "Ready", status: ready, reason: "r" },
        ],
      },
    }) as unknown as ComputeCluster;

  it("shows each cluster's Reachable and Ready conditions as 1 or 0, read at scrape time", async () => {
    const m = makeRuntimeMetrics(new Registry());
    let clusters = [cc("eks-east", "aws", "True", "True"), cc("aks-west", "azure", "False", "False")];
    const undo = m.observeClusters(() => clusterStates(clusters));
    let text = await m.registry.metrics();
    assert.match(text, /crosscloud_computecluster_reachable\{cluster="eks-east",cloud="aws"\} 1/);
    assert.match(text, /crosscloud_computecluster_ready\{cluster="aks-west",cloud="azure"\} 0/);
    assert.match(text, /crosscloud_computecluster_reachable\{cluster="aks-west",cloud="azure"\} 0/);
    clusters = [cc("eks-east", "aws", "Unknown", "False")];
    text = await m.registry.metrics();
    assert.match(
      text,
      /crosscloud_computecluster_reachable\{cluster="eks-east",cloud="aws"\} 0/,
      "Unknown is not True",
    );
    assert.doesNotMatch(text, /aks-west/, "a deleted ComputeCluster has no series");
    undo();
    assert.doesNotMatch(await m.registry.metrics(), /^crosscloud_computecluster_\w+\{/m, "no series once unobserved");
  });

  it("crosscloud_leader is 0 until this replica leads", async () => {
    const m = makeRuntimeMetrics(new Registry());
    assert.match(await m.registry.metrics(), /^crosscloud_leader 0$/m);
    m.leader.set(1);
    assert.match(await m.registry.metrics(), /^crosscloud_leader 1$/m);
  });
});
