// Placement across the sandbox's two clouds, through the real operator
// process and the cloud simulator's EKS and ARM APIs: Trainium first when it
// is free, H100 on Azure when it is not, the two strategies, Spot, a scale-up
// through the SDK, a scale-up whose nodes never come, and throttled cloud
// APIs. Every test puts the simulator back the way it found it.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, afterEach, before, describe, it } from "node:test";
import { ListNodegroupsCommand, UpdateNodegroupConfigCommand } from "@aws-sdk/client-eks";
import { CustomObjectsApi } from "@kubernetes/client-node";
import { cloudSimUrl, sandboxCaPath } from "../../scripts/sandbox/sandbox.ts";
import { GROUP, VERSION } from "../../src/api/common.ts";
import type { ComputeCluster, NodeGroupStatus } from "../../src/api/computecluster.ts";
import type { TrainingJob, TrainingJobPhase } from "../../src/api/trainingjob.ts";
import { createEksClient } from "../../src/providers/eks/client.ts";
import { admin, simGroup } from "../support/cloudsim.ts";
import { type OperatorProcess, prepareHub, startOperator, waitClustersReady } from "../support/operator.ts";
import { clients, eventually, uniqueName } from "../support/sandbox.ts";
import { aTrainingJob } from "../support/trainingjob.ts";
import { TrainingJobs, workloadOf } from "../support/trainingjobs.ts";

/** Resizes an aws-sim group back through the EKS API (the operator never shrinks groups), and waits for its nodes. */
async function restoreAwsGroup(group: string, size: number, maxSize: number): Promise<void> {
  const eks = createEksClient({
    region: "us-east-1",
    endpoint: cloudSimUrl(),
    credentials: { accessKeyId: "sandbox", secretAccessKey: "sandbox" },
    ca: readFileSync(sandboxCaPath()),
  });
  await admin("PUT", `/_admin/node-groups/aws-sim/${group}`, { maxSize });
  const g = await simGroup("aws-sim", group);
  if (g.desiredSize !== size) {
    await eks.send(
      new UpdateNodegroupConfigCommand({
        clusterName: "aws-sim",
        nodegroupName: group,
        scalingConfig: { minSize: 0, maxSize, desiredSize: size },
      }),
    );
  }
  await eventually(
    `aws-sim/${group} back at ${size} nodes`,
    () => awsNodes(group),
    (n) => n === size,
    30_000,
  );
}

/** True when one of `calls` ListNodegroups calls to the simulator is throttled. */
async function throttledWithin(calls: number): Promise<boolean> {
  const eks = createEksClient({
    region: "us-east-1",
    endpoint: cloudSimUrl(),
    credentials: { accessKeyId: "sandbox", secretAccessKey: "sandbox" },
    ca: readFileSync(sandboxCaPath()),
  });
  for (let i = 0; i < calls; i++) {
    const throttled = await eks.send(new ListNodegroupsCommand({ clusterName: "aws-sim" })).then(
      () => false,
      (err: { $metadata?: { httpStatusCode?: number } }) => err.$metadata?.httpStatusCode === 429,
    );
    if (throttled) return true;
  }
  return false;
}

async function awsNodes(group: string): Promise<number> {
  const list = await clients("aws-sim").core.listNode({ labelSelector: `eks.amazonaws.com/nodegroup=${group}` });
  return list.items.length;
}

const custom = clients("hub").kubeConfig.makeApiClient(CustomObjectsApi);

/** Waits until the operator reports `cluster/group` in a state that `done` accepts. */
async function waitGroupStatus(cluster: string, group: string, done: (g: NodeGroupStatus) => boolean, what: string) {
  return eventually(
    `ComputeCluster ${cluster} to show ${group} ${what}`,
    async () => {
      const cc = (await custom.getClusterCustomObject({
        group: GROUP,
        version: VERSION,
        plural: "computeclusters",
        name: cluster,
      })) as ComputeCluster;
      return cc.status?.nodeGroups?.find((g) => g.name === group);
    },
    (g) => g !== undefined && done(g),
    60_000,
  );
}

