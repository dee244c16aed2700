// The checkpoint agent as it runs beside every worker pod: 4 agents, one per
// replica of a 4-replica job, each with its own local dir, as processes
// against the sandbox's S3 server and Azurite. A DCP-shaped step is committed
// exactly once, only after the 4th rank's part; an agent killed (SIGKILL)
// mid-upload leaves no manifest and its restart resumes and commits.

import assert from "node:assert/strict";
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { partKey } from "../../src/checkpoint/agent/upload-step.ts";
import { manifestKey } from "../../src/checkpoint/manifest.ts";
import { readManifest } from "../../src/checkpoint/steps.ts";
import type { ObjectStore } from "../../src/checkpoint/store.ts";
import type { AgentProcess } from "../support/checkpoint-agents.ts";
import { eventually } from "../support/sandbox.ts";
import { jobLine, killAll, localHashes, podDirs, startAgent, writeDcpStep } from "./checkpoint-agent-support.ts";
import { MiB } from "./checkpoint-support.ts";

const running: AgentProcess[] = [];
after(() => killAll(running));

async function agent(spec: Parameters<typeof startAgent>[0]): Promise<AgentProcess> {
  const a = await startAgent(spec);
  running.push(a);
  return a;
}

const present = async (store: ObjectStore, key: string) => (await store.head(key)) !== undefined;

/** The union of every pod's local files of the step, as the manifest should list them. */
function expectedFiles(dirs: readonly string[], step: number) {
  const all = dirs.flatMap((d) => [...localHashes(join(d, `step-${step}`))]);
  return all.map(([path, f]) => ({ path, ...f })).sort((a, b) => (a.path < b.path ? -1 : 1));
}

describe("the checkpoint agent, uploading and committing", () => {
  it("commits a 4-rank DCP step on S3 once, only after rank 3's part; a SIGKILLed rank 3 resumes and commits", async () => {
    const { uri, store } = jobLine("s3");
    const dirs = podDirs(4);
    writeDcpStep(dirs, 100, 12 * MiB);
    const spec = (index: number, env?: Record<string, string>) => ({
      uri,
      dir: dirs[index] as string,
      index,
      replicas: 4,
      epoch: 5,
      env,
    });
    const early = await Promise.all([0, 1, 2].map((i) => agent(spec(i))));

    // Ranks 0..2 upload and record their parts; rank 0 waits for rank 3 and commits nothing.
    await eventually(
      "the part records of ranks 0, 1 and 2",
      () => Promise.all([0, 1, 2].map((i) => present(store, partKey(100, i)))),
      (p) => p.every(Boolean),
      120_000,
    );
    await eventually(
      "rank 0 waiting for rank 3",
      async () => (early[0] as AgentProcess).of("commit-waiting").at(-1)?.missingReplicas,
      (m) => JSON.stringify(m) === "[3]",
      120_000,
    );
    assert.equal(await present(store, manifestKey(100)), false, "no manifest before rank 3's part");

    // Rank 3 is killed (SIGKILL, by a failpoint) right after its first part is staged.
    const killed = await agent(spec(3, { CROSSCLOUD_FAILPOINTS: "agent.after-part" }));
    assert.deepEqual(await killed.exited, { code: null, signal: "SIGKILL" });
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(await present(store, partKey(100, 3)), false, "the killed rank recorded no part");
    assert.equal(await present(store, manifestKey(100)), false, "a killed rank leaves no manifest");

    // Its restart resumes the staged upload, records its part, and rank 0 commits.
    const restarted = await agent(spec(3));
    const manifest = await eventually("the manifest of step 100", () => readManifest(store, 100), Boolean, 90_000);
    assert.ok(manifest);
    assert.equal(manifest.epoch, 5);
    assert.deepEqual(
      manifest.files.map((f) => ({ ...f })).sort((a, b) => (a.path < b.path ? -1 : 1)),
      expectedFiles(dirs, 100),
    );
    assert.ok(restarted.of("part-skipped").length >= 1, "the restart reused the part staged before the kill");
    const etag = (await store.head(manifestKey(100)))?.etag;
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal((await store.head(manifestKey(100)))?.etag, etag, "the manifest is written once");
    const commits = [early[0], restarted].flatMap((a) => (a as AgentProcess).of("step-committed"));
    assert.deepEqual(
      commits.map((c) => c.step),
      [100],
    );
    assert.equal(
      early
        .concat(restarted)
        .flatMap((a) => a.of("upload-started"))
        .filter((l) => l.step === 100).length,
      4,
    );

    // SIGTERM: every agent exits 0.
    for (const a of [...early, restarted]) a.child.kill("SIGTERM");
    const exits = await Promise.all([...early, restarted].map((a) => a.exited));
    assert.deepEqual(
      exits.map((e) => e.code),
      [0, 0, 0, 0],
    );
  });

  it("commits plain-files steps (.done on every rank, nested paths) on Azurite and keeps 1 locally", async () => {
    const { uri, store } = jobLine("azure-blob");
    const dirs = podDirs(4);
    const write = (step: number) =>
      dirs.forEach((dir, rank) => {
        mkdirSync(join(dir, `step-${step}`, "optim"), { recursive: true });
        writeFileSync(join(dir, `step-${step}`, `model-${rank}.bin`), Buffer.alloc(6 * MiB + rank, step + rank));
        writeFileSync(join(dir, `step-${step}`, "optim", `state-${rank}.pt`), Buffer.from(`rank ${rank}`));
        writeFileSync(join(dir, `step-${step}`, ".done"), "");
      });
    write(7);
    const env = { CROSSCLOUD_KEEP_LOCAL: "1" };
    const agents = await Promise.all(dirs.map((dir, index) => agent({ uri, dir, index, replicas: 4, epoch: 2, env })));
    const manifest = await eventually("the manifest of step 7", () => readManifest(store, 7), Boolean, 120_000);
    assert.equal(manifest?.epoch, 2);
    assert.deepEqual(
      manifest?.files.map((f) => ({ ...f })).sort((a, b) => (a.path < b.path ? -1 : 1)),
      expectedFiles(dirs, 7),
    );
    assert.equal(
      manifest?.files.some((f) => f.path === ".done"),
      false,
    );
    assert.deepEqual(
      dirs.map((d) => readdirSync(d)),
      dirs.map(() => ["step-7"]),
      "the newest committed step is kept",
    );

    // A newer step committed: with CROSSCLOUD_KEEP_LOCAL=1 the older one leaves every pod's disk.
    write(8);
    await eventually("the manifest of step 8", () => readManifest(store, 8), Boolean, 60_000);
    await eventually(
      "step-7 deleted from every pod's dir",
      async () => dirs.map((d) => readdirSync(d).sort().join()),
      (l) => l.every((x) => x === "step-8"),
    );
    for (const a of agents) a.child.kill("SIGTERM");
    assert.deepEqual(
      (await Promise.all(agents.map((a) => a.exited))).map((e) => e.code),
      [0, 0, 0, 0],
    );
  });
});
