// Helpers of the checkpoint agent tests: agents run as processes
// (`node src/checkpoint/cli.ts agent`) with the sidecar's env against the
// sandbox's stores, their JSON log lines collected, and DCP-shaped steps
// written by "ranks" into per-pod local dirs.

import { type ChildProcess, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "../../scripts/sandbox/paths.ts";
import {
  AZURITE_ACCOUNT,
  AZURITE_KEY,
  S3_ACCESS_KEY,
  S3_SECRET_KEY,
  SANDBOX_BUCKET,
  SANDBOX_CONTAINER,
} from "../../scripts/sandbox/sandbox.ts";
import { defaultTopology } from "../../scripts/sandbox/topology.ts";
import { uniqueName } from "../support/sandbox.ts";
import { type StoreKind, sandboxStore } from "./checkpoint-support.ts";

const CLI = join(REPO_ROOT, "src/checkpoint/cli.ts");

/** A job's line in a sandbox store: its URI for the agents and a store for the test to look with. */
export function jobLine(kind: StoreKind) {
  const prefix = uniqueName("agent");
  const t = defaultTopology();
  const uri =
    kind === "s3"
      ? `s3://${SANDBOX_BUCKET}/${prefix}`
      : `http://127.0.0.1:${t.blobPort}/${AZURITE_ACCOUNT}/${SANDBOX_CONTAINER}/${prefix}`;
  return { uri, store: sandboxStore(kind, prefix) };
}

const roots: string[] = [];

/** One local dir per pod, under a fresh temp dir (removed by removePodDirs). */
export function podDirs(count: number): string[] {
  const root = mkdtempSync(join(tmpdir(), "ckpt-agent-"));
  roots.push(root);
  return Array.from({ length: count }, (_, i) => {
    const dir = join(root, `pod-${i}`);
    mkdirSync(dir);
    return dir;
  });
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0);
  await new Promise((resolve) => server.once("listening", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface AgentProcess {
  readonly child: ChildProcess;
  readonly port: number;
  /** Every JSON log line so far. */
  readonly lines: Record<string, unknown>[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Log lines of `type`. */
  of(type: string): Record<string, unknown>[];
  /** GET `path` on the probe port: its status, or 0 when nothing answers. */
  probe(path: string): Promise<number>;
}

export interface AgentSpec {
  readonly uri: string;
  readonly dir: string;
  readonly index: number;
  readonly replicas: number;
  readonly epoch?: number;
  readonly env?: Record<string, string>;
}

/** Starts `cli.ts agent` with the sidecar's env and the sandbox's store credentials. */
export async function startAgent(spec: AgentSpec): Promise<AgentProcess> {
  const t = defaultTopology();
  const port = await freePort();
  const env = {
    PATH: process.env.PATH,
    CROSSCLOUD_S3_ENDPOINT: `http://127.0.0.1:${t.s3Port}`,
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: S3_ACCESS_KEY,
    AWS_SECRET_ACCESS_KEY: S3_SECRET_KEY,
    AZURE_STORAGE_ACCOUNT_KEY: AZURITE_KEY,
    CROSSCLOUD_CHECKPOINT_DIR: spec.dir,
    CROSSCLOUD_CHECKPOINT_URI: spec.uri,
    CROSSCLOUD_EPOCH: String(spec.epoch ?? 1),
    CROSSCLOUD_REPLICAS: String(spec.replicas),
    CROSSCLOUD_REPLICA_INDEX: String(spec.index),
    CROSSCLOUD_AGENT_PORT: String(port),
    CROSSCLOUD_AGENT_POLL_MS: "200",
    CROSSCLOUD_AGENT_PART_MIB: "5",
    CHECKPOINT_BUFFER_MIB: "64",
    ...spec.env,
  };
  const child = spawn(process.execPath, [CLI, "agent"], { env, stdio: ["ignore", "ignore", "pipe"] });
  const lines: Record<string, unknown>[] = [];
  let rest = "";
  child.stderr?.on("data", (d: Buffer) => {
    rest += d.toString();
    const parts = rest.split("\n");
    rest = parts.pop() ?? "";
    for (const line of parts) {
      if (process.env.AGENT_TEST_LOG) process.stderr.write(`[agent ${spec.index}] ${line}\n`);
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        lines.push({ type: "text", text: line });
      }
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  const probe = (path: string) =>
    fetch(`http://127.0.0.1:${port}${path}`).then(
      (r) => r.status,
      () => 0,
    );
  return { child, port, lines, exited, of: (type) => lines.filter((l) => l.type === type), probe };
}

/** Stops agents still running (SIGKILL) and removes the pods' dirs, at the end of a test file. */
export async function killAll(agents: readonly AgentProcess[]): Promise<void> {
  for (const a of agents) if (a.child.exitCode === null && a.child.signalCode === null) a.child.kill("SIGKILL");
  await Promise.all(agents.map((a) => a.exited));
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
}

/**
 * Writes a PyTorch DCP-shaped step the way DCP does on N nodes: each rank's
 * `__<rank>_0.distcp` in its own pod's dir, then `.metadata` in rank 0's dir last.
 */
export function writeDcpStep(dirs: readonly string[], step: number, shardSize: number): void {
  dirs.forEach((dir, rank) => {
    mkdirSync(join(dir, `step-${step}`), { recursive: true });
    writeFileSync(join(dir, `step-${step}`, `__${rank}_0.distcp`), randomBytes(shardSize + rank));
  });
  writeFileSync(join(dirs[0] as string, `step-${step}`, ".metadata"), randomBytes(4096));
}

/** Every file under a local step dir (relative path -> SHA-256), `.done` left out. */
export function localHashes(stepDir: string): Map<string, { size: number; sha256: string }> {
  const out = new Map<string, { size: number; sha256: string }>();
  for (const e of readdirSync(stepDir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile() || e.name === ".done") continue;
    const full = join(e.parentPath, e.name);
    const body = readFileSync(full);
    out.set(full.slice(stepDir.length + 1), {
      size: body.length,
      sha256: createHash("sha256").update(body).digest("hex"),
    });
  }
  return out;
}
