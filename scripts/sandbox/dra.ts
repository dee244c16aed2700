// The sandbox's stand-in for the NVIDIA DRA driver's ComputeDomain side, so a
// GB200/GB300 job's pods (which claim their ComputeDomain's IMEX channel) are
// scheduled and run on kwok nodes:
// - at sandbox start, on each worker: the ComputeDomain CRD (computedomain-crd.yaml),
//   the DeviceClass `compute-domain-default-channel.nvidia.com`, and one
//   ResourceSlice per GB200/GB300 node offering one channel device, which the
//   real kube-scheduler allocates claims from (structured parameters: no driver
//   process is needed to allocate);
// - while the sandbox runs (`node scripts/sandbox/dra.ts`, the process `dra-sim`, watching them):
//   for every ComputeDomain, the ResourceClaimTemplate `<name>-channel` the
//   driver would make, owned by the ComputeDomain (so the garbage collector
//   deletes it with it).
// Nothing prepares devices (kwok is no kubelet); nodes a scale-up adds get no slice.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  ApiextensionsV1Api,
  KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  loadYaml,
  type V1CustomResourceDefinition,
} from "@kubernetes/client-node";
import { instanceType } from "../../src/catalog/instance-types.ts";
import { KubeClient } from "../../src/kube/client.ts";
import { Informer } from "../../src/runtime/informer.ts";
import { nodeName } from "./nodes.ts";
import { REPO_ROOT, STATE_DIR } from "./paths.ts";
import { type ClusterSpec, defaultTopology, workerClusters } from "./topology.ts";

export const CHANNEL_DRIVER = "compute-domain.nvidia.com";
export const CHANNEL_DEVICE_CLASS = "compute-domain-default-channel.nvidia.com";
const COMPUTE_DOMAINS = { group: "resource.nvidia.com", version: "v1beta1", plural: "computedomains" };

/** The accelerators whose nodes get a channel ResourceSlice: those the operator makes ComputeDomains for. */
const CHANNEL_ACCELERATORS = new Set(["nvidia-gb200", "nvidia-gb300"]);

/** The DeviceClass and per-node ResourceSlices of a worker (resource.k8s.io/v1). */
export function draObjects(cluster: ClusterSpec): KubernetesObject[] {
  const deviceClass = {
    apiVersion: "resource.k8s.io/v1",
    kind: "DeviceClass",
    metadata: { name: CHANNEL_DEVICE_CLASS },
    spec: { selectors: [{ cel: { expression: `device.driver == "${CHANNEL_DRIVER}"` } }] },
  };
  const slices = cluster.nodeGroups
    .filter((g) => CHANNEL_ACCELERATORS.has(instanceType(g.instanceType).accelerator))
    .flatMap((g) =>
      Array.from({ length: g.count }, (_, i) => {
        const node = nodeName(cluster, g, i);
        return {
          apiVersion: "resource.k8s.io/v1",
          kind: "ResourceSlice",
          metadata: { name: `${node}-compute-domain` },
          spec: {
            driver: CHANNEL_DRIVER,
            nodeName: node,
            pool: { name: node, generation: 1, resourceSliceCount: 1 },
            devices: [{ name: "channel-0" }],
          },
        };
      }),
    );
  return [deviceClass, ...slices];
}

/** The ResourceClaimTemplate the driver makes for a ComputeDomain: one channel device per pod. */
export function channelTemplate(
  cd: KubernetesObject & { spec?: { channel?: { resourceClaimTemplate?: { name?: string } } } },
) {
  const { name = "", namespace = "", uid = "" } = cd.metadata ?? {};
  return {
    apiVersion: "resource.k8s.io/v1",
    kind: "ResourceClaimTemplate",
    metadata: {
      name: cd.spec?.channel?.resourceClaimTemplate?.name ?? `${name}-channel`,
      namespace,
      ownerReferences: [
        {
          apiVersion: cd.apiVersion ?? "",
          kind: cd.kind ?? "",
          name,
          uid,
          controller: true,
          blockOwnerDeletion: false,
        },
      ],
    },
    spec: {
      spec: {
        devices: {
          requests: [{ name: "channel", exactly: { deviceClassName: CHANNEL_DEVICE_CLASS, count: 1 } }],
        },
      },
    },
  };
}

