// Connections to the worker clusters: API clients and informers (Jobs and
// pods the operator manages, all nodes and unfinished pods for capacity, the
// Jobs' FailedCreate events, each object cut to the fields the operator
// reads: worker-cache.ts) per
// ComputeCluster, made once and remade when its kubeconfig Secret changes
// (a refreshed cloud token is not a change: cloud-auth.ts).
// Every request to a worker has a deadline (requestTimeoutMs), and the
// registry remembers per cluster whether its API server answered last and
// when it last did (reachability), for controllers to ask without a call.

import type { CoreV1Event, V1Job, V1Node, V1Pod } from "@kubernetes/client-node";
import type { Counter } from "prom-client";
import { BatchV1Api, CoreV1Api, KubernetesObjectApi, VersionApi } from "../kube/apis.ts";
import { KubeClient } from "../kube/client.ts";
import type { KubeConfigView } from "../kube/config.ts";
import type { RequestOutcome } from "../runtime/deadline.ts";
import { Informer, type InformerOptions } from "../runtime/informer.ts";
import type { Logger } from "../runtime/logger.ts";
import { LABEL_EPOCH, LABEL_JOB_UID, MANAGED_SELECTOR } from "../workload/names.ts";
import {
  CAPACITY_POD_FIELDS,
  cachedJob,
  cachedNode,
  capacityPod,
  FAILED_CREATE_FIELDS,
  failedCreateEvent,
  managedPod,
} from "./worker-cache.ts";

export interface WorkerCluster {
  readonly name: string;
  /** Changes when the kubeconfig does (not when a cloud token is refreshed); a new version means a new connection. */
  readonly version: string;
  readonly kubeConfig: KubeConfigView;
  /** The connection every client and informer below uses. */
  readonly client: KubeClient;
  /** The clients below reject with a NoAnswerError (src/runtime/deadline.ts) when the worker does not answer in time. */
  readonly core: CoreV1Api;
  readonly batch: BatchV1Api;
  readonly objects: KubernetesObjectApi;
  readonly versionApi: VersionApi;
  /** Worker Jobs the operator manages, without their pod template (cachedJob). */
  readonly jobs: Informer<V1Job>;
  /** Pods of the Jobs the operator manages, finished ones included, as job status reads them (managedPod). */
  readonly managedPods: Informer<V1Pod>;
  /** Every pod that has not finished (so can hold capacity), as free capacity reads it (capacityPod). */
  readonly pods: Informer<V1Pod>;
  /** Every node, as capacity reads it (cachedNode). */
  readonly nodes: Informer<V1Node>;
  /** The Job controller's FailedCreate events about Jobs (failedCreateEvent): why pods are missing. */
  readonly failedCreates: Informer<CoreV1Event>;
  /** The managed pods of one placement (TrainingJob uid and epoch), from an index: no scan. */
  podsOf(uid: string, epoch: number): V1Pod[];
  /** The managed Jobs of one TrainingJob (its uid), every epoch, from an index: no scan. */
  jobsOf(uid: string): V1Job[];
  /** The FailedCreate events of one worker Job (its uid), from an index: no request. */
  failedCreatesOf(jobUid: string): CoreV1Event[];
}

/** The index of managedPods by placement. */
const BY_PLACEMENT = "placement";
/** The index of managed Jobs by their TrainingJob's uid. */
const BY_JOB = "job";
/** The index of FailedCreate events by the uid of the Job they are about. */
const BY_INVOLVED = "involved";

function placementKey(uid: string, epoch: number | string): string {
  return `${uid}/${epoch}`;
}

function podPlacement(pod: V1Pod): string | undefined {
  const labels = pod.metadata?.labels;
  const uid = labels?.[LABEL_JOB_UID];
  const epoch = labels?.[LABEL_EPOCH];
  return uid && epoch ? placementKey(uid, epoch) : undefined;
}

type Watched = V1Job | V1Pod | V1Node | CoreV1Event;

/** Every informer of a worker connection. */
export function informersOf(w: WorkerCluster): Informer<Watched>[] {
  return [w.jobs, w.managedPods, w.pods, w.nodes, w.failedCreates] as Informer<Watched>[];
}

/**
 * Whether a worker's API server answers, as the operator last saw it. Fed by every request made through
 * the registry's clients (any HTTP answer counts as reached; no answer within the deadline, or a failed
 * connection, as unreachable) and by the ComputeCluster heartbeat.
 */
