// What a store holds, step by step: scanning `step-<N>/` directories, reading
// their manifests, and committing a step (by the training code's helper, or
// for PyTorch DCP steps whose `.metadata` is written) by writing its manifest.

import { createHash } from "node:crypto";
import { CheckpointError } from "./errors.ts";
import {
  checkPath,
  DCP_METADATA_NAME,
  MANIFEST_NAME,
  type Manifest,
  type ManifestResult,
  manifestKey,
  parseManifest,
  parseStepDir,
  serializeManifest,
  stepDir,
  validateManifest,
} from "./manifest.ts";
import { listAll, type ObjectInfo, type ObjectStore, readAll } from "./store.ts";

/** The objects of one `step-N/` directory. */
export interface StepObjects {
  readonly step: number;
  /** Every object in the directory, keys relative to the store root. */
  readonly objects: readonly ObjectInfo[];
  readonly manifest?: ObjectInfo;
  readonly dcpMetadata?: ObjectInfo;
}

/** A committed step: its manifest and when the manifest arrived in this store. */
export interface CommittedStep {
  readonly manifest: Manifest;
  readonly committedAt: Date;
}

export interface StoreSteps {
  /** Committed steps, ascending by step. */
  readonly committed: readonly CommittedStep[];
  /** Steps whose manifest does not parse: not committed; the issues say why. */
  readonly invalid: readonly { readonly step: number; readonly issues: readonly string[] }[];
  /** Every step directory, committed or not, ascending. */
  readonly all: readonly StepObjects[];
}

/**
 * How a replication pass learns what a store holds: readSteps (a listing and every manifest read), or
 * a view kept by a lister that serves many passes (the operator's, store-lister.ts).
 */
export type StepReader = (store: ObjectStore, signal?: AbortSignal) => Promise<StoreSteps>;

/** Groups the store's objects by `step-N/` directory, ascending by step. */
export async function scanSteps(store: ObjectStore, signal?: AbortSignal): Promise<StepObjects[]> {
  return groupSteps(await listAll(store, "", signal));
}

/** Groups objects (keys relative to the store root) by `step-N/` directory, ascending by step; others are left out. */
export function groupSteps(objects: Iterable<ObjectInfo>): StepObjects[] {
  const byStep = new Map<number, ObjectInfo[]>();
  for (const info of objects) {
    const slash = info.key.indexOf("/");
    const step = slash > 0 ? parseStepDir(info.key.slice(0, slash)) : undefined;
    if (step === undefined) continue;
    const objects = byStep.get(step);
    if (objects) objects.push(info);
    else byStep.set(step, [info]);
  }
  return [...byStep.entries()]
    .sort(([a], [b]) => a - b)
    .map(([step, objects]) => ({
      step,
      objects,
      manifest: objects.find((o) => o.key === manifestKey(step)),
      dcpMetadata: objects.find((o) => o.key === `${stepDir(step)}/${DCP_METADATA_NAME}`),
    }));
}

/** Reads every manifest in the store; an invalid one makes its step uncommitted, not the scan fail. */
export async function readSteps(store: ObjectStore, signal?: AbortSignal): Promise<StoreSteps> {
  const all = await scanSteps(store, signal);
  const parsed = new Map<number, ManifestResult>();
  for (const s of all) {
    if (s.manifest)
      parsed.set(s.step, parseManifest((await readAll(store, s.manifest.key, signal)).toString("utf8"), s.step));
  }
  return stepsWith(all, (s) => parsed.get(s.step));
}

/** What a store holds, from its step directories and their manifests as parsed (undefined: no manifest). */
export function stepsWith(
  all: readonly StepObjects[],
  manifestOf: (s: StepObjects) => ManifestResult | undefined,
): StoreSteps {
  const committed: CommittedStep[] = [];
  const invalid: { step: number; issues: readonly string[] }[] = [];
  for (const s of all) {
    const parsed = s.manifest ? manifestOf(s) : undefined;
    if (!s.manifest || !parsed) continue;
    if (parsed.ok) committed.push({ manifest: parsed.manifest, committedAt: s.manifest.lastModified });
    else invalid.push({ step: s.step, issues: parsed.issues });
  }
  return { committed, invalid, all };
}

