// Which steps go to replicate Jobs on the source cluster and which stay in
// the operator's own pass: the threshold and per-cluster bound from the
// environment, the split of pending steps, and the large steps some store lacks.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1Job, V1JobCondition } from "@kubernetes/client-node";
import type { Manifest } from "../../src/checkpoint/manifest.ts";
import type { StoreCheckpoints } from "../../src/checkpoint/placement.ts";
import { replicateJobTrouble, retryBackoffMs } from "../../src/controller/trainingjob/replicate-jobs-run.ts";
import {
  largePending,
  planReplication,
  type ReplicationPlan,
  replicationJobSettings,
} from "../../src/controller/trainingjob/replication-jobs.ts";

const MiB = 2 ** 20;
const GiB = 2 ** 30;

describe("replicationJobSettings", () => {
  const ok = [
    { name: "defaults", env: {}, want: { thresholdBytes: GiB, perCluster: 2 } },
    {
      name: "empty values are defaults",
      env: { REPLICATION_JOB_THRESHOLD_BYTES: " " },
      want: { thresholdBytes: GiB, perCluster: 2 },
    },
    {
      name: "both set",
      env: { REPLICATION_JOB_THRESHOLD_BYTES: "1048576", REPLICATION_JOBS_PER_CLUSTER: "5" },
      want: { thresholdBytes: MiB, perCluster: 5 },
    },
    {
      name: "threshold 0: every non-empty step",
      env: { REPLICATION_JOB_THRESHOLD_BYTES: "0" },
      want: { thresholdBytes: 0, perCluster: 2 },
    },
  ];
  for (const c of ok) it(c.name, () => assert.deepEqual(replicationJobSettings(c.env), c.want));
  const bad = [
    {
      env: { REPLICATION_JOB_THRESHOLD_BYTES: "1GiB" },
      error: /REPLICATION_JOB_THRESHOLD_BYTES must be a whole number >= 0.*"1GiB"/,
    },
    { env: { REPLICATION_JOB_THRESHOLD_BYTES: "-1" }, error: /REPLICATION_JOB_THRESHOLD_BYTES/ },
    { env: { REPLICATION_JOB_THRESHOLD_BYTES: "1e9" }, error: /REPLICATION_JOB_THRESHOLD_BYTES/ },
    {
      env: { REPLICATION_JOBS_PER_CLUSTER: "0" },
      error: /REPLICATION_JOBS_PER_CLUSTER must be a whole number >= 1.*"0"/,
    },
    { env: { REPLICATION_JOBS_PER_CLUSTER: "2.5" }, error: /REPLICATION_JOBS_PER_CLUSTER/ },
  ];
  for (const c of bad)
    it(`refuses ${JSON.stringify(c.env)}`, () => assert.throws(() => replicationJobSettings(c.env), c.error));
});

describe("planReplication", () => {
  const settings = { thresholdBytes: GiB, perCluster: 2 };
  const steps = [
    { step: 100, bytes: 10 * MiB },
    { step: 300, bytes: 5 * GiB },
    { step: 200, bytes: 2 * GiB },
    { step: 400, bytes: 3 * GiB },
  ];
  const cases: { name: string; input: Partial<Parameters<typeof planReplication>[0]>; want: ReplicationPlan }[] = [
    {
      name: "no image: every step in-process",
      input: { image: undefined },
      want: { inProcess: [400, 300, 200, 100], byJob: [], create: [], waiting: [] },
    },
    {
      name: "stores refused for Jobs: every step in-process",
      input: { refusal: "clash" },
      want: { inProcess: [400, 300, 200, 100], byJob: [], create: [], waiting: [] },
    },
    {
      name: "large steps get Jobs up to the bound, newest first; the rest wait",
      input: {},
      want: { inProcess: [100], byJob: [], create: [400, 300], waiting: [200] },
    },
    {
      name: "Jobs of other TrainingJobs use the cluster's room",
      input: { runningOnCluster: 1 },
      want: { inProcess: [100], byJob: [], create: [400], waiting: [300, 200] },
    },
    {
      name: "a full cluster: large steps wait, small ones go on",
      input: { runningOnCluster: 3 },
      want: { inProcess: [100], byJob: [], create: [], waiting: [400, 300, 200] },
    },
    {
      name: "a step with a Job is left to it, and its running Job counts",
      input: { withJob: new Set([400]), runningOnCluster: 1 },
      want: { inProcess: [100], byJob: [400], create: [300], waiting: [200] },
    },
    {
      name: "exactly the threshold stays in-process",
      input: { steps: [{ step: 1, bytes: GiB }] },
      want: { inProcess: [1], byJob: [], create: [], waiting: [] },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const plan = planReplication({
        steps,
        settings,
        image: "registry.example/crosscloud-operator:1",
        withJob: new Set(),
        runningOnCluster: 0,
        ...c.input,
      });
      assert.deepEqual(plan, c.want);
    });
  }
});

