// Checkpoint agents run as processes with exactly the env the operator
// rendered into each pod of a 4-replica job (read from the worker's API
// server and resolved as a kubelet would: the replica index from the pod's
// completion-index annotation, the store credentials from the placement's
// Secret, the resume step from its ConfigMap), each pod's localDir a local dir
// of its own. A DCP step is committed once, after rank 3's part; a rank killed
// mid-upload leaves no manifest and its restart commits; status.checkpoint.agents
// and CheckpointUploaded follow (Uploading, UploadStuck naming the silent
// replica, UpToDate). Then a drain: the agents get SIGTERM with a step in
// flight and commit it, the operator replicates it and moves the job to
// azure-sim, and the 4 agents rendered there restore it byte for byte.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { V1Pod } from "@kubernetes/client-node";
import type { TrainingJob } from "../../src/api/trainingjob.ts";
import { partKey } from "../../src/checkpoint/agent/upload-step.ts";
import { manifestKey } from "../../src/checkpoint/manifest.ts";
import { readManifest } from "../../src/checkpoint/steps.ts";
import type { ObjectStore } from "../../src/checkpoint/store.ts";
import { type AgentProcess, freePort, spawnAgent } from "../support/checkpoint-agents.ts";
import { movedAndRunning, patchCluster, podsOf, storeOf } from "../support/failover.ts";
import { scrapeMetrics, withOperator } from "../support/operator.ts";
import { eventually } from "../support/sandbox.ts";
import { aTrainingJob } from "../support/trainingjob.ts";
import { killAll, kubeletEnv, localHashes, podDirs } from "./checkpoint-agent-support.ts";
import { MiB } from "./checkpoint-support.ts";

const NAME = "pods";
// Long enough for a loaded operator to report Uploading first (its scans run every 2 s here).
const STUCK_SECONDS = 20;
const running: AgentProcess[] = [];
after(() => killAll(running));

const job = aTrainingJob(NAME)
  .replicas(4)
  .accelerator("trainium1", 16, { image: "example.com/train:neuron" })
  .accelerator("nvidia-h100", 8, { image: "example.com/train:cuda" })
  .with((j) => {
    j.spec.placement.strategy = "Preference";
    j.spec.checkpoint.localDir = "/checkpoints";
    j.spec.failover.drainCheckpointTimeout = "120s";
    j.spec.terminationGracePeriod = "60s";
    j.spec.template.metadata = { annotations: { "sandbox.crosscloud.dev/run-for": "900s" } };
  })
  .obj();

/** One agent per pod of the epoch, with the pod's rendered env; only the mount (a local dir) and the port differ. */
async function agentsOf(
  cluster: "aws-sim" | "azure-sim",
  tj: TrainingJob,
  epoch: number,
  dirs: readonly string[],
  only?: (index: number) => boolean,
): Promise<Map<number, AgentProcess>> {
  const pods = JSON.parse(JSON.stringify(await podsOf(cluster, tj, epoch))) as V1Pod[];
  assert.equal(pods.length, 4, `4 pods of epoch ${epoch} on ${cluster}`);
  const agents = new Map<number, AgentProcess>();
  for (const pod of pods) {
    const env = await agentEnvOf(cluster, pod);
    const index = Number(env.CROSSCLOUD_REPLICA_INDEX);
    if (only && !only(index)) continue;
    agents.set(index, await startFromPod(env, index, dirs));
  }
  return agents;
}

async function agentEnvOf(cluster: "aws-sim" | "azure-sim", pod: V1Pod): Promise<Record<string, string>> {
  const container = pod.spec?.initContainers?.find((c) => c.name === "checkpoint-agent");
  assert.ok(container, `pod ${pod.metadata?.name} has the checkpoint-agent sidecar`);
  const env = await kubeletEnv(cluster, pod, container);
  assert.equal(env.CROSSCLOUD_CHECKPOINT_DIR, "/checkpoints", "the agent saves where the volume is mounted");
  assert.equal(env.CROSSCLOUD_AGENT_PORT, "8089");
  return env;
}

async function startFromPod(env: Record<string, string>, index: number, dirs: readonly string[]) {
  const port = await freePort();
  // The volume mounted at /checkpoints is this pod's dir; the port is free on this one host; the scan
  // interval is shortened for the test. Nothing else is changed.
  const a = spawnAgent(
    {
      ...env,
      CROSSCLOUD_CHECKPOINT_DIR: dirs[index],
      CROSSCLOUD_AGENT_PORT: String(port),
      CROSSCLOUD_AGENT_POLL_MS: "300",
    },
    index,
    port,
  );
  running.push(a);
  return a;
}

