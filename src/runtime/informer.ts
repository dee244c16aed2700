// A cache of one kind of Kubernetes object on one cluster, kept as client-go's
// reflector keeps one: it lists (in pages), then watches from the list's
// resourceVersion with bookmarks; a watch the server ends is opened again
// from the newest resourceVersion seen; a 410 Gone (that resourceVersion was
// compacted away) relists; any other list or watch error is retried with
// exponential backoff, from the resourceVersion when there is one; a watch
// that makes no progress (a hung server) is aborted and reconnected. It runs
// until it is stopped. A transform can cut each object down to the fields its
// readers use before it is cached, and indexes find objects by a key without
// scanning the cache.

import { isDeepStrictEqual } from "node:util";
import type { KubernetesObject } from "@kubernetes/client-node";
import { type KubeClient, WatchTimeoutError } from "../kube/client.ts";
import { listPaged } from "../kube/list.ts";
import { type Clock, realClock } from "./clock.ts";
import { Indexes } from "./indexes.ts";
import { type Logger, silentLogger } from "./logger.ts";

export interface InformerOptions<T extends KubernetesObject> {
  /** The cluster's client: lists and watches go through it (its deadline, fence and reachability). */
  readonly client: KubeClient;
  /** The collection's URL path, e.g. "/api/v1/pods" or "/apis/batch/v1/namespaces/x/jobs". */
  readonly path: string;
  /** Only objects matching this selector. Default all. */
  readonly labelSelector?: string;
  /**
   * Only objects matching this field selector, e.g. "status.phase!=Succeeded". An object that stops
   * matching is deleted from the cache (the API server sends its watch a DELETED event).
   */
  readonly fieldSelector?: string;
  /**
   * Applied to every object of a list or a watch event before it is cached or handed to a handler:
   * returns what the readers of the cache use (it must keep metadata.name, namespace and
   * resourceVersion). With a transform, an update whose transformed object equals the cached one but
   * for its resourceVersion is cached without calling the update handlers: nothing kept changed.
   */
  readonly transform?: (obj: T) => T;
  /** Named indexes: each maps an object to its key (undefined: not indexed); see byIndex. */
  readonly indexes?: Readonly<Record<string, (obj: T) => string | undefined>>;
  /** Names the informer in logs, e.g. "aws-sim/jobs". */
  readonly name: string;
  /** Delay before retrying after an error: doubles from initialMs (default 500) up to maxMs (default 30_000). */
  readonly backoff?: { readonly initialMs?: number; readonly maxMs?: number };
  /** Time source for the backoff. Default the wall clock. */
  readonly clock?: Clock;
  /** Default a silent logger. */
  readonly logger?: Logger;
  /**
   * When a watch counts as stuck and is aborted and reconnected (from its resourceVersion): no response
   * within connectMs (default 10_000) of sending it, or, once connected, no event or bookmark for idleMs
   * (default 90_000; the API server sends a bookmark about every minute to a watch that asks for them).
   */
  readonly watchTimeouts?: { readonly connectMs?: number; readonly idleMs?: number };
}

export const DEFAULT_WATCH_CONNECT_MS = 10_000;
export const DEFAULT_WATCH_IDLE_MS = 90_000;

/** How long the server keeps one watch open before it ends it: 5 to 10 minutes, as client-go asks. */
const WATCH_SECONDS = 300;

type EventName = "add" | "update" | "delete";

/** Status 410: the resourceVersion is too old (an ApiError, or the Status of a watch ERROR event). */
function isGone(value: unknown): boolean {
  return (value as { code?: unknown } | null | undefined)?.code === 410;
}

/** A watch ERROR event, carried out of the stream to the loop. */
class WatchErrorEvent extends Error {
  readonly status: unknown;

  constructor(status: unknown) {
    const message = (status as { message?: unknown } | undefined)?.message;
    super(`watch error event: ${typeof message === "string" ? message : JSON.stringify(status)}`);
    this.status = status;
  }
}

export class Informer<T extends KubernetesObject> {
  readonly name: string;
  readonly #o: InformerOptions<T>;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #stop = new AbortController();
  readonly #handlers: Record<EventName, Array<(obj: T) => void>> = { add: [], update: [], delete: [] };
  readonly #resyncHandlers: Array<() => void> = [];
  readonly #syncWaiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  /** The cache by "namespace/name". */
  readonly #cache = new Map<string, T>();
  #started = false;
  #synced = false;
  #lists = 0;
  #restarts = 0;
  #gone = 0;
  #watchTimeouts = 0;
  #changes = 0;
  #backoffMs: number;
  readonly #indexes: Indexes<T>;

