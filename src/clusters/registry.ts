// Connections to the worker clusters: API clients and informers (Jobs and
// pods the operator manages, all nodes and pods for capacity) per
// ComputeCluster, made once and remade when its kubeconfig Secret changes.

import {
  BatchV1Api,
  CoreV1Api,
  type KubeConfig,
  KubernetesObjectApi,
  type V1Job,
  type V1Node,
  type V1Pod,
  VersionApi,
} from "@kubernetes/client-node";
import type { Counter } from "prom-client";
import { counted } from "../runtime/counted.ts";
import { Informer } from "../runtime/informer.ts";
import type { Logger } from "../runtime/logger.ts";
import { MANAGED_SELECTOR } from "../workload/names.ts";

export interface WorkerCluster {
  readonly name: string;
  /** Changes when the kubeconfig does; a new version means a new connection. */
  readonly version: string;
  readonly kubeConfig: KubeConfig;
  readonly core: CoreV1Api;
  readonly batch: BatchV1Api;
  readonly objects: KubernetesObjectApi;
  readonly versionApi: VersionApi;
  /** Worker Jobs the operator manages. */
  readonly jobs: Informer<V1Job>;
  /** Every pod: the managed ones for job status, all of them for free capacity. */
  readonly pods: Informer<V1Pod>;
  readonly nodes: Informer<V1Node>;
}

export interface RegistryOptions {
  readonly logger: Logger;
  /** Counts the requests made to workers. */
  readonly apiRequests?: Counter<"cluster" | "verb">;
  /** Called with the worker cluster's name and the object whenever a watched object changes. */
  readonly onChange: (cluster: string, kind: "job" | "pod" | "node", obj: V1Job | V1Pod | V1Node) => void;
}

export class ClusterRegistry {
  readonly #clusters = new Map<string, { worker: WorkerCluster; stop: AbortController }>();
  readonly #options: RegistryOptions;

  constructor(options: RegistryOptions) {
    this.#options = options;
  }

  get(name: string): WorkerCluster | undefined {
    return this.#clusters.get(name)?.worker;
  }

  names(): string[] {
    return [...this.#clusters.keys()];
  }

  /** The worker for `name` at this kubeconfig version, connecting (and starting its informers) if needed. */
  connect(name: string, kubeConfig: KubeConfig, version: string): WorkerCluster {
    const existing = this.#clusters.get(name);
    if (existing && existing.worker.version === version) return existing.worker;
    if (existing) this.disconnect(name);
    const stop = new AbortController();
    const logger = this.#options.logger.child({ cluster: name });
    const count = <T extends object>(api: T) => counted(api, name, this.#options.apiRequests);
    const core = count(kubeConfig.makeApiClient(CoreV1Api));
    const batch = count(kubeConfig.makeApiClient(BatchV1Api));
    const informer = <T extends V1Job | V1Pod | V1Node>(
      kind: "job" | "pod" | "node",
      path: string,
      list: () => Promise<{ items: T[] }>,
      labelSelector?: string,
    ) => {
      const inf = new Informer<T>({ kubeConfig, path, list, labelSelector, name: `${name}/${kind}s`, logger });
      for (const event of ["add", "update", "delete"] as const)
        inf.on(event, (obj) => this.#options.onChange(name, kind, obj));
      void inf
        .start(stop.signal)
        .catch((err: unknown) => logger.warn("informer stopped", { kind, error: String(err) }));
      return inf;
    };
    const worker: WorkerCluster = {
      name,
      version,
      kubeConfig,
      core,
      batch,
      objects: count(KubernetesObjectApi.makeApiClient(kubeConfig)),
      versionApi: count(kubeConfig.makeApiClient(VersionApi)),
      jobs: informer(
        "job",
        "/apis/batch/v1/jobs",
        () => batch.listJobForAllNamespaces({ labelSelector: MANAGED_SELECTOR }),
        MANAGED_SELECTOR,
      ),
      pods: informer("pod", "/api/v1/pods", () => core.listPodForAllNamespaces()),
      nodes: informer("node", "/api/v1/nodes", () => core.listNode()),
    };
    this.#clusters.set(name, { worker, stop });
    logger.info("connected to worker cluster");
    return worker;
  }

  disconnect(name: string): void {
    const entry = this.#clusters.get(name);
    if (!entry) return;
    entry.stop.abort();
    for (const inf of [entry.worker.jobs, entry.worker.pods, entry.worker.nodes]) inf.stop();
    this.#clusters.delete(name);
  }

  disconnectAll(): void {
    for (const name of this.names()) this.disconnect(name);
  }
}
