// Kueue evictions through a real Kueue on the hub: a high-priority job
// preempts a running low-priority one, which stops (its pods gone, its quota
// given back), waits, and once readmitted runs again as a new epoch resumed
// from its newest step, never in two places at once; two teams in one cohort
// borrow each other's idle quota and give it back; and an admitted job that
// no cluster can take gives its quota back after KUEUE_UNPLACED_MS.

import assert from "node:assert/strict";
import { afterEach, before, describe, it } from "node:test";
import { CustomObjectsApi } from "@kubernetes/client-node";
import type { TrainingJob } from "../../src/api/trainingjob.ts";
import { KUEUE_GROUP, KUEUE_VERSION } from "../../src/kueue/workload.ts";
import { podsOf, resumeOf, trainStep } from "../support/failover.ts";
import { ensureKueue } from "../support/kueue.ts";
import { admissionOf, applyToHub, queuedH100, workloadOf } from "../support/kueue-jobs.ts";
import { withOperator } from "../support/operator.ts";
import { clients, eventually, uniqueName } from "../support/sandbox.ts";

const UNPLACED_MS = 15_000;
const u = uniqueName("kq");

/** A ClusterQueue with `gpus` nvidia.com/gpu on flavor nvidia-h100, in a cohort when given, and its LocalQueue in `namespace`. */
function queueYaml(name: string, namespace: string, gpus: number, cohort?: string): string {
  const cq = {
    apiVersion: `${KUEUE_GROUP}/${KUEUE_VERSION}`,
    kind: "ClusterQueue",
    metadata: { name },
    spec: {
      namespaceSelector: {},
      ...(cohort ? { cohortName: cohort } : {}),
      preemption: { withinClusterQueue: "LowerPriority", reclaimWithinCohort: "Any" },
      resourceGroups: [
        {
          coveredResources: ["nvidia.com/gpu"],
          flavors: [{ name: "nvidia-h100", resources: [{ name: "nvidia.com/gpu", nominalQuota: gpus }] }],
        },
      ],
    },
  };
  const lq = {
    apiVersion: `${KUEUE_GROUP}/${KUEUE_VERSION}`,
    kind: "LocalQueue",
    metadata: { name, namespace },
    spec: { clusterQueue: name },
  };
  return [cq, lq].map((o) => JSON.stringify(o)).join("\n---\n");
}

const PRIORITIES = ["low", "high"].map((p, i) => ({
  apiVersion: `${KUEUE_GROUP}/${KUEUE_VERSION}`,
  kind: "WorkloadPriorityClass",
  metadata: { name: `${u}-${p}` },
  value: i === 0 ? 100 : 1000,
}));

const clusterOf = (j: TrainingJob) => (j.status?.placement?.cluster ?? "aws-sim") as "aws-sim" | "azure-sim";

async function podsAnywhere(job: TrainingJob, epoch: number) {
  return [...(await podsOf("aws-sim", job, epoch)), ...(await podsOf("azure-sim", job, epoch))];
}

