// Verified-file markers: once a file's bytes are verified, and before the
// destination object is made visible, a small JSON object under
// `step-N/.crosscloud/verified/` records what the object will hold (size,
// SHA-256, part checksums) and the source version. A resumed or repeated
// replication skips the file when the store's own checksums show the object
// holds exactly that, without reading it. The manifest, not a marker, commits a step.

import { RESERVED_DIR, stepDir } from "./manifest.ts";
import { listAll, type ObjectStore, readAll } from "./store.ts";

export interface VerifiedMarker {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
  /** The source object's etag when it was copied. */
  readonly sourceEtag: string;
  /** The parts' SHA-256s, in order, for an object written in parts. */
  readonly partsSha256?: readonly string[];
}

function markerPrefix(step: number): string {
  return `${stepDir(step)}/${RESERVED_DIR}/verified/`;
}

export function markerKey(step: number, path: string): string {
  return `${markerPrefix(step)}${path}.json`;
}

export async function writeMarker(
  store: ObjectStore,
  step: number,
  marker: VerifiedMarker,
  signal?: AbortSignal,
): Promise<void> {
  await store.put(markerKey(step, marker.path), Buffer.from(JSON.stringify(marker)), { signal });
}

/** Every readable marker of the step, by file path; unreadable ones are ignored (the file is copied again). */
export async function readMarkers(
  store: ObjectStore,
  step: number,
  signal?: AbortSignal,
): Promise<Map<string, VerifiedMarker>> {
  const markers = new Map<string, VerifiedMarker>();
  for (const info of await listAll(store, markerPrefix(step), signal)) {
    const m = parseMarker((await readAll(store, info.key, signal)).toString("utf8"));
    if (m && markerKey(step, m.path) === info.key) markers.set(m.path, m);
  }
  return markers;
}

function parseMarker(text: string): VerifiedMarker | undefined {
  try {
    const v = JSON.parse(text) as Partial<VerifiedMarker>;
    const ok =
      typeof v.path === "string" &&
      typeof v.size === "number" &&
      typeof v.sha256 === "string" &&
      typeof v.sourceEtag === "string" &&
      (v.partsSha256 === undefined ||
        (Array.isArray(v.partsSha256) && v.partsSha256.every((x) => typeof x === "string")));
    return ok ? (v as VerifiedMarker) : undefined;
  } catch {
    return undefined;
  }
}
