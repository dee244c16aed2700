// Restore before the trainer starts: the resume step's manifest is read and
// every file downloaded into `<dir>/.restoring-step-<N>/`, each checked
// against the manifest's size and SHA-256 (when given); only when all are
// whole is the dir renamed to `<dir>/step-<N>/`, so a killed restore never
// leaves a partial step that looks whole. A step already there is kept.

import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { pipeline } from "node:stream/promises";
import { failpoint } from "../../runtime/failpoints.ts";
import { CheckpointError } from "../errors.ts";
import { type ManifestFile, stepDir } from "../manifest.ts";
import { inPool } from "../replicate-step.ts";
import { readManifest } from "../steps.ts";
import type { ObjectStore } from "../store.ts";
import { formatStoreUri } from "../uri.ts";

export interface RestoreContext {
  readonly store: ObjectStore;
  readonly dir: string;
  readonly fileConcurrency: number;
  readonly signal?: AbortSignal;
}

/** Restores `step`; resolves with "restored", or "present" when `<dir>/step-<N>/` already exists. */
export async function restoreStep(ctx: RestoreContext, step: number): Promise<"restored" | "present"> {
  const target = join(ctx.dir, stepDir(step));
  if (await exists(target)) return "present";
  const manifest = await readManifest(ctx.store, step, ctx.signal);
  if (!manifest) {
    throw new CheckpointError(
      { code: "NotFound", key: `${stepDir(step)}/manifest.json` },
      `${formatStoreUri(ctx.store.uri)}/${stepDir(step)} is not committed (no manifest): check CROSSCLOUD_RESUME_STEP and CROSSCLOUD_RESUME_URI`,
    );
  }
  const temp = join(ctx.dir, `.restoring-${stepDir(step)}`);
  await rm(temp, { recursive: true, force: true });
  await mkdir(temp, { recursive: true });
  await inPool(manifest.files, ctx.fileConcurrency, ctx.signal, async (file, signal) => {
    await downloadFile(ctx.store, `${stepDir(step)}/${file.path}`, join(temp, file.path), file, signal);
    failpoint("agent.restore.after-file");
  });
  await rename(temp, target);
  return "restored";
}

async function downloadFile(store: ObjectStore, key: string, path: string, file: ManifestFile, signal: AbortSignal) {
  await mkdir(dirname(path), { recursive: true });
  const hash = createHash("sha256");
  let size = 0;
  const source = await store.read(key, undefined, signal);
  await pipeline(
    source,
    async function* (chunks: AsyncIterable<Uint8Array>) {
      for await (const chunk of chunks) {
        hash.update(chunk);
        size += chunk.byteLength;
        yield chunk;
      }
    },
    createWriteStream(path),
    { signal },
  );
  if (size !== file.size) {
    throw new CheckpointError(
      { code: "SizeMismatch", key, expected: file.size, actual: size },
      `${key} downloaded as ${size} bytes, its manifest says ${file.size}; the restore is retried`,
    );
  }
  const sha256 = hash.digest("hex");
  if (file.sha256 !== undefined && sha256 !== file.sha256) {
    throw new CheckpointError(
      { code: "ChecksumMismatch", key, expected: file.sha256, actual: sha256 },
      `${key} downloaded with SHA-256 ${sha256}, its manifest says ${file.sha256}; the restore is retried`,
    );
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
