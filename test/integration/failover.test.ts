// Failover against the real sandbox, through the operator process: a cluster
// that stops answering (its API server hangs), a drained cluster, the limits
// (maxFailovers, failover off), a whole cluster's jobs moving into a target
// that fits only some of them, a new job while a cluster is lost, and a job
// deleted while its cluster is lost. The trainer is simulated by the test,
// which writes steps through the commit protocol into the stores.

import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { evict, heal, partition } from "../../scripts/sandbox/faults.ts";
import type { TrainingJob } from "../../src/api/trainingjob.ts";
import { admin, scaleAzurePool } from "../support/cloudsim.ts";
import {
  committedSteps,
  getCluster,
  movedAndRunning,
  patchCluster,
  podsOf,
  resumeOf,
  trainerEnv,
  trainStep,
  waitReachable,
} from "../support/failover.ts";
import { withOperator } from "../support/operator.ts";
import { clients, eventually } from "../support/sandbox.ts";
import { aTrainingJob } from "../support/trainingjob.ts";
import { workloadOf } from "../support/trainingjobs.ts";

const LOST_TIMEOUT_S = 10;
/** A test's finalizer, to hold a worker Job's deletion. */
const HOLD = "test.crosscloud.dev/hold";
const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

/**
 * Removes the HOLD finalizer from the Jobs on aws-sim that have it: a JSON patch that tests the entry
 * it removes, read again when the garbage collector changed the list (foregroundDeletion) meanwhile.
 */
async function releaseHeldJobs(): Promise<void> {
  const { batch } = clients("aws-sim");
  const jsonPatch = setHeaderOptions("Content-Type", PatchStrategy.JsonPatch);
  for (let attempt = 1; ; attempt++) {
    const held = (await batch.listJobForAllNamespaces()).items.filter((j) => j.metadata?.finalizers?.includes(HOLD));
    try {
      for (const j of held) {
        const { name = "", namespace = "", finalizers = [] } = j.metadata ?? {};
        const path = `/metadata/finalizers/${finalizers.indexOf(HOLD)}`;
        const body = [
          { op: "test", path, value: HOLD },
          { op: "remove", path },
        ];
        await batch.patchNamespacedJob({ name, namespace, body }, jsonPatch);
      }
      return;
    } catch (err) {
      if (attempt >= 5) throw err;
    }
  }
}
const UNSCHEDULABLE_TIMEOUT_S = 10;

/**
 * A job that prefers Trainium (aws-sim) and can move to H100 (azure-sim), with a CUDA image and env
 * there. Its checkpoint line is the default, <namespace>/<name>.
 */
function movable(name: string, mutate: (j: TrainingJob) => void = () => {}): TrainingJob {
  return aTrainingJob(name)
    .replicas(1)
    .accelerator("trainium1", 16, { image: "example.com/train:neuron" })
    .accelerator("nvidia-h100", 8, { image: "example.com/train:cuda", env: [{ name: "ON_H100", value: "1" }] })
    .with((j) => {
      j.spec.placement.strategy = "Preference";
      j.spec.failover.clusterLostTimeout = `${LOST_TIMEOUT_S}s`;
      j.spec.failover.drainCheckpointTimeout = "60s";
      j.spec.template.metadata = { annotations: { "sandbox.crosscloud.dev/run-for": "900s" } };
      mutate(j);
    })
    .obj();
}

