// When a TrainingJob must move, and what its move history means for fencing (table tests, pure):
// the failover timeouts, ClusterLost, Drained and CapacityLost triggers, the move under way, the
// lineage of epochs, lost work and "<cluster>/<nodeGroup>".

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1Pod, V1PodCondition } from "@kubernetes/client-node";
import type { ComputeCluster, NodeGroupStatus } from "../../src/api/computecluster.ts";
import type { TrainingJobStatus } from "../../src/api/trainingjob.ts";
import type { EpochStart } from "../../src/checkpoint/fence.ts";
import {
  capacityLostTrigger,
  clusterAnswers,
  clusterLostTrigger,
  currentMove,
  drainTrigger,
  type FailoverRecord,
  failoverTimeouts,
  lineageOf,
  lostWorkSeconds,
  splitWhere,
  type Trigger,
} from "../../src/controller/trainingjob/failover-trigger.ts";
import { anAwsComputeCluster } from "../support/builders.ts";
import { aTrainingJob } from "../support/trainingjob.ts";

const NOW = new Date("2026-11-27T12:00:00Z");
/** NOW minus `s` seconds. */
const ago = (s: number) => new Date(NOW.getTime() - s * 1000);

type Reachable = "True" | "False" | "Unknown";

function cluster(opts: {
  reachable?: Reachable;
  heartbeat?: Date;
  since?: Date;
  message?: string;
  drain?: boolean;
  noStatus?: boolean;
}): ComputeCluster {
  const conditions = opts.reachable
    ? [
        {
          type: "Reachable",
          status: opts.reachable,
          reason: opts.reachable === "True" ? "Heartbeat" : "Unreachable",
          message: opts.message ?? "dial tcp 10.0.0.1:443: i/o timeout",
          lastTransitionTime: (opts.since ?? ago(600)).toISOString(),
        },
      ]
    : [];
  return anAwsComputeCluster(
    "aws-sim",
    { drain: opts.drain ?? false },
    opts.noStatus
      ? undefined
      : { conditions, ...(opts.heartbeat ? { lastHeartbeatTime: opts.heartbeat.toISOString() } : {}) },
  );
}

/** A pod of the placement; `unschedulableSince` makes it Pending with PodScheduled=False/Unschedulable. */
function pod(
  name: string,
  opts: {
    phase?: string;
    unschedulableSince?: Date;
    scheduledReason?: string;
    noTransitionTime?: boolean;
    created?: Date;
    deleted?: boolean;
    disrupted?: boolean;
  } = {},
): V1Pod {
  const conditions: V1PodCondition[] = [];
  if (opts.unschedulableSince || opts.scheduledReason) {
    conditions.push({
      type: "PodScheduled",
      status: "False",
      reason: opts.scheduledReason ?? "Unschedulable",
      message: "0/4 nodes are available: 4 Insufficient aws.amazon.com/neuron.",
      ...(opts.noTransitionTime ? {} : { lastTransitionTime: opts.unschedulableSince ?? ago(600) }),
    });
  }
  if (opts.disrupted) {
    conditions.push({ type: "DisruptionTarget", status: "True", reason: "PreemptionByScheduler" });
  }
  return {
    metadata: {
      name,
      creationTimestamp: opts.created ?? ago(3600),
      ...(opts.deleted ? { deletionTimestamp: ago(5) } : {}),
    },
    status: {
      phase: opts.phase ?? (opts.unschedulableSince || opts.scheduledReason ? "Pending" : "Running"),
      conditions,
    },
  };
}

/** The pod as a watch event delivers it: JSON, so its timestamps are strings. */
const asWatched = (p: V1Pod): V1Pod => JSON.parse(JSON.stringify(p));

/** The pod without a creationTimestamp. */
function noTimes(p: V1Pod): V1Pod {
  delete p.metadata?.creationTimestamp;
  return p;
}

