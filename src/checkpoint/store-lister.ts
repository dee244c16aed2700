// One lister per store (bucket or container): every scan interval it lists,
// in one listing, the checkpoint lines (`<namespace>/<prefix>`) the jobs using
// the store watch, and keeps for each line what it holds (its step directories
// and their parsed manifests). A manifest is read only when it is new or
// listed differently (ETag, size, last-modified time); unchanged ones come
// from the line's cache. A line's version goes up whenever its listing (or its
// error) changes, and onChange says which lines did, so the replication of a
// job runs when one of its lines changed, not on a timer of its own.
//
// Writes this process makes through the store's clients are reported to the
// lister (written()); a line written since its last listing is listed again
// (that line only) before it is served, so a replication pass sees its own
// copies, commits and deletions.

import { isAbort, isCheckpointError } from "./errors.ts";
import { byLine, linesOf, listingPrefix, manifestsToRead, sameListing } from "./line-scan.ts";
import { type ManifestResult, parseManifest, parseStepDir } from "./manifest.ts";
import { inPool } from "./replicate-step.ts";
import { groupSteps, type StoreSteps, stepsWith } from "./steps.ts";
import { listAll, type ObjectInfo, type ObjectStore, readAll } from "./store.ts";

export interface StoreListerOptions {
  /** The bucket or container (prefix ""): line prefixes are keys in it. */
  readonly root: ObjectStore;
  /** Time from the start of one scan to the start of the next. */
  readonly intervalMs: number;
  /** A newly watched line waits at most this long for its first scan; default 200 ms (new lines coalesce). */
  readonly firstScanMs?: number;
  /** Told of every line whose listing or error a scan found changed (a line's first scan included). */
  readonly onChange?: (line: string) => void;
}

interface LineState {
  /** Watchers: the line is forgotten when none is left. */
  users: number;
  /** 0 until the first listing; then up by one on every change of listing or error. */
  version: number;
  /** What the last listing found, keys relative to the line. */
  listing: readonly ObjectInfo[];
  steps: StoreSteps;
  /** Manifests read, by key relative to the line, as listed when read; only those of the last listing. */
  manifests: Map<string, { readonly info: ObjectInfo; readonly parsed: ManifestResult }>;
  error?: Error;
  /** The listing whose result is held (listings are numbered as they start); an older one is not applied. */
  listed: number;
  /** Writes reported for the line, and how many of them the held listing saw (started after). */
  writes: number;
  settledWrites: number;
}

const EMPTY: StoreSteps = { committed: [], invalid: [], all: [] };
/** Manifests read at once by one listing. */
const READS = 8;

export class StoreLister {
  readonly #o: StoreListerOptions;
  readonly #lines = new Map<string, LineState>();
  readonly #abort = new AbortController();
  #listings = 0;
  #timer: NodeJS.Timeout | undefined;
  #scanning: Promise<void> | undefined;
  #nextAt = 0;
  /** When the last scan started. */
  #lastScan = 0;

  constructor(options: StoreListerOptions) {
    this.#o = options;
  }

  /** Lines watched. */
  get size(): number {
    return this.#lines.size;
  }