const ignoreConflict = (err: { code?: number }) => {
  if (err.code !== 409) throw err;
};

/** Installs the ComputeDomain CRD, the DeviceClass and the slices on a worker; returns once the CRD is Established. */
export async function installDra(kc: KubeConfig, cluster: ClusterSpec, timeoutMs = 30_000): Promise<void> {
  const crds = kc.makeApiClient(ApiextensionsV1Api);
  // loadYaml maps the YAML's keys onto the client's model (x-kubernetes-preserve-unknown-fields is
  // x_kubernetes_preserve_unknown_fields there), which the client serializes back: a plain parse would
  // lose them, and the CRD would prune the spec.
  const crd = loadYaml<V1CustomResourceDefinition>(
    readFileSync(join(REPO_ROOT, "scripts/sandbox/computedomain-crd.yaml"), "utf8"),
  );
  await crds.createCustomResourceDefinition({ body: crd }).catch(ignoreConflict);
  const objects = KubernetesObjectApi.makeApiClient(kc);
  for (const o of draObjects(cluster)) await objects.create(o).catch(ignoreConflict);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await crds.readCustomResourceDefinition({ name: crd.metadata?.name ?? "" });
    if (got.status?.conditions?.some((c) => c.type === "Established" && c.status === "True")) return;
    if (Date.now() > deadline) throw new Error(`the ComputeDomain CRD on ${cluster.name} is not Established`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

type ComputeDomain = KubernetesObject & { spec?: { channel?: { resourceClaimTemplate?: { name?: string } } } };

/** The channel ResourceClaimTemplate of one ComputeDomain, created if it lacks one; true if created. */
export async function ensureChannelTemplate(kc: KubeConfig, cd: ComputeDomain): Promise<boolean> {
  if (cd.metadata?.deletionTimestamp) return false;
  const objects = KubernetesObjectApi.makeApiClient(kc);
  const template = channelTemplate(cd);
  const exists = await objects.read(template).then(
    () => true,
    (err: { code?: number }) => (err.code === 404 ? false : Promise.reject(err)),
  );
  if (exists) return false;
  await objects.create(template).catch(ignoreConflict);
  return true;
}

if (import.meta.main) {
  // The kubeconfigs sandbox.ts wrote (not imported from there: it imports this module). Each worker's
  // ComputeDomains are watched (an informer), so an idle sandbox sends nothing: a poll of both workers
  // every 500 ms was 4 requests a second per sandbox, and 3% of a core.
  const stop = new AbortController();
  process.on("SIGTERM", () => stop.abort());
  process.on("SIGINT", () => stop.abort());
  const say = (line: string) => process.stderr.write(`[dra-sim] ${line}\n`);
  for (const c of workerClusters(defaultTopology())) {
    const kc = new KubeConfig();
    kc.loadFromFile(join(STATE_DIR, `${c.name}.kubeconfig`));
    const informer = new Informer<ComputeDomain>({
      client: new KubeClient(kc, { target: c.name, timeoutMs: 30_000 }),
      path: `/apis/${COMPUTE_DOMAINS.group}/${COMPUTE_DOMAINS.version}/${COMPUTE_DOMAINS.plural}`,
      name: `${c.name}/computedomains`,
      backoff: { maxMs: 5_000 },
    });
    const sync = (cd: ComputeDomain, attempt = 0): void => {
      ensureChannelTemplate(kc, cd).then(
        (created) => {
          if (created) say(`${c.name}: created the channel ResourceClaimTemplate of ${cd.metadata?.name}`);
        },
        (err: Error & { code?: number }) => {
          // A worker's API server just started answers 429 for a moment: say so in one line, and retry.
          say(`${c.name}: ${err.code ?? ""} ${err.message.split("\n")[0]}`);
          if (attempt < 20 && !stop.signal.aborted) setTimeout(() => sync(cd, attempt + 1), 500).unref();
        },
      );
    };
    informer.on("add", (cd) => sync(cd));
    informer.on("update", (cd) => sync(cd));
    informer.onResync(() => {
      for (const cd of informer.list()) sync(cd);
    });
    void informer.start(stop.signal).catch((err: Error) => say(`${c.name}: ${err.message}`));
  }
  await new Promise((resolve) => stop.signal.addEventListener("abort", resolve, { once: true }));
  process.exit(0);
}