function group(nodes: number, desiredSize = nodes): NodeGroupStatus {
  return {
    name: "trn1",
    instanceType: "trn1.32xlarge",
    accelerator: "trainium1",
    devicesPerNode: 16,
    capacityType: "Spot",
    nodes,
    readyNodes: nodes,
    freeNodes: 0,
    minSize: 0,
    maxSize: 16,
    desiredSize,
    pricePerHour: "7.00",
  };
}

/** What a test checks of a Trigger: its kind, reason, leftMs or at; the message is matched separately. */
function shape(t: Trigger): Record<string, unknown> {
  if (t.kind === "None") return { kind: "None" };
  if (t.kind === "Waiting") return { kind: t.kind, reason: t.reason, leftMs: t.leftMs };
  return { kind: t.kind, reason: t.reason, at: t.at.toISOString() };
}

describe("failoverTimeouts", () => {
  const cases: {
    name: string;
    failover: Record<string, string | undefined>;
    want: { clusterLost: number; unschedulable: number; drain: number };
  }[] = [
    {
      name: "the defaults the API server fills in",
      failover: {},
      want: { clusterLost: 60_000, unschedulable: 300_000, drain: 600_000 },
    },
    {
      name: "values the user set",
      failover: { clusterLostTimeout: "90s", unschedulableTimeout: "1m", drainCheckpointTimeout: "1h30m" },
      want: { clusterLost: 90_000, unschedulable: 60_000, drain: 5_400_000 },
    },
    {
      name: "absent optional timeouts take their defaults",
      failover: { unschedulableTimeout: undefined, drainCheckpointTimeout: undefined },
      want: { clusterLost: 60_000, unschedulable: 300_000, drain: 600_000 },
    },
    {
      name: "values that do not parse take their defaults",
      failover: { clusterLostTimeout: "soon", unschedulableTimeout: "5 m", drainCheckpointTimeout: "1d" },
      want: { clusterLost: 60_000, unschedulable: 300_000, drain: 600_000 },
    },
    {
      name: "zero is a value, not a missing one",
      failover: { clusterLostTimeout: "0s", unschedulableTimeout: "0m", drainCheckpointTimeout: "0ms" },
      want: { clusterLost: 0, unschedulable: 0, drain: 0 },
    },
  ];
  for (const tc of cases) {
    it(tc.name, () => {
      const job = aTrainingJob("llama")
        .with((j) => Object.assign(j.spec.failover, tc.failover))
        .obj();
      assert.deepEqual(failoverTimeouts(job), tc.want);
    });
  }
});

describe("clusterAnswers", () => {
  const cases: { name: string; cc: ComputeCluster; want: boolean }[] = [
    { name: "no status yet", cc: cluster({ noStatus: true }), want: true },
    { name: "no Reachable condition", cc: cluster({}), want: true },
    { name: "Reachable=True", cc: cluster({ reachable: "True" }), want: true },
    { name: "Reachable=Unknown", cc: cluster({ reachable: "Unknown" }), want: true },
    { name: "Reachable=False", cc: cluster({ reachable: "False" }), want: false },
  ];
  for (const tc of cases) it(`is ${tc.want} with ${tc.name}`, () => assert.equal(clusterAnswers(tc.cc), tc.want));
});

