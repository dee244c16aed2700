// A cache of one kind of Kubernetes object on one cluster, built on
// @kubernetes/client-node's ListWatch: it lists, then watches; relists after
// 410 Gone (the watch's resourceVersion was compacted away), restarts after any
// list or watch error with exponential backoff, reconnects a watch that makes
// no progress (a hung server), and runs until it is stopped. A transform can
// cut each object down to the fields its readers use before it is cached, and
// indexes find objects by a key without scanning the cache.

import { isDeepStrictEqual } from "node:util";
import { type KubeConfig, type KubernetesListObject, type KubernetesObject, ListWatch } from "@kubernetes/client-node";
import { type Clock, realClock } from "./clock.ts";
import { type Logger, silentLogger } from "./logger.ts";
import { ObservedWatch } from "./observed-watch.ts";

export interface InformerOptions<T extends KubernetesObject> {
  readonly kubeConfig: KubeConfig;
  /** The collection's URL path, e.g. "/api/v1/pods" or "/apis/batch/v1/namespaces/x/jobs". */
  readonly path: string;
  /** Lists the collection (with the same label and field selectors); its resourceVersion starts the watch. */
  readonly list: () => Promise<{ items: T[]; metadata?: { resourceVersion?: string } }>;
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
  /** Delay before restarting after an error: doubles from initialMs (default 500) up to maxMs (default 30_000). */
  readonly backoff?: { readonly initialMs?: number; readonly maxMs?: number };
  /** Time source for the backoff and ListWatch's reconnect delays. Default the wall clock. */
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

type EventName = "add" | "update" | "delete";

/** Status 410 on a failed request or in a watch ERROR event: the resourceVersion is too old. */
function isGone(value: unknown): boolean {
  const v = value as { statusCode?: unknown; code?: unknown } | null | undefined;
  return v?.statusCode === 410 || v?.code === 410;
}

/** Watch's own deadline fired (it reports it as a DOMException named TimeoutError). */
function isTimeout(value: unknown): boolean {
  return (value as { name?: unknown } | null | undefined)?.name === "TimeoutError";
}

export class Informer<T extends KubernetesObject> {
  readonly name: string;
  readonly #o: InformerOptions<T>;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #lw: ListWatch<T>;
  readonly #stop = new AbortController();
  readonly #resyncHandlers: Array<() => void> = [];
  readonly #syncWaiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  #started = false;
  #synced = false;
  #listInFlight = false;
  #lists = 0;
  #restarts = 0;
  #gone = 0;
  #watchTimeouts = 0;
  #backoffMs: number;
  /** Per index: its key for each cached "namespace/name", and the objects under each key. */
  readonly #indexes = new Map<string, { keyOf: Map<string, string>; objects: Map<string, Map<string, T>> }>();
  /** The watch event being handled changed nothing the transform keeps (see InformerOptions.transform). */
  #unchanged = false;

  constructor(o: InformerOptions<T>) {
    this.name = o.name;
    this.#o = o;
    this.#clock = o.clock ?? realClock;
    this.#log = (o.logger ?? silentLogger()).child({ informer: o.name });
    this.#backoffMs = this.#initialBackoff;
    const watch = new ObservedWatch(
      o.kubeConfig,
      {
        stopped: () => this.#stop.signal.aborted,
        transform: (obj) => this.#transformEvent(obj as T),
        afterEvent: () => {
          this.#unchanged = false;
        },
        beforeWatch: () => this.#afterList(),
        onEvent: (phase, obj) => this.#onEvent(phase, obj),
        onDone: (err) => this.#onDone(err),
      },
      {
        connectMs: o.watchTimeouts?.connectMs ?? DEFAULT_WATCH_CONNECT_MS,
        idleMs: o.watchTimeouts?.idleMs ?? DEFAULT_WATCH_IDLE_MS,
      },
    );
    const list = () => this.#list();
    const delayFn = (ms: number) => this.#delay(ms);
    this.#lw = new ListWatch<T>(o.path, watch, list, false, o.labelSelector, o.fieldSelector, { delayFn });
    this.#lw.on("error", (err?: unknown) => this.#onError(err));
    // Registered before any handler, so the indexes are current when handlers run.
    for (const [index, keyOf] of Object.entries(o.indexes ?? {})) this.#keepIndex(index, keyOf);
  }

