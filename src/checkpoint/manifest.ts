// The checkpoint manifest of API.md (`<uri>/step-<N>/manifest.json`, written
// last; a step without one is not committed): its type, where it lives, and a
// parser that says exactly which field is wrong.

/** One file of a step, its path relative to the step directory. */
export interface ManifestFile {
  readonly path: string;
  readonly size: number;
  /** Hex SHA-256 of the file; optional when training code writes the manifest. */
  readonly sha256?: string;
}

export interface Manifest {
  readonly step: number;
  /** The placement epoch that wrote the step (1, 2, ...). */
  readonly epoch: number;
  /** ISO 8601 time the step was committed at its origin. */
  readonly createdAt: string;
  readonly files: readonly ManifestFile[];
}

export type ManifestResult =
  | { readonly ok: true; readonly manifest: Manifest }
  | { readonly ok: false; readonly issues: readonly string[] };

export const MANIFEST_NAME = "manifest.json";
/** PyTorch DCP writes this file last; its presence means the step's shards are all written. */
export const DCP_METADATA_NAME = ".metadata";
/** Inside a step directory: the replicator's own bookkeeping, never a checkpoint file. */
export const RESERVED_DIR = ".crosscloud";

const STEP_DIR = /^step-(0|[1-9][0-9]*)$/;
const SHA256 = /^[0-9a-f]{64}$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

export function stepDir(step: number): string {
  return `step-${step}`;
}

export function manifestKey(step: number): string {
  return `${stepDir(step)}/${MANIFEST_NAME}`;
}

/** The step number of a directory name like `step-120`, or undefined. */
export function parseStepDir(name: string): number | undefined {
  const m = STEP_DIR.exec(name);
  if (!m?.[1]) return undefined;
  const step = Number(m[1]);
  return Number.isSafeInteger(step) ? step : undefined;
}

/** Parses manifest text; `expectedStep` is the N of the `step-N/` it was read from. */
export function parseManifest(text: string, expectedStep?: number): ManifestResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, issues: [`not JSON: ${(err as Error).message}`] };
  }
  return validateManifest(value, expectedStep);
}

export function validateManifest(value: unknown, expectedStep?: number): ManifestResult {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, issues: ["the manifest must be a JSON object with step, epoch, createdAt and files"] };
  }
  const v = value as Record<string, unknown>;
  const issues: string[] = [];
  if (!isCount(v.step)) issues.push(`step: must be an integer >= 0, got ${show(v.step)}`);
  else if (expectedStep !== undefined && v.step !== expectedStep) {
    issues.push(`step: is ${v.step} but the manifest is in step-${expectedStep}/`);
  }
  if (!isCount(v.epoch) || v.epoch < 1) issues.push(`epoch: must be an integer >= 1, got ${show(v.epoch)}`);
  if (typeof v.createdAt !== "string" || !ISO_TIME.test(v.createdAt) || Number.isNaN(Date.parse(v.createdAt))) {
    issues.push(`createdAt: must be an ISO 8601 time like 2026-01-31T12:00:00Z, got ${show(v.createdAt)}`);
  }
  if (!Array.isArray(v.files)) issues.push(`files: must be an array, got ${show(v.files)}`);
  else issues.push(...validateFiles(v.files));
  if (issues.length > 0) return { ok: false, issues };
  const files = (v.files as Record<string, unknown>[]).map((f) => fileOf(f));
  const manifest = { step: v.step as number, epoch: v.epoch as number, createdAt: v.createdAt as string, files };
  return { ok: true, manifest };
}

function validateFiles(files: readonly unknown[]): string[] {
  const issues: string[] = [];
  const seen = new Set<string>();
  files.forEach((f, i) => {
    const at = `files[${i}]`;
    if (typeof f !== "object" || f === null) {
      issues.push(`${at}: must be an object with path and size`);
      return;
    }
    const { path, size, sha256 } = f as Record<string, unknown>;
    const pathIssue = checkPath(path);
    if (pathIssue) issues.push(`${at}.path: ${pathIssue}`);
    else if (seen.has(path as string)) issues.push(`${at}.path: "${path}" is listed twice`);
    else seen.add(path as string);
    if (!isCount(size)) issues.push(`${at}.size: must be an integer >= 0, got ${show(size)}`);
    if (sha256 !== undefined && (typeof sha256 !== "string" || !SHA256.test(sha256))) {
      issues.push(`${at}.sha256: must be 64 lowercase hex digits, got ${show(sha256)}`);
    }
  });
  return issues;
}

/** Why a file path is not acceptable in a manifest, or undefined when it is. */
export function checkPath(path: unknown): string | undefined {
  if (typeof path !== "string" || path.length === 0) return `must be a non-empty string, got ${show(path)}`;
  if (path.startsWith("/")) return `"${path}" must be relative to the step directory`;
  const segments = path.split("/");
  if (segments.some((s) => s === "" || s === "." || s === "..")) {
    return `"${path}" must not contain empty, "." or ".." segments`;
  }
  if (path === MANIFEST_NAME) return `"${MANIFEST_NAME}" is the manifest itself, not a file of the step`;
  if (segments[0] === RESERVED_DIR) return `"${RESERVED_DIR}/" is reserved for the replicator`;
  return undefined;
}

function fileOf(f: Record<string, unknown>): ManifestFile {
  const base = { path: f.path as string, size: f.size as number };
  return typeof f.sha256 === "string" ? { ...base, sha256: f.sha256 } : base;
}

function isCount(x: unknown): x is number {
  return typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
}

function show(x: unknown): string {
  return x === undefined ? "nothing" : JSON.stringify(x);
}

/** The manifest as written to a store: stable key order, files sorted by path. */
export function serializeManifest(m: Manifest): string {
  const files = [...m.files]
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    .map((f) => (f.sha256 ? { path: f.path, size: f.size, sha256: f.sha256 } : { path: f.path, size: f.size }));
  return `${JSON.stringify({ step: m.step, epoch: m.epoch, createdAt: m.createdAt, files }, null, 2)}\n`;
}

/**
 * True when `copy` (a destination's manifest) commits the same content as
 * `origin`: same step, epoch, time and files, with equal sizes and equal
 * checksums wherever the origin gives one.
 */
export function sameCommit(origin: Manifest, copy: Manifest): boolean {
  if (origin.step !== copy.step || origin.epoch !== copy.epoch || origin.createdAt !== copy.createdAt) return false;
  if (origin.files.length !== copy.files.length) return false;
  const byPath = new Map(copy.files.map((f) => [f.path, f]));
  return origin.files.every((f) => {
    const c = byPath.get(f.path);
    return c !== undefined && c.size === f.size && (f.sha256 === undefined || c.sha256 === f.sha256);
  });
}
