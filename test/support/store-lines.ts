// Checkpoint lines in the sandbox's two stores (versitygw's bucket and
// Azurite's container) as the operator opens them, steps committed there the
// way a trainer does (files, then the manifest), and the store request counter
// (crosscloud_store_requests_total) read back by store and operation. Used by
// test/integration/checkpoint-scan.test.ts and bench/checkpoint-scan.

import { randomBytes } from "node:crypto";
import type { Registry } from "prom-client";
import {
  AZURITE_ACCOUNT,
  AZURITE_KEY,
  S3_ACCESS_KEY,
  S3_SECRET_KEY,
  SANDBOX_BUCKET,
  SANDBOX_CONTAINER,
} from "../../scripts/sandbox/sandbox.ts";
import { defaultTopology } from "../../scripts/sandbox/topology.ts";
import type { OpenStoreOptions } from "../../src/checkpoint/open-store.ts";
import { openStore } from "../../src/checkpoint/open-store.ts";
import { commitStep } from "../../src/checkpoint/steps.ts";

export type Kind = "s3" | "blob";

export interface SandboxStore {
  readonly kind: Kind;
  /** The store's root URI: the label of its requests. */
  readonly root: string;
  /** How the operator opens it (ComputeCluster options with the sandbox's keys). */
  readonly options: OpenStoreOptions;
  /** The URI of a line (`<namespace>/<prefix>`) in it. */
  uri(line: string): string;
}

/** The sandbox's two stores, as the operator reaches them. */
export function sandboxStores(): Record<Kind, SandboxStore> {
  const t = defaultTopology();
  const s3Root = `s3://${SANDBOX_BUCKET}`;
  const blobRoot = `http://127.0.0.1:${t.blobPort}/${AZURITE_ACCOUNT}/${SANDBOX_CONTAINER}`;
  return {
    s3: {
      kind: "s3",
      root: s3Root,
      options: {
        s3Endpoint: `http://127.0.0.1:${t.s3Port}`,
        s3Region: "us-east-1",
        s3Credentials: { accessKeyId: S3_ACCESS_KEY, secretAccessKey: S3_SECRET_KEY },
        env: {},
      },
      uri: (line) => `${s3Root}/${line}`,
    },
    blob: {
      kind: "blob",
      root: blobRoot,
      options: { azureAccountKey: AZURITE_KEY, env: {} },
      uri: (line) => `${blobRoot}/${line}`,
    },
  };
}

/** Writes step-N of a line as a trainer of `epoch` does: a file, then the manifest (create-only). */
export async function commitLineStep(store: SandboxStore, line: string, step: number, epoch = 1): Promise<void> {
  const s = openStore(store.uri(line), store.options);
  await s.put(`step-${step}/model.bin`, randomBytes(4 * 1024));
  await commitStep(s, step, { epoch });
}

/** crosscloud_store_requests_total by "<store> <op>". */
export async function storeRequests(registry: Registry): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const metric = registry.getSingleMetric("crosscloud_store_requests_total");
  for (const v of (await metric?.get())?.values ?? []) out.set(`${v.labels.store} ${v.labels.op}`, v.value);
  return out;
}

/** What grew between two readings of storeRequests, by "<store> <op>" (zero deltas left out). */
export function requestsSince(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of after) if (v - (before.get(k) ?? 0) > 0) out.set(k, v - (before.get(k) ?? 0));
  return out;
}

/** The requests to one store (all operations), or of one operation there. */
export function requestsTo(counts: Map<string, number>, root: string, op?: string): number {
  let n = 0;
  for (const [k, v] of counts) if (k === `${root} ${op}` || (op === undefined && k.startsWith(`${root} `))) n += v;
  return n;
}
