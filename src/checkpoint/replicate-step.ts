// Replicates one committed step to one destination store: files copied in
// parallel (each verified in size and SHA-256, each recorded by a marker so a
// rerun skips it), and the manifest, with every checksum filled in, written
// last and only when every file is verified.

import { type CopyContext, copyFile, sizeMismatch } from "./copy-file.ts";
import { CheckpointError, isCheckpointError } from "./errors.ts";
import { type Manifest, type ManifestFile, manifestKey, sameCommit, serializeManifest, stepDir } from "./manifest.ts";
import { readMarkers, type VerifiedMarker, writeMarker } from "./markers.ts";
import { readManifest } from "./steps.ts";
import { type ExpectedObject, listAll, type ObjectInfo } from "./store.ts";
import { formatStoreUri } from "./uri.ts";

export interface StepContext extends CopyContext {
  /** Files copied at once. */
  readonly fileConcurrency: number;
}

export type StepOutcome = "committed" | "already-replicated";

/** Replicates `manifest`'s step from ctx.source to ctx.destination. */
export async function replicateStep(ctx: StepContext, manifest: Manifest): Promise<StepOutcome> {
  const { destination, signal } = ctx;
  const step = manifest.step;
  const existing = await readManifest(destination, step, signal).catch((err) => {
    if (isCheckpointError(err, "InvalidManifest")) return undefined;
    throw err;
  });
  if (existing && sameCommit(manifest, existing)) return "already-replicated";
  // A different (or unreadable) commit of the same step: uncommit it first, files follow.
  await destination.delete(manifestKey(step), signal);
  const sources = await sourceObjects(ctx, manifest);
  const markers = await readMarkers(destination, step, signal);
  const files = await inPool(manifest.files, ctx.fileConcurrency, signal, (file, poolSignal) =>
    replicateFile(
      { ...ctx, signal: poolSignal },
      step,
      file,
      sources.get(file.path) as ObjectInfo,
      markers.get(file.path),
    ),
  );
  const committed: Manifest = { ...manifest, files };
  const body = Buffer.from(serializeManifest(committed));
  if (!(await destination.putIfAbsent(manifestKey(step), body, signal))) {
    const raced = await readManifest(destination, step, signal);
    if (!raced || !sameCommit(manifest, raced)) {
      throw new CheckpointError(
        { code: "StoreFailed", operation: "commit", key: manifestKey(step) },
        `${formatStoreUri(destination.uri)}/${manifestKey(step)} was written by someone else with different content while replicating`,
      );
    }
  }
  return "committed";
}

/** The source objects of the manifest's files, each checked to exist with the manifest's size before anything moves. */
async function sourceObjects(ctx: StepContext, manifest: Manifest): Promise<Map<string, ObjectInfo>> {
  const prefix = `${stepDir(manifest.step)}/`;
  const listed = new Map((await listAll(ctx.source, prefix, ctx.signal)).map((o) => [o.key.slice(prefix.length), o]));
  for (const f of manifest.files) {
    const o = listed.get(f.path);
    if (!o) {
      throw new CheckpointError(
        { code: "NotFound", key: prefix + f.path },
        `${prefix}${f.path} is in the manifest but not in the source store`,
      );
    }
    if (o.size !== f.size) throw sizeMismatch(o.key, f.size, o.size);
  }
  return listed;
}

async function replicateFile(
  ctx: StepContext,
  step: number,
  file: ManifestFile,
  source: ObjectInfo,
  marker: VerifiedMarker | undefined,
): Promise<ManifestFile> {
  const key = `${stepDir(step)}/${file.path}`;
  const destination = formatStoreUri(ctx.destination.uri);
  if (marker && (await stillVerified(ctx, key, file, source, marker))) {
    ctx.onEvent({
      type: "file-verified",
      destination,
      step,
      path: file.path,
      size: file.size,
      sha256: marker.sha256,
      skipped: true,
    });
    return { ...file, sha256: marker.sha256 };
  }
  const beforeVisible = (written: ExpectedObject) =>
    writeMarker(ctx.destination, step, { ...written, path: file.path, sourceEtag: source.etag }, ctx.signal);
  const sha256 = await copyFile(ctx, {
    sourceKey: key,
    destKey: key,
    size: file.size,
    sha256: file.sha256,
    beforeVisible,
  });
  ctx.onEvent({ type: "file-verified", destination, step, path: file.path, size: file.size, sha256, skipped: false });
  return { ...file, sha256 };
}

/** A marker vouches for the destination file when it names the manifest's content and the store's checksums show the object holds it. */
async function stillVerified(
  ctx: StepContext,
  key: string,
  file: ManifestFile,
  source: ObjectInfo,
  marker: VerifiedMarker,
): Promise<boolean> {
  if (marker.size !== file.size) return false;
  const sameContent = file.sha256 !== undefined ? marker.sha256 === file.sha256 : marker.sourceEtag === source.etag;
  if (!sameContent) return false;
  return ctx.destination.holds(key, marker, ctx.signal);
}

/**
 * Runs `fn` over `items`, `concurrency` at a time, results in item order. The
 * first failure aborts the rest (through the signal given to `fn`) and is thrown.
 */
export async function inPool<T, R>(
  items: readonly T[],
  concurrency: number,
  signal: AbortSignal | undefined,
  fn: (item: T, signal: AbortSignal) => Promise<R>,
): Promise<R[]> {
  const local = new AbortController();
  const poolSignal = signal ? AbortSignal.any([signal, local.signal]) : local.signal;
  const results: R[] = new Array(items.length);
  let next = 0;
  let failure: unknown;
  const worker = async () => {
    while (failure === undefined && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i] as T, poolSignal);
      } catch (err) {
        failure ??= err;
        local.abort();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  if (failure !== undefined) throw failure;
  return results;
}
