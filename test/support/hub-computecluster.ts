// A ComputeCluster of a test's own on the sandbox hub, for a ComputeClusterReconciler run in-process:
// its kubeconfig Secret in a namespace of the test's, the ComputeCluster (cloud aws, naming aws-sim),
// and a hub informer of ComputeClusters for the reconciler to read.

import { CustomObjectsApi } from "@kubernetes/client-node";
import { GROUP, VERSION } from "../../src/api/common.ts";
import type { ComputeCluster } from "../../src/api/computecluster.ts";
import { Catalog } from "../../src/catalog/index.ts";
import type { ClusterRegistry } from "../../src/clusters/registry.ts";
import {
  ComputeClusterReconciler,
  type ComputeClusterReconcilerOptions,
} from "../../src/controller/computecluster/reconciler.ts";
import { CustomObjectsApi as OperatorCustomObjects } from "../../src/kube/apis.ts";
import { KubeClient } from "../../src/kube/client.ts";
import { Informer } from "../../src/runtime/informer.ts";
import { silentLogger } from "../../src/runtime/logger.ts";
import { clients, eventually, installCrds } from "./sandbox.ts";

export interface HubComputeCluster {
  /** The hub informer of ComputeClusters (give it to the reconciler). */
  readonly clusters: Informer<ComputeCluster>;
  /** The ComputeCluster as the hub holds it now. */
  read(): Promise<ComputeCluster>;
  /** A reconciler of the hub's ComputeClusters through `registry`, with `options` on top of the defaults. */
  reconciler(registry: ClusterRegistry, options?: Partial<ComputeClusterReconcilerOptions>): ComputeClusterReconciler;
  /** Reconciles once the informer holds the hub's newest version of the ComputeCluster; how long the pass took. */
  reconcileFresh(reconciler: { reconcile(name: string): Promise<unknown> }): Promise<{ ms: number }>;
  /** Replaces the kubeconfig in its Secret. */
  setKubeconfig(kubeconfig: string): Promise<void>;
  /** Stops the informer and deletes the ComputeCluster and the namespace. */
  remove(): Promise<void>;
}

const hub = clients("hub");
const custom = hub.kubeConfig.makeApiClient(CustomObjectsApi);
/** The hub as the operator reaches it: its own client. */
const hubClient = new KubeClient(hub.kubeConfig, { target: "the hub", timeoutMs: 30_000 });
const plural = { group: GROUP, version: VERSION, plural: "computeclusters" };

/** Creates ComputeCluster `name` whose kubeconfig Secret (in `namespace`, created here) holds `kubeconfig`. */
export async function hubComputeCluster(
  name: string,
  namespace: string,
  kubeconfig: string,
): Promise<HubComputeCluster> {
  installCrds();
  const stop = new AbortController();
  await hub.core.createNamespace({ body: { metadata: { name: namespace } } });
  const secret = (text: string) => ({ metadata: { name: "kubeconfig", namespace }, stringData: { kubeconfig: text } });
  await hub.core.createNamespacedSecret({ namespace, body: secret(kubeconfig) });
  await custom.createClusterCustomObject({
    ...plural,
    body: {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: "ComputeCluster",
      metadata: { name },
      spec: {
        cloud: "aws",
        aws: { region: "us-east-1", clusterName: "aws-sim" },
        kubeconfigSecretRef: { namespace, name: "kubeconfig" },
        checkpointStore: { s3: { bucket: "unused", region: "us-east-1" } },
      },
    },
  });
  const clusters = new Informer<ComputeCluster>({
    client: hubClient,
    name: "hub/computeclusters",
    path: `/apis/${GROUP}/${VERSION}/computeclusters`,
  });
  await clusters.start(stop.signal);
  const read = () => custom.getClusterCustomObject({ ...plural, name }) as Promise<ComputeCluster>;
  return {
    clusters,
    read,
    reconciler: (registry, options = {}) =>
      new ComputeClusterReconciler({
        hub: hub.kubeConfig,
        secretReader: hub.core,
        custom: new OperatorCustomObjects(hubClient),
        clusters,
        registry,
        catalog: Catalog.builtIn(),
        logger: silentLogger(),
        ...options,
      }),
    async reconcileFresh(reconciler) {
      const rv = (await read()).metadata.resourceVersion;
      await eventually(
        "the hub informer to catch up",
        () => Promise.resolve(clusters.get(undefined, name)?.metadata.resourceVersion),
        (v) => v === rv,
        15_000,
      );
      const started = Date.now();
      await reconciler.reconcile(name);
      return { ms: Date.now() - started };
    },
    async setKubeconfig(text) {
      await hub.core.replaceNamespacedSecret({ namespace, name: "kubeconfig", body: secret(text) });
    },
    async remove() {
      stop.abort();
      await custom.deleteClusterCustomObject({ ...plural, name }).catch(() => {});
      await hub.core.deleteNamespace({ name: namespace }).catch(() => {});
    },
  };
}
