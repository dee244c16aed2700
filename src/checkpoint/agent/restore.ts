// Restore before the trainer starts: the resume step's manifest is read and
// every file downloaded into `<dir>/.restoring-step-<N>/`, each checked
// against the manifest's size and SHA-256 (when given); only when all are
// whole is the dir renamed to `<dir>/step-<N>/`, so a killed restore never
// leaves a partial step that looks whole. A step already there is kept.
// A file is read in parts by ranged reads in parallel (each part holding a
// slot and a budget lease until it is hashed and written at its offset), and
// hashed in order, the way the replicator reads a source.

import { createHash } from "node:crypto";
import { type FileHandle, mkdir, open, rename, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { failpoint } from "../../runtime/failpoints.ts";
import type { BudgetHolder } from "../copy-budget.ts";
import { takeSlot } from "../copy-file.ts";
import { CheckpointError } from "../errors.ts";
import { type ManifestFile, stepDir } from "../manifest.ts";
import { planParts } from "../parts.ts";
import { inPool } from "../replicate-step.ts";
import type { Slots } from "../slots.ts";
import { readManifest } from "../steps.ts";
import { type ObjectStore, readRange } from "../store.ts";
import { formatStoreUri } from "../uri.ts";

export interface RestoreContext {
  readonly store: ObjectStore;
  readonly dir: string;
  readonly fileConcurrency: number;
  /** The bytes of one ranged read. */
  readonly partSize: number;
  /** The restore's cap on parts in memory at once, across its files. */
  readonly slots: Slots;
  /** The process-wide budget every part's buffer comes from (copy-budget.ts). */
  readonly budget: BudgetHolder;
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
    await downloadFile(ctx, `${stepDir(step)}/${file.path}`, join(temp, file.path), file, signal);
    failpoint("agent.restore.after-file");
  });
  await rename(temp, target);
  return "restored";
}

async function downloadFile(ctx: RestoreContext, key: string, path: string, file: ManifestFile, signal: AbortSignal) {
  await mkdir(dirname(path), { recursive: true });
  const handle = await open(path, "w");
  let sha256: string;
  try {
    sha256 = file.size === 0 ? createHash("sha256").digest("hex") : await downloadParts(ctx, key, handle, file, signal);
  } finally {
    await handle.close();
  }
  if (file.sha256 !== undefined && sha256 !== file.sha256) {
    throw new CheckpointError(
      { code: "ChecksumMismatch", key, expected: file.sha256, actual: sha256 },
      `${key} downloaded with SHA-256 ${sha256}, its manifest says ${file.sha256}; the restore is retried`,
    );
  }
}

/**
 * Reads every part of `key` (ranged reads in parallel, each exactly its length: an object shorter than
 * the manifest says fails with SizeMismatch), hashes them in order and writes each at its offset;
 * the first failure stops the rest and is thrown once every buffer is back. Resolves with the SHA-256.
 */
async function downloadParts(
  ctx: RestoreContext,
  key: string,
  handle: FileHandle,
  file: ManifestFile,
  outer: AbortSignal,
): Promise<string> {
  const local = new AbortController();
  const signal = AbortSignal.any([outer, local.signal]);
  const hash = createHash("sha256");
  let hashed: Promise<unknown> = Promise.resolve();
  const released: Promise<void>[] = [];
  let failure: unknown;
  const fail = (err: unknown) => {
    failure ??= err;
    local.abort();
  };
  for (const part of planParts(file.size, ctx.partSize)) {
    if (failure !== undefined) break;
    const slot = await takeSlot(ctx, part.size, signal).catch((err) => fail(err));
    if (!slot) break;
    const body = readRange(ctx.store, key, { offset: part.offset, length: part.size }, signal, slot.bytes);
    const partHashed = hashed.then(async () => void hash.update(await body));
    hashed = partHashed;
    const written = body.then((buf) => writeAt(handle, buf, part.offset));
    released.push(
      Promise.allSettled([partHashed, written]).then((results) => {
        slot.release();
        for (const r of results) if (r.status === "rejected") fail(r.reason);
      }),
    );
  }
  await Promise.all(released);
  if (failure !== undefined) throw failure;
  return hash.digest("hex");
}

async function writeAt(handle: FileHandle, buf: Buffer, position: number): Promise<void> {
  for (let done = 0; done < buf.length; ) {
    const { bytesWritten } = await handle.write(buf, done, buf.length - done, position + done);
    done += bytesWritten;
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