describe("clusterLostTrigger", () => {
  const cases: {
    name: string;
    cc: ComputeCluster;
    timeoutMs?: number;
    want: Record<string, unknown>;
    message?: RegExp;
  }[] = [
    { name: "no status", cc: cluster({ noStatus: true }), want: { kind: "None" } },
    { name: "no Reachable condition", cc: cluster({ heartbeat: ago(3600) }), want: { kind: "None" } },
    {
      name: "Reachable=True, even with an old heartbeat",
      cc: cluster({ reachable: "True", heartbeat: ago(3600) }),
      want: { kind: "None" },
    },
    {
      name: "Reachable=False, last reached 20s ago: waits the rest of the 60s",
      cc: cluster({ reachable: "False", heartbeat: ago(20) }),
      want: { kind: "Waiting", reason: "ClusterLost", leftMs: 40_000 },
      message: /^aws-sim has not answered since 2026-11-27T11:59:40\.000Z \(dial tcp .*\); clusterLostTimeout is 60s$/,
    },
    {
      name: "Reachable=False, last reached 1ms short of the timeout",
      cc: cluster({ reachable: "False", heartbeat: new Date(NOW.getTime() - 59_999) }),
      want: { kind: "Waiting", reason: "ClusterLost", leftMs: 1 },
    },
    {
      name: "Reachable=False, last reached exactly the timeout ago: moves",
      cc: cluster({ reachable: "False", heartbeat: ago(60) }),
      want: { kind: "Move", reason: "ClusterLost", at: ago(60).toISOString() },
    },
    {
      name: "Reachable=False, last reached 5m ago: moves, at the last heartbeat",
      cc: cluster({ reachable: "False", heartbeat: ago(300), since: ago(290) }),
      want: { kind: "Move", reason: "ClusterLost", at: ago(300).toISOString() },
      message: /^aws-sim has not answered since 2026-11-27T11:55:00\.000Z .*longer than clusterLostTimeout \(60s\)$/,
    },
    {
      name: "a longer timeout still waits",
      cc: cluster({ reachable: "False", heartbeat: ago(300) }),
      timeoutMs: 900_000,
      want: { kind: "Waiting", reason: "ClusterLost", leftMs: 600_000 },
      message: /clusterLostTimeout is 900s$/,
    },
    {
      name: "no lastHeartbeatTime: counts from the condition's transition",
      cc: cluster({ reachable: "False", since: ago(90) }),
      want: { kind: "Move", reason: "ClusterLost", at: ago(90).toISOString() },
    },
    {
      name: "no lastHeartbeatTime, recent transition: waits",
      cc: cluster({ reachable: "False", since: ago(15) }),
      want: { kind: "Waiting", reason: "ClusterLost", leftMs: 45_000 },
    },
    {
      name: "the condition's message is quoted",
      cc: cluster({ reachable: "False", heartbeat: ago(10), message: "connection refused" }),
      want: { kind: "Waiting", reason: "ClusterLost", leftMs: 50_000 },
      message: /\(connection refused\)/,
    },
  ];
  for (const tc of cases) {
    it(tc.name, () => {
      const t = clusterLostTrigger(tc.cc, NOW, tc.timeoutMs ?? 60_000);
      assert.deepEqual(shape(t), tc.want);
      if (tc.message) assert.match(t.kind === "None" ? "" : t.message, tc.message);
    });
  }
});

describe("drainTrigger", () => {
  const cases: { name: string; drain?: boolean; want: Record<string, unknown> }[] = [
    { name: "not draining", drain: false, want: { kind: "None" } },
    { name: "drain unset", drain: undefined, want: { kind: "None" } },
    { name: "draining: moves now", drain: true, want: { kind: "Move", reason: "Drained", at: NOW.toISOString() } },
  ];
  for (const tc of cases) {
    it(tc.name, () => {
      const cc = cluster({ reachable: "True" });
      if (tc.drain === undefined) delete (cc.spec as { drain?: boolean }).drain;
      else cc.spec.drain = tc.drain;
      const t = drainTrigger(cc, NOW);
      assert.deepEqual(shape(t), tc.want);
      if (t.kind === "Move") assert.equal(t.message, "ComputeCluster aws-sim has spec.drain: true");
    });
  }
});

