// The Scaling phase, without a cluster: the idempotency token, the step a
// placement pass takes, the timeout, what status records, refusals that
// exclude a group, and nodes promised to scaling jobs in the snapshot.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ComputeCluster } from "../../src/api/computecluster.ts";
import type { TrainingJob } from "../../src/api/trainingjob.ts";
import { ProviderRegistry } from "../../src/clusters/providers.ts";
import {
  clusterSnapshot,
  decidePlacement,
  nodesAwaitingScaleUp,
  nodesInFlight,
} from "../../src/controller/trainingjob/place.ts";
import {
  CLOUD_BUSY,
  CLOUD_CALLS_PER_CLUSTER,
  cloudBusy,
  excludedGroups,
  nextScaleStep,
  ScaleUps,
  SLOW_CLOUD_CALL_MS,
  scaleClientToken,
  scaleUpExpired,
} from "../../src/controller/trainingjob/scale.ts";
import { StatusBuilder } from "../../src/controller/trainingjob/status.ts";
import type { PlacementDecision } from "../../src/placement/index.ts";
import { ProviderError } from "../../src/providers/errors.ts";
import { FakeProvider } from "../../src/providers/fake.ts";
import type { NodeGroup } from "../../src/providers/types.ts";
import type { Informer } from "../../src/runtime/informer.ts";
import { anAwsComputeCluster } from "../support/builders.ts";
import { aTrainingJob } from "../support/trainingjob.ts";

function awsSim(trn1: { nodes: number; free: number; max: number; desired?: number }): ComputeCluster {
  const ready = {
    type: "Ready",
    status: "True" as const,
    reason: "r",
    message: "m",
    lastTransitionTime: "2026-11-27T00:00:00Z",
  };
  return anAwsComputeCluster(
    "aws-sim",
    {},
    {
      lastHeartbeatTime: new Date().toISOString(),
      conditions: [ready],
      nodeGroups: [
        {
          name: "trn1",
          instanceType: "trn1.32xlarge",
          accelerator: "trainium1",
          devicesPerNode: 16,
          capacityType: "OnDemand",
          nodes: trn1.nodes,
          readyNodes: trn1.nodes,
          freeNodes: trn1.free,
          minSize: 0,
          maxSize: trn1.max,
          desiredSize: trn1.desired ?? trn1.nodes,
          pricePerHour: "21.50",
        },
      ],
    },
  );
}

const trn1Group = (over: Partial<NodeGroup> = {}): NodeGroup => ({
  name: "trn1",
  instanceType: "trn1.32xlarge",
  capacityType: "OnDemand",
  minSize: 0,
  maxSize: 16,
  desiredSize: 4,
  status: "Active",
  cloudStatus: "ACTIVE",
  autoscalerOwned: false,
  issues: [],
  ...over,
});

const job = (replicas: number) => aTrainingJob("llama").replicas(replicas).accelerator("trainium1", 16).obj();
const T0 = new Date("2026-11-27T10:00:00Z");

function setup(cc: ComputeCluster, provider: FakeProvider, timeoutMs = 60_000) {
  const clusters = { get: () => cc, list: () => [cc] } as unknown as Informer<ComputeCluster>;
  const providers = new ProviderRegistry(() => provider);
  return new ScaleUps({ clusters, providers, timeoutMs });
}

async function requestFor(j: TrainingJob, cc: ComputeCluster, scale: ScaleUps, now = T0) {
  const b = new StatusBuilder(j, now);
  const decision = decidePlacement(j, [cc]);
  const step = nextScaleStep(decision, b.status.scaleUp);
  assert.equal(step.kind, "Request");
  if (step.kind !== "Request") throw new Error("unreachable");
  return { b, step, outcome: await scale.request(j, b, step, decision) };
}

