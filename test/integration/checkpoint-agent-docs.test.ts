// The agent's lead example in docs/checkpoints.md, run as it stands there: the
// YAML of spec.checkpoint.localDir is accepted by the hub's API server (server-
// side dry run), and the Python save_step/load_step functions, taken from the
// doc at test time, run with two agents: files two "pods" save with save_step
// are committed once, byte for byte, and load_step in a third pod reads every
// file back from the step its agent restored on the other cloud's store.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { CustomObjectsApi } from "@kubernetes/client-node";
import { parse } from "yaml";
import { REPO_ROOT } from "../../scripts/sandbox/paths.ts";
import { GROUP, VERSION } from "../../src/api/common.ts";
import type { TrainingJob } from "../../src/api/trainingjob.ts";
import { replicateCheckpoints } from "../../src/checkpoint/replicate.ts";
import { readManifest } from "../../src/checkpoint/steps.ts";
import type { AgentProcess } from "../support/checkpoint-agents.ts";
import { clients, eventually, installCrds } from "../support/sandbox.ts";
import { toolPath } from "../support/tools.ts";
import { aTrainingJob } from "../support/trainingjob.ts";
import { jobLine, killAll, localHashes, podDirs, startAgent } from "./checkpoint-agent-support.ts";

const DOC = "docs/checkpoints.md";
const running: AgentProcess[] = [];
after(() => killAll(running));

/** The doc's fenced blocks of `lang` that match `test`; exactly one is expected. */
function documented(lang: string, test: RegExp): string {
  const doc = readFileSync(join(REPO_ROOT, DOC), "utf8");
  const blocks = [...doc.matchAll(new RegExp(`^\`\`\`${lang}\\n([\\s\\S]*?)^\`\`\`$`, "gm"))]
    .map((m) => m[1] ?? "")
    .filter((b) => test.test(b));
  assert.equal(blocks.length, 1, `${DOC} has one ${lang} block matching ${test}`);
  return blocks[0] as string;
}

// Loads the documented functions, then calls save_step with the given files, or
// load_step and prints each file's SHA-256 (null when it returned None).
const DRIVER = `
import hashlib, json, os, sys
spec = json.loads(sys.argv[1])
ns = {"__name__": "agent_helpers"}
exec(compile(spec["helpers"], "${DOC} (save_step, load_step)", "exec"), ns)
if spec["op"] == "save":
    ns["save_step"](spec["step"], {path: os.urandom(size) for path, size in spec["files"].items()})
    print("{}")
else:
    files = ns["load_step"]()
    print(json.dumps(None if files is None else {p: hashlib.sha256(b).hexdigest() for p, b in files.items()}))
`;

/** Runs the driver in a "trainer container" whose env is `env` only. */
function trainer(env: Record<string, string>, spec: Record<string, unknown>): unknown {
  const helpers = documented("python", /^def save_step\(/m);
  const r = spawnSync(toolPath("python"), ["-c", DRIVER, JSON.stringify({ helpers, ...spec })], {
    encoding: "utf8",
    env: { PATH: process.env.PATH ?? "", HOME: tmpdir(), ...env },
    timeout: 60_000,
  });
  if (r.error) throw r.error;
  assert.equal(r.status, 0, `python ${String(spec.op)} exited ${r.status}:\n${r.stderr}`);
  return JSON.parse(r.stdout);
}

describe("docs/checkpoints.md: saving to local disk with the agent", () => {
  it("the localDir YAML is accepted by the API server", async () => {
    installCrds();
    const snippet = parse(documented("yaml", /localDir:/)) as { spec: Partial<TrainingJob["spec"]> };
    const job = aTrainingJob("docs-agent", "default")
      .accelerator("nvidia-h100", 8)
      .with((j) => Object.assign(j.spec, snippet.spec))
      .obj();
    const custom = clients("hub").kubeConfig.makeApiClient(CustomObjectsApi);
    const body = { ...job, metadata: { name: job.metadata.name, namespace: "default" } };
    const ref = { group: GROUP, version: VERSION, plural: "trainingjobs", namespace: "default" };
    const created = (await custom.createNamespacedCustomObject({ ...ref, body, dryRun: "All" })) as TrainingJob;
    assert.equal(created.spec.checkpoint.localDir, "/checkpoints");
    assert.deepEqual(created.spec.checkpoint.volume, { emptyDir: { sizeLimit: "500Gi" } });
    assert.equal(created.spec.terminationGracePeriod, "300s");
  });

  it("save_step on two pods is committed once; load_step reads the step restored on the other cloud", async () => {
    const { uri, store } = jobLine("s3");
    const other = jobLine("azure-blob");
    const dirs = podDirs(3);
    const agents = await Promise.all(
      [0, 1].map((index) => startAgent({ uri, dir: dirs[index] as string, index, replicas: 2 })),
    );
    running.push(...agents);
    const files = (pod: number) => ({ [`model-${pod}.bin`]: 3 * 2 ** 20 + pod, [`optim/rank-${pod}.pt`]: 1000 + pod });
    for (const pod of [1, 0])
      trainer({ CROSSCLOUD_CHECKPOINT_DIR: dirs[pod] as string }, { op: "save", step: 5, files: files(pod) });

    const manifest = await eventually(
      "the step's manifest",
      () => readManifest(store, 5),
      (m) => m !== undefined,
      120_000,
    );
    assert.ok(manifest);
    const saved = new Map([
      ...localHashes(join(dirs[0] as string, "step-5")),
      ...localHashes(join(dirs[1] as string, "step-5")),
    ]);
    assert.deepEqual(
      new Map(manifest.files.map((f) => [f.path, { size: f.size, sha256: f.sha256 }])),
      saved,
      "the manifest lists every pod's files with their bytes' SHA-256 (and not .done)",
    );
    assert.equal(agents[0]?.of("step-committed").length, 1, "committed once");

    // The step replicated to the other cloud; a pod there restores it before its trainer starts.
    await replicateCheckpoints({ source: store, destinations: [other.store], fence: { activeEpoch: 1 } });
    assert.equal(trainer({}, { op: "load" }), null, "a fresh start: load_step returns None");
    const resume = { CROSSCLOUD_RESUME_STEP: "5", CROSSCLOUD_RESUME_URI: `${other.uri}/step-5` };
    const restorer = await startAgent({
      uri: other.uri,
      dir: dirs[2] as string,
      index: 0,
      replicas: 1,
      epoch: 2,
      env: resume,
    });
    running.push(restorer);
    await eventually(
      "/started",
      () => restorer.probe("/started"),
      (s) => s === 200,
      120_000,
    );
    const loaded = trainer({ CROSSCLOUD_RESUME_DIR: join(dirs[2] as string, "step-5") }, { op: "load" });
    assert.deepEqual(
      loaded,
      Object.fromEntries([...saved].map(([path, f]) => [path, f.sha256])),
      "load_step returns every pod's files, byte for byte",
    );
  });
});
