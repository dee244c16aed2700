// Uploads this replica's files of one local step and records its part:
// every file of `<dir>/step-<N>/` but `.done` (recursively) goes to
// `step-<N>/<path>`, verified and resumable (a file whose marker says the
// store already holds exactly this local file is not uploaded again); then
// `step-<N>/.crosscloud/parts/<index>.json` lists what this replica uploaded.

import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { failpoint } from "../../runtime/failpoints.ts";
import { isCheckpointError } from "../errors.ts";
import { checkPath, type ManifestFile, RESERVED_DIR, stepDir } from "../manifest.ts";
import { markerKey, type VerifiedMarker, writeMarker } from "../markers.ts";
import { inPool } from "../replicate-step.ts";
import { type ExpectedObject, type ObjectStore, readAll } from "../store.ts";
import { type UploadContext, uploadFile } from "../upload-file.ts";
import type { PartRecord } from "./plan.ts";

export const DONE_NAME = ".done";

export interface LocalFile {
  readonly path: string;
  readonly size: number;
  /** What the marker records as the source version: the file's size and modification time. */
  readonly version: string;
}

export interface StepUploadContext extends UploadContext {
  readonly dir: string;
  readonly epoch: number;
  readonly index: number;
  readonly fileConcurrency: number;
}

/** The files of a local step dir, paths relative to it, `.done` left out; a path a manifest cannot hold is an error. */
export async function localFiles(stepPath: string): Promise<LocalFile[]> {
  const entries = await readdir(stepPath, { recursive: true, withFileTypes: true });
  const files: LocalFile[] = [];
  for (const e of entries) {
    if (!e.isFile()) continue;
    const path = join(e.parentPath, e.name).slice(stepPath.length + 1);
    if (path === DONE_NAME) continue;
    const problem = checkPath(path);
    if (problem) throw new Error(`${join(stepPath, path)} cannot be uploaded: ${problem}; rename it`);
    const s = await stat(join(stepPath, path));
    files.push({ path, size: s.size, version: `local:${s.size}:${s.mtimeMs}` });
  }
  return files.sort((a, b) => (a.path < b.path ? -1 : 1));
}

export function partKey(step: number, index: number): string {
  return `${stepDir(step)}/${RESERVED_DIR}/parts/${index}.json`;
}

/** Uploads the step's files and writes the part record; resolves with the record. */
export async function uploadStep(ctx: StepUploadContext, step: number): Promise<PartRecord> {
  const stepPath = join(ctx.dir, stepDir(step));
  const files = await localFiles(stepPath);
  const uploaded = await inPool(files, ctx.fileConcurrency, ctx.signal, (file, signal) =>
    uploadOne({ ...ctx, signal }, step, stepPath, file),
  );
  const record: PartRecord = { epoch: ctx.epoch, index: ctx.index, files: uploaded };
  await writePartRecord(ctx.store, step, record, ctx.signal);
  return record;
}

async function uploadOne(
  ctx: StepUploadContext,
  step: number,
  stepPath: string,
  file: LocalFile,
): Promise<ManifestFile> {
  const key = `${stepDir(step)}/${file.path}`;
  const marker = await readMarker(ctx.store, step, file.path, ctx.signal);
  if (marker && marker.size === file.size && marker.sourceEtag === file.version) {
    if (await ctx.store.holds(key, marker, ctx.signal)) {
      ctx.onEvent({
        type: "file-verified",
        destination: key,
        step,
        path: file.path,
        size: file.size,
        sha256: marker.sha256,
        skipped: true,
      });
      return { path: file.path, size: file.size, sha256: marker.sha256 };
    }
  }
  const beforeVisible = (written: ExpectedObject) =>
    writeMarker(ctx.store, step, { ...written, path: file.path, sourceEtag: file.version }, ctx.signal);
  const written = await uploadFile(ctx, { localPath: join(stepPath, file.path), key, size: file.size, beforeVisible });
  ctx.onEvent({
    type: "file-verified",
    destination: key,
    step,
    path: file.path,
    size: file.size,
    sha256: written.sha256,
    skipped: false,
  });
  failpoint("agent.after-file");
  return { path: file.path, size: file.size, sha256: written.sha256 };
}

async function readMarker(
  store: ObjectStore,
  step: number,
  path: string,
  signal?: AbortSignal,
): Promise<VerifiedMarker | undefined> {
  const key = markerKey(step, path);
  if (!(await store.head(key, signal))) return undefined;
  try {
    const m = JSON.parse((await readAll(store, key, signal)).toString("utf8")) as VerifiedMarker;
    return m.path === path && typeof m.sha256 === "string" && typeof m.size === "number" ? m : undefined;
  } catch {
    return undefined;
  }
}

/** Writes the part record create-only; one left by an earlier epoch for this uncommitted step is replaced. */
async function writePartRecord(store: ObjectStore, step: number, record: PartRecord, signal?: AbortSignal) {
  const key = partKey(step, record.index);
  const body = Buffer.from(`${JSON.stringify(record)}\n`);
  if (await store.putIfAbsent(key, body, signal)) return;
  const existing = await readPartRecord(store, key, signal);
  if (existing?.epoch !== record.epoch) await store.put(key, body, { signal });
}

/** A part record, or undefined when it is absent or unreadable. */
export async function readPartRecord(
  store: ObjectStore,
  key: string,
  signal?: AbortSignal,
): Promise<PartRecord | undefined> {
  try {
    const v = JSON.parse((await readAll(store, key, signal)).toString("utf8")) as PartRecord;
    const ok = Number.isSafeInteger(v.epoch) && Number.isSafeInteger(v.index) && Array.isArray(v.files);
    return ok ? v : undefined;
  } catch (err) {
    if (isCheckpointError(err, "NotFound") || err instanceof SyntaxError) return undefined;
    throw err;
  }
}