describe("scale-up token", () => {
  it("is the same for the same job, epoch and group, and differs otherwise", () => {
    const t = scaleClientToken("uid-1", 1, "aws-sim", "trn1");
    assert.equal(t, scaleClientToken("uid-1", 1, "aws-sim", "trn1"));
    assert.notEqual(t, scaleClientToken("uid-1", 2, "aws-sim", "trn1"));
    assert.notEqual(t, scaleClientToken("uid-1", 1, "aws-sim", "p5"));
    assert.notEqual(t, scaleClientToken("uid-2", 1, "aws-sim", "trn1"));
    assert.ok(t.length <= 64);
  });
});

describe("nextScaleStep", () => {
  const scaleUp = { cluster: "aws-sim", nodeGroup: "trn1", targetSize: 6, requestedAt: T0.toISOString() };
  const cases: { name: string; cc: ComputeCluster; replicas: number; scaleUp?: typeof scaleUp; want: string }[] = [
    { name: "fits now: place", cc: awsSim({ nodes: 4, free: 4, max: 16 }), replicas: 4, want: "Place" },
    { name: "fits after growing: request", cc: awsSim({ nodes: 4, free: 2, max: 16 }), replicas: 4, want: "Request" },
    {
      name: "fits after growing, already asked: wait",
      cc: awsSim({ nodes: 4, free: 2, max: 16 }),
      replicas: 4,
      scaleUp,
      want: "Wait",
    },
    {
      name: "the nodes came: place",
      cc: awsSim({ nodes: 6, free: 4, max: 16 }),
      replicas: 4,
      scaleUp,
      want: "Place",
    },
    {
      name: "cannot grow past max: not placed",
      cc: awsSim({ nodes: 4, free: 2, max: 4 }),
      replicas: 4,
      want: "NotPlaced",
    },
  ];
  for (const tc of cases) {
    it(tc.name, () => {
      const decision = decidePlacement(job(tc.replicas), [tc.cc]);
      assert.equal(nextScaleStep(decision, tc.scaleUp).kind, tc.want);
    });
  }

  it("asks for the size placement computed", () => {
    const step = nextScaleStep(decidePlacement(job(4), [awsSim({ nodes: 4, free: 2, max: 16 })]), undefined);
    assert.deepEqual(step, { kind: "Request", cluster: "aws-sim", nodeGroup: "trn1", targetSize: 6 });
  });
});

