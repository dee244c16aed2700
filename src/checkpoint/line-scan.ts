// The pure part of a store lister (store-lister.ts): which prefix one listing
// of many checkpoint lines needs, which line each listed key belongs to, and
// what changed since the last listing (a key with the same ETag, size and
// last-modified time is the same object), so only new or changed manifests
// are read.

import { AGENT_REPORTS_DIR } from "./agent/report.ts";
import { parseStepDir } from "./manifest.ts";
import type { StepObjects } from "./steps.ts";
import type { ObjectInfo } from "./store.ts";

/**
 * The prefix one listing of every line needs: the lines' longest common run of whole segments, with
 * its trailing "/", or "" when they share none (the whole bucket or container).
 */
export function listingPrefix(lines: Iterable<string>): string {
  let common: string[] | undefined;
  for (const line of lines) {
    const segments = line.split("/").filter((s) => s.length > 0);
    if (!common) {
      common = segments;
      continue;
    }
    let n = 0;
    while (n < common.length && n < segments.length && common[n] === segments[n]) n++;
    common = common.slice(0, n);
  }
  return common && common.length > 0 ? `${common.join("/")}/` : "";
}

/** The lines among `lines` that hold `key`: each line L with `key` under `L/` (one line may nest in another). */
export function linesOf(key: string, lines: { has(line: string): boolean }): string[] {
  const out: string[] = [];
  for (let slash = key.indexOf("/"); slash > 0; slash = key.indexOf("/", slash + 1)) {
    const candidate = key.slice(0, slash);
    if (lines.has(candidate)) out.push(candidate);
  }
  return out;
}

/**
 * The listed objects of each line that lie in a `step-N/` directory of it or are a checkpoint agent's
 * report (`.crosscloud/agents/`), keys relative to the line, in listing order; every line gets an entry
 * (empty when it holds nothing). Objects of no line are dropped.
 */
export function byLine(objects: Iterable<ObjectInfo>, lines: ReadonlySet<string>): Map<string, ObjectInfo[]> {
  const out = new Map<string, ObjectInfo[]>([...lines].map((l) => [l, []]));
  for (const o of objects) {
    for (const line of linesOf(o.key, lines)) {
      const key = o.key.slice(line.length + 1);
      const slash = key.indexOf("/");
      const kept = key.startsWith(AGENT_REPORTS_DIR) || (slash > 0 && parseStepDir(key.slice(0, slash)) !== undefined);
      if (!kept) continue;
      out.get(line)?.push({ ...o, key });
    }
  }
  return out;
}

/** The same object as listed before: same key, ETag, size and last-modified time. */
export function sameObject(a: ObjectInfo, b: ObjectInfo): boolean {
  return (
    a.key === b.key && a.etag === b.etag && a.size === b.size && a.lastModified.getTime() === b.lastModified.getTime()
  );
}

/** Two listings of a line hold the same objects, in the same order. */
export function sameListing(a: readonly ObjectInfo[], b: readonly ObjectInfo[]): boolean {
  return a.length === b.length && a.every((o, i) => sameObject(o, b[i] as ObjectInfo));
}

/** The manifests among `steps` to read: those `known` lacks (by key) or knows as listed differently. */
export function manifestsToRead(
  steps: readonly StepObjects[],
  known: ReadonlyMap<string, { readonly info: ObjectInfo }>,
): ObjectInfo[] {
  const out: ObjectInfo[] = [];
  for (const s of steps) {
    if (!s.manifest) continue;
    const before = known.get(s.manifest.key)?.info;
    if (!before || !sameObject(before, s.manifest)) out.push(s.manifest);
  }
  return out;
}