describe("failover", { timeout: 900_000 }, () => {
  const { tjs } = withOperator("failover", {
    HEARTBEAT_MS: "3000",
    CHECKPOINT_INTERVAL_MS: "3000",
    WORKER_REQUEST_TIMEOUT_MS: "3000",
  });
  afterEach(async () => {
    // Whatever a test did to the clusters is undone before the next one, and the jobs a failed test
    // left go, so that a failure does not take capacity from the tests after it.
    await heal("aws-sim");
    await releaseHeldJobs();
    for (const j of await tjs.list()) await tjs.deleteAndWait(j.metadata.name ?? "").catch(() => {});
    await patchCluster("aws-sim", { drain: false, paused: false });
    await patchCluster("azure-sim", { drain: false, paused: false });
    await waitReachable("aws-sim", "True");
  });

  it("moves a job off a cluster that stops answering, resumes from the replicated step, and fences epoch 1", async () => {
    const prefix = `${tjs.namespace}/lost`;
    const created = await tjs.create(movable("lost"));
    const running = await tjs.waitForPhase("lost", "Running");
    assert.equal(running.status?.placement?.cluster, "aws-sim");
    await trainStep("aws-sim", prefix, 100, 1);
    await eventually(
      "step 100 replicated to azure-sim",
      () => tjs.get("lost"),
      (j) => j.status?.checkpoint?.stores?.find((s) => s.cluster === "azure-sim")?.latestStep === 100,
      60_000,
    );
    const cut = Date.now();
    await partition("aws-sim");
    const moved = await eventually(
      "the job running on azure-sim at epoch 2",
      () => tjs.get("lost"),
      movedAndRunning(2),
      120_000,
    );
    const tookS = (Date.parse(moved.status?.failovers?.[0]?.runningAt ?? "") - cut) / 1000;
    assert.ok(tookS <= LOST_TIMEOUT_S + 15 + 5, `Running elsewhere ${tookS}s after the partition`);
    const record = moved.status?.failovers?.[0];
    assert.equal(record?.reason, "ClusterLost");
    assert.equal(record?.from, "aws-sim/trn1");
    assert.equal(record?.to, "azure-sim/ndh100");
    assert.equal(record?.resumedFromStep, 100);
    assert.ok((record?.lostWorkSeconds ?? -1) >= 0);
    assert.equal(moved.status?.placement?.accelerator, "nvidia-h100");
    const [pod] = await podsOf("azure-sim", created, 2);
    assert.equal(pod?.spec?.containers[0]?.image, "example.com/train:cuda");
    const env = trainerEnv(pod);
    assert.equal(env.ON_H100, "1");
    assert.equal(env.CROSSCLOUD_EPOCH, "2");
    assert.equal((await resumeOf("azure-sim", tjs.namespace, "lost", 2)).step, "100");
    const events = await tjs.eventMatching("lost", "the FailedOver event", (e) => e.reason === "FailedOver");
    assert.ok(events.some((e) => e.reason === "FailoverStarted" && e.type === "Warning"));

    // The partitioned epoch 1 is still writing to its store: its step after the move is never used.
    await trainStep("aws-sim", prefix, 200, 1);
    await trainStep("azure-sim", prefix, 300, 2);
    await eventually(
      "epoch 2's step 300 replicated back to aws-sim's store",
      () => committedSteps("aws-sim", prefix),
      (steps) => steps.includes(300),
      60_000,
    );
    assert.ok(!(await committedSteps("azure-sim", prefix)).includes(200), "epoch 1's step 200 was copied");
    await eventually(
      "status to show step 300 as the newest",
      () => tjs.get("lost"),
      (j) => j.status?.checkpoint?.latestStep === 300,
      30_000,
    );
    // A pod started again now (a retry) resumes from epoch 2's newest step, not the one epoch 2 launched with.
    await eventually(
      "the resume ConfigMap at step 300",
      () => resumeOf("azure-sim", tjs.namespace, "lost", 2),
      (data) => data.step === "300",
      30_000,
    );

    // Heal: the epoch-1 Job and Service on aws-sim go.
    await heal("aws-sim");
    await eventually(
      "epoch 1's workload gone from aws-sim",
      () => workloadOf("aws-sim", created.metadata.uid ?? ""),
      (w) => w.jobs.length === 0 && w.services.length === 0,
      30_000 + 15_000,
    );
    const still = await tjs.get("lost");
    assert.equal(still.status?.epoch, 2);
    assert.equal(still.status?.failovers?.length, 1);
    await tjs.deleteAndWait("lost");
  });

  it("moves a spot job whose nodes are reclaimed, without counting the evicted pods against backoffLimit", async () => {
    // The spot pool is priced below on-demand here, as a real AKS spot pool is.
    await patchCluster("azure-sim", { prices: { "Standard_ND96isr_H100_v5:Spot": "39.33" } });
    await eventually(
      "the spot price in azure-sim's status",
      () => getCluster("azure-sim"),
      (cc) => cc.status?.nodeGroups?.find((g) => g.name === "ndh100spot")?.pricePerHour === "39.33",
      30_000,
    );
    const prefix = `${tjs.namespace}/spot`;
    try {
      const created = await tjs.create(
        aTrainingJob("spot")
          .replicas(1)
          .accelerator("nvidia-h100", 8)
          .with((j) => {
            j.spec.placement.capacityType = "Any";
            j.spec.failover.unschedulableTimeout = `${UNSCHEDULABLE_TIMEOUT_S}s`;
            j.spec.template.metadata = { annotations: { "sandbox.crosscloud.dev/run-for": "900s" } };
          })
          .obj(),
      );
      const running = await eventually(
        "the job Running on the spot pool",
        () => tjs.get("spot"),
        (j) => j.status?.phase === "Running" && j.status.placement?.nodeGroup === "ndh100spot",
        90_000,
      );
      assert.equal(running.status?.placement?.capacityType, "Spot");
      await trainStep("azure-sim", prefix, 50, 1);
      await eventually(
        "step 50 replicated to aws-sim",
        () => tjs.get("spot"),
        (j) => j.status?.checkpoint?.stores?.find((st) => st.cluster === "aws-sim")?.latestStep === 50,
        60_000,
      );
      const evicted = Date.now();
      await evict("azure-sim/ndh100spot", undefined);
      // The evicted pod is not the trainer's failure: the Job starts a replacement and counts nothing.
      const old = await eventually(
        "a replacement pod pending, with no failure counted",
        async () => ({
          pods: await podsOf("azure-sim", created, 1),
          job: (await workloadOf("azure-sim", created.metadata.uid ?? "")).jobs[0],
        }),
        ({ pods, job }) => pods.some((p) => p.status?.phase === "Pending") && job !== undefined,
        30_000,
      );
      assert.equal(old.job?.status?.failed ?? 0, 0, "the evicted pod counted against backoffLimit");
      const moved = await eventually("the spot job moved", () => tjs.get("spot"), movedAndRunning(2), 120_000);
      const record = moved.status?.failovers?.[0];
      assert.equal(record?.reason, "CapacityLost");
      assert.equal(record?.from, "azure-sim/ndh100spot");
      assert.notEqual(record?.to, "azure-sim/ndh100spot");
      assert.equal(record?.resumedFromStep, 50);
      const tookS = (Date.parse(record?.runningAt ?? "") - evicted) / 1000;
      assert.ok(tookS <= UNSCHEDULABLE_TIMEOUT_S + 15 + 5, `Running elsewhere ${tookS}s after the eviction`);
      assert.equal(moved.status?.replicas?.failed, 0);
      assert.ok(!(await tjs.events("spot")).some((e) => e.reason === "PodFailed"), "a PodFailed event was sent");
      await tjs.deleteAndWait("spot");
    } finally {
      await patchCluster("azure-sim", { prices: null } as never);
      await scaleAzurePool("ndh100spot", 4);
    }
  });

  it("drains a cluster with two jobs: both move, each resumes from the step written on SIGTERM", async () => {
    const names = ["drain-a", "drain-b"];
    const jobs: TrainingJob[] = [];
    for (const name of names) jobs.push(await tjs.create(movable(name)));
    for (const name of names) {
      const j = await tjs.waitForPhase(name, "Running");
      assert.equal(j.status?.placement?.cluster, "aws-sim");
      await trainStep("aws-sim", `${tjs.namespace}/${name}`, 10, 1);
    }
    for (const name of names) {
      await eventually(
        `${name}'s step 10 known`,
        () => tjs.get(name),
        (j) => j.status?.checkpoint?.latestStep === 10,
        60_000,
      );
    }
    await patchCluster("aws-sim", { drain: true });
    for (const [i, name] of names.entries()) {
      // The old pods are stopped; the trainer saves on SIGTERM: step 11, from epoch 1.
      await eventually(
        `${name}'s epoch-1 pods gone`,
        () => podsOf("aws-sim", jobs[i] as TrainingJob, 1),
        (pods) => pods.length === 0,
        60_000,
      );
      await trainStep("aws-sim", `${tjs.namespace}/${name}`, 11, 1);
    }
    for (const [i, name] of names.entries()) {
      const moved = await eventually(`${name} moved`, () => tjs.get(name), movedAndRunning(2), 120_000);
      const record = moved.status?.failovers?.[0];
      assert.equal(record?.reason, "Drained");
      assert.equal(record?.newestStepAtStart, 10);
      assert.equal(record?.resumedFromStep, 11);
      assert.equal(moved.status?.placement?.cluster, "azure-sim");
      assert.equal((await resumeOf("azure-sim", tjs.namespace, name, 2)).step, "11");
      assert.equal((await podsOf("azure-sim", jobs[i] as TrainingJob, 2)).length, 1);
    }
    for (const name of names) await tjs.deleteAndWait(name);
  });

  it("fails a job that reached maxFailovers, and keeps one whose failover is off where it is", async () => {
    await tjs.create(
      movable("limited", (j) => {
        j.spec.failover.maxFailovers = 0;
      }),
    );
    await tjs.create(
      movable("pinned", (j) => {
        j.spec.failover.enabled = false;
      }),
    );
    await tjs.waitForPhase("limited", "Running");
    await tjs.waitForPhase("pinned", "Running");
    await patchCluster("aws-sim", { drain: true });
    const failed = await tjs.waitForPhase("limited", "Failed", [], 60_000);
    const why = failed.status?.conditions?.find((c) => c.type === "Failed");
    assert.equal(why?.reason, "FailoverLimitReached");
    assert.match(why?.message ?? "", /maxFailovers is 0/);
    const pinned = await eventually(
      "pinned to say failover is off",
      () => tjs.get("pinned"),
      (j) => j.status?.conditions?.some((c) => c.type === "FailedOver" && c.reason === "FailoverDisabled") === true,
      60_000,
    );
    assert.equal(pinned.status?.placement?.cluster, "aws-sim");
    assert.equal(pinned.status?.epoch, 1);
    assert.equal(pinned.status?.failovers, undefined);
    assert.match(pinned.status?.conditions?.find((c) => c.type === "FailedOver")?.message ?? "", /failover is off/);
    await tjs.deleteAndWait("limited");
    await tjs.deleteAndWait("pinned");
  });

  it("moves only as many jobs of a lost cluster as the target fits; the rest wait Pending, then return", async () => {
    // azure-sim's on-demand H100 group may not grow past its 4 nodes.
    await admin("PUT", "/_admin/node-groups/azure-sim/ndh100", { maxSize: 4 });
    await eventually(
      "azure-sim/ndh100 max 4 in status",
      () => getCluster("azure-sim"),
      (cc) => cc.status?.nodeGroups?.find((g) => g.name === "ndh100")?.maxSize === 4,
      30_000,
    );
    const names = [1, 2, 3, 4, 5, 6].map((i) => `many-${i}`);
    try {
      // All six start on aws-sim (trn1 holds 4, p5 the other 2) while azure-sim takes nothing new.
      await patchCluster("azure-sim", { paused: true });
      for (const name of names) await tjs.create(movable(name));
      for (const name of names) {
        const j = await tjs.waitForPhase(name, "Running", [], 120_000);
        assert.equal(j.status?.placement?.cluster, "aws-sim");
      }
      await patchCluster("azure-sim", { paused: false });
      await partition("aws-sim");
      const settled = await eventually(
        "four jobs on azure-sim, two Pending",
        () => Promise.all(names.map((n) => tjs.get(n))),
        (js) =>
          js.filter(movedAndRunning(2)).length === 4 && js.filter((j) => j.status?.phase === "Pending").length === 2,
        150_000,
      );
      for (const j of settled.filter((x) => x.status?.phase === "Pending")) {
        const placed = j.status?.conditions?.find((c) => c.type === "Placed");
        assert.equal(placed?.status, "False");
        assert.ok(placed?.message, "a Pending job says why it is not placed");
      }
      // Never oversubscribed: one pod per node, no more than 4 on ndh100.
      const azurePods = (
        await clients("azure-sim").core.listPodForAllNamespaces({ labelSelector: "training.crosscloud.dev/job-name" })
      ).items.filter((p) => p.metadata?.namespace === tjs.namespace && p.status?.phase === "Running");
      const nodes = azurePods.map((p) => p.spec?.nodeName);
      assert.equal(new Set(nodes).size, nodes.length, `two pods on one node: ${nodes.join(", ")}`);
      assert.ok(azurePods.length <= 4);
      // The lost cluster comes back: the two waiting jobs are placed again (there).
      await heal("aws-sim");
      await eventually(
        "all six running",
        () => Promise.all(names.map((n) => tjs.get(n))),
        (js) => js.every((j) => j.status?.phase === "Running"),
        120_000,
      );
    } finally {
      await admin("PUT", "/_admin/node-groups/azure-sim/ndh100", { maxSize: 16 });
      for (const name of names) await tjs.deleteAndWait(name).catch(() => {});
    }
  });

  it("starts a new job on azure-sim while aws-sim is lost about as fast as with both up", async () => {
    const timeToRunning = async (name: string) => {
      const started = Date.now();
      await tjs.create(
        movable(name, (j) => {
          j.spec.placement.clouds = ["azure"];
        }),
      );
      await tjs.waitForPhase(name, "Running", [], 60_000);
      return Date.now() - started;
    };
    // A job on aws-sim, so the operator has work there that it must not wait on.
    await tjs.create(movable("bystander"));
    await tjs.waitForPhase("bystander", "Running");
    const both = await timeToRunning("fast-1");
    await partition("aws-sim");
    await waitReachable("aws-sim", "False");
    const lost = await timeToRunning("fast-2");
    assert.ok(lost <= Math.max(2 * both, both + 3_000), `with aws-sim lost ${lost}ms, with both up ${both}ms`);
    for (const name of ["bystander", "fast-1", "fast-2"]) await tjs.deleteAndWait(name);
  });

  it("replaces the workload with a new epoch when the pod template changes while suspended", async () => {
    const created = await tjs.create(movable("edited"));
    await tjs.waitForPhase("edited", "Running");
    await tjs.patch("edited", { spec: { suspend: true } });
    await tjs.waitForPhase("edited", "Suspended");
    // The old Job's deletion is held by a finalizer, as pods slow to stop hold it: the job waits for
    // it and never launches epoch 1 again once it is gone (what a pass finding it gone once did).
    const [epoch1] = (await workloadOf("aws-sim", created.metadata.uid ?? "")).jobs;
    const ref = { name: epoch1?.metadata?.name ?? "", namespace: epoch1?.metadata?.namespace ?? "" };
    const worker = clients("aws-sim").batch;
    await worker.patchNamespacedJob({ ...ref, body: { metadata: { finalizers: [HOLD] } } }, mergePatch);
    await tjs.patch("edited", {
      spec: {
        suspend: false,
        template: {
          spec: {
            containers: [{ name: "trainer", image: "example.com/train:cuda", env: [{ name: "RUN", value: "2" }] }],
          },
        },
      },
    });
    const waiting = await eventually(
      "the job waiting for epoch 1's Job to be gone",
      () => tjs.get("edited"),
      (j) => j.status?.phase === "Placing",
      30_000,
    );
    const placed = waiting.status?.conditions?.find((c) => c.type === "Placed");
    assert.equal(placed?.reason, "PreviousEpochStopping");
    assert.match(
      placed?.message ?? "",
      new RegExp(`before placing epoch 2: Job ${ref.namespace}/${ref.name} on aws-sim`),
    );
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal((await tjs.get("edited")).status?.epoch, 1, "nothing placed while epoch 1's Job is there");
    await releaseHeldJobs();
    const replaced = await eventually(
      "epoch 2 running",
      () => tjs.get("edited"),
      (j) => j.status?.phase === "Running" && j.status.epoch === 2,
      90_000,
    );
    assert.equal(replaced.status?.failovers, undefined, "a new epoch for an edit is not a failover");
    const w = await workloadOf("aws-sim", created.metadata.uid ?? "");
    assert.deepEqual(
      w.jobs.map((j) => j.metadata?.labels?.["training.crosscloud.dev/epoch"]),
      ["2"],
    );
    const events = await tjs.events("edited");
    assert.ok(events.some((e) => e.reason === "NewEpoch"));
    await tjs.deleteAndWait("edited");
  });

  it("finishes deleting a job whose cluster is lost, and removes its workload when the cluster is back", async () => {
    const created = await tjs.create(
      movable("doomed", (j) => {
        j.spec.failover.clusterLostTimeout = "10m";
      }),
    );
    await tjs.waitForPhase("doomed", "Running");
    await partition("aws-sim");
    const deletedAt = Date.now();
    await tjs.delete("doomed");
    await eventually(
      "the TrainingJob gone from the hub",
      () =>
        tjs.get("doomed").then(
          () => false,
          (err: { code?: number }) => err.code === 404,
        ),
      (gone) => gone,
      30_000,
    );
    assert.ok(Date.now() - deletedAt <= 30_000);
    await heal("aws-sim");
    await eventually(
      "its orphaned workload removed from aws-sim",
      () => workloadOf("aws-sim", created.metadata.uid ?? ""),
      (w) => w.jobs.length === 0 && w.services.length === 0,
      60_000,
    );
  });
});