  constructor(o: InformerOptions<T>) {
    this.name = o.name;
    this.#o = o;
    this.#clock = o.clock ?? realClock;
    this.#log = (o.logger ?? silentLogger()).child({ informer: o.name });
    this.#backoffMs = this.#initialBackoff;
    this.#indexes = new Indexes(o.indexes ?? {});
  }

  /** Calls `handler` for each object added, updated or deleted (deletes a relist discovers included). */
  on(event: EventName, handler: (obj: T) => void): void {
    this.#handlers[event].push(handler);
  }

  /** Calls `handler` after every list (the first and every relist), once the cache matches it. */
  onResync(handler: () => void): void {
    this.#resyncHandlers.push(handler);
  }

  /** Starts listing and watching; resolves once the first list is in the cache, rejects if stopped first. */
  start(signal: AbortSignal): Promise<void> {
    if (signal.aborted || this.#stop.signal.aborted)
      return Promise.reject(new Error(`informer ${this.name} is stopped`));
    signal.addEventListener("abort", () => this.stop(), { once: true });
    const synced = this.#synced
      ? Promise.resolve()
      : new Promise<void>((resolve, reject) => {
          this.#syncWaiters.push({ resolve, reject });
        });
    if (!this.#started) {
      this.#started = true;
      this.#log.info("informer starting", { path: this.#o.path });
      void this.#run();
    }
    return synced;
  }

  /** True once the first list is in the cache. */
  get synced(): boolean {
    return this.#synced;
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.#cache.get(`${namespace ?? ""}/${name}`);
  }

  list(namespace?: string): T[] {
    const all = [...this.#cache.values()];
    return namespace === undefined ? all : all.filter((o) => o.metadata?.namespace === namespace);
  }

  /** The cached objects whose key in index `index` (one of InformerOptions.indexes) is `key`. */
  byIndex(index: string, key: string): T[] {
    const found = this.#indexes.get(index, key);
    if (!found) throw new Error(`informer ${this.name} has no index "${index}"`);
    return found;
  }

  /**
   * Counts every change of the cache (an object added, changed or removed): what is derived from the
   * cache is current while this number is the same.
   */
  get changes(): number {
    return this.#changes;
  }

  /** Lists made so far: the first and every relist. */
  get lists(): number {
    return this.#lists;
  }

  /** Stops watching for good. */
  stop(): void {
    if (this.#stop.signal.aborted) return;
    this.#stop.abort(new Error(`informer ${this.name} stopped`));
    for (const w of this.#syncWaiters.splice(0)) w.reject(new Error(`informer ${this.name} stopped before it synced`));
  }

  /** Retries after a list or watch error. */
  get restarts(): number {
    return this.#restarts;
  }

  /** Lists after the first one: after a 410, or an error before any resourceVersion was known. */
  get relists(): number {
    return Math.max(0, this.#lists - 1);
  }

  /** 410 Gone answers seen (watch ERROR events or failed requests). */
  get goneCount(): number {
    return this.#gone;
  }

  /** Watches aborted and reconnected because they made no progress in time (see watchTimeouts). */
  get watchTimeouts(): number {
    return this.#watchTimeouts;
  }

  get #initialBackoff(): number {
    return this.#o.backoff?.initialMs ?? 500;
  }

  get #stopped(): boolean {
    return this.#stop.signal.aborted;
  }

  async #run(): Promise<void> {
    let version: string | undefined;
    while (!this.#stopped) {
      try {
        version ??= await this.#list();
        const started = this.#clock.now();
        const { newest, events } = await this.#watch(version);
        version = newest;
        // A watch the server ends at once, with nothing in it, is not opened again in a tight loop.
        if (events === 0 && this.#clock.now() - started < 1_000) {
          await this.#clock.sleep(1_000, this.#stop.signal).catch(() => {});
        }
      } catch (err) {
        if (this.#stopped) return;
        if (err instanceof WatchTimeoutError) {
          this.#noteWatchTimeout();
          continue;
        }
        const status = err instanceof WatchErrorEvent ? err.status : err;
        if (isGone(status)) {
          this.#noteGone(err instanceof WatchErrorEvent ? "watch event" : "watch request");
          version = undefined;
          continue;
        }
        this.#restarts++;
        const delayMs = this.#backoffMs;
        this.#backoffMs = Math.min(this.#o.backoff?.maxMs ?? 30_000, delayMs * 2);
        this.#log.warn("list or watch failed; retrying", { error: err, restarts: this.#restarts, delayMs });
        await this.#clock.sleep(delayMs, this.#stop.signal).catch(() => {});
      }
    }
  }

  #query(): Record<string, string | undefined> {
    return { labelSelector: this.#o.labelSelector, fieldSelector: this.#o.fieldSelector };
  }

  /** Lists the collection into the cache (handlers told what changed); returns the list's resourceVersion. */
  async #list(): Promise<string> {
    const signal = this.#stop.signal;
    const result = await listPaged<T>((page) =>
      this.#o.client.request({
        method: "GET",
        path: this.#o.path,
        query: { ...this.#query(), ...page },
        signal,
        verb: "list",
      }),
    );
    if (this.#stopped) throw new Error(`informer ${this.name} stopped`);
    const seen = new Set<string>();
    for (const item of result.items) {
      const obj = this.#transform(item);
      seen.add(objectId(obj));
      this.#upsert(obj);
    }
    for (const [id, obj] of this.#cache) if (!seen.has(id)) this.#remove(id, obj);
    this.#lists++;
    this.#backoffMs = this.#initialBackoff;
    if (this.#lists > 1) this.#log.info("informer relisted", { objects: this.#cache.size });
    if (!this.#synced) {
      this.#synced = true;
      for (const w of this.#syncWaiters.splice(0)) w.resolve();
    }
    for (const handler of this.#resyncHandlers) {
      try {
        handler();
      } catch (err) {
        this.#log.error("informer resync handler threw", { error: err });
      }
    }
    return result.resourceVersion ?? "";
  }

  /** Watches from `version` until the server ends the watch; returns the newest resourceVersion seen. */
  async #watch(version: string): Promise<{ newest: string; events: number }> {
    let newest = version;
    let events = 0;
    await this.#o.client.watch(
      {
        method: "GET",
        path: this.#o.path,
        query: {
          ...this.#query(),
          watch: true,
          allowWatchBookmarks: true,
          resourceVersion: version || undefined,
          timeoutSeconds: Math.round(WATCH_SECONDS * (1 + Math.random())),
        },
        signal: this.#stop.signal,
      },
      {
        connectMs: this.#o.watchTimeouts?.connectMs ?? DEFAULT_WATCH_CONNECT_MS,
        idleMs: this.#o.watchTimeouts?.idleMs ?? DEFAULT_WATCH_IDLE_MS,
      },
      (type, object) => {
        if (this.#stopped) return;
        if (type === "ERROR") throw new WatchErrorEvent(object);
        events++;
        const rv = (object as KubernetesObject | undefined)?.metadata?.resourceVersion;
        if (rv) newest = rv;
        this.#backoffMs = this.#initialBackoff;
        if (type === "ADDED" || type === "MODIFIED") this.#upsert(this.#transform(object as T));
        else if (type === "DELETED") {
          const obj = this.#transform(object as T);
          const id = objectId(obj);
          if (this.#cache.has(id)) this.#remove(id, obj);
        }
      },
    );
    return { newest, events };
  }

  #transform(obj: T): T {
    return this.#o.transform ? this.#o.transform(obj) : obj;
  }

  /** Caches `obj`: an add when it is new, an update when what is kept of it changed. */
  #upsert(obj: T): void {
    const id = objectId(obj);
    const cached = this.#cache.get(id);
    if (cached !== obj) this.#changes++;
    this.#cache.set(id, obj);
    this.#indexes.put(id, obj);
    if (!cached) this.#emit("add", obj);
    else if (cached.metadata?.resourceVersion !== obj.metadata?.resourceVersion) {
      if (!(this.#o.transform && sameButVersion(cached, obj))) this.#emit("update", obj);
    }
  }

  #remove(id: string, obj: T): void {
    this.#changes++;
    this.#cache.delete(id);
    this.#indexes.remove(id);
    this.#emit("delete", obj);
  }

  #emit(event: EventName, obj: T): void {
    for (const handler of this.#handlers[event]) {
      try {
        handler(obj);
      } catch (err) {
        this.#log.error("informer event handler threw", { event, error: err });
      }
    }
  }

  #noteWatchTimeout(): void {
    this.#watchTimeouts++;
    this.#log.info("watch made no progress in time; aborted it and reconnecting", {
      watchTimeouts: this.#watchTimeouts,
      connectMs: this.#o.watchTimeouts?.connectMs ?? DEFAULT_WATCH_CONNECT_MS,
      idleMs: this.#o.watchTimeouts?.idleMs ?? DEFAULT_WATCH_IDLE_MS,
    });
  }

  #noteGone(where: string): void {
    this.#gone++;
    this.#log.info("resourceVersion too old (410 Gone); relisting", { where });
  }
}

function objectId(obj: KubernetesObject): string {
  return `${obj.metadata?.namespace ?? ""}/${obj.metadata?.name ?? ""}`;
}

/** Equal but for metadata.resourceVersion. */
function sameButVersion(a: KubernetesObject, b: KubernetesObject): boolean {
  const strip = (o: KubernetesObject) => ({ ...o, metadata: { ...o.metadata, resourceVersion: undefined } });
  return isDeepStrictEqual(strip(a), strip(b));
}