describe("Kueue evictions", { timeout: 900_000 }, () => {
  const { tjs } = withOperator("kueue-evict", {
    CHECKPOINT_INTERVAL_MS: "3000",
    KUEUE_UNPLACED_MS: String(UNPLACED_MS),
  });
  const hub = () => clients("hub").kubeConfig.makeApiClient(CustomObjectsApi);
  before(async () => {
    await ensureKueue();
    applyToHub({
      yaml: JSON.stringify({
        apiVersion: `${KUEUE_GROUP}/${KUEUE_VERSION}`,
        kind: "ResourceFlavor",
        metadata: { name: "nvidia-h100" },
      }),
    });
    applyToHub({ yaml: PRIORITIES.map((p) => JSON.stringify(p)).join("\n---\n") });
  });
  afterEach(async () => {
    for (const j of await tjs.list()) await tjs.deleteAndWait(j.metadata.name ?? "", 120_000).catch(() => {});
  });

  it("a high-priority job preempts a running low one, which stops, then resumes from its newest step as a new epoch", async () => {
    const queue = `${u}-prio`;
    applyToHub({ yaml: queueYaml(queue, tjs.namespace, 32) });
    const low = await tjs.create(queuedH100("low", queue, "900s", { priority: `${u}-low` }));
    const running = await tjs.waitForPhase("low", "Running", [], 180_000);
    assert.equal(running.status?.epoch, 1);
    const prefix = `${tjs.namespace}/low`;
    await trainStep(clusterOf(running), prefix, 100, 1);
    await eventually(
      "step 100 in both clouds' stores",
      () => tjs.get("low"),
      (j) => (j.status?.checkpoint?.stores ?? []).filter((s) => s.latestStep === 100).length === 2,
      90_000,
    );

    await tjs.create(queuedH100("high", queue, "25s", { priority: `${u}-high` }));
    // A step saved as the eviction begins (a trainer saving on SIGTERM): it is the one resumed from.
    await trainStep(clusterOf(running), prefix, 200, 1);
    // The low job is evicted: its pods stop, its quota goes back, its placement is dropped.
    const evicted = await eventually(
      "the low job evicted, its placement dropped",
      () => tjs.get("low"),
      (j) => admissionOf(j)?.status === "False" && j.status?.placement === undefined,
      120_000,
    );
    assert.equal(evicted.status?.phase, "Pending");
    const events = await tjs.eventMatching(
      "low",
      "Evicted and PlacementDropped",
      (e) => e.reason === "PlacementDropped",
    );
    assert.ok(
      events.some((e) => e.reason === "Evicted" && e.type === "Warning" && /\(Preempted\)/.test(e.message)),
      JSON.stringify(events),
    );
    assert.deepEqual(await podsAnywhere(low, 1), [], "epoch 1's pods are gone once its quota is given back");

    const high = await tjs.waitForPhase("high", "Running", [], 120_000);
    assert.equal(admissionOf(high)?.status, "True");
    assert.deepEqual(await podsAnywhere(low, 1), [], "the low job runs nowhere while the high one runs");
    const lowWl = await workloadOf({ ...low, metadata: { ...low.metadata, namespace: tjs.namespace } });
    assert.equal(lowWl?.status?.admission, undefined, "the low job's Workload holds no quota");
    assert.equal(lowWl?.status?.conditions?.find((c) => c.type === "Requeued")?.status, "True");

    // The high job finishes (25 s): the low one is admitted again, placed anew and resumes from step 200,
    // which was in every store before its quota was given back.
    const again = await eventually(
      "the low job running again as epoch 2",
      () => tjs.get("low"),
      (j) => j.status?.phase === "Running" && j.status.epoch === 2,
      240_000,
    );
    assert.equal(admissionOf(again)?.status, "True");
    assert.equal(
      (await resumeOf(clusterOf(again), tjs.namespace, "low", 2)).step,
      "200",
      "resumed from the newest step",
    );
    assert.deepEqual(await podsAnywhere(low, 1), [], "never in two places: epoch 1 has no pods");
    assert.equal((await tjs.get("high")).status?.phase, "Succeeded");
  });

  it("two teams in one cohort borrow each other's idle quota and give it back", async () => {
    const cohort = `${u}-cohort`;
    const [qa, qb] = [`${u}-team-a`, `${u}-team-b`];
    applyToHub({
      yaml: `${queueYaml(qa, tjs.namespace, 32, cohort)}\n---\n${queueYaml(qb, tjs.namespace, 32, cohort)}`,
    });
    // Team a runs two 32-GPU jobs: the second borrows team b's idle 32.
    await tjs.create(queuedH100("a1", qa, "900s"));
    await tjs.create(queuedH100("a2", qa, "900s"));
    await eventually(
      "both of team a's jobs running",
      () => Promise.all(["a1", "a2"].map((n) => tjs.get(n))),
      (js) => js.every((j) => j.status?.phase === "Running"),
      240_000,
    );
    const borrowed = async () => {
      const cq = (await hub().getClusterCustomObject({
        group: KUEUE_GROUP,
        version: KUEUE_VERSION,
        plural: "clusterqueues",
        name: qa,
      })) as {
        status?: { flavorsReservation?: { resources?: { name: string; borrowed?: string }[] }[] };
      };
      return cq.status?.flavorsReservation?.[0]?.resources?.find((r) => r.name === "nvidia.com/gpu")?.borrowed ?? "0";
    };
    assert.equal(await eventually("team a borrowing 32 GPUs", borrowed, (b) => b === "32", 30_000), "32");

    // Team b asks for its own quota: Kueue reclaims it; one of team a's jobs stops and gives it back.
    await tjs.create(queuedH100("b1", qb, "20s"));
    const b1 = await tjs.waitForPhase("b1", "Running", [], 180_000);
    assert.equal(admissionOf(b1)?.status, "True");
    const as = await Promise.all(["a1", "a2"].map((n) => tjs.get(n)));
    const reclaimed = as.filter((j) => admissionOf(j)?.status === "False");
    assert.equal(
      reclaimed.length,
      1,
      `one of team a's jobs gave its borrowed quota back: ${as.map((j) => admissionOf(j)?.reason)}`,
    );
    const gaveBack = reclaimed[0] as TrainingJob;
    assert.equal(gaveBack.status?.placement, undefined);
    assert.deepEqual(await podsAnywhere(gaveBack, 1), []);
    assert.equal(await borrowed(), "0", "team a borrows nothing while team b uses its quota");

    // Team b's job finishes: team a borrows again and its job runs again.
    const back = await eventually(
      "team a's reclaimed job running again",
      () => tjs.get(gaveBack.metadata.name ?? ""),
      (j) => j.status?.phase === "Running" && j.status.epoch === 2,
      240_000,
    );
    assert.equal(admissionOf(back)?.status, "True");
    assert.equal(await eventually("team a borrowing again", borrowed, (b) => b === "32", 30_000), "32");
  });

  it("an admitted job no cluster can take gives its quota back after KUEUE_UNPLACED_MS, with a backoff", async () => {
    const queue = `${u}-big`;
    applyToHub({ yaml: queueYaml(queue, tjs.namespace, 256) });
    // 12 H100 nodes on aws only: aws-sim's p5 group grows to 8 at most.
    const job = queuedH100("huge", queue, "900s", { replicas: 12 });
    job.spec.placement.clouds = ["aws"];
    const created = await tjs.create(job);
    const released = await eventually(
      "the quota given back",
      () => tjs.get("huge"),
      (j) => admissionOf(j)?.reason === "NoPlacement",
      UNPLACED_MS + 60_000,
    );
    assert.equal(released.status?.placement, undefined);
    assert.match(admissionOf(released)?.message ?? "", /admitted but not placed for 15 s/);
    const wl = await workloadOf({ ...created, metadata: { ...created.metadata, namespace: tjs.namespace } });
    assert.equal(wl?.status?.admission, undefined, "no quota held");
    assert.equal(wl?.status?.requeueState?.count, 1);
    const at = Date.parse(wl?.status?.requeueState?.requeueAt ?? "");
    assert.ok(
      at - Date.now() > 30_000,
      `Kueue may admit it again only after the backoff (${wl?.status?.requeueState?.requeueAt})`,
    );
    await tjs.eventMatching("huge", "a QuotaReleased event", (e) => e.reason === "QuotaReleased");
  });
});
