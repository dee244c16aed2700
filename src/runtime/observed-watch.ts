// The Watch an Informer lists and watches through: it tells the Informer what
// ListWatch does with it (events, the end of a watch), cuts each object with
// the Informer's transform before ListWatch caches it, asks for bookmarks, and
// has a connect deadline and an idle limit instead of Watch's one timeout.

import { type KubeConfig, Watch } from "@kubernetes/client-node";

type WatchCallback = (phase: string, obj: unknown, watchObj?: unknown) => void;
type WatchQuery = Record<string, string | number | boolean | undefined>;

/**
 * A Watch that reports what ListWatch does with it, refuses to start once stopped, asks for bookmarks,
 * and has two deadlines instead of Watch's one requestTimeoutMs.
 *
 * Watch (client-node 2.0) arms one timer of `requestTimeoutMs` before it sends the request, re-arms it
 * when the response arrives and again on every chunk of the body; when it fires, the request is aborted
 * (socket included) and done() gets a TimeoutError, after which ListWatch reconnects at once from the
 * last resourceVersion. `requestTimeoutMs` is read each time the timer is armed, so it is an accessor
 * here: the first read of each watch is the connect deadline, every later read the idle limit.
 */
export class ObservedWatch extends Watch {
  readonly #hooks: WatchHooks;
  readonly #connectMs: number;
  readonly #idleMs: number;
  #connecting = false;

  constructor(kubeConfig: KubeConfig, hooks: WatchHooks, timeouts: { connectMs: number; idleMs: number }) {
    super(kubeConfig);
    this.#hooks = hooks;
    this.#connectMs = timeouts.connectMs;
    this.#idleMs = timeouts.idleMs;
    Object.defineProperty(this, "requestTimeoutMs", {
      configurable: true,
      get: () => this.#nextTimeoutMs(),
      set: () => {},
    });
  }

  override async watch(path: string, query: WatchQuery, callback: WatchCallback, done: (err: unknown) => void) {
    this.#hooks.beforeWatch();
    if (this.#hooks.stopped()) return new AbortController();
    const onEvent: WatchCallback = (phase, obj, watchObj) => {
      this.#hooks.onEvent(phase, obj);
      try {
        callback(phase, OBJECT_PHASES.has(phase) ? this.#hooks.transform(obj) : obj, watchObj);
      } finally {
        this.#hooks.afterEvent();
      }
    };
    const onDone = (err: unknown) => {
      this.#hooks.onDone(err);
      done(err);
    };
    this.#connecting = true;
    try {
      return await super.watch(path, { ...query, allowWatchBookmarks: true }, onEvent, onDone);
    } catch (err) {
      onDone(err);
      return new AbortController();
    }
  }

  #nextTimeoutMs(): number {
    if (!this.#connecting) return this.#idleMs;
    this.#connecting = false;
    return this.#connectMs;
  }
}

/** Watch event types that carry an object of the collection (not a Status or a bookmark). */
const OBJECT_PHASES = new Set(["ADDED", "MODIFIED", "DELETED"]);

export interface WatchHooks {
  stopped(): boolean;
  /** The object ListWatch caches for a watch event's object. */
  transform(obj: unknown): unknown;
  /** ListWatch has handled the event (cached it, called the handlers). */
  afterEvent(): void;
  beforeWatch(): void;
  onEvent(phase: string, obj: unknown): void;
  onDone(err: unknown): void;
}