  /** Starts scanning `line` (again by one more watcher); its first scan comes soon. */
  watch(line: string): void {
    const state = this.#lines.get(line);
    if (state) {
      state.users++;
      return;
    }
    this.#lines.set(line, {
      users: 1,
      version: 0,
      listing: [],
      steps: EMPTY,
      manifests: new Map(),
      listed: 0,
      writes: 0,
      settledWrites: 0,
    });
    this.#schedule(this.#o.firstScanMs ?? 200);
  }

  /** One watcher fewer; the line and its cached manifests are forgotten with the last. */
  unwatch(line: string): void {
    const state = this.#lines.get(line);
    if (!state) return;
    if (--state.users <= 0) this.#lines.delete(line);
    if (this.#lines.size === 0) this.#clearTimer();
  }

  /** The line's version: undefined until its first listing, then up by one with each change. */
  version(line: string): number | undefined {
    const v = this.#lines.get(line)?.version;
    return v ? v : undefined;
  }

  /**
   * What the line holds, as last listed; listed again first (this line only) when never listed or
   * written through this process since. Rejects with the error of its last listing, if that failed.
   */
  async steps(line: string, signal?: AbortSignal): Promise<StoreSteps> {
    const state = this.#lines.get(line);
    if (!state) return this.read(line, signal);
    if (state.version === 0 || state.writes > state.settledWrites) await this.#list(`${line}/`, [line], signal);
    if (state.error) throw state.error;
    return state.steps;
  }

  /** The objects under `prefix` (relative to the line) that the line's last listing found; [] before one. */
  listed(line: string, prefix: string): ObjectInfo[] {
    return (this.#lines.get(line)?.listing ?? []).filter((o) => o.key.startsWith(prefix));
  }

  /** What the line holds now: a listing of the line (cached manifests kept when it is watched). */
  async read(line: string, signal?: AbortSignal): Promise<StoreSteps> {
    if (this.#lines.has(line)) {
      await this.#list(`${line}/`, [line], signal);
      const state = this.#lines.get(line);
      if (state?.error) throw state.error;
      if (state) return state.steps;
    }
    const objects = byLine(await listAll(this.#o.root, `${line}/`, signal), new Set([line])).get(line) ?? [];
    const read = await this.#readManifests(line, manifestsToRead(groupSteps(objects), new Map()), signal);
    return stepsWith(groupSteps(objects), (s) => read.get(s.manifest?.key ?? ""));
  }

  /** A write this process sent to `key` (relative to the root): its lines are listed again before they are next served. */
  written(key: string): void {
    for (const line of linesOf(key, this.#lines)) {
      const state = this.#lines.get(line);
      if (state) state.writes++;
    }
  }

  /**
   * Lists every watched line once (one listing of their common prefix), after the scan in flight if
   * there is one; resolves when done. A listing that fails is held as each line's error.
   */
  async scan(): Promise<void> {
    while (this.#scanning) await this.#scanning;
    const lines = [...this.#lines.keys()];
    if (lines.length === 0) return;
    this.#lastScan = Date.now();
    this.#scanning = this.#list(listingPrefix(lines), lines, this.#abort.signal)
      .catch(() => {})
      .finally(() => {
        this.#scanning = undefined;
      });
    await this.#scanning;
  }

  /** Stops scanning; a listing in flight is aborted. */
  stop(): void {
    this.#abort.abort();
    this.#clearTimer();
    this.#lines.clear();
  }

  /** Scans within `ms`, then every interval while a line is watched. */
  #schedule(ms: number): void {
    const at = Date.now() + ms;
    if (this.#timer && this.#nextAt <= at) return;
    this.#clearTimer();
    this.#nextAt = at;
    this.#timer = setTimeout(() => void this.#tick(), ms);
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    this.#timer = undefined;
    if (this.#scanning) await this.#scanning;
    if (this.#abort.signal.aborted || this.#lines.size === 0) return;
    // Woken early for a new line that a scan since has listed: the next scan is an interval after that one.
    const due = this.#lastScan + this.#o.intervalMs;
    if (Date.now() < due && [...this.#lines.values()].every((s) => s.version > 0)) {
      this.#schedule(due - Date.now());
      return;
    }
    await this.scan();
    if (this.#lines.size > 0 && !this.#abort.signal.aborted)
      this.#schedule(Math.max(0, this.#lastScan + this.#o.intervalMs - Date.now()));
  }

  #clearTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** One listing of `prefix`, applied to `lines` (those still watched); says which changed. */
  async #list(prefix: string, lines: readonly string[], signal?: AbortSignal): Promise<void> {
    const listing = ++this.#listings;
    const writes = new Map(lines.map((l) => [l, this.#lines.get(l)?.writes ?? 0]));
    let found: Map<string, ObjectInfo[]>;
    try {
      found = byLine(await listAll(this.#o.root, prefix, signal), new Set(lines));
    } catch (err) {
      if (isAbort(err)) throw err;
      const error = err instanceof Error ? err : new Error(String(err));
      for (const line of lines) this.#settle(line, listing, writes.get(line) ?? 0, { error });
      return;
    }
    await Promise.all(
      lines.map(async (line) => {
        const objects = found.get(line) ?? [];
        const state = this.#lines.get(line);
        if (!state || listing < state.listed) return;
        try {
          const steps = await this.#stepsOf(line, state, objects, signal);
          this.#settle(line, listing, writes.get(line) ?? 0, { objects, ...steps });
        } catch (err) {
          if (isAbort(err)) throw err;
          this.#settle(line, listing, writes.get(line) ?? 0, {
            error: err instanceof Error ? err : new Error(String(err)),
          });
        }
      }),
    );
  }

  /** The line's steps from a listing, reading only the manifests that are new or changed. */
  async #stepsOf(
    line: string,
    state: LineState,
    objects: readonly ObjectInfo[],
    signal?: AbortSignal,
  ): Promise<{ steps: StoreSteps; manifests: LineState["manifests"] } | undefined> {
    if (state.version > 0 && !state.error && sameListing(state.listing, objects)) return undefined;
    const all = groupSteps(objects);
    const read = await this.#readManifests(line, manifestsToRead(all, state.manifests), signal);
    const manifests: LineState["manifests"] = new Map();
    for (const s of all) {
      if (!s.manifest) continue;
      const parsed = read.get(s.manifest.key) ?? state.manifests.get(s.manifest.key)?.parsed;
      if (parsed) manifests.set(s.manifest.key, { info: s.manifest, parsed });
    }
    return { steps: stepsWith(all, (s) => manifests.get(s.manifest?.key ?? "")?.parsed), manifests };
  }

  /** Reads and parses manifests (keys relative to the line); one deleted since it was listed is left out. */
  async #readManifests(
    line: string,
    infos: readonly ObjectInfo[],
    signal?: AbortSignal,
  ): Promise<Map<string, ManifestResult>> {
    const out = new Map<string, ManifestResult>();
    await inPool(infos, READS, signal, async (info, poolSignal) => {
      const step = parseStepDir(info.key.slice(0, info.key.indexOf("/")));
      try {
        const text = (await readAll(this.#o.root, `${line}/${info.key}`, poolSignal)).toString("utf8");
        out.set(info.key, parseManifest(text, step));
      } catch (err) {
        if (!isCheckpointError(err, "NotFound")) throw err;
      }
    });
    return out;
  }

  /** Holds a listing's result for the line unless a newer listing's is held; a change raises the version. */
  #settle(
    line: string,
    listing: number,
    writesSeen: number,
    result:
      | { readonly error: Error }
      | {
          readonly objects: readonly ObjectInfo[];
          readonly steps: StoreSteps;
          readonly manifests: LineState["manifests"];
        }
      | { readonly objects: readonly ObjectInfo[] },
  ): void {
    const state = this.#lines.get(line);
    if (!state || listing < state.listed) return;
    state.listed = listing;
    state.settledWrites = Math.max(state.settledWrites, writesSeen);
    let changed = state.version === 0;
    if ("error" in result) {
      changed ||= state.error?.message !== result.error.message;
      state.error = result.error;
    } else {
      changed ||= state.error !== undefined || "steps" in result;
      state.error = undefined;
      if ("steps" in result) {
        state.listing = result.objects;
        state.steps = result.steps;
        state.manifests = result.manifests;
      }
    }
    if (!changed) return;
    state.version++;
    this.#o.onChange?.(line);
  }
}