describe("ScaleUps", () => {
  it("asks the cloud once with the job's token and records the request in status", async () => {
    const cc = awsSim({ nodes: 4, free: 2, max: 16 });
    const fake = new FakeProvider("aws", [trn1Group()]);
    const { b, outcome } = await requestFor(job(4), cc, setup(cc, fake));
    assert.equal(outcome, "Requested");
    assert.equal(b.phase, "Scaling");
    assert.deepEqual(b.status.scaleUp, {
      cluster: "aws-sim",
      nodeGroup: "trn1",
      targetSize: 6,
      operation: "op-1",
      requestedAt: T0.toISOString(),
    });
    const placed = b.status.conditions?.find((c) => c.type === "Placed");
    assert.equal(placed?.reason, "ScalingUp");
    assert.match(placed?.message ?? "", /scaling up aws-sim\/trn1 to 6 nodes/);
    const scaled = fake.calls.find((c) => c.method === "scaleNodeGroup");
    assert.equal(scaled?.args[2], scaleClientToken("uid-llama", 1, "aws-sim", "trn1"));
    assert.ok(b.events.some((e) => e.reason === "ScalingUp"));
  });

  it("a pass that lost its status write asks again with the same token and changes nothing", async () => {
    const cc = awsSim({ nodes: 4, free: 2, max: 16 });
    const fake = new FakeProvider("aws", [trn1Group()]);
    const scale = setup(cc, fake);
    await requestFor(job(4), cc, scale);
    const again = await requestFor(job(4), cc, scale);
    assert.equal(again.b.status.scaleUp?.operation, "op-1", "the same operation");
    assert.equal(fake.groups.get("trn1")?.desiredSize, 6);
    assert.equal(fake.calls.filter((c) => c.method === "scaleNodeGroup").length, 2);
  });

  it("never asks for less than another job already asked the group for", async () => {
    // This job's snapshot says 6; meanwhile another job's request took the group to 7.
    const cc = awsSim({ nodes: 4, free: 2, max: 16 });
    const fake = new FakeProvider("aws", [trn1Group({ desiredSize: 7 })]);
    const { b, outcome } = await requestFor(job(4), cc, setup(cc, fake));
    assert.equal(outcome, "Requested");
    assert.equal(fake.groups.get("trn1")?.desiredSize, 7, "the group was not shrunk to 6");
    assert.equal(b.status.scaleUp?.targetSize, 7);
    assert.deepEqual(
      fake.calls.filter((c) => c.method === "scaleNodeGroup").map((c) => c.args[1]),
      [7],
    );
  });

  it("excludes a group the cloud refuses (autoscaler-owned), so the next option is tried", async () => {
    const cc = awsSim({ nodes: 4, free: 2, max: 16 });
    const fake = new FakeProvider("aws", [trn1Group({ autoscalerOwned: true })]);
    const { b, outcome } = await requestFor(job(4), cc, setup(cc, fake));
    assert.equal(outcome, "Refused");
    assert.equal(b.status.scaleUp, undefined);
    assert.deepEqual(excludedGroups(b.status), [{ cluster: "aws-sim", nodeGroup: "trn1" }]);
    assert.equal(b.status.excludedNodeGroups?.[0]?.reason, "ScaleUpRefused");
    assert.ok(b.events.some((e) => e.reason === "ScaleUpFailed" && e.type === "Warning"));
    const next = decidePlacement(job(4), [cc], [], excludedGroups(b.status));
    assert.equal(next.winner, undefined, "trn1 is not chosen again");
  });

  it("keeps the group after a throttled call, to ask again later", async () => {
    const cc = awsSim({ nodes: 4, free: 2, max: 16 });
    const fake = new FakeProvider("aws", [trn1Group()]);
    fake.queueError("scaleNodeGroup", new ProviderError("Throttled", "Rate exceeded"));
    const { b, outcome } = await requestFor(job(4), cc, setup(cc, fake));
    assert.equal(outcome, "Failed");
    assert.equal(b.status.excludedNodeGroups, undefined);
    assert.equal(b.status.conditions?.find((c) => c.type === "Placed")?.reason, "ScaleUpFailed");
  });

  it("after the timeout, drops the scale-up and excludes its group", () => {
    const cc = awsSim({ nodes: 4, free: 2, max: 16 });
    const scale = setup(cc, new FakeProvider("aws", [trn1Group()]), 60_000);
    const scaling = job(4);
    scaling.status = {
      phase: "Scaling",
      scaleUp: { cluster: "aws-sim", nodeGroup: "trn1", targetSize: 6, requestedAt: T0.toISOString() },
    };
    const early = new StatusBuilder(scaling, new Date(T0.getTime() + 59_000));
    assert.equal(scale.expire(early), false);
    const late = new StatusBuilder(scaling, new Date(T0.getTime() + 60_000));
    assert.equal(scale.expire(late), true);
    assert.equal(late.status.scaleUp, undefined);
    assert.equal(late.status.excludedNodeGroups?.[0]?.reason, "ScaleUpTimedOut");
    assert.ok(late.events.some((e) => e.reason === "ScaleUpTimedOut" && /did not arrive within 60s/.test(e.message)));
  });

  it("scaleUpExpired is false without a request", () => {
    assert.equal(scaleUpExpired(undefined, T0, 1), false);
  });

  it("forgets the scale-up and exclusions once placed", () => {
    const j = job(4);
    j.status = {
      scaleUp: { cluster: "aws-sim", nodeGroup: "trn1", targetSize: 6, requestedAt: T0.toISOString() },
      excludedNodeGroups: [{ cluster: "azure-sim", nodeGroup: "ndh100", reason: "ScaleUpTimedOut" }],
    };
    const b = new StatusBuilder(j, T0);
    setup(awsSim({ nodes: 6, free: 4, max: 16 }), new FakeProvider("aws")).placed(b);
    assert.equal(b.status.scaleUp, undefined);
    assert.equal(b.status.excludedNodeGroups, undefined);
    assert.ok(b.events.some((e) => e.reason === "ScaledUp"));
  });

  it("without providers, waits as before (scaling up not enabled)", async () => {
    const cc = awsSim({ nodes: 4, free: 2, max: 16 });
    const clusters = { get: () => cc } as unknown as Informer<ComputeCluster>;
    const scale = new ScaleUps({ clusters });
    const j = job(4);
    const b = new StatusBuilder(j, T0);
    const decision: PlacementDecision = decidePlacement(j, [cc]);
    const step = nextScaleStep(decision, undefined);
    if (step.kind !== "Request") throw new Error("expected a request");
    assert.equal(await scale.request(j, b, step, decision), "Failed");
    assert.equal(b.status.conditions?.find((c) => c.type === "Placed")?.reason, "WaitingForCapacity");
  });
});