describe("capacityLostTrigger", () => {
  const T = ago(120);
  const cases: {
    name: string;
    pods: V1Pod[];
    group?: NodeGroupStatus;
    timeoutMs?: number;
    want: Record<string, unknown>;
    message?: RegExp;
    notMessage?: RegExp;
  }[] = [
    { name: "no pods", pods: [], group: group(4), want: { kind: "None" } },
    { name: "all pods running", pods: [pod("p0"), pod("p1")], group: group(4), want: { kind: "None" } },
    {
      name: "pending but not unschedulable (gated)",
      pods: [pod("p0", { scheduledReason: "SchedulingGated" })],
      group: group(4),
      want: { kind: "None" },
    },
    {
      name: "PodScheduled=False/Unschedulable but no longer Pending",
      pods: [pod("p0", { phase: "Failed", unschedulableSince: ago(3600) })],
      group: group(4),
      want: { kind: "None" },
    },
    {
      name: "unschedulable for 2m of 5m: waits the rest",
      pods: [pod("p0"), pod("p1", { unschedulableSince: T })],
      group: group(3),
      timeoutMs: 300_000,
      want: { kind: "Waiting", reason: "CapacityLost", leftMs: 180_000 },
      message: /^1 pod\(s\) unschedulable on trn1 since 2026-11-27T11:58:00\.000Z; unschedulableTimeout is 300s$/,
    },
    {
      name: "unschedulable past the timeout: moves, at when it became unschedulable",
      pods: [pod("p0"), pod("p1", { unschedulableSince: T })],
      group: group(3),
      timeoutMs: 60_000,
      want: { kind: "Move", reason: "CapacityLost", at: T.toISOString() },
      message:
        /^1 pod\(s\) unschedulable on trn1 since .*longer than unschedulableTimeout \(60s\), and trn1 is not growing$/,
    },
    {
      name: "exactly at the timeout: moves",
      pods: [pod("p1", { unschedulableSince: T })],
      group: group(3),
      timeoutMs: 120_000,
      want: { kind: "Move", reason: "CapacityLost", at: T.toISOString() },
    },
    {
      name: "several pods: counts from the earliest",
      pods: [
        pod("p0", { unschedulableSince: ago(30) }),
        pod("p1", { unschedulableSince: ago(400) }),
        pod("p2", { unschedulableSince: ago(200) }),
      ],
      group: group(1),
      timeoutMs: 300_000,
      want: { kind: "Move", reason: "CapacityLost", at: ago(400).toISOString() },
      message: /^3 pod\(s\) unschedulable on trn1 since 2026-11-27T11:53:20\.000Z/,
    },
    {
      name: "several pods, the earliest still within the timeout",
      pods: [pod("p0", { unschedulableSince: ago(30) }), pod("p1", { unschedulableSince: ago(100) })],
      group: group(1),
      timeoutMs: 300_000,
      want: { kind: "Waiting", reason: "CapacityLost", leftMs: 200_000 },
    },
    {
      name: "the group is growing (desiredSize above its nodes): waits past the timeout",
      pods: [pod("p0", { unschedulableSince: ago(400) })],
      group: group(2, 4),
      timeoutMs: 300_000,
      want: { kind: "Waiting", reason: "CapacityLost", leftMs: 10_000 },
      message: /; trn1 is growing to 4 nodes$/,
    },
    {
      name: "the group is still growing after twice the timeout: moves anyway",
      pods: [pod("p0", { unschedulableSince: ago(3600) })],
      group: group(2, 4),
      timeoutMs: 300_000,
      want: { kind: "Move", reason: "CapacityLost", at: ago(3600).toISOString() },
    },
    {
      name: "the group is shrinking (desiredSize below its nodes): not growing",
      pods: [pod("p0", { unschedulableSince: ago(3600) })],
      group: group(4, 2),
      timeoutMs: 300_000,
      want: { kind: "Move", reason: "CapacityLost", at: ago(3600).toISOString() },
    },
    {
      name: "no node group status: not growing",
      pods: [pod("p0", { unschedulableSince: ago(600) })],
      group: undefined,
      timeoutMs: 300_000,
      want: { kind: "Move", reason: "CapacityLost", at: ago(600).toISOString() },
      message: /unschedulable on its node group since/,
    },
    {
      name: "a deleted (terminating) pod is ignored",
      pods: [pod("p0", { unschedulableSince: ago(3600), deleted: true })],
      group: group(4),
      timeoutMs: 300_000,
      want: { kind: "None" },
    },
    {
      name: "a deleted pod does not make the count start earlier",
      pods: [pod("p0", { unschedulableSince: ago(3600), deleted: true }), pod("p1", { unschedulableSince: ago(60) })],
      group: group(4),
      timeoutMs: 300_000,
      want: { kind: "Waiting", reason: "CapacityLost", leftMs: 240_000 },
      message: /^1 pod\(s\) unschedulable/,
    },
    {
      name: "without a lastTransitionTime: counts from the pod's creation",
      pods: [pod("p0", { unschedulableSince: ago(1), noTransitionTime: true, created: ago(500) })],
      group: group(4),
      timeoutMs: 300_000,
      want: { kind: "Move", reason: "CapacityLost", at: ago(500).toISOString() },
    },
    {
      name: "a lastTransitionTime with milliseconds keeps them",
      pods: [pod("p0", { unschedulableSince: new Date("2026-11-27T11:50:00.750Z") })],
      group: group(4),
      timeoutMs: 300_000,
      want: { kind: "Move", reason: "CapacityLost", at: "2026-11-27T11:50:00.750Z" },
    },
    {
      name: "timestamps as a watch event delivers them (strings, not Dates)",
      pods: [
        asWatched(pod("p0", { unschedulableSince: ago(400) })),
        asWatched(pod("p1", { unschedulableSince: ago(1), noTransitionTime: true, created: ago(500) })),
      ],
      group: group(4),
      timeoutMs: 300_000,
      want: { kind: "Move", reason: "CapacityLost", at: ago(500).toISOString() },
    },
    {
      name: "no time at all to count from: not counted",
      pods: [noTimes(pod("p0", { unschedulableSince: ago(1), noTransitionTime: true }))],
      group: group(4),
      want: { kind: "None" },
    },
    {
      name: "a pod the scheduler preempted: the message says there was a disruption",
      pods: [pod("p0", { disrupted: true, deleted: true }), pod("p0-new", { unschedulableSince: T })],
      group: group(3),
      timeoutMs: 300_000,
      want: { kind: "Waiting", reason: "CapacityLost", leftMs: 180_000 },
      message: /since 2026-11-27T11:58:00\.000Z after a disruption; unschedulableTimeout is 300s$/,
    },
    {
      name: "no DisruptionTarget: no disruption in the message",
      pods: [pod("p0", { unschedulableSince: T })],
      group: group(3),
      timeoutMs: 300_000,
      want: { kind: "Waiting", reason: "CapacityLost", leftMs: 180_000 },
      notMessage: /disruption/,
    },
  ];
  for (const tc of cases) {
    it(tc.name, () => {
      const t = capacityLostTrigger(tc.pods, tc.group, NOW, tc.timeoutMs ?? 300_000);
      assert.deepEqual(shape(t), tc.want);
      const message = t.kind === "None" ? "" : t.message;
      if (tc.message) assert.match(message, tc.message);
      if (tc.notMessage) assert.doesNotMatch(message, tc.notMessage);
    });
  }
});