/** A DCP step: each rank's shard in its own dir (`sizes[rank]` bytes), then rank 0's `.metadata`. */
function writeDcp(dirs: readonly string[], step: number, sizes: readonly number[]): void {
  dirs.forEach((dir, rank) => {
    mkdirSync(join(dir, `step-${step}`), { recursive: true });
    writeFileSync(join(dir, `step-${step}`, `__${rank}_0.distcp`), randomBytes(sizes[rank] ?? MiB));
  });
  writeFileSync(join(dirs[0] as string, `step-${step}`, ".metadata"), randomBytes(4096));
}

function union(dirs: readonly string[], step: number) {
  const all = dirs.flatMap((d) => [...localHashes(join(d, `step-${step}`))]);
  return all.map(([path, f]) => ({ path, ...f })).sort((a, b) => (a.path < b.path ? -1 : 1));
}

const present = async (store: ObjectStore, key: string) => (await store.head(key)) !== undefined;

describe("checkpoint agents with the env the operator rendered", { timeout: 900_000 }, () => {
  const suite = withOperator(
    "agent-pods",
    {
      OPERATOR_IMAGE: "example.com/crosscloud-operator:agent-pods",
      CHECKPOINT_INTERVAL_MS: "2000",
      HEARTBEAT_MS: "3000",
      CHECKPOINT_UPLOAD_STUCK_SECONDS: String(STUCK_SECONDS),
    },
    async () => {
      await patchCluster("aws-sim", { drain: false });
    },
  );
  const { tjs } = suite;
  let created: TrainingJob;
  const dirs = podDirs(4);
  const lagSeries = (replica: number) =>
    `crosscloud_checkpoint_upload_lag_steps{namespace="${tjs.namespace}",name="${NAME}",replica="${replica}"}`;
  const agents = new Map<number, AgentProcess>();
  const condition = (j: TrainingJob) => j.status?.conditions?.find((c) => c.type === "CheckpointUploaded");
  let firstDone = false;

  it("commits a 4-rank DCP step once, after rank 3; status shows each pod's lag, then UploadStuck, then UpToDate", async () => {
    created = await tjs.create(job);
    const placed = await tjs.waitForPhase(NAME, "Running", [], 120_000);
    assert.equal(placed.status?.placement?.cluster, "aws-sim");
    const store = storeOf("aws-sim", `${tjs.namespace}/${NAME}`);
    for (const [i, a] of await agentsOf("aws-sim", created, 1, dirs, (i) => i !== 3)) agents.set(i, a);
    // Rank 3's shard spans 3 upload parts (16 MiB, the rendered default), so it can be killed mid-upload.
    writeDcp(dirs, 10, [4 * MiB, 4 * MiB, 4 * MiB, 40 * MiB]);
    await eventually(
      "the parts of ranks 0, 1 and 2",
      () => Promise.all([0, 1, 2].map((i) => present(store, partKey(10, i)))),
      (p) => p.every(Boolean),
      120_000,
    );
    assert.equal(await present(store, manifestKey(10)), false, "no manifest before rank 3's part");

    const uploading = await eventually(
      "3 agents' rows, step 10 pending",
      () => tjs.get(NAME),
      // Each agent reports on its own poll: wait for all three to have reported step 10.
      (j) =>
        j.status?.checkpoint?.agents?.length === 3 &&
        j.status.checkpoint.agents.every((a) => a.newestLocalStep === 10) &&
        condition(j)?.reason === "Uploading",
      60_000,
    );
    assert.deepEqual(
      uploading.status?.checkpoint?.agents?.map((a) => [a.replica, a.newestLocalStep, a.lagSteps, a.pendingStep]),
      [
        [0, 10, 10, 10],
        [1, 10, 10, 10],
        [2, 10, 10, 10],
      ],
    );
    assert.match(condition(uploading)?.message ?? "", /^step 10 is being uploaded .*; no report yet from replica 3$/);
    const metrics = await scrapeMetrics(suite.operator());
    assert.deepEqual(
      [0, 1, 2, 3].map((i) => metrics.get(lagSeries(i))),
      [10, 10, 10, undefined],
      "the upload lag per reporting pod",
    );
    const stuck = await eventually(
      `UploadStuck after ${STUCK_SECONDS}s`,
      () => tjs.get(NAME),
      (j) => condition(j)?.status === "False",
      60_000,
    );
    assert.equal(condition(stuck)?.reason, "UploadStuck");
    assert.match(
      condition(stuck)?.message ?? "",
      new RegExp(
        `is not committed after ${STUCK_SECONDS}s: waiting for the part of replica 3 \\(replica 3 never reported: is its agent running\\?\\)`,
      ),
    );
    await tjs.eventMatching(NAME, "a CheckpointUploadStuck event", (e) => e.reason === "CheckpointUploadStuck");

    // Rank 3, with its pod's env, is killed (SIGKILL, by a failpoint) after its first part; no manifest.
    const [env3] = await Promise.all(
      (await podsOf("aws-sim", created, 1))
        .map((p) => JSON.parse(JSON.stringify(p)) as V1Pod)
        .filter((p) => p.metadata?.annotations?.["batch.kubernetes.io/job-completion-index"] === "3")
        .map((p) => agentEnvOf("aws-sim", p)),
    );
    assert.ok(env3);
    const killed = await startFromPod({ ...env3, CROSSCLOUD_FAILPOINTS: "agent.after-part" }, 3, dirs);
    assert.deepEqual(await killed.exited, { code: null, signal: "SIGKILL" });
    assert.equal(await present(store, partKey(10, 3)), false, "the killed rank recorded no part");
    assert.equal(await present(store, manifestKey(10)), false, "a killed rank leaves no manifest");

    agents.set(3, await startFromPod(env3, 3, dirs));
    const manifest = await eventually("the manifest of step 10", () => readManifest(store, 10), Boolean, 120_000);
    assert.equal(manifest?.epoch, 1, "committed by the epoch the operator rendered");
    assert.deepEqual(
      manifest?.files.map((f) => ({ ...f })).sort((a, b) => (a.path < b.path ? -1 : 1)),
      union(dirs, 10),
    );
    const commits = [...agents.values()].flatMap((a) => a.of("step-committed"));
    assert.deepEqual(
      commits.map((c) => c.step),
      [10],
      "committed once, by replica 0",
    );
    const upToDate = await eventually(
      "4 rows with no lag, CheckpointUploaded UpToDate",
      () => tjs.get(NAME),
      (j) =>
        condition(j)?.reason === "UpToDate" &&
        j.status?.checkpoint?.agents?.length === 4 &&
        j.status.checkpoint.agents.every((a) => a.lagSteps === 0),
      60_000,
    );
    assert.equal(condition(upToDate)?.status, "True");
    assert.equal(upToDate.status?.checkpoint?.latestStep, 10);
    await eventually(
      "every pod's lag 0 in the metric",
      () => scrapeMetrics(suite.operator()),
      (m) => [0, 1, 2, 3].every((i) => m.get(lagSeries(i)) === 0),
      30_000,
    );
    firstDone = true;
  });

  it("drains: SIGTERM commits the step in flight, the job moves to azure-sim and 4 agents restore it byte for byte", async () => {
    // It goes on from the first test's committed step 10 and its four agents.
    assert.ok(firstDone, "the first test of this suite did not pass; this one needs its step 10 and agents");
    const store = storeOf("aws-sim", `${tjs.namespace}/${NAME}`);
    await patchCluster("aws-sim", { drain: true });
    await eventually(
      "epoch 1's pods gone",
      () => podsOf("aws-sim", created, 1),
      (p) => p.length === 0,
      120_000,
    );
    // The trainer saves on SIGTERM: step 11 lands on disk, and the agents are sent SIGTERM at once.
    writeDcp(dirs, 11, [6 * MiB, 6 * MiB, 6 * MiB, 6 * MiB]);
    for (const a of agents.values()) a.child.kill("SIGTERM");
    const exits = await Promise.all([...agents.values()].map((a) => a.exited));
    assert.deepEqual(
      exits.map((e) => e.code),
      [0, 0, 0, 0],
      "every agent exits 0 after its drain",
    );
    assert.ok(await present(store, manifestKey(11)), "step 11 is committed before the agents exit");

    const moved = await eventually("moved to azure-sim", () => tjs.get(NAME), movedAndRunning(2), 180_000);
    assert.equal(moved.status?.placement?.cluster, "azure-sim");
    assert.equal(moved.status?.failovers?.[0]?.resumedFromStep, 11);
    const fresh = podDirs(4);
    const restoring = await agentsOf("azure-sim", created, 2, fresh);
    await eventually(
      "every agent's /started",
      () => Promise.all([...restoring.values()].map((a) => a.probe("/started"))),
      (codes) => codes.every((c) => c === 200),
      120_000,
    );
    for (const [index, a] of restoring) {
      assert.deepEqual(
        a.of("restored").map((l) => l.step),
        [11],
        `replica ${index} restored step 11 (CROSSCLOUD_RESUME_STEP from the resume ConfigMap)`,
      );
    }
    const want = union(dirs, 11);
    for (const [index, dir] of fresh.entries()) {
      assert.deepEqual(union([dir], 11), want, `replica ${index}'s dir holds step 11 byte for byte`);
    }
    // The trainer of each pod is told where the restored step is.
    const pod = JSON.parse(JSON.stringify((await podsOf("azure-sim", created, 2))[0])) as V1Pod;
    const trainer = pod.spec?.containers.find((c) => c.name === "trainer");
    assert.ok(trainer);
    const trainerEnv = await kubeletEnv("azure-sim", pod, trainer);
    assert.equal(trainerEnv.CROSSCLOUD_RESUME_DIR, "/checkpoints/step-11");
    assert.equal(trainerEnv.AZURE_STORAGE_ACCOUNT_KEY, undefined, "no store credentials in the trainer");
  });
});
