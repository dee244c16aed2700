// Helpers of the checkpoint integration tests: stores rooted at a fresh prefix
// in the sandbox's bucket and container, and steps of random files written
// the way training code writes them (files, then the manifest).

import { randomBytes } from "node:crypto";
import { blobServiceClient, SANDBOX_BUCKET, SANDBOX_CONTAINER, s3Client } from "../../scripts/sandbox/sandbox.ts";
import { AzureBlobStore } from "../../src/checkpoint/azure-blob/blob-store.ts";
import { sha256Hex } from "../../src/checkpoint/hash.ts";
import { type Manifest, manifestKey, serializeManifest, stepDir } from "../../src/checkpoint/manifest.ts";
import { S3Store } from "../../src/checkpoint/s3/s3-store.ts";
import { listAll, type ObjectStore, readAll } from "../../src/checkpoint/store.ts";
import { uniqueName } from "../support/sandbox.ts";

export type StoreKind = "s3" | "azure-blob";

/** A store of the sandbox rooted at a prefix no other test uses. */
export function sandboxStore(kind: StoreKind, prefix = uniqueName("ckpt")): ObjectStore {
  if (kind === "s3") return new S3Store({ client: s3Client(), bucket: SANDBOX_BUCKET, prefix });
  return new AzureBlobStore({ container: blobServiceClient().getContainerClient(SANDBOX_CONTAINER), prefix });
}

/** Writes `sizes.length` random files into step-N/ and, unless `commit` is false, the manifest last. */
export async function writeStep(
  store: ObjectStore,
  step: number,
  sizes: readonly number[],
  options: { epoch?: number; commit?: boolean; withSha256?: boolean } = {},
): Promise<{ manifest: Manifest; contents: Map<string, Buffer> }> {
  const contents = new Map<string, Buffer>();
  sizes.forEach((size, i) => {
    contents.set(`__${i}_0.distcp`, randomBytes(size));
  });
  await Promise.all([...contents].map(([path, body]) => store.put(`${stepDir(step)}/${path}`, body)));
  const files = [...contents].map(([path, body]) =>
    options.withSha256 === false ? { path, size: body.length } : { path, size: body.length, sha256: sha256Hex(body) },
  );
  const manifest: Manifest = { step, epoch: options.epoch ?? 1, createdAt: new Date().toISOString(), files };
  if (options.commit !== false) await store.put(manifestKey(step), Buffer.from(serializeManifest(manifest)));
  return { manifest, contents };
}

/** Every file of step-N/ in `store` equals `contents`. */
export async function stepContents(
  store: ObjectStore,
  step: number,
  paths: Iterable<string>,
): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const path of paths) out.set(path, await readAll(store, `${stepDir(step)}/${path}`));
  return out;
}

/** The step directories present in a store (any object under step-N/). */
export async function stepDirs(store: ObjectStore): Promise<number[]> {
  const steps = new Set<number>();
  for (const o of await listAll(store, "")) {
    const m = /^step-(\d+)\//.exec(o.key);
    if (m) steps.add(Number(m[1]));
  }
  return [...steps].sort((a, b) => a - b);
}

export const MiB = 2 ** 20;