describe("currentMove", () => {
  const done: FailoverRecord = {
    epoch: 2,
    from: "aws-sim/trn1",
    to: "azure-sim/nd",
    reason: "ClusterLost",
    at: ago(3600).toISOString(),
    launchedAt: ago(3500).toISOString(),
    runningAt: ago(3400).toISOString(),
  };
  const finding: FailoverRecord = { epoch: 3, from: "azure-sim/nd", reason: "Drained", at: ago(60).toISOString() };
  const launched: FailoverRecord = { ...finding, to: "aws-sim/trn1", launchedAt: ago(10).toISOString() };
  const cases: { name: string; status: TrainingJobStatus; want: FailoverRecord | undefined }[] = [
    { name: "no failovers", status: {}, want: undefined },
    { name: "an empty history", status: { failovers: [] }, want: undefined },
    { name: "the last move reached Running", status: { failovers: [done] }, want: undefined },
    { name: "the last move is finding a target", status: { failovers: [done, finding] }, want: finding },
    { name: "the last move launched, not yet Running", status: { failovers: [done, launched] }, want: launched },
    {
      name: "only the newest record counts",
      status: { failovers: [finding, { ...done, epoch: 4 }] },
      want: undefined,
    },
  ];
  for (const tc of cases) it(tc.name, () => assert.equal(currentMove(tc.status), tc.want));
});