describe("nodes promised to scaling jobs", () => {
  const scalingJob = (name: string, replicas: number) =>
    aTrainingJob(name)
      .replicas(replicas)
      .accelerator("trainium1", 16)
      .with((j) => {
        j.status = {
          phase: "Scaling",
          scaleUp: { cluster: "aws-sim", nodeGroup: "trn1", targetSize: 6, requestedAt: T0.toISOString() },
        };
      })
      .obj();

  it("count against the group they wait for, unless they are being deleted", () => {
    assert.equal(nodesInFlight([scalingJob("a", 2)]).get("aws-sim/trn1"), 2);
    const deleting = scalingJob("b", 2);
    deleting.metadata.deletionTimestamp = T0;
    assert.equal(nodesInFlight([deleting]).get("aws-sim/trn1"), undefined);
  });

  it("make the next job's scale-up ask for more on top, not the same size", () => {
    // trn1: 4 nodes, all busy; job a waits for 2 more (desired 6). Job b needs 2 as well.
    const cc = awsSim({ nodes: 4, free: 0, max: 16, desired: 6 });
    const jobs = [scalingJob("a", 2)];
    const snapshot = clusterSnapshot(cc, nodesInFlight(jobs), nodesAwaitingScaleUp(jobs));
    assert.equal(snapshot.nodeGroups[0]?.nodes, 6);
    const decision = decidePlacement(job(2), [cc], [scalingJob("a", 2)]);
    assert.equal(decision.winner?.scaleUpTo, 8);
  });

  it("a starting job whose pods already hold their nodes does not make a scale-up ask for more", () => {
    const starting = aTrainingJob("s")
      .replicas(2)
      .accelerator("trainium1", 16)
      .with((j) => {
        j.status = { phase: "Starting", placement: { cluster: "aws-sim", nodeGroup: "trn1" } };
      })
      .obj();
    // 4 nodes, 2 free: the other 2 hold the starting job's pods (not yet Running in its status).
    const cc = awsSim({ nodes: 4, free: 2, max: 16 });
    const snapshot = clusterSnapshot(cc, nodesInFlight([starting]), nodesAwaitingScaleUp([starting]));
    assert.equal(snapshot.nodeGroups[0]?.nodes, 4, "no shortfall from a starting job");
  });

  it("once the nodes came, the scaling job's own pass sees them free", () => {
    const cc = awsSim({ nodes: 6, free: 2, max: 16, desired: 6 });
    const a = scalingJob("a", 2);
    assert.equal(decidePlacement(a, [cc], [a]).winner?.fit, "Now");
    assert.notEqual(decidePlacement(job(2), [cc], [a]).winner?.fit, "Now", "another job does not take them");
  });
});

