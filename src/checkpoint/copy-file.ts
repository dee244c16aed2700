// Copies one file between stores, chunked and memory bounded: parts are read
// from the source by ranged GETs (each holding a slot until written), hashed
// in order into the file's SHA-256, and written as staged parts in parallel.
// Parts an interrupted run left staged with the same bytes are not written
// again. The object is made visible only when the whole-file checksum matches,
// and is then checked against the store's own checksums.

import { createHash } from "node:crypto";
import type { BudgetHolder } from "./copy-budget.ts";
import { CheckpointError } from "./errors.ts";
import type { EventSink } from "./events.ts";
import { sha256Hex } from "./hash.ts";
import { choosePartSize, planParts } from "./parts.ts";
import type { Slots } from "./slots.ts";
import {
  type ExpectedObject,
  type ObjectStore,
  type PartPlan,
  readRange,
  type StagedPart,
  type StagedUpload,
} from "./store.ts";

/** How parts reach the destination. */
export type CopyMode =
  /** Through this process: read from the source, written to the destination. */
  | "stream"
  /** The destination pulls each part from a presigned source URL where the pair supports it (S3 -> real Azure), else "stream". */
  | "prefer-server-side";

export interface CopyContext {
  readonly source: ObjectStore;
  readonly destination: ObjectStore;
  /** The pass's own cap on parts in memory at once. */
  readonly slots: Slots;
  /** The process-wide budget every part's buffer and copy slot come from (copy-budget.ts). */
  readonly budget: BudgetHolder;
  readonly partSize: number;
  readonly multipartThreshold: number;
  readonly copyMode: CopyMode;
  readonly signal?: AbortSignal;
  readonly onEvent: EventSink;
  /** Called with bytes as they are read from the source and written to the destination. */
  readonly count: (kind: "read" | "written", bytes: number) => void;
}

export interface FileToCopy {
  readonly sourceKey: string;
  readonly destKey: string;
  readonly size: number;
  /** Expected hex SHA-256, when the source manifest gives one. */
  readonly sha256?: string;
  /** Called once the bytes are verified, just before the object is made visible (to record what it will hold). */
  readonly beforeVisible?: (written: ExpectedObject) => Promise<void>;
}

/** Copies `file`; resolves with its SHA-256 (hex) once the destination object is whole and verified. */
export async function copyFile(ctx: CopyContext, file: FileToCopy): Promise<string> {
  const written = file.size <= ctx.multipartThreshold ? await copySmall(ctx, file) : await copyMultipart(ctx, file);
  if (await ctx.destination.holds(file.destKey, written, ctx.signal)) return written.sha256;
  const info = await ctx.destination.head(file.destKey, ctx.signal);
  if (info?.size !== file.size) throw sizeMismatch(file.destKey, file.size, info?.size ?? 0);
  throw new CheckpointError(
    { code: "ChecksumMismatch", key: file.destKey, expected: written.sha256, actual: "the store's own checksum" },
    `${file.destKey}: the destination's checksum of the object does not match the ${written.sha256} written`,
  );
}

/** A pass slot and a lease of `size` bytes from the process budget, released together; neither is kept on failure. */
export async function takeSlot(ctx: Pick<CopyContext, "slots" | "budget">, size: number, signal?: AbortSignal) {
  const release = await ctx.slots.acquire(signal);
  try {
    const lease = await ctx.budget.take(size, signal);
    return {
      bytes: lease.bytes,
      release: () => {
        lease.release();
        release();
      },
    };
  } catch (err) {
    release();
    throw err;
  }
}

async function copySmall(ctx: CopyContext, file: FileToCopy): Promise<ExpectedObject> {
  const slot = await takeSlot(ctx, file.size, ctx.signal);
  try {
    const range = { offset: 0, length: file.size };
    const body = await readRange(ctx.source, file.sourceKey, range, ctx.signal, slot.bytes);
    ctx.count("read", body.byteLength);
    const sha256 = sha256Hex(body);
    checkSha256(file, sha256);
    await file.beforeVisible?.({ size: file.size, sha256 });
    await ctx.destination.put(file.destKey, body, { sha256, signal: ctx.signal });
    ctx.count("written", body.byteLength);
    return { size: file.size, sha256 };
  } finally {
    slot.release();
  }
}

async function copyMultipart(ctx: CopyContext, file: FileToCopy): Promise<ExpectedObject> {
  const partSize = choosePartSize(file.size, ctx.destination.limits, ctx.partSize, file.destKey);
  const upload = await ctx.destination.openUpload(file.destKey, ctx.signal);
  const sourceUrl = await serverSideUrl(ctx, upload, file);
  const { parts, sha256 } = await transferParts(ctx, file, upload, planParts(file.size, partSize), sourceUrl);
  if (file.sha256 !== undefined && sha256 !== file.sha256) {
    await upload.abort(ctx.signal);
    checkSha256(file, sha256);
  }
  const written = { size: file.size, sha256, partsSha256: parts.map((p) => p.sha256) };
  await file.beforeVisible?.(written);
  await upload.complete(parts, sha256, ctx.signal);
  return written;
}

