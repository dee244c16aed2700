// The Kubernetes API calls the operator makes, over a KubeClient: each one
// a method named as @kubernetes/client-node names it (readers who know that
// client know these), taking the same parameters, returning the server's JSON
// as it is, and counted under the verb its name starts with.

import type {
  CoreV1Event,
  KubernetesListObject,
  KubernetesObject,
  V1ConfigMap,
  V1Job,
  V1Lease,
  V1Node,
  V1Pod,
  V1Secret,
  V1Service,
  VersionInfo,
} from "@kubernetes/client-node";
import type { KubeClient, Query } from "./client.ts";

/** The parameters of a list: selectors and a page. */
export interface ListParams {
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  readonly limit?: number;
  readonly _continue?: string;
  readonly resourceVersion?: string;
}

/** A list as the server sends it: `metadata.continue` names the next page. */
export type List<T extends KubernetesObject> = KubernetesListObject<T> & {
  metadata?: { resourceVersion?: string; continue?: string };
};

interface Named {
  readonly name: string;
  readonly namespace: string;
}

/** Per-call options: the caller's cancellation. */
export interface CallOptions {
  readonly signal?: AbortSignal;
}

/** A merge patch (application/merge-patch+json), the only patch of custom objects the operator sends. */
export interface PatchOptions extends CallOptions {
  readonly contentType: "application/merge-patch+json";
}

export const MERGE_PATCH: PatchOptions = { contentType: "application/merge-patch+json" };

function listQuery(p: ListParams): Query {
  const { _continue, ...rest } = p;
  return { ...rest, continue: _continue };
}

function ns(namespace: string): string {
  return `/namespaces/${encodeURIComponent(namespace)}`;
}

function named(p: Named, plural: string): string {
  return `${ns(p.namespace)}/${plural}/${encodeURIComponent(p.name)}`;
}

export class CoreV1Api {
  readonly #c: KubeClient;

  constructor(client: KubeClient) {
    this.#c = client;
  }

  readNamespacedSecret(p: Named): Promise<V1Secret> {
    return this.#c.request({ method: "GET", path: `/api/v1${named(p, "secrets")}` });
  }

  listNamespacedSecret(p: { namespace: string } & ListParams): Promise<List<V1Secret>> {
    const { namespace, ...list } = p;
    return this.#c.request({
      method: "GET",
      path: `/api/v1${ns(namespace)}/secrets`,
      query: listQuery(list),
      verb: "list",
    });
  }

  listSecretForAllNamespaces(p: ListParams = {}): Promise<List<V1Secret>> {
    return this.#c.request({ method: "GET", path: "/api/v1/secrets", query: listQuery(p), verb: "list" });
  }

  deleteNamespacedSecret(p: Named): Promise<unknown> {
    return this.#c.request({ method: "DELETE", path: `/api/v1${named(p, "secrets")}` });
  }

  readNamespacedConfigMap(p: Named): Promise<V1ConfigMap> {
    return this.#c.request({ method: "GET", path: `/api/v1${named(p, "configmaps")}` });
  }

  listConfigMapForAllNamespaces(p: ListParams = {}): Promise<List<V1ConfigMap>> {
    return this.#c.request({ method: "GET", path: "/api/v1/configmaps", query: listQuery(p), verb: "list" });
  }

  deleteNamespacedConfigMap(p: Named): Promise<unknown> {
    return this.#c.request({ method: "DELETE", path: `/api/v1${named(p, "configmaps")}` });
  }

  listServiceForAllNamespaces(p: ListParams = {}): Promise<List<V1Service>> {
    return this.#c.request({ method: "GET", path: "/api/v1/services", query: listQuery(p), verb: "list" });
  }

  deleteNamespacedService(p: Named): Promise<unknown> {
    return this.#c.request({ method: "DELETE", path: `/api/v1${named(p, "services")}` });
  }

  listPodForAllNamespaces(p: ListParams = {}): Promise<List<V1Pod>> {
    return this.#c.request({ method: "GET", path: "/api/v1/pods", query: listQuery(p), verb: "list" });
  }

  /** A strategic merge patch of a pod (the operator patches only its own gated pods: ultraserver-pins.ts). */
  patchNamespacedPod(p: Named & { body: object }): Promise<V1Pod> {
    const contentType = "application/strategic-merge-patch+json";
    return this.#c.request({ method: "PATCH", path: `/api/v1${named(p, "pods")}`, body: p.body, contentType });
  }

  listNode(p: ListParams = {}): Promise<List<V1Node>> {
    return this.#c.request({ method: "GET", path: "/api/v1/nodes", query: listQuery(p), verb: "list" });
  }

  listNamespace(p: ListParams = {}): Promise<List<KubernetesObject>> {
    return this.#c.request({ method: "GET", path: "/api/v1/namespaces", query: listQuery(p), verb: "list" });
  }

  listEventForAllNamespaces(p: ListParams = {}): Promise<List<CoreV1Event>> {
    return this.#c.request({ method: "GET", path: "/api/v1/events", query: listQuery(p), verb: "list" });
  }

  createNamespacedEvent(p: { namespace: string; body: CoreV1Event }): Promise<CoreV1Event> {
    return this.#c.request({ method: "POST", path: `/api/v1${ns(p.namespace)}/events`, body: p.body });
  }
}