describe("largePending", () => {
  const manifest = (step: number, epoch: number, sizes: number[]): Manifest => ({
    step,
    epoch,
    createdAt: `2026-12-01T00:00:${String(step % 60).padStart(2, "0")}Z`,
    files: sizes.map((size, i) => ({ path: `f${i}`, size })),
  });
  const at = new Date("2026-12-01T00:00:00Z");
  const store = (cluster: string, ms: Manifest[]): StoreCheckpoints => ({
    cluster,
    uri: `s3://b/${cluster}`,
    committed: ms.map((manifest) => ({ manifest, committedAt: at })),
  });
  const big = manifest(30, 2, [600 * MiB, 600 * MiB]);
  const small = manifest(20, 2, [MiB]);
  const stale = manifest(40, 1, [2 * GiB]);
  const older = manifest(10, 2, [2 * GiB]);
  const fence = { activeEpoch: 2 };
  const cases = [
    {
      name: "a large step both destinations lack",
      stores: [store("src", [big, small]), store("a", []), store("b", [small])],
      keep: undefined,
      want: [{ step: 30, bytes: 1200 * MiB, epoch: 2, missingIn: ["a", "b"] }],
    },
    {
      name: "held by one destination: only the other",
      stores: [store("src", [big]), store("a", [big]), store("b", [])],
      keep: undefined,
      want: [{ step: 30, bytes: 1200 * MiB, epoch: 2, missingIn: ["b"] }],
    },
    {
      name: "a different commit of the same step does not count as held",
      stores: [store("src", [big]), store("a", [{ ...big, createdAt: "2026-11-30T00:00:00Z" }])],
      keep: undefined,
      want: [{ step: 30, bytes: 1200 * MiB, epoch: 2, missingIn: ["a"] }],
    },
    {
      name: "stale epochs and steps beyond keep are left out, newest first",
      stores: [store("src", [older, stale, big]), store("a", [])],
      keep: 1,
      want: [{ step: 30, bytes: 1200 * MiB, epoch: 2, missingIn: ["a"] }],
    },
    {
      name: "without keep every live large step",
      stores: [store("src", [older, big]), store("a", [])],
      keep: undefined,
      want: [
        { step: 30, bytes: 1200 * MiB, epoch: 2, missingIn: ["a"] },
        { step: 10, bytes: 2 * GiB, epoch: 2, missingIn: ["a"] },
      ],
    },
    {
      name: "everywhere already: nothing",
      stores: [store("src", [big]), store("a", [big])],
      keep: undefined,
      want: [],
    },
  ];
  for (const c of cases) it(c.name, () => assert.deepEqual(largePending(c.stores, fence, GiB, c.keep), c.want));
});

describe("retryBackoffMs", () => {
  const cases = [
    [1, 30_000],
    [2, 60_000],
    [3, 120_000],
    [6, 600_000],
    [20, 600_000],
  ] as const;
  for (const [n, ms] of cases) it(`failure ${n}: ${ms} ms`, () => assert.equal(retryBackoffMs(n), ms));
});

describe("replicateJobTrouble", () => {
  const now = new Date("2026-12-01T08:00:00Z");
  const ago = (s: number) => new Date(now.getTime() - s * 1000);
  const job = (conditions: V1JobCondition[]): V1Job => ({
    metadata: { name: "big-e1-r10", namespace: "ml" },
    status: { conditions },
  });
  const cases: { name: string; conditions: V1JobCondition[]; want?: { why: RegExp; since: Date } }[] = [
    { name: "running", conditions: [] },
    {
      name: "just completed: the copy may not be listed yet",
      conditions: [{ type: "Complete", status: "True", lastTransitionTime: ago(30) }],
    },
    {
      name: "completed long ago while the step is still missing",
      conditions: [{ type: "Complete", status: "True", lastTransitionTime: ago(61) }],
      want: { why: /replicate Job ml\/big-e1-r10 completed without the step arriving/, since: ago(61) },
    },
    {
      name: "failed, with the Job controller's reason and message",
      conditions: [
        { type: "FailureTarget", status: "True", lastTransitionTime: ago(5) },
        {
          type: "Failed",
          status: "True",
          reason: "BackoffLimitExceeded",
          message: "Job has reached the specified backoff limit",
          lastTransitionTime: ago(4),
        },
      ],
      want: {
        why: /replicate Job ml\/big-e1-r10 failed \(BackoffLimitExceeded: Job has reached the specified backoff limit\)/,
        since: ago(4),
      },
    },
    {
      name: "a False Failed condition is not a failure",
      conditions: [{ type: "Failed", status: "False", lastTransitionTime: ago(100) }],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = replicateJobTrouble(job(c.conditions), now);
      if (!c.want) return assert.equal(got, undefined);
      assert.match(got?.why ?? "", c.want.why);
      assert.equal(got?.since, c.want.since.getTime());
    });
  }
});
