// TrainingJobs queued through a real Kueue on the hub (examples/kueue.yaml as
// shipped): of three 4-node H100 jobs on LocalQueue team-a (64 GPUs of quota,
// 32 each), two are admitted and run, the third waits Pending with Kueue's
// reason, and runs once one of the others finished and its Workload is marked
// Finished. A job without the queue label is left alone: no Workload, no
// Admitted condition; taking the label off forgets the job's Workload.

import assert from "node:assert/strict";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { REPO_ROOT } from "../../scripts/sandbox/paths.ts";
import type { TrainingJob } from "../../src/api/trainingjob.ts";
import { ensureKueue } from "../support/kueue.ts";
import { admissionOf, applyToHub, queuedH100, workloadOf } from "../support/kueue-jobs.ts";
import { withOperator } from "../support/operator.ts";
import { eventually, kubectl } from "../support/sandbox.ts";
import { TrainingJobs } from "../support/trainingjobs.ts";

const EXAMPLE = join(REPO_ROOT, "examples", "kueue.yaml");

describe("Kueue queues TrainingJobs (examples/kueue.yaml)", { timeout: 600_000 }, () => {
  const team = new TrainingJobs("team-a");
  const { tjs } = withOperator("kueue-queue", { CHECKPOINT_INTERVAL_MS: "3000" }, async () => {
    for (const j of await team.list()) await team.deleteAndWait(j.metadata.name ?? "", 120_000).catch(() => {});
  });
  before(async () => {
    await ensureKueue();
    // Left on the hub afterwards: other suites apply the same objects, and a ResourceFlavor that
    // another suite's ClusterQueue uses could not be deleted anyway.
    applyToHub({ file: EXAMPLE });
  });

  it("admits two of three 4-node H100 jobs on team-a, holds the third with Kueue's reason, and runs it when one finishes", async () => {
    const names = ["llama-1", "llama-2", "llama-3"];
    for (const name of names) await team.create(queuedH100(name, "team-a", "30s"));
    // Two run, one waits: which two is Kueue's choice (creation order of their Workloads).
    const seen = await eventually(
      "two jobs Running and one held by Kueue",
      () => Promise.all(names.map((n) => team.get(n))),
      (js) =>
        js.filter((j) => j.status?.phase === "Running").length === 2 &&
        js.some((j) => admissionOf(j)?.status === "False" && /insufficient/.test(admissionOf(j)?.message ?? "")),
      240_000,
    );
    const waiting = seen.find((j) => admissionOf(j)?.status === "False") as TrainingJob;
    const running = seen.filter((j) => j !== waiting);
    assert.equal(waiting.status?.phase, "Pending");
    assert.equal(waiting.status?.placement, undefined, "a job Kueue has not admitted is not placed");
    assert.equal(admissionOf(waiting)?.reason, "Pending");
    assert.match(
      admissionOf(waiting)?.message ?? "",
      /insufficient (unused )?quota for nvidia\.com\/gpu in flavor nvidia-h100/,
    );
    assert.equal(waiting.status?.queue?.name, "team-a");
    for (const j of running) {
      assert.equal(admissionOf(j)?.status, "True");
      assert.deepEqual(j.status?.queue?.flavors, ["nvidia-h100"]);
      assert.equal(j.status?.queue?.clusterQueue, "team-a");
      assert.equal(j.status?.placement?.accelerator, "nvidia-h100");
      const wl = await workloadOf(j);
      assert.equal(wl?.spec.podSets[0]?.count, 4);
      assert.equal(wl?.metadata.ownerReferences?.[0]?.uid, j.metadata.uid, "the job owns its Workload");
    }

    // kubectl get tj shows the queue and the admission (docs/kueue.md).
    const table = kubectl("hub", ["get", "tj", "-n", "team-a"]).stdout.split("\n");
    assert.match(table[0] ?? "", /^NAME\s+PHASE\s+QUEUE\s+ADMISSION\s+CLOUD/);
    const row = (n: string) => table.find((l) => l.startsWith(`${n} `)) ?? "";
    assert.match(row(waiting.metadata.name ?? ""), /\sPending\s+team-a\s+Pending\s/);
    for (const j of running) assert.match(row(j.metadata.name ?? ""), /\sRunning\s+team-a\s+Admitted\s/);

    // One finishes (30 s): its Workload is Finished, and the waiting job is admitted and runs.
    const third = await team.waitForPhase(waiting.metadata.name ?? "", "Running", [], 240_000);
    assert.equal(admissionOf(third)?.status, "True");
    const done = await Promise.all(running.map((j) => team.get(j.metadata.name ?? "")));
    const finished = done.filter((j) => j.status?.phase === "Succeeded");
    assert.ok(
      finished.length >= 1,
      `one of the first two finished before the third ran: ${done.map((j) => j.status?.phase)}`,
    );
    for (const j of finished) {
      const wl = await workloadOf(j);
      const cond = wl?.status?.conditions?.find((c) => c.type === "Finished");
      assert.equal(cond?.status, "True", "a finished job's Workload is Finished (its quota is free)");
      assert.equal(cond?.reason, "Succeeded");
    }
    const events = await team.eventMatching(
      third.metadata.name ?? "",
      "an Admitted event",
      (e) => e.reason === "Admitted",
    );
    assert.ok(events.some((e) => e.reason === "Admitted" && /ClusterQueue team-a/.test(e.message)));

    // Deleting a job deletes its Workload.
    await team.deleteAndWait(third.metadata.name ?? "", 120_000);
    await eventually(
      "the deleted job's Workload gone",
      () => workloadOf(third),
      (w) => w === undefined,
      60_000,
    );
  });

  it("forgets a job whose queue label is taken off: its Workload goes, it runs unqueued", async () => {
    const job = await team.create(queuedH100("relabel", "team-a", "900s", { replicas: 1 }));
    const admitted = await team.waitForPhase("relabel", "Running", [], 120_000);
    assert.equal(admissionOf(admitted)?.status, "True");
    assert.ok(await workloadOf(job), "a queued job has its Workload");
    await team.patch("relabel", { metadata: { labels: { "kueue.x-k8s.io/queue-name": null } } });
    const unqueued = await eventually(
      "the queue status and Admitted condition gone",
      () => team.get("relabel"),
      (j) => j.status?.queue === undefined && admissionOf(j) === undefined,
      60_000,
    );
    assert.equal(unqueued.status?.phase, "Running", "it goes on running");
    await eventually(
      "its Workload gone",
      () => workloadOf(job),
      (w) => w === undefined,
      60_000,
    );
    await team.deleteAndWait("relabel", 120_000);
  });

  it("leaves a job without the queue label alone: no Workload, no Admitted condition, it runs", async () => {
    const plain = await tjs.create(queuedH100("plain", undefined, "900s", { replicas: 1 }));
    const job = await tjs.waitForPhase("plain", "Running", [], 120_000);
    assert.equal(admissionOf(job), undefined);
    assert.equal(job.status?.queue, undefined);
    assert.equal(await workloadOf({ ...plain, metadata: { ...plain.metadata, namespace: tjs.namespace } }), undefined);
    await tjs.deleteAndWait("plain", 120_000);
  });
});
