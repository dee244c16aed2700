// The checkpoint agent's restore before the trainer starts, and its drain on
// SIGTERM: 4 agents restore a step committed on the other cloud into 4 fresh
// dirs byte for byte (/started 503 until then, 200 after; one agent SIGKILLed
// mid-restore leaves no step that looks whole and its restart finishes), and
// agents sent SIGTERM with a step in flight finish it, commit it and exit 0.

import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { partKey } from "../../src/checkpoint/agent/upload-step.ts";
import { type Manifest, manifestKey, serializeManifest } from "../../src/checkpoint/manifest.ts";
import { readManifest } from "../../src/checkpoint/steps.ts";
import type { AgentProcess } from "../support/checkpoint-agents.ts";
import { eventually } from "../support/sandbox.ts";
import { jobLine, killAll, podDirs, startAgent, writeDcpStep } from "./checkpoint-agent-support.ts";
import { MiB, writeStep } from "./checkpoint-support.ts";

const running: AgentProcess[] = [];
after(() => killAll(running));

async function agent(spec: Parameters<typeof startAgent>[0]): Promise<AgentProcess> {
  const a = await startAgent(spec);
  running.push(a);
  return a;
}

describe("the checkpoint agent, restoring and draining", () => {
  it("restores a committed Blob step into 4 fresh dirs, byte-identical; /started 503 until whole; a killed restore resumes", async () => {
    const { uri, store } = jobLine("s3");
    const from = jobLine("azure-blob");
    // The step's files are in the store but its manifest is not yet: the restore cannot finish.
    const sizes = [7 * MiB, 5 * MiB + 3, 1000, 0];
    const { manifest, contents } = await writeStep(from.store, 200, sizes, { commit: false });
    const dirs = podDirs(4);
    const resume = { CROSSCLOUD_RESUME_STEP: "200", CROSSCLOUD_RESUME_URI: `${from.uri}/step-200` };
    // Pod 0's agent is killed (SIGKILL, by a failpoint) once its first file is downloaded.
    const failAt = (i: number): Record<string, string> =>
      i === 0 ? { CROSSCLOUD_FAILPOINTS: "agent.restore.after-file" } : {};
    const agents = await Promise.all(
      dirs.map((dir, index) => agent({ uri, dir, index, replicas: 4, epoch: 2, env: { ...resume, ...failAt(index) } })),
    );
    await eventually(
      "every agent's probes to answer",
      () => Promise.all(agents.map((a) => a.probe("/started"))),
      (s) => s.every((c) => c !== 0),
      120_000,
    );
    assert.deepEqual(await Promise.all(agents.map((a) => a.probe("/started"))), [503, 503, 503, 503]);
    await eventually(
      "a failed restore attempt",
      async () => agents[0]?.of("restore-failed").length ?? 0,
      (n) => n > 0,
    );

    await from.store.put(manifestKey(200), Buffer.from(serializeManifest(manifest as Manifest)));
    assert.deepEqual(await agents[0]?.exited, { code: null, signal: "SIGKILL" });
    assert.deepEqual(readdirSync(dirs[0] as string), [".restoring-step-200"], "a killed restore leaves no step-200/");
    agents[0] = await agent({ uri, dir: dirs[0] as string, index: 0, replicas: 4, epoch: 2, env: resume });
    await eventually(
      "/started on every agent",
      () => Promise.all(agents.map((a) => a.probe("/started"))),
      (s) => s.every((c) => c === 200),
      120_000,
    );
    for (const dir of dirs) {
      assert.deepEqual(readdirSync(dir), ["step-200"], "no temporary restore dir is left");
      for (const [path, body] of contents) assert.ok(readFileSync(join(dir, "step-200", path)).equals(body), path);
    }
    assert.equal(await store.head(partKey(200, 0)), undefined, "a restored step is not uploaded again");
    for (const a of agents) a.child.kill("SIGTERM");
    assert.deepEqual(
      (await Promise.all(agents.map((a) => a.exited))).map((e) => e.code),
      [0, 0, 0, 0],
    );
  });

  it("refuses a file whose bytes or size differ from the manifest: no step dir, /started 503, the cause logged", async () => {
    const { uri } = jobLine("s3");
    const from = jobLine("s3");
    // Files of two 5 MiB parts and a tail: in step 210 one byte of the second part changed after the
    // commit, in step 211 the object was cut short.
    const changed = await writeStep(from.store, 210, [11 * MiB]);
    const flipped = Buffer.from(changed.contents.get("__0_0.distcp") as Buffer);
    flipped[6 * MiB] = (flipped[6 * MiB] ?? 0) ^ 0xff;
    await from.store.put("step-210/__0_0.distcp", flipped);
    const short = await writeStep(from.store, 211, [11 * MiB]);
    await from.store.put("step-211/__0_0.distcp", (short.contents.get("__0_0.distcp") as Buffer).subarray(0, 7 * MiB));
    const dirs = podDirs(2);
    const agents = await Promise.all(
      [210, 211].map((step, i) =>
        agent({
          uri,
          dir: dirs[i] as string,
          index: 0,
          replicas: 1,
          env: { CROSSCLOUD_RESUME_STEP: String(step), CROSSCLOUD_RESUME_URI: `${from.uri}/step-${step}` },
        }),
      ),
    );
    const failed = (a: AgentProcess | undefined) =>
      eventually(
        "a failed restore",
        async () => a?.of("restore-failed").map((l) => String(l.error)) ?? [],
        (e) => e.length > 0,
        120_000,
      );
    assert.match(
      (await failed(agents[0]))[0] ?? "",
      /step-210\/__0_0\.distcp downloaded with SHA-256 [0-9a-f]{64}, its manifest says/,
    );
    assert.match((await failed(agents[1]))[0] ?? "", /step-211\/__0_0\.distcp/);
    for (const [i, a] of agents.entries()) {
      assert.equal(await a.probe("/started"), 503);
      assert.deepEqual(
        readdirSync(dirs[i] as string).filter((n) => n.startsWith("step-")),
        [],
        "no step that looks whole",
      );
    }
  });

  it("on SIGTERM with a step in flight, uploads it, commits it and exits 0", async () => {
    const { uri, store } = jobLine("s3");
    const dirs = podDirs(4);
    const agents = await Promise.all(dirs.map((dir, index) => agent({ uri, dir, index, replicas: 4, epoch: 3 })));
    await eventually(
      "every agent to start",
      async () => agents.map((a) => a.of("agent-started").length),
      (n) => n.every((x) => x === 1),
      120_000,
    );
    writeDcpStep(dirs, 300, 24 * MiB);
    await eventually(
      "rank 0 uploading step 300",
      async () => agents[0]?.of("upload-started").length ?? 0,
      (n) => n > 0,
    );
    assert.equal(existsSync(join(dirs[0] as string, "step-300")), true);
    for (const a of agents) a.child.kill("SIGTERM");
    const exits = await Promise.all(agents.map((a) => a.exited));
    assert.deepEqual(
      exits.map((e) => e.code),
      [0, 0, 0, 0],
    );
    const manifest = await readManifest(store, 300);
    assert.equal(manifest?.epoch, 3, "the step in flight was committed before the agents exited");
    assert.equal(manifest?.files.length, 5);
    assert.equal(agents[0]?.of("draining").length, 1);
  });
});