export class BatchV1Api {
  readonly #c: KubeClient;

  constructor(client: KubeClient) {
    this.#c = client;
  }

  listJobForAllNamespaces(p: ListParams = {}): Promise<List<V1Job>> {
    return this.#c.request({ method: "GET", path: "/apis/batch/v1/jobs", query: listQuery(p), verb: "list" });
  }

  readNamespacedJob(p: Named): Promise<V1Job> {
    return this.#c.request({ method: "GET", path: `/apis/batch/v1${named(p, "jobs")}` });
  }

  deleteNamespacedJob(p: Named & { propagationPolicy?: "Foreground" | "Background" | "Orphan" }): Promise<unknown> {
    return this.#c.request({
      method: "DELETE",
      path: `/apis/batch/v1${named(p, "jobs")}`,
      query: { propagationPolicy: p.propagationPolicy },
    });
  }
}

interface CustomRef {
  readonly group: string;
  readonly version: string;
  readonly plural: string;
}

function custom(p: CustomRef & { namespace?: string; name?: string }): string {
  const where = p.namespace === undefined ? "" : ns(p.namespace);
  const name = p.name === undefined ? "" : `/${encodeURIComponent(p.name)}`;
  return `/apis/${p.group}/${p.version}${where}/${p.plural}${name}`;
}

export class CustomObjectsApi {
  readonly #c: KubeClient;

  constructor(client: KubeClient) {
    this.#c = client;
  }

  listClusterCustomObject(p: CustomRef & ListParams): Promise<object> {
    const { group, version, plural, ...list } = p;
    return this.#c.request({
      method: "GET",
      path: custom({ group, version, plural }),
      query: listQuery(list),
      verb: "list",
    });
  }

  getClusterCustomObject(p: CustomRef & { name: string }): Promise<object> {
    return this.#c.request({ method: "GET", path: custom(p) });
  }

  getNamespacedCustomObject(p: CustomRef & Named): Promise<object> {
    return this.#c.request({ method: "GET", path: custom(p) });
  }

  createNamespacedCustomObject(p: CustomRef & { namespace: string; body: object }): Promise<object> {
    return this.#c.request({ method: "POST", path: custom(p), body: p.body });
  }

  patchNamespacedCustomObjectStatus(p: CustomRef & Named & { body: object }, o: PatchOptions): Promise<object> {
    return this.#c.request({ method: "PATCH", path: `${custom(p)}/status`, body: p.body, contentType: o.contentType });
  }

  deleteNamespacedCustomObject(p: CustomRef & Named): Promise<object> {
    return this.#c.request({ method: "DELETE", path: custom(p) });
  }

  patchNamespacedCustomObject(p: CustomRef & Named & { body: object }, o: PatchOptions): Promise<object> {
    return this.#c.request({ method: "PATCH", path: custom(p), body: p.body, contentType: o.contentType });
  }

  replaceNamespacedCustomObjectStatus(p: CustomRef & Named & { body: object }): Promise<object> {
    return this.#c.request({ method: "PUT", path: `${custom(p)}/status`, body: p.body });
  }

  patchClusterCustomObjectStatus(p: CustomRef & { name: string; body: object }, o: PatchOptions): Promise<object> {
    return this.#c.request({ method: "PATCH", path: `${custom(p)}/status`, body: p.body, contentType: o.contentType });
  }
}

