// Uploads one file from local disk to a store, the local twin of copy-file.ts:
// parts are read from the file (each holding a slot and a budget lease until
// written), hashed in order into the file's SHA-256, and staged in parallel;
// parts an interrupted run left staged with the same bytes are not written
// again. The object is made visible only once every byte is read and hashed,
// and is then checked against the store's own checksums.

import { createHash } from "node:crypto";
import { type FileHandle, open } from "node:fs/promises";
import type { BudgetHolder } from "./copy-budget.ts";
import { stagedBefore, takeSlot } from "./copy-file.ts";
import { CheckpointError } from "./errors.ts";
import type { EventSink } from "./events.ts";
import { sha256Hex } from "./hash.ts";
import { choosePartSize, planParts } from "./parts.ts";
import type { Slots } from "./slots.ts";
import type { ExpectedObject, ObjectStore, PartPlan, StagedPart, StagedUpload } from "./store.ts";

export interface UploadContext {
  readonly store: ObjectStore;
  /** This upload's cap on parts in memory at once. */
  readonly slots: Slots;
  /** The process-wide budget every part's buffer comes from (copy-budget.ts). */
  readonly budget: BudgetHolder;
  readonly partSize: number;
  /** Files up to this size are one PUT. */
  readonly multipartThreshold: number;
  readonly signal?: AbortSignal;
  readonly onEvent: EventSink;
}

export interface LocalFileToUpload {
  readonly localPath: string;
  readonly key: string;
  /** The size scanned; a file that reads shorter or longer is refused (it changed while uploading). */
  readonly size: number;
  /** Called once the bytes are hashed, just before the object is made visible. */
  readonly beforeVisible?: (written: ExpectedObject) => Promise<void>;
}

/** Uploads `file`; resolves with what the object holds once the store's checksums confirm it. */
export async function uploadFile(ctx: UploadContext, file: LocalFileToUpload): Promise<ExpectedObject> {
  const handle = await open(file.localPath, "r");
  let written: ExpectedObject;
  try {
    written =
      file.size <= ctx.multipartThreshold ? await uploadSmall(ctx, file, handle) : await uploadParts(ctx, file, handle);
    if ((await handle.stat()).size !== file.size) throw changed(file);
  } finally {
    await handle.close();
  }
  if (await ctx.store.holds(file.key, written, ctx.signal)) return written;
  throw new CheckpointError(
    { code: "ChecksumMismatch", key: file.key, expected: written.sha256, actual: "the store's own checksum" },
    `${file.key}: the store's checksum of the uploaded object does not match the ${written.sha256} written; the agent uploads it again`,
  );
}

/** Fills `into` from `offset` of the file; the file must hold that many bytes. */
async function readAt(handle: FileHandle, file: LocalFileToUpload, into: Buffer, offset: number): Promise<Buffer> {
  let filled = 0;
  while (filled < into.length) {
    const { bytesRead } = await handle.read(into, filled, into.length - filled, offset + filled);
    if (bytesRead === 0) throw changed(file);
    filled += bytesRead;
  }
  return into;
}

async function uploadSmall(ctx: UploadContext, file: LocalFileToUpload, handle: FileHandle): Promise<ExpectedObject> {
  const slot = await takeSlot(ctx, file.size, ctx.signal);
  try {
    const body = await readAt(handle, file, slot.bytes, 0);
    const written = { size: file.size, sha256: sha256Hex(body) };
    await file.beforeVisible?.(written);
    await ctx.store.put(file.key, body, { sha256: written.sha256, signal: ctx.signal });
    return written;
  } finally {
    slot.release();
  }
}

async function uploadParts(ctx: UploadContext, file: LocalFileToUpload, handle: FileHandle): Promise<ExpectedObject> {
  const partSize = choosePartSize(file.size, ctx.store.limits, ctx.partSize, file.key);
  const upload = await ctx.store.openUpload(file.key, ctx.signal);
  const { parts, sha256 } = await stageParts(ctx, file, handle, upload, planParts(file.size, partSize));
  const written = { size: file.size, sha256, partsSha256: parts.map((p) => p.sha256) };
  await file.beforeVisible?.(written);
  await upload.complete(parts, sha256, ctx.signal);
  return written;
}

/** Reads, hashes and stages every part; the first failure stops the rest and is thrown once every buffer is back. */
async function stageParts(
  ctx: UploadContext,
  file: LocalFileToUpload,
  handle: FileHandle,
  upload: StagedUpload,
  plan: readonly PartPlan[],
): Promise<{ parts: StagedPart[]; sha256: string }> {
  const local = new AbortController();
  const signal = ctx.signal ? AbortSignal.any([ctx.signal, local.signal]) : local.signal;
  const hash = createHash("sha256");
  const staged: Promise<StagedPart>[] = [];
  const released: Promise<void>[] = [];
  let failure: unknown;
  const fail = (err: unknown) => {
    failure ??= err;
    local.abort();
  };
  for (const part of plan) {
    if (failure !== undefined) break;
    const slot = await takeSlot(ctx, part.size, signal).catch((err) => fail(err));
    if (!slot) break;
    // Reads are in order (one at a time), so the whole-file hash is fed in order; writes run in parallel.
    const body = await readAt(handle, file, slot.bytes, part.offset).catch((err) => fail(err));
    if (!body) {
      slot.release();
      break;
    }
    hash.update(body);
    const written = stagePart(ctx, upload, part, body, signal);
    staged.push(written);
    released.push(
      written.then(
        () => slot.release(),
        (err) => {
          slot.release();
          fail(err);
        },
      ),
    );
  }
  await Promise.all(released);
  if (failure !== undefined) throw failure;
  return { parts: await Promise.all(staged), sha256: hash.digest("hex") };
}

async function stagePart(
  ctx: UploadContext,
  upload: StagedUpload,
  part: PartPlan,
  body: Buffer,
  signal: AbortSignal,
): Promise<StagedPart> {
  const sha256 = sha256Hex(body);
  const earlier = stagedBefore(ctx.onEvent, upload, part, sha256);
  if (earlier) return earlier;
  const staged = await upload.putPart(part, body, sha256, signal);
  ctx.onEvent({ type: "part-written", key: upload.key, index: part.index, bytes: part.size });
  return staged;
}

function changed(file: LocalFileToUpload): CheckpointError {
  return new CheckpointError(
    { code: "SizeMismatch", key: file.key, expected: file.size, actual: -1 },
    `${file.localPath} changed size while it was uploaded (scanned at ${file.size} bytes): a finished step must not be written to; the agent retries it`,
  );
}
