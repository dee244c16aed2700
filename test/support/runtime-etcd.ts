// etcd's JSON gateway for runtime tests: read the current revision and compact
// the sandbox's etcd at it, so watches from older resourceVersions get 410 Gone.

import { defaultTopology } from "../../scripts/sandbox/topology.ts";

function etcdUrl(path: string): string {
  return `http://127.0.0.1:${defaultTopology().etcdPort}${path}`;
}

async function post(path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(etcdUrl(path), { method: "POST", body: JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`etcd ${path} answered ${res.status}: ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

/** The etcd store's current revision. */
export async function currentRevision(): Promise<number> {
  const answer = await post("/v3/kv/range", { key: Buffer.from("/").toString("base64"), limit: 1 });
  const revision = Number((answer.header as { revision?: string } | undefined)?.revision);
  if (!Number.isInteger(revision) || revision <= 0)
    throw new Error(`etcd range gave no revision: ${JSON.stringify(answer)}`);
  return revision;
}

/** Compacts etcd at its current revision (physically); returns that revision. */
export async function compactNow(): Promise<number> {
  const revision = await currentRevision();
  await post("/v3/kv/compaction", { revision: String(revision), physical: true });
  return revision;
}