export interface Reachability {
  /** The newest request (or heartbeat) was answered. */
  readonly reachable: boolean;
  /**
   * When the API server last answered. Absent: not since the operator started and the heartbeat
   * found no earlier time in the ComputeCluster's status.lastHeartbeatTime.
   */
  readonly lastReached?: Date;
  /** Why the newest request got no answer; only while unreachable. */
  readonly lastError?: string;
}

export const DEFAULT_WORKER_REQUEST_TIMEOUT_MS = 10_000;

/**
 * What a worker informer watches: managed Jobs, managed pods (job status), unfinished pods (capacity),
 * nodes, and Jobs' FailedCreate events.
 */
export type WatchedKind = "job" | "managedPod" | "pod" | "node" | "failedCreate";

export interface RegistryOptions {
  readonly logger: Logger;
  /** Counts the requests made to workers. */
  readonly apiRequests?: Counter<"cluster" | "verb">;
  /** Called with the worker cluster's name and the object whenever a watched object changes. */
  readonly onChange: (cluster: string, kind: WatchedKind, obj: Watched) => void;
  /**
   * How long one request to a worker may take before it is aborted, and how long an informer's watch
   * may take to connect. Default 10 s (env WORKER_REQUEST_TIMEOUT_MS, once main.ts wires it).
   */
  readonly requestTimeoutMs?: number;
  /** An established watch with no event or bookmark for this long is reconnected. Default: the Informer's (90 s). */
  readonly watchIdleTimeoutMs?: number;
  /** Default the wall clock. */
  readonly now?: () => Date;
  /** The leader's signal: once it aborts, the workers' clients send nothing more (see src/runtime/deadline.ts). */
  readonly fence?: AbortSignal;
}

export class ClusterRegistry {
  readonly #clusters = new Map<string, { worker: WorkerCluster; stop: AbortController }>();
  readonly #reach = new Map<string, Reachability>();
  readonly #options: RegistryOptions;

  constructor(options: RegistryOptions) {
    this.#options = options;
  }

  /** The deadline of one request to a worker. */
  get requestTimeoutMs(): number {
    return this.#options.requestTimeoutMs ?? DEFAULT_WORKER_REQUEST_TIMEOUT_MS;
  }

  get(name: string): WorkerCluster | undefined {
    return this.#clusters.get(name)?.worker;
  }

  names(): string[] {
    return [...this.#clusters.keys()];
  }

  /**
   * Whether cluster `name` answered its newest request and when it last answered; undefined when
   * nothing is known yet (no request finished since the operator started). Synchronous and free.
   */
  reachability(name: string): Reachability | undefined {
    return this.#reach.get(name);
  }

  /** Records that `name`'s API server answered at `at` (default now). */
  markReached(name: string, at: Date = this.#now()): void {
    const last = this.#reach.get(name)?.lastReached;
    this.#reach.set(name, { reachable: true, lastReached: later(last, at) });
  }

  /**
   * Records that `name`'s API server did not answer, with why. `lastKnown` is an earlier time it was
   * reached that the registry may not know (the ComputeCluster's status after a restart).
   */
  markUnreachable(name: string, error: string, lastKnown?: Date): void {
    const lastReached = later(this.#reach.get(name)?.lastReached, lastKnown);
    this.#reach.set(name, { reachable: false, ...(lastReached ? { lastReached } : {}), lastError: error });
  }

  /** The worker for `name` at this kubeconfig version, connecting (and starting its informers) if needed. */
  connect(name: string, kubeConfig: KubeConfigView, version: string): WorkerCluster {
    const existing = this.#clusters.get(name);
    if (existing && existing.worker.version === version) return existing.worker;
    if (existing) this.disconnect(name);
    const stop = new AbortController();
    const worker = this.#worker(name, kubeConfig, version, stop.signal);
    this.#clusters.set(name, { worker, stop });
    this.#options.logger.info("connected to worker cluster", {
      cluster: name,
      requestTimeoutMs: this.requestTimeoutMs,
    });
    return worker;
  }

  /** Stops the informers of `name` and drops its clients; what is known of its reachability stays. */
  disconnect(name: string): void {
    const entry = this.#clusters.get(name);
    if (!entry) return;
    entry.stop.abort();
    for (const inf of informersOf(entry.worker)) inf.stop();
    entry.worker.client.close();
    this.#clusters.delete(name);
  }