describe("lineageOf", () => {
  const rec = (epoch: number | undefined, launched: boolean, resumedFromStep?: number): FailoverRecord => ({
    ...(epoch !== undefined ? { epoch } : {}),
    from: "a/b",
    reason: "CapacityLost",
    at: ago(600).toISOString(),
    ...(launched ? { launchedAt: ago(500).toISOString() } : {}),
    ...(resumedFromStep !== undefined ? { resumedFromStep } : {}),
  });
  const cases: { name: string; status: TrainingJobStatus; want: EpochStart[] }[] = [
    { name: "no failovers: no lineage", status: {}, want: [] },
    {
      name: "launched moves, with and without a resume step",
      status: { failovers: [rec(2, true, 100), rec(3, true)] },
      want: [{ epoch: 2, resumedFromStep: 100 }, { epoch: 3 }],
    },
    {
      name: "a move not yet launched is left out",
      status: { failovers: [rec(2, true, 100), rec(3, false)] },
      want: [{ epoch: 2, resumedFromStep: 100 }],
    },
    {
      name: "resumed from step 0 is a resume, not scratch",
      status: { failovers: [rec(2, true, 0)] },
      want: [{ epoch: 2, resumedFromStep: 0 }],
    },
    {
      name: "a record without an epoch is left out",
      status: { failovers: [rec(undefined, true, 5), rec(2, true, 7)] },
      want: [{ epoch: 2, resumedFromStep: 7 }],
    },
  ];
  // deepStrictEqual tells { resumedFromStep: undefined } from an absent key: scratch must be absent.
  for (const tc of cases) it(tc.name, () => assert.deepStrictEqual(lineageOf(tc.status), tc.want));
});

describe("lostWorkSeconds", () => {
  const cases: {
    name: string;
    at: Date;
    committedAt?: Date;
    startTime?: string;
    want: number;
  }[] = [
    { name: "since the resumed step was committed", at: NOW, committedAt: ago(300), want: 300 },
    {
      name: "the commit time wins over the start time",
      at: NOW,
      committedAt: ago(30),
      startTime: ago(3600).toISOString(),
      want: 30,
    },
    { name: "no resumed step: since the job started", at: NOW, startTime: ago(7200).toISOString(), want: 7200 },
    { name: "neither known", at: NOW, want: 0 },
    { name: "an unparseable start time", at: NOW, startTime: "yesterday", want: 0 },
    { name: "a step committed after the trigger loses nothing", at: ago(60), committedAt: ago(10), want: 0 },
    { name: "rounded to the second", at: NOW, committedAt: new Date(NOW.getTime() - 1_500), want: 2 },
  ];
  for (const tc of cases) {
    it(tc.name, () => assert.equal(lostWorkSeconds(tc.at, tc.committedAt, tc.startTime), tc.want));
  }
});

describe("splitWhere", () => {
  const cases: { where: string | undefined; want: { cluster: string; nodeGroup: string } }[] = [
    { where: "aws-sim/trn1", want: { cluster: "aws-sim", nodeGroup: "trn1" } },
    { where: "aws-sim", want: { cluster: "aws-sim", nodeGroup: "" } },
    { where: "", want: { cluster: "", nodeGroup: "" } },
    { where: undefined, want: { cluster: "", nodeGroup: "" } },
  ];
  for (const tc of cases) {
    it(`splits ${JSON.stringify(tc.where)}`, () => assert.deepEqual(splitWhere(tc.where), tc.want));
  }
});
