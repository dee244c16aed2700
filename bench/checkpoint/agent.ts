// bench/checkpoint/agent.ts (run by main.ts --agent): the checkpoint agent's
// upload of a DCP-shaped step of N ranks from local disk, and its restore,
// each against rclone copying the same files between the same places in the
// same run. Agents run as processes (`node src/checkpoint/cli.ts agent`) with
// the agent's defaults (only the dir, store, epoch, replica and port are
// set). Results are recorded in docs/benchmarks.md ("Agent upload and restore").
//
// Upload: N agents watch N pod dirs; each rank writes `step-1/__<rank>_0.distcp`,
// then rank 0 writes `.metadata` last (the step is finished); timed from that
// write until the manifest is in the store. rclone: N `rclone copy` processes
// at once, one per pod dir, timed from their start until the last exits.
// Restore: N fresh agents with CROSSCLOUD_RESUME_STEP restore the committed
// step into N fresh dirs, timed from their start until every /started is 200;
// rclone: N `rclone copy` processes of the step's files into N fresh dirs.

import { randomBytes } from "node:crypto";
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AZURITE_ACCOUNT, SANDBOX_BUCKET, SANDBOX_CONTAINER } from "../../scripts/sandbox/sandbox.ts";
import { defaultTopology } from "../../scripts/sandbox/topology.ts";
import { manifestKey } from "../../src/checkpoint/manifest.ts";
import type { ObjectStore } from "../../src/checkpoint/store.ts";
import { type AgentProcess, freePort, sandboxStoreEnv, spawnAgent } from "../../test/support/checkpoint-agents.ts";
import { log, mbps, rcloneCopy, timed } from "./rclone.ts";

const MiB = 2 ** 20;
const STEP = 1;

export type StoreKind = "s3" | "azure-blob";

export interface AgentBenchOptions {
  readonly kind: StoreKind;
  /** The store at `<root>/<name>`, for the bench to look with. */
  readonly store: (prefix: string) => ObjectStore;
  readonly root: string;
  readonly ranks: number;
  readonly rankBytes: number;
  readonly rcloneEnv: NodeJS.ProcessEnv;
}

export interface AgentBenchRow {
  readonly what: string;
  readonly bytes: number;
  readonly seconds: number;
  /** Seconds of the matching rclone row, for the ratio; absent on rclone's rows. */
  readonly rcloneSeconds?: number;
  readonly note?: string;
}

function agentUri(kind: StoreKind, prefix: string): string {
  const t = defaultTopology();
  return kind === "s3"
    ? `s3://${SANDBOX_BUCKET}/${prefix}`
    : `http://127.0.0.1:${t.blobPort}/${AZURITE_ACCOUNT}/${SANDBOX_CONTAINER}/${prefix}`;
}

function rcloneRemote(kind: StoreKind, prefix: string): string {
  return kind === "s3" ? `s3:${SANDBOX_BUCKET}/${prefix}` : `az:${SANDBOX_CONTAINER}/${prefix}`;
}

/** Starts `cli.ts agent` with only what the sidecar must be told; everything else is the agent's default. */
async function startAgent(uri: string, dir: string, index: number, replicas: number, extra: Record<string, string>) {
  const port = await freePort();
  const env = {
    ...sandboxStoreEnv(),
    CROSSCLOUD_CHECKPOINT_DIR: dir,
    CROSSCLOUD_CHECKPOINT_URI: uri,
    CROSSCLOUD_EPOCH: "1",
    CROSSCLOUD_REPLICAS: String(replicas),
    CROSSCLOUD_REPLICA_INDEX: String(index),
    CROSSCLOUD_AGENT_PORT: String(port),
    ...extra,
  };
  return spawnAgent(env, index, port);
}