  /** Disconnects `name` and forgets its reachability: its ComputeCluster is gone. */
  forget(name: string): void {
    this.disconnect(name);
    this.#reach.delete(name);
  }

  disconnectAll(): void {
    for (const name of this.names()) this.disconnect(name);
  }

  #now(): Date {
    return this.#options.now?.() ?? new Date();
  }

  #worker(name: string, kubeConfig: KubeConfigView, version: string, signal: AbortSignal): WorkerCluster {
    const client = this.#client(name, kubeConfig);
    const informer = this.#informerFactory(name, client, signal);
    const managed = { labelSelector: MANAGED_SELECTOR };
    const managedPods = informer<V1Pod>({
      kind: "managedPod",
      name: "managed-pods",
      path: "/api/v1/pods",
      transform: managedPod,
      indexes: { [BY_PLACEMENT]: podPlacement },
      ...managed,
    });
    const jobs = informer<V1Job>({
      kind: "job",
      name: "jobs",
      path: "/apis/batch/v1/jobs",
      transform: cachedJob,
      indexes: { [BY_JOB]: (j: V1Job) => j.metadata?.labels?.[LABEL_JOB_UID] },
      ...managed,
    });
    const failedCreates = informer<CoreV1Event>({
      kind: "failedCreate",
      name: "failed-creates",
      path: "/api/v1/events",
      fieldSelector: FAILED_CREATE_FIELDS,
      transform: failedCreateEvent,
      indexes: { [BY_INVOLVED]: (e: CoreV1Event) => e.involvedObject?.uid },
    });
    return {
      name,
      version,
      kubeConfig,
      client,
      core: new CoreV1Api(client),
      batch: new BatchV1Api(client),
      objects: new KubernetesObjectApi(client),
      versionApi: new VersionApi(client),
      jobs,
      managedPods,
      pods: informer<V1Pod>({
        kind: "pod",
        name: "pods",
        path: "/api/v1/pods",
        fieldSelector: CAPACITY_POD_FIELDS,
        transform: capacityPod,
      }),
      nodes: informer<V1Node>({ kind: "node", name: "nodes", path: "/api/v1/nodes", transform: cachedNode }),
      failedCreates,
      podsOf: (uid, epoch) => managedPods.byIndex(BY_PLACEMENT, placementKey(uid, epoch)),
      jobsOf: (uid) => jobs.byIndex(BY_JOB, uid),
      failedCreatesOf: (jobUid) => failedCreates.byIndex(BY_INVOLVED, jobUid),
    };
  }

  /** The connection to `name`: its kubeconfig, the deadline, and reachability from each request. */
  #client(name: string, kubeConfig: KubeConfigView): KubeClient {
    return new KubeClient(kubeConfig, {
      target: `worker cluster "${name}"`,
      timeoutMs: this.requestTimeoutMs,
      ...(this.#options.fence ? { fence: this.#options.fence } : {}),
      ...(this.#options.apiRequests ? { requests: { counter: this.#options.apiRequests, cluster: name } } : {}),
      onOutcome: (outcome: RequestOutcome) => {
        if (outcome.answered) this.markReached(name);
        else this.markUnreachable(name, outcome.error.message);
      },
    });
  }

  #informerFactory(name: string, client: KubeClient, signal: AbortSignal) {
    const logger = this.#options.logger.child({ cluster: name });
    const watchTimeouts = { connectMs: this.requestTimeoutMs, idleMs: this.#options.watchIdleTimeoutMs };
    return <T extends Watched>(
      o: { kind: WatchedKind; name: string } & Omit<InformerOptions<T>, "client" | "name" | "logger" | "watchTimeouts">,
    ): Informer<T> => {
      const { kind, ...options } = o;
      const inf = new Informer<T>({ ...options, client, name: `${name}/${o.name}`, logger, watchTimeouts });
      for (const event of ["add", "update", "delete"] as const)
        inf.on(event, (obj) => this.#options.onChange(name, kind, obj));
      void inf.start(signal).catch((err: unknown) => logger.warn("informer stopped", { kind, error: String(err) }));
      return inf;
    };
  }
}

function later(a: Date | undefined, b: Date | undefined): Date | undefined {
  if (!a) return b;
  if (!b) return a;
  return a.getTime() >= b.getTime() ? a : b;
}