describe("ScaleUps.exclusive", () => {
  const clusters = { get: () => undefined } as unknown as Informer<ComputeCluster>;
  const later = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it("runs the changes of one group one at a time, in the order asked, and other groups at once", async () => {
    const scale = new ScaleUps({ clusters });
    const log: string[] = [];
    const step = (name: string, ms: number) => async () => {
      log.push(`${name} start`);
      await later(ms);
      log.push(`${name} end`);
      return name;
    };
    const results = await Promise.all([
      scale.exclusive("aws-sim", "trn1", step("up", 30)),
      scale.exclusive("aws-sim", "trn1", step("down", 1)),
      scale.exclusive("aws-sim", "p5", step("other", 1)),
    ]);
    assert.deepEqual(results, ["up", "down", "other"]);
    assert.ok(log.indexOf("up end") < log.indexOf("down start"), log.join(", "));
    assert.ok(log.indexOf("other end") < log.indexOf("up end"), `another group waits for nothing: ${log.join(", ")}`);
  });

  it("a change that fails does not hold up the next", async () => {
    const scale = new ScaleUps({ clusters });
    const failed = scale.exclusive("aws-sim", "trn1", async () => {
      throw new Error("cloud said no");
    });
    const next = scale.exclusive("aws-sim", "trn1", async () => "ran");
    await assert.rejects(failed, /cloud said no/);
    assert.equal(await next, "ran");
  });
});

describe("cloudBusy", () => {
  const rows: [string, number[], number, string | undefined][] = [
    ["no call in flight", [], 10_000, undefined],
    ["one fresh call", [9_500], 10_000, undefined],
    [
      "as many fresh calls as allowed",
      Array.from({ length: CLOUD_CALLS_PER_CLUSTER }, () => 9_900),
      10_000,
      `${CLOUD_CALLS_PER_CLUSTER} calls to its cloud API are under way`,
    ],
    [
      "one call unanswered for the limit",
      [10_000 - SLOW_CLOUD_CALL_MS],
      10_000,
      "a call to its cloud API has not been answered for 2s or more",
    ],
    ["one call just under the limit", [10_001 - SLOW_CLOUD_CALL_MS], 10_000, undefined],
  ];
  for (const [name, started, now, want] of rows) it(name, () => assert.equal(cloudBusy(started, now), want));
});

describe("ScaleUps.gated", () => {
  const clusters = { get: () => undefined } as unknown as Informer<ComputeCluster>;

  it("runs calls until the cloud is busy, answers the rest at once, and other clusters are not held", async () => {
    const scale = new ScaleUps({ clusters });
    let now = 0;
    const clock = () => now;
    const hung: (() => void)[] = [];
    const hang = () => new Promise<string>((resolve) => hung.push(() => resolve("answered")));
    const first = scale.gated("aws-sim", hang, clock);
    const second = scale.gated("aws-sim", hang, clock);
    const third = await scale.gated("aws-sim", hang, clock);
    assert.equal(hung.length, CLOUD_CALLS_PER_CLUSTER, "the cloud got as many calls as allowed");
    assert.deepEqual(third, { busy: CLOUD_BUSY, reason: "2 calls to its cloud API are under way" });
    assert.equal(await scale.gated("azure-sim", async () => "azure answered", clock), "azure answered");
    for (const answer of hung.splice(0)) answer();
    assert.deepEqual(await Promise.all([first, second]), ["answered", "answered"]);
    // One slow call alone makes the cloud busy; once it ends, calls go again.
    const slow = scale.gated("aws-sim", hang, clock);
    now += SLOW_CLOUD_CALL_MS;
    assert.equal(
      ((await scale.gated("aws-sim", async () => "x", clock)) as { reason: string }).reason,
      "a call to its cloud API has not been answered for 2s or more",
    );
    hung.splice(0)[0]?.();
    assert.equal(await slow, "answered");
    assert.equal(await scale.gated("aws-sim", async () => "again", clock), "again");
  });

  it("frees its place when the call fails", async () => {
    const scale = new ScaleUps({ clusters });
    for (let i = 0; i < CLOUD_CALLS_PER_CLUSTER + 1; i++) {
      await assert.rejects(
        scale.gated("aws-sim", async () => {
          throw new Error("cloud said no");
        }),
        /cloud said no/,
      );
    }
    assert.equal(await scale.gated("aws-sim", async () => "ran"), "ran");
  });
});