  /** Calls `handler` for each object added, updated or deleted (deletes a relist discovers included). */
  on(event: EventName, handler: (obj: T) => void): void {
    this.#lw.on(event, (obj: T) => {
      if (event === "update" && this.#unchanged) return;
      try {
        handler(obj);
      } catch (err) {
        this.#log.error("informer event handler threw", { event, error: err });
      }
    });
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
      this.#restart();
    }
    return synced;
  }

  /** True once the first list is in the cache. */
  get synced(): boolean {
    return this.#synced;
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.#lw.get(name, namespace);
  }

  list(namespace?: string): T[] {
    return [...this.#lw.list(namespace)];
  }

  /** The cached objects whose key in index `index` (one of InformerOptions.indexes) is `key`. */
  byIndex(index: string, key: string): T[] {
    const entry = this.#indexes.get(index);
    if (!entry) throw new Error(`informer ${this.name} has no index "${index}"`);
    return [...(entry.objects.get(key)?.values() ?? [])];
  }

  /** Lists made so far: the first and every relist. */
  get lists(): number {
    return this.#lists;
  }

  /** Stops watching for good. */
  stop(): void {
    if (this.#stop.signal.aborted) return;
    this.#stop.abort(new Error(`informer ${this.name} stopped`));
    void this.#lw.stop();
    for (const w of this.#syncWaiters.splice(0)) w.reject(new Error(`informer ${this.name} stopped before it synced`));
  }

  /** Restarts after a list or watch error. */
  get restarts(): number {
    return this.#restarts;
  }

  /** Lists after the first one: after a 410, or a restart that found no resourceVersion. */
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

  async #list(): Promise<KubernetesListObject<T>> {
    const result = await this.#o.list();
    if (this.#stop.signal.aborted) throw new Error(`informer ${this.name} stopped`);
    this.#listInFlight = true; // ListWatch applies it to the cache next, then delays or watches
    const transform = this.#o.transform;
    const items = transform ? result.items.map((obj) => transform(obj)) : result.items;
    return { ...result, items } as KubernetesListObject<T>;
  }

  /** A watch event's object as it is cached; notes whether it changes nothing kept of the cached one. */
  #transformEvent(obj: T): T {
    const transform = this.#o.transform;
    if (!transform) return obj;
    const next = transform(obj);
    const cached = this.#lw.get(next.metadata?.name ?? "", next.metadata?.namespace);
    this.#unchanged = cached !== undefined && sameButVersion(cached, next);
    return next;
  }

  #keepIndex(index: string, keyOf: (obj: T) => string | undefined): void {
    const entry = { keyOf: new Map<string, string>(), objects: new Map<string, Map<string, T>>() };
    this.#indexes.set(index, entry);
    const remove = (id: string) => {
      const key = entry.keyOf.get(id);
      if (key === undefined) return;
      entry.keyOf.delete(id);
      const objects = entry.objects.get(key);
      objects?.delete(id);
      if (objects?.size === 0) entry.objects.delete(key);
    };
    const put = (obj: T) => {
      const id = objectId(obj);
      remove(id);
      const key = keyOf(obj);
      if (key === undefined) return;
      entry.keyOf.set(id, key);
      const objects = entry.objects.get(key) ?? new Map<string, T>();
      entry.objects.set(key, objects);
      objects.set(id, obj);
    };
    this.#lw.on("add", put);
    this.#lw.on("update", put);
    this.#lw.on("delete", (obj: T) => remove(objectId(obj)));
  }

  /** Runs once ListWatch has applied a list to its cache (it next delays or watches). */
  #afterList(): void {
    if (!this.#listInFlight) return;
    this.#listInFlight = false;
    if (this.#stop.signal.aborted) return;
    this.#lists++;
    this.#backoffMs = this.#initialBackoff;
    if (this.#lists > 1) this.#log.info("informer relisted", { objects: this.#lw.list().length });
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
  }

  /** ListWatch's reconnect delay on our clock; resolves (never rejects) when stopped. */
  async #delay(ms: number): Promise<void> {
    this.#afterList();
    await this.#clock.sleep(ms, this.#stop.signal).catch(() => {});
  }

  #onEvent(phase: string, obj: unknown): void {
    if (phase === "ERROR") {
      if (isGone(obj)) this.#noteGone("watch event");
      else this.#log.warn("watch error event", { status: obj });
      return;
    }
    this.#backoffMs = this.#initialBackoff;
  }

  #onDone(err: unknown): void {
    if (err && isGone(err)) this.#noteGone("watch request");
    else if (isTimeout(err) && !this.#stop.signal.aborted) this.#noteWatchTimeout();
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

  #onError(err: unknown): void {
    this.#listInFlight = false;
    if (this.#stop.signal.aborted) return;
    this.#restarts++;
    const delayMs = this.#backoffMs;
    this.#backoffMs = Math.min(this.#o.backoff?.maxMs ?? 30_000, delayMs * 2);
    this.#log.warn("list or watch failed; restarting", { error: err, restarts: this.#restarts, delayMs });
    this.#clock.sleep(delayMs, this.#stop.signal).then(
      () => this.#restart(),
      () => {},
    );
  }

  #restart(): void {
    if (this.#stop.signal.aborted) return;
    this.#lw.start().catch((err: unknown) => this.#onError(err));
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
