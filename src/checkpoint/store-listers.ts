// The operator's stores: for each store (bucket or container) and the options
// it is opened with (endpoint, region, credentials), one set of clients and
// one lister (store-lister.ts), built when a job first uses a line in it and
// kept while one does. Credentials that change (a rotated Secret) give other
// options, so new clients; the old ones go with their last line. Every
// request is counted by store and operation, and every write tells the lister
// which line it touched.

import { sha256Hex } from "./hash.ts";
import { type OpenStoreOptions, openStoreRoot, type StoreRoot } from "./open-store.ts";
import { readSteps, type StoreSteps } from "./steps.ts";
import type { ObjectInfo, ObjectStore } from "./store.ts";
import { StoreLister } from "./store-lister.ts";
import { formatStoreUri, storeUri } from "./uri.ts";

/** A job's line in one store, as served by that store's clients and lister. */
export interface LineRef {
  /** The store and the options it is opened with (their digest, never the credentials themselves). */
  readonly handle: string;
  /** The line: the store URI's prefix (`<namespace>/<prefix>`). */
  readonly line: string;
  /** The store rooted at the line, on the shared clients. */
  readonly store: ObjectStore;
}

export interface StoreListersOptions {
  /** Time between the starts of two scans of one store. */
  readonly intervalMs: number;
  /** A newly watched line waits at most this long for its first scan; default 200 ms. */
  readonly firstScanMs?: number;
  /** Told of each line a scan found changed. */
  readonly onChange?: (ref: Pick<LineRef, "handle" | "line">) => void;
  /** Told of each request sent: the store's root URI (`s3://bucket`, the container's URL) and the operation. */
  readonly onRequest?: (store: string, operation: string) => void;
}

interface Handle {
  readonly root: StoreRoot;
  readonly lister: StoreLister;
}

/** Operations that change nothing; any other one is a write the lister is told of. */
const READ_ONLY = new Set(["list", "head", "read", "list multipart uploads", "list parts", "get block list"]);

export class StoreListers {
  readonly #o: StoreListersOptions;
  readonly #handles = new Map<string, Handle>();

  constructor(options: StoreListersOptions) {
    this.#o = options;
  }

  /** Stores with clients (each with one lister). */
  get stores(): number {
    return this.#handles.size;
  }

  /** The line `uri` names (a store URI with the line as its prefix), on clients for `options`. */
  ref(uri: string, options: OpenStoreOptions): LineRef {
    const parsed = storeUri(uri);
    if (!parsed.prefix) throw new Error(`${uri} names no checkpoint line (a prefix in the store)`);
    const root = formatStoreUri({ ...parsed, prefix: "" });
    const handle = `${root}#${sha256Hex(Buffer.from(JSON.stringify(options))).slice(0, 16)}`;
    let h = this.#handles.get(handle);
    if (!h) {
      let lister: StoreLister | undefined;
      const opened = openStoreRoot(parsed, options, (operation, key) => {
        this.#o.onRequest?.(root, operation);
        if (!READ_ONLY.has(operation)) lister?.written(key);
      });
      lister = new StoreLister({
        root: opened.at(""),
        intervalMs: this.#o.intervalMs,
        ...(this.#o.firstScanMs !== undefined ? { firstScanMs: this.#o.firstScanMs } : {}),
        onChange: (line) => this.#o.onChange?.({ handle, line }),
      });
      h = { root: opened, lister };
      this.#handles.set(handle, h);
    }
    return { handle, line: parsed.prefix, store: h.root.at(parsed.prefix) };
  }

  /** Scans the line every interval from now on (one more watcher of it). */
  watch(ref: LineRef): void {
    this.#handles.get(ref.handle)?.lister.watch(ref.line);
  }

  /** One watcher fewer; a store whose last line goes loses its lister and clients. */
  unwatch(ref: Pick<LineRef, "handle" | "line">): void {
    const h = this.#handles.get(ref.handle);
    if (!h) return;
    h.lister.unwatch(ref.line);
    this.#dropIfIdle(ref.handle);
  }

  /** The line's version (undefined before its first listing). */
  version(ref: Pick<LineRef, "handle" | "line">): number | undefined {
    return this.#handles.get(ref.handle)?.lister.version(ref.line);
  }

  /** What the line holds, as its lister last found it (see StoreLister.steps). */
  steps(ref: LineRef, signal?: AbortSignal): Promise<StoreSteps> {
    const h = this.#handles.get(ref.handle);
    return h ? h.lister.steps(ref.line, signal) : readSteps(ref.store, signal);
  }

  /** The objects under `prefix` (relative to the line) that its last listing found (agent reports). */
  listed(ref: Pick<LineRef, "handle" | "line">, prefix: string): ObjectInfo[] {
    return this.#handles.get(ref.handle)?.lister.listed(ref.line, prefix) ?? [];
  }

  /** What the line holds now, read from the store. */
  async read(ref: LineRef, signal?: AbortSignal): Promise<StoreSteps> {
    const h = this.#handles.get(ref.handle);
    if (!h) return readSteps(ref.store, signal);
    try {
      return await h.lister.read(ref.line, signal);
    } finally {
      this.#dropIfIdle(ref.handle);
    }
  }

  /** Scans every store now (tests and benchmarks; the listers scan on their own timers). */
  async scanAll(): Promise<void> {
    await Promise.all([...this.#handles.values()].map((h) => h.lister.scan()));
  }

  stopAll(): void {
    for (const h of this.#handles.values()) h.lister.stop();
    this.#handles.clear();
  }

  #dropIfIdle(handle: string): void {
    const h = this.#handles.get(handle);
    if (!h || h.lister.size > 0) return;
    h.lister.stop();
    this.#handles.delete(handle);
  }
}