/** The step's manifest, undefined when the step is not committed; InvalidManifest when it does not parse. */
export async function readManifest(
  store: ObjectStore,
  step: number,
  signal?: AbortSignal,
): Promise<Manifest | undefined> {
  const key = manifestKey(step);
  if (!(await store.head(key, signal))) return undefined;
  const parsed = parseManifest((await readAll(store, key, signal)).toString("utf8"), step);
  if (parsed.ok) return parsed.manifest;
  throw new CheckpointError(
    { code: "InvalidManifest", key, issues: parsed.issues },
    `${key} is not a valid manifest: ${parsed.issues.join("; ")}`,
  );
}

export interface CommitOptions {
  /** The epoch of the placement that wrote the step (CROSSCLOUD_EPOCH). */
  readonly epoch: number;
  /** The commit time written as createdAt; default now. */
  readonly createdAt?: Date;
  /** Read every file and write its SHA-256 into the manifest; default false (the replicator computes them). */
  readonly computeSha256?: boolean;
  /** Overwrite an existing manifest; default false (an existing one is left and reported). */
  readonly replace?: boolean;
  readonly signal?: AbortSignal;
}

export interface CommitResult {
  /** False when the step already had a manifest and `replace` was not set; `manifest` is then the existing one. */
  readonly committed: boolean;
  readonly manifest: Manifest;
}

/** Commits `step-N/` as it is now: lists its files, writes the manifest last. */
export async function commitStep(store: ObjectStore, step: number, options: CommitOptions): Promise<CommitResult> {
  const { signal } = options;
  const prefix = `${stepDir(step)}/`;
  const objects = (await listAll(store, prefix, signal)).filter((o) => {
    const path = o.key.slice(prefix.length);
    return path !== MANIFEST_NAME && checkPath(path) === undefined;
  });
  if (objects.length === 0) {
    throw new CheckpointError({ code: "NotFound", key: prefix }, `${prefix} holds no files: nothing to commit`);
  }
  const files = [];
  for (const o of objects) {
    const path = o.key.slice(prefix.length);
    files.push(
      options.computeSha256
        ? { path, size: o.size, sha256: await hashObject(store, o.key, signal) }
        : { path, size: o.size },
    );
  }
  const createdAt = (options.createdAt ?? new Date()).toISOString();
  const checked = validateManifest({ step, epoch: options.epoch, createdAt, files }, step);
  if (!checked.ok) {
    throw new CheckpointError(
      { code: "InvalidManifest", key: manifestKey(step), issues: checked.issues },
      checked.issues.join("; "),
    );
  }
  const body = Buffer.from(serializeManifest(checked.manifest));
  if (options.replace) {
    await store.put(manifestKey(step), body, { signal });
    return { committed: true, manifest: checked.manifest };
  }
  if (await store.putIfAbsent(manifestKey(step), body, signal)) return { committed: true, manifest: checked.manifest };
  return { committed: false, manifest: (await readManifest(store, step, signal)) ?? checked.manifest };
}

async function hashObject(store: ObjectStore, key: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of await store.read(key, undefined, signal)) hash.update(chunk);
  return hash.digest("hex");
}

export interface DcpCommitOptions {
  /** The epoch written into the manifests: the active placement's. */
  readonly epoch: number;
  /**
   * Only steps whose `.metadata` was written at or after this time (the active
   * placement's start) are committed; older uncommitted DCP steps were left by
   * an earlier placement and stay uncommitted. Default: no bound.
   */
  readonly notBefore?: Date;
  readonly signal?: AbortSignal;
  /** Where the step directories come from; default a listing of the store (scanSteps). */
  readonly stepsOf?: StepReader;
}

/** Commits every PyTorch DCP step (`.metadata` present) that has no manifest yet; returns their steps. */
export async function commitDcpSteps(store: ObjectStore, options: DcpCommitOptions): Promise<number[]> {
  const done: number[] = [];
  const all = options.stepsOf
    ? (await options.stepsOf(store, options.signal)).all
    : await scanSteps(store, options.signal);
  for (const s of all) {
    if (s.manifest || !s.dcpMetadata) continue;
    if (options.notBefore && s.dcpMetadata.lastModified < options.notBefore) continue;
    const createdAt = s.dcpMetadata.lastModified;
    const result = await commitStep(store, s.step, { epoch: options.epoch, createdAt, signal: options.signal });
    if (result.committed) done.push(s.step);
  }
  return done;
}