/** A job whose fake pods hold their nodes for a long time. */
function job(name: string, replicas: number, ...options: ["trainium1" | "trainium2" | "nvidia-h100", number][]) {
  const b = aTrainingJob(name).replicas(replicas);
  for (const [type, perReplica] of options) b.accelerator(type, perReplica);
  return b.with((j) => {
    j.spec.template.metadata = { annotations: { "sandbox.crosscloud.dev/run-for": "600s" } };
  });
}

const placedOn = (j: TrainingJob) => `${j.status?.placement?.cluster}/${j.status?.placement?.nodeGroup}`;

describe("placement across clouds", { timeout: 900_000 }, () => {
  const tjs = new TrainingJobs(uniqueName("place"));
  let operator: OperatorProcess;
  const created: string[] = [];

  const create = async (j: TrainingJob) => {
    created.push(j.metadata.name ?? "");
    return tjs.create(j);
  };
  /** Waits until the job is placed (Starting or Running), recording the phases seen. */
  const waitPlaced = async (name: string, seen: TrainingJobPhase[] = []) =>
    eventually(
      `TrainingJob ${name} to be placed`,
      async () => {
        const j = await tjs.get(name);
        if (j.status?.phase && seen.at(-1) !== j.status.phase) seen.push(j.status.phase);
        return j;
      },
      (j) => j.status?.placement !== undefined && ["Starting", "Running"].includes(j.status?.phase ?? ""),
      120_000,
    );
  /** Deletes the jobs created so far and waits until their pods are gone and their nodes free again. */
  const deleteJobs = async () => {
    for (const name of created.splice(0)) {
      const j = await tjs.get(name).catch(() => undefined);
      if (!j) continue;
      await tjs.delete(name);
      const cluster = j.status?.placement?.cluster as "aws-sim" | "azure-sim" | undefined;
      if (cluster) {
        await eventually(
          `${name}'s pods to be gone`,
          () => workloadOf(cluster, j.metadata.uid ?? ""),
          (w) => w.pods.length === 0,
        );
      }
      await waitGone(name);
    }
  };
  /** Until the TrainingJob itself is gone (its finalizer done): a job being deleted still shows a placement. */
  const waitGone = (name: string) =>
    eventually(
      `TrainingJob ${name} to be gone`,
      () =>
        tjs.get(name).then(
          () => false,
          () => true,
        ),
      (gone) => gone,
    );
  const waitAllFree = async () => {
    for (const [cluster, group] of [
      ["aws-sim", "trn1"],
      ["aws-sim", "trn2"],
      ["aws-sim", "p5"],
      ["azure-sim", "ndh100"],
      ["azure-sim", "ndh100spot"],
    ] as const) {
      await waitGroupStatus(cluster, group, (g) => g.freeNodes === g.nodes, "with every node free");
    }
  };

  before(async () => {
    // The simulator as sandbox:up made it, whatever an earlier, interrupted run left.
    await admin("PUT", "/_admin/faults", { throttleRate: 0, errorRate: 0, latencyMs: 0 });
    await admin("PUT", "/_admin/config", { scaleDelayMs: 2000 });
    for (const [group, size, max] of [
      ["trn1", 4, 16],
      ["trn2", 2, 8],
      ["p5", 2, 8],
    ] as const) {
      await restoreAwsGroup(group, size, max);
    }
    await prepareHub();
    await tjs.createNamespace();
    operator = startOperator("placement-operator", { SCALE_UP_TIMEOUT_MS: "30000" });
    await waitClustersReady();
    await waitAllFree();
  });
  afterEach(async () => {
    await deleteJobs();
    await waitAllFree();
  });
  after(async () => {
    await admin("PUT", "/_admin/faults", { throttleRate: 0, errorRate: 0, latencyMs: 0 }).catch(() => {});
    await admin("PUT", "/_admin/config", { scaleDelayMs: 2000 }).catch(() => {});
    await operator?.stop();
    await tjs.deleteNamespace();
  });

  it("puts a Trainium-first job on aws-sim trn1 when it is free, and says why", async () => {
    await create(job("trn-first", 4, ["trainium1", 16], ["nvidia-h100", 8]).obj());
    const placed = await waitPlaced("trn-first");
    assert.equal(placedOn(placed), "aws-sim/trn1");
    assert.equal(placed.status?.placement?.pricePerHour, "86.00");
    const reason = placed.status?.placement?.reason ?? "";
    assert.match(
      reason,
      /chose aws-sim\/trn1 \(trn1\.32xlarge, trainium1, OnDemand\): fits now \(4 nodes needed, 4 free\)/,
    );
    assert.match(reason, /lowest cost \(LowestCost\)/);
    assert.match(reason, /azure-sim\/ndh100: \$393\.28\/h — lost to aws-sim\/trn1/);
  });

  it("with trn1 full and unable to grow, both strategies choose azure-sim H100, which fits now", async () => {
    const p5 = await simGroup("aws-sim", "p5");
    await admin("PUT", "/_admin/node-groups/aws-sim/trn1", { maxSize: 4 });
    try {
      await waitGroupStatus("aws-sim", "trn1", (g) => g.maxSize === 4, "with maxSize 4");
      await create(job("blocker", 4, ["trainium1", 16]).obj());
      // Running, so its nodes count once: as busy, not also as promised to a starting job.
      assert.equal(placedOn(await tjs.waitForPhase("blocker", "Running")), "aws-sim/trn1");
      await waitGroupStatus("aws-sim", "trn1", (g) => g.freeNodes === 0, "full");
      for (const strategy of ["LowestCost", "Preference"] as const) {
        const name = `fallback-${strategy.toLowerCase()}`;
        await create(
          job(name, 4, ["trainium1", 16], ["nvidia-h100", 8])
            .with((j) => {
              j.spec.placement.strategy = strategy;
            })
            .obj(),
        );
        const placed = await waitPlaced(name);
        assert.equal(placedOn(placed), "azure-sim/ndh100", strategy);
        const reason = placed.status?.placement?.reason ?? "";
        assert.match(reason, /chose azure-sim\/ndh100 .*fits now \(4 nodes needed, 4 free\)/);
        assert.match(reason, /aws-sim\/trn1: needs 4 nodes, 0 free, would need 8 nodes but maxSize is 4/);
        assert.match(
          reason,
          /aws-sim\/p5: needs 4 nodes, 2 free, can grow to 8 \(scale-up to 4\) — lost to azure-sim\/ndh100, which fits now/,
        );
        await tjs.delete(name);
        created.splice(created.indexOf(name), 1);
        await eventually(
          `${name}'s pods to be gone`,
          () => workloadOf("azure-sim", placed.metadata.uid ?? ""),
          (w) => w.pods.length === 0,
        );
        await waitGone(name);
        await waitGroupStatus("azure-sim", "ndh100", (g) => g.freeNodes === 4, "free again");
      }
      assert.equal(
        (await simGroup("aws-sim", "p5")).changes,
        p5.changes,
        "p5 was not grown for a job that fit elsewhere",
      );
    } finally {
      await admin("PUT", "/_admin/node-groups/aws-sim/trn1", { maxSize: 16 });
    }
  });

  it("puts a capacityType Spot job on the ndh100spot pool", async () => {
    await create(
      job("spot", 4, ["nvidia-h100", 8])
        .with((j) => {
          j.spec.placement.capacityType = "Spot";
        })
        .obj(),
    );
    const placed = await waitPlaced("spot");
    assert.equal(placedOn(placed), "azure-sim/ndh100spot");
    assert.equal(placed.status?.placement?.capacityType, "Spot");
    assert.match(
      placed.status?.placement?.reason ?? "",
      /chose azure-sim\/ndh100spot \(Standard_ND96isr_H100_v5, nvidia-h100, Spot\)/,
    );
  });

  /**
   * Fills half of trn1 with a 2-replica job, waits until the operator sees trn1 as it is (2 free, able
   * to grow to 16: an earlier test lowered its max and the cloud listing is cached for a few seconds),
   * then asks for a 4-replica Trainium-first Preference job that fits there only after a scale-up.
   */
  async function halfFillTrn1ThenAskForFour(filler: string, name: string): Promise<void> {
    await create(job(filler, 2, ["trainium1", 16]).obj());
    await tjs.waitForPhase(filler, "Running");
    await waitGroupStatus("aws-sim", "trn1", (g) => g.freeNodes === 2 && g.maxSize === 16, "with 2 free nodes, max 16");
    await create(
      job(name, 4, ["trainium1", 16], ["nvidia-h100", 8])
        .with((j) => {
          j.spec.placement.strategy = "Preference";
        })
        .obj(),
    );
  }

  it("grows trn1 through the EKS API for a Preference job that fits only after a scale-up, then runs it", async () => {
    const before = await simGroup("aws-sim", "trn1");
    try {
      await halfFillTrn1ThenAskForFour("half", "grower");
      // Scaling can pass between two polls when the simulator's nodes come quickly: the event, the
      // simulator's change count and the new nodes below are what prove the scale-up.
      const placed = await waitPlaced("grower");
      assert.equal(placedOn(placed), "aws-sim/trn1");
      assert.equal(placed.status?.scaleUp, undefined, "the scale-up is done");
      const after = await simGroup("aws-sim", "trn1");
      assert.equal(after.desiredSize, 6);
      assert.equal(after.changes - before.changes, 1, "one change, however many passes asked");
      assert.equal(await awsNodes("trn1"), 6, "two new kwok nodes");
      const events = await tjs.events("grower");
      assert.ok(events.some((e) => e.reason === "ScalingUp" && /scaling up aws-sim\/trn1 to 6 nodes/.test(e.message)));
      await tjs.waitForPhase("grower", "Running");
      // Placement decides from the capacity the ComputeCluster reports, which counts grower's pods
      // a heartbeat after they run.
      await waitGroupStatus("aws-sim", "trn1", (g) => g.freeNodes === 0, "with no free node");
      // Under LowestCost the same job would have gone to azure-sim/ndh100, which fits now.
      await create(job("lowest", 4, ["trainium1", 16], ["nvidia-h100", 8]).obj());
      assert.equal(placedOn(await waitPlaced("lowest")), "azure-sim/ndh100");
    } finally {
      await deleteJobs();
      await restoreAwsGroup("trn1", 4, 16);
    }
  });

  it("gives the grown group back when the job it grew for finishes, keeping what still runs there", async () => {
    try {
      await create(job("keeper", 2, ["trainium1", 16]).obj());
      await tjs.waitForPhase("keeper", "Running");
      await waitGroupStatus(
        "aws-sim",
        "trn1",
        (g) => g.freeNodes === 2 && g.maxSize === 16,
        "with 2 free nodes, max 16",
      );
      await create(
        job("borrower", 4, ["trainium1", 16], ["nvidia-h100", 8])
          .with((j) => {
            j.spec.placement.strategy = "Preference";
            j.spec.template.metadata = { annotations: { "sandbox.crosscloud.dev/run-for": "5s" } };
          })
          .obj(),
      );
      const grown = await waitPlaced("borrower");
      assert.equal(placedOn(grown), "aws-sim/trn1");
      assert.deepEqual(
        grown.status?.grownNodeGroups?.map((g) => [g.cluster, g.nodeGroup, g.fromSize, g.toSize]),
        [["aws-sim", "trn1", 4, 6]],
      );
      assert.equal((await simGroup("aws-sim", "trn1")).desiredSize, 6);
      const done = await eventually(
        "borrower to finish and give trn1 back",
        () => tjs.get("borrower"),
        (j) => j.status?.phase === "Succeeded" && j.status.grownNodeGroups === undefined,
        120_000,
      );
      assert.equal(done.status?.phase, "Succeeded");
      // Back to the 4 nodes the operator found: keeper's 2 busy nodes are within them.
      assert.equal((await simGroup("aws-sim", "trn1")).desiredSize, 4);
      // Events follow the status write that they describe.
      await eventually(
        "the event ScaledDown saying what was given back",
        () => tjs.events("borrower"),
        (events) =>
          events.some((e) => e.reason === "ScaledDown" && /aws-sim\/trn1: asked for 4 nodes \(was 6/.test(e.message)),
        10_000,
      );
      assert.equal((await tjs.get("keeper")).status?.phase, "Running", "the job still on trn1 runs on");
    } finally {
      await deleteJobs();
      await restoreAwsGroup("trn1", 4, 16);
    }
  });

  it("tries the next option when the nodes of a scale-up do not arrive in time", async () => {
    await admin("PUT", "/_admin/config", { scaleDelayMs: 600_000 });
    try {
      await halfFillTrn1ThenAskForFour("half2", "patient");
      await tjs.waitForPhase("patient", "Scaling");
      const placed = await waitPlaced("patient"); // SCALE_UP_TIMEOUT_MS is 30 s
      assert.equal(placedOn(placed), "azure-sim/ndh100");
      // Events follow the status write that they describe.
      await eventually(
        "the event ScaleUpTimedOut naming aws-sim/trn1",
        () => tjs.events("patient"),
        (events) => events.some((e) => e.reason === "ScaleUpTimedOut" && /aws-sim\/trn1/.test(e.message)),
        10_000,
      );
      // The job gave up on trn1 and moved on: the operator gives trn1 back itself, to the 4 nodes it
      // found (half2's 2 busy nodes are within them), and forgets the growth.
      const gaveUp = await eventually(
        "patient to give trn1 back",
        () => tjs.get("patient"),
        (j) => j.status?.grownNodeGroups === undefined,
        60_000,
      );
      assert.equal(placedOn(gaveUp), "azure-sim/ndh100", "it stays where it moved");
      assert.equal((await simGroup("aws-sim", "trn1")).desiredSize, 4, "trn1 is back at the size the operator found");
      await eventually(
        "the event ScaledDown saying what was given back",
        () => tjs.events("patient"),
        (events) =>
          events.some((e) => e.reason === "ScaledDown" && /aws-sim\/trn1: asked for 4 nodes \(was 6/.test(e.message)),
        10_000,
      );
      assert.equal((await tjs.get("half2")).status?.phase, "Running", "the job on trn1 runs on");
    } finally {
      // Only if the test failed before the give-back does this change anything.
      await admin("PUT", "/_admin/config", { scaleDelayMs: 2000 });
      await deleteJobs();
      await restoreAwsGroup("trn1", 4, 16);
    }
  });

  it("with 30% of cloud API calls throttled, places every job and grows no group twice", async () => {
    const groups = ["trn1", "trn2", "p5"];
    const before = await Promise.all(groups.map((g) => simGroup("aws-sim", g)));
    await admin("PUT", "/_admin/faults", { throttleRate: 0.3 });
    try {
      await create(job("t-trn1", 2, ["trainium1", 16]).obj());
      // trn2 has 2 nodes: grows to 5 (the 4 nodes of trn2u, one Trn2 UltraServer at its maxSize, cannot take 5).
      await create(job("t-trn2", 5, ["trainium2", 16]).obj());
      await create(
        job("t-spot", 2, ["nvidia-h100", 8])
          .with((j) => {
            j.spec.placement.capacityType = "Spot";
          })
          .obj(),
      );
      const placed = await Promise.all(["t-trn1", "t-trn2", "t-spot"].map((n) => waitPlaced(n)));
      assert.deepEqual(placed.map(placedOn), ["aws-sim/trn1", "aws-sim/trn2", "azure-sim/ndh100spot"]);
      const after = await Promise.all(groups.map((g) => simGroup("aws-sim", g)));
      assert.deepEqual(
        after.map((g, i) => g.changes - (before[i]?.changes ?? 0)),
        [0, 1, 0],
        "trn2 grew once, the others not at all",
      );
      assert.equal(after[1]?.desiredSize, 5);
      // The faults are random per call: prove they are on by calling until one is throttled
      // (0.7^40: a pass without one is practically impossible).
      assert.ok(await throttledWithin(40), "throttling was injected");
    } finally {
      await admin("PUT", "/_admin/faults", { throttleRate: 0 });
      await deleteJobs();
      await restoreAwsGroup("trn2", 2, 8);
    }
  });
});