async function serverSideUrl(ctx: CopyContext, upload: StagedUpload, file: FileToCopy): Promise<string | undefined> {
  if (ctx.copyMode !== "prefer-server-side" || !upload.putPartFromUrl || !ctx.source.presign) return undefined;
  return ctx.source.presign(file.sourceKey, 6 * 3600);
}

/**
 * Moves every part, at most one slot's worth of bytes per part in memory.
 * The first failure aborts the parts still running and is what is thrown.
 */
async function transferParts(
  ctx: CopyContext,
  file: FileToCopy,
  upload: StagedUpload,
  plan: readonly PartPlan[],
  sourceUrl: string | undefined,
): Promise<{ parts: StagedPart[]; sha256: string }> {
  const local = new AbortController();
  const signal = ctx.signal ? AbortSignal.any([ctx.signal, local.signal]) : local.signal;
  const hash = createHash("sha256");
  let hashed: Promise<unknown> = Promise.resolve();
  const staged: Promise<StagedPart>[] = [];
  /** One per part: settled once its buffer is given back, so the file settles only with every buffer back. */
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
    const range = { offset: part.offset, length: part.size };
    const body = readRange(ctx.source, file.sourceKey, range, signal, slot.bytes);
    // The file's hash right after the first part is that part's own SHA-256: one pass over it, not two.
    // Every other part is hashed on its own as soon as it is read, not after the parts before it.
    const partHashed = hashed.then(async () => {
      hash.update(await body);
      return part.index === 0 ? hash.copy().digest("hex") : "";
    });
    hashed = partHashed;
    const partSha256 = part.index === 0 ? partHashed : body.then(sha256Hex);
    const written = Promise.all([body, partSha256]).then(([buf, sha256]) =>
      transferPart(ctx, upload, part, buf, sha256, sourceUrl, signal),
    );
    // The buffer goes back only when nothing uses it any more: hashed, and written or failed.
    const back = Promise.allSettled([partHashed, written]).then((results) => {
      slot.release();
      const failed = results.find((r) => r.status === "rejected");
      if (failed) fail(failed.reason);
    });
    released.push(back);
    staged.push(written);
  }
  const settled = await Promise.allSettled([hashed, ...staged]);
  await Promise.all(released);
  if (failure !== undefined) throw failure;
  const parts = settled.slice(1).map((s) => (s as PromiseFulfilledResult<StagedPart>).value);
  return { parts, sha256: hash.digest("hex") };
}

async function transferPart(
  ctx: CopyContext,
  upload: StagedUpload,
  part: PartPlan,
  body: Buffer,
  sha256: string,
  sourceUrl: string | undefined,
  signal: AbortSignal,
): Promise<StagedPart> {
  ctx.count("read", body.byteLength);
  const earlier = stagedBefore(ctx.onEvent, upload, part, sha256);
  if (earlier) return earlier;
  const staged =
    sourceUrl && upload.putPartFromUrl
      ? await upload.putPartFromUrl(part, sourceUrl, body, sha256, signal)
      : await upload.putPart(part, body, sha256, signal);
  ctx.count("written", part.size);
  ctx.onEvent({ type: "part-written", key: upload.key, index: part.index, bytes: part.size });
  return staged;
}

/**
 * The part an interrupted run left staged with these very bytes (same size and SHA-256), reported
 * as skipped; undefined when the part must be written.
 */
export function stagedBefore(
  onEvent: EventSink,
  upload: StagedUpload,
  part: PartPlan,
  sha256: string,
): StagedPart | undefined {
  const earlier = upload.staged.get(part.index);
  if (!earlier || earlier.size !== part.size || earlier.sha256 !== sha256) return undefined;
  onEvent({ type: "part-skipped", key: upload.key, index: part.index, bytes: part.size });
  return earlier;
}

function checkSha256(file: FileToCopy, actual: string): void {
  if (file.sha256 === undefined || file.sha256 === actual) return;
  throw new CheckpointError(
    { code: "ChecksumMismatch", key: file.sourceKey, expected: file.sha256, actual },
    `${file.sourceKey} hashes to ${actual} but its manifest says ${file.sha256}: the source is corrupt or changed; the step is not committed at the destination`,
  );
}

export function sizeMismatch(key: string, expected: number, actual: number): CheckpointError {
  return new CheckpointError(
    { code: "SizeMismatch", key, expected, actual },
    `${key} is ${actual} bytes, its manifest says ${expected}`,
  );
}