export class CoordinationV1Api {
  readonly #c: KubeClient;

  constructor(client: KubeClient) {
    this.#c = client;
  }

  readNamespacedLease(p: Named, o: CallOptions = {}): Promise<V1Lease> {
    return this.#c.request({ method: "GET", path: `/apis/coordination.k8s.io/v1${named(p, "leases")}`, ...o });
  }

  createNamespacedLease(p: { namespace: string; body: V1Lease }, o: CallOptions = {}): Promise<V1Lease> {
    const path = `/apis/coordination.k8s.io/v1${ns(p.namespace)}/leases`;
    return this.#c.request({ method: "POST", path, body: p.body, ...o });
  }

  replaceNamespacedLease(p: Named & { body: V1Lease }, o: CallOptions = {}): Promise<V1Lease> {
    const path = `/apis/coordination.k8s.io/v1${named(p, "leases")}`;
    return this.#c.request({ method: "PUT", path, body: p.body, ...o });
  }
}

export class VersionApi {
  readonly #c: KubeClient;

  constructor(client: KubeClient) {
    this.#c = client;
  }

  getCode(): Promise<VersionInfo> {
    return this.#c.request({ method: "GET", path: "/version", verb: "get" });
  }
}

/** Where the objects of a kind live: the kinds the operator writes to workers. */
const RESOURCES: Readonly<Record<string, { readonly plural: string; readonly namespaced: boolean }>> = {
  "v1/Namespace": { plural: "namespaces", namespaced: false },
  "v1/ConfigMap": { plural: "configmaps", namespaced: true },
  "v1/Secret": { plural: "secrets", namespaced: true },
  "v1/Service": { plural: "services", namespaced: true },
  "v1/Pod": { plural: "pods", namespaced: true },
  "batch/v1/Job": { plural: "jobs", namespaced: true },
  // GB200/GB300 placements' NVLink domains (the NVIDIA DRA driver's CRD, src/workload/topology.ts).
  "resource.nvidia.com/v1beta1/ComputeDomain": { plural: "computedomains", namespaced: true },
};

/** Objects of the kinds in RESOURCES, by their apiVersion and kind: create, read and server-side apply. */
export class KubernetesObjectApi {
  readonly #c: KubeClient;

  constructor(client: KubeClient) {
    this.#c = client;
  }

  create<T extends KubernetesObject>(o: T, fieldManager: string): Promise<T> {
    return this.#c.request({ method: "POST", path: objectPath(o, false), query: { fieldManager }, body: o });
  }

  read<T extends KubernetesObject>(o: KubernetesObject): Promise<T> {
    return this.#c.request({ method: "GET", path: objectPath(o, true) });
  }

  /** Server-side apply of `o`, owned by `fieldManager`, taking over fields of other managers (force). */
  patch<T extends KubernetesObject>(o: T, fieldManager: string): Promise<T> {
    return this.#c.request({
      method: "PATCH",
      path: objectPath(o, true),
      query: { fieldManager, force: true },
      body: o,
      contentType: "application/apply-patch+yaml",
    });
  }
}

function objectPath(o: KubernetesObject, withName: boolean): string {
  const apiVersion = o.apiVersion ?? "";
  const resource = RESOURCES[`${apiVersion}/${o.kind}`];
  if (!resource) {
    throw new Error(
      `the operator does not write ${o.kind} (${apiVersion}) objects: it knows ${Object.keys(RESOURCES).join(", ")}`,
    );
  }
  const root = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  const namespace = o.metadata?.namespace;
  if (resource.namespaced && !namespace)
    throw new Error(`${o.kind} ${o.metadata?.name}: metadata.namespace is missing`);
  const where = resource.namespaced ? ns(namespace ?? "") : "";
  const name = withName ? `/${encodeURIComponent(o.metadata?.name ?? "")}` : "";
  return `${root}${where}/${resource.plural}${name}`;
}
