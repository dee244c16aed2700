// Helpers of the checkpoint agent tests: agents run as processes
// (`node src/checkpoint/cli.ts agent`) with the sidecar's env against the
// sandbox's stores, their JSON log lines collected, and DCP-shaped steps
// written by "ranks" into per-pod local dirs.

import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { V1Container, V1Pod } from "@kubernetes/client-node";
import { AZURITE_ACCOUNT, SANDBOX_BUCKET, SANDBOX_CONTAINER } from "../../scripts/sandbox/sandbox.ts";
import { defaultTopology } from "../../scripts/sandbox/topology.ts";
import { type AgentProcess, freePort, sandboxStoreEnv, spawnAgent } from "../support/checkpoint-agents.ts";
import { clients, type SandboxCluster, uniqueName } from "../support/sandbox.ts";
import { type StoreKind, sandboxStore } from "./checkpoint-support.ts";

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
  const port = await freePort();
  const env = {
    ...sandboxStoreEnv(),
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
  return spawnAgent(env, spec.index, port);
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

/**
 * The env a kubelet gives `container` of `pod` on `cluster`: plain values, the pod's annotations and
 * labels by fieldRef, Secret and ConfigMap keys (an optional one that is absent is left out), and
 * envFrom Secrets, read from that cluster's API server.
 */
export async function kubeletEnv(
  cluster: SandboxCluster,
  pod: V1Pod,
  container: V1Container,
): Promise<Record<string, string>> {
  const { core } = clients(cluster);
  const namespace = pod.metadata?.namespace ?? "";
  const out: Record<string, string> = {};
  const dataOf = async (kind: "secret" | "configMap", name: string): Promise<Record<string, string> | undefined> => {
    try {
      if (kind === "configMap") return (await core.readNamespacedConfigMap({ name, namespace })).data ?? {};
      const data = (await core.readNamespacedSecret({ name, namespace })).data ?? {};
      return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]));
    } catch (err) {
      if ((err as { code?: number }).code === 404) return undefined;
      throw err;
    }
  };
  for (const from of container.envFrom ?? []) {
    const name = from.secretRef?.name ?? from.configMapRef?.name ?? "";
    const data = await dataOf(from.secretRef ? "secret" : "configMap", name);
    if (!data) throw new Error(`${cluster}: envFrom ${name} of pod ${pod.metadata?.name} does not exist`);
    Object.assign(out, data);
  }
  for (const e of container.env ?? []) {
    if (e.value !== undefined) out[e.name] = e.value;
    const field = e.valueFrom?.fieldRef?.fieldPath;
    if (field) {
      const m = /^metadata\.(annotations|labels)\['(.+)'\]$/.exec(field);
      const value = m ? pod.metadata?.[m[1] as "annotations" | "labels"]?.[m[2] as string] : undefined;
      if (value === undefined) throw new Error(`${cluster}: ${e.name}'s ${field} is not on pod ${pod.metadata?.name}`);
      out[e.name] = value;
    }
    const ref = e.valueFrom?.secretKeyRef ?? e.valueFrom?.configMapKeyRef;
    if (ref) {
      const value = (await dataOf(e.valueFrom?.secretKeyRef ? "secret" : "configMap", ref.name ?? ""))?.[ref.key];
      if (value !== undefined) out[e.name] = value;
      else if (!ref.optional) throw new Error(`${cluster}: ${e.name} names ${ref.name}/${ref.key}, which is absent`);
    }
  }
  return out;
}