/** Polls `check` every 50 ms until it is true; throws after `timeoutMs` with what the agents last logged. */
async function until(
  what: string,
  agents: readonly AgentProcess[],
  check: () => Promise<boolean>,
  timeoutMs = 600_000,
) {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    const dead = agents.find((a) => a.child.exitCode !== null);
    if (Date.now() > end || dead) {
      const tail = agents.flatMap((a) => a.lines.slice(-3).map((l) => JSON.stringify(l)));
      throw new Error(`${what}: ${dead ? "an agent exited" : "timed out"}; last lines:\n${tail.join("\n")}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function stopAll(agents: readonly AgentProcess[]): Promise<void> {
  for (const a of agents) if (a.child.exitCode === null) a.child.kill("SIGTERM");
  const codes = (await Promise.all(agents.map((a) => a.exited))).map((e) => e.code ?? e.signal);
  if (codes.some((c) => c !== 0)) throw new Error(`agents exited with ${codes.join(",")}`);
}

/** Writes `bytes` random bytes to `path`, 16 MiB at a time. */
function writeRandom(path: string, bytes: number): void {
  const fd = openSync(path, "w");
  try {
    for (let done = 0; done < bytes; done += 16 * MiB) writeSync(fd, randomBytes(Math.min(16 * MiB, bytes - done)));
  } finally {
    closeSync(fd);
  }
}

/** Bytes of every file under `dir` (recursively). */
function dirBytes(dir: string): number {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .reduce((n, e) => n + statSync(join(e.parentPath, e.name)).size, 0);
}

function podDirs(root: string, name: string, ranks: number): string[] {
  return Array.from({ length: ranks }, (_, i) => {
    const dir = join(root, name, `pod-${i}`);
    mkdirSync(dir, { recursive: true });
    return dir;
  });
}

/** Seconds from the first to the last log line of `type` among `agents`, relative to `t0` (epoch ms). */
function span(agents: readonly AgentProcess[], type: string, t0: number): string {
  const times = agents.flatMap((a) => a.lines.filter((l) => l.type === type).map((l) => Date.parse(String(l.time))));
  if (times.length === 0) return "-";
  return `${((Math.min(...times) - t0) / 1000).toFixed(1)}..${((Math.max(...times) - t0) / 1000).toFixed(1)}`;
}

/** Upload and restore by the agents and by rclone for one store; the rows of the table. */
export async function agentBench(o: AgentBenchOptions): Promise<AgentBenchRow[]> {
  const local = mkdtempSync(join(tmpdir(), "bench-agent-"));
  const line = `${o.root}/${o.kind}-agents`;
  const uri = agentUri(o.kind, line);
  const total = o.ranks * o.rankBytes + 4096;
  const rows: AgentBenchRow[] = [];
  const stepFiles = (dirs: readonly string[]) => dirs.reduce((n, d) => n + dirBytes(join(d, `step-${STEP}`)), 0);
  try {
    // Upload by the agents.
    const dirs = podDirs(local, "upload", o.ranks);
    const agents = await Promise.all(dirs.map((dir, i) => startAgent(uri, dir, i, o.ranks, {})));
    await until("every agent's loop", agents, async () =>
      (await Promise.all(agents.map((a) => a.probe("/healthz")))).every((s) => s === 200),
    );
    log(`${o.kind}: ranks write ${o.ranks} x ${o.rankBytes / MiB} MiB, then rank 0's .metadata`);
    dirs.forEach((dir, rank) => {
      mkdirSync(join(dir, `step-${STEP}`));
      writeRandom(join(dir, `step-${STEP}`, `__${rank}_0.distcp`), o.rankBytes);
    });
    writeRandom(join(dirs[0] as string, `step-${STEP}`, ".metadata"), 4096);
    const finished = Date.now();
    const up = await timed(() =>
      until(
        "the step's commit",
        agents,
        async () => (await o.store(`${o.kind}-agents`).head(manifestKey(STEP))) !== undefined,
      ),
    );
    const note = `uploads start ${span(agents, "upload-started", finished)} s, parts recorded ${span(agents, "part-recorded", finished)} s`;
    log(`${o.kind}: agents committed the step in ${up.seconds.toFixed(1)} s (${note})`);
    await stopAll(agents);

    // Upload by rclone: one process per pod dir, all at once.
    log(`${o.kind}: rclone uploads the ${o.ranks} pod dirs`);
    const rcloneLine = `${o.root}/${o.kind}-rclone`;
    const rcloneUp = await timed(() =>
      Promise.all(
        dirs.map((d) =>
          rcloneCopy(o.rcloneEnv, join(d, `step-${STEP}`), `${rcloneRemote(o.kind, rcloneLine)}/step-${STEP}`),
        ),
      ),
    );
    const rcloneUpBytes = rcloneUp.value.reduce((a, b) => a + b, 0);
    if (rcloneUpBytes !== total) throw new Error(`rclone uploaded ${rcloneUpBytes} bytes, not ${total}`);
    rows.push({ what: "agents upload", bytes: total, seconds: up.seconds, rcloneSeconds: rcloneUp.seconds, note });
    rows.push({ what: "rclone upload", bytes: rcloneUpBytes, seconds: rcloneUp.seconds });
    rmSync(join(local, "upload"), { recursive: true, force: true });

    // Restore by fresh agents into fresh dirs.
    const restoreDirs = podDirs(local, "restore", o.ranks);
    const resume = { CROSSCLOUD_RESUME_STEP: String(STEP), CROSSCLOUD_RESUME_URI: `${uri}/step-${STEP}` };
    log(`${o.kind}: ${o.ranks} agents restore the step`);
    const restored: AgentProcess[] = [];
    const restore = await timed(async () => {
      const started = await Promise.all(
        restoreDirs.map((dir, i) => startAgent(agentUri(o.kind, `${line}-next`), dir, i, o.ranks, resume)),
      );
      restored.push(...started);
      await until("every agent's /started", restored, async () =>
        (await Promise.all(restored.map((a) => a.probe("/started")))).every((s) => s === 200),
      );
    });
    await stopAll(restored);
    const restoredBytes = stepFiles(restoreDirs);
    if (restoredBytes !== o.ranks * total) throw new Error(`agents restored ${restoredBytes} bytes`);
    rmSync(join(local, "restore"), { recursive: true, force: true });

    // Restore by rclone: the step's checkpoint files (not the agents' .crosscloud/ records or the manifest).
    const rcloneDirs = podDirs(local, "rclone-restore", o.ranks);
    log(`${o.kind}: rclone restores the step into ${o.ranks} dirs`);
    const filters = ["--exclude", "/.crosscloud/**", "--exclude", "/manifest.json"];
    const rcloneRestore = await timed(() =>
      Promise.all(
        rcloneDirs.map((d) =>
          rcloneCopy(o.rcloneEnv, `${rcloneRemote(o.kind, line)}/step-${STEP}`, join(d, `step-${STEP}`), filters),
        ),
      ),
    );
    const rcloneRestoredBytes = stepFiles(rcloneDirs);
    if (rcloneRestoredBytes !== o.ranks * total) throw new Error(`rclone restored ${rcloneRestoredBytes} bytes`);
    rows.push({
      what: `agents restore (${o.ranks} x)`,
      bytes: restoredBytes,
      seconds: restore.seconds,
      rcloneSeconds: rcloneRestore.seconds,
      note: "from the agents' start to every /started 200",
    });
    rows.push({ what: `rclone restore (${o.ranks} x)`, bytes: rcloneRestoredBytes, seconds: rcloneRestore.seconds });
  } finally {
    rmSync(local, { recursive: true, force: true });
  }
  return rows;
}

/** The rows as table cells: what, MiB, seconds, MB/s, ratio to rclone (rclone's time / the agents'). */
export function agentRowCells(kind: StoreKind, r: AgentBenchRow): string[] {
  return [
    `${kind}: ${r.what}`,
    (r.bytes / MiB).toFixed(0),
    r.seconds.toFixed(1),
    mbps(r.bytes, r.seconds).toFixed(1),
    r.rcloneSeconds !== undefined ? (r.rcloneSeconds / r.seconds).toFixed(2) : "",
  ];
}
