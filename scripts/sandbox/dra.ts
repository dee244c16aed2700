// The sandbox's stand-in for the NVIDIA DRA driver's ComputeDomain side, so a
// GB200/GB300 job's pods (which claim their ComputeDomain's IMEX channel) are
// scheduled and run on kwok nodes:
// - at sandbox start, on each worker: the ComputeDomain CRD (computedomain-crd.yaml),
//   the DeviceClass `compute-domain-default-channel.nvidia.com`, and one
//   ResourceSlice per GB200/GB300 node offering one channel device, which the
//   real kube-scheduler allocates claims from (structured parameters: no driver
//   process is needed to allocate);
// - while the sandbox runs (`node scripts/sandbox/dra.ts`, the process `dra-sim`):
//   for every ComputeDomain, the ResourceClaimTemplate `<name>-channel` the
//   driver would make, owned by the ComputeDomain (so the garbage collector
//   deletes it with it).
// Nothing prepares devices (kwok is no kubelet); nodes a scale-up adds get no slice.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  ApiextensionsV1Api,
  CustomObjectsApi,
  KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  loadYaml,
  type V1CustomResourceDefinition,
} from "@kubernetes/client-node";
import { instanceType } from "../../src/catalog/instance-types.ts";
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

/** One pass: a channel ResourceClaimTemplate for every ComputeDomain of the worker that lacks one. */
export async function syncChannelTemplates(kc: KubeConfig): Promise<number> {
  const list = (await kc.makeApiClient(CustomObjectsApi).listClusterCustomObject(COMPUTE_DOMAINS)) as {
    items: (KubernetesObject & { spec?: { channel?: { resourceClaimTemplate?: { name?: string } } } })[];
  };
  const objects = KubernetesObjectApi.makeApiClient(kc);
  let created = 0;
  for (const cd of list.items) {
    if (cd.metadata?.deletionTimestamp) continue;
    const template = channelTemplate(cd);
    const exists = await objects.read(template).then(
      () => true,
      (err: { code?: number }) => (err.code === 404 ? false : Promise.reject(err)),
    );
    if (exists) continue;
    await objects.create(template).catch(ignoreConflict);
    created++;
  }
  return created;
}

if (import.meta.main) {
  // The kubeconfigs sandbox.ts wrote (not imported from there: it imports this module).
  const workers = workerClusters(defaultTopology()).map((c) => {
    const kc = new KubeConfig();
    kc.loadFromFile(join(STATE_DIR, `${c.name}.kubeconfig`));
    return { name: c.name, kc };
  });
  let stopped = false;
  const stop = () => {
    stopped = true;
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  while (!stopped) {
    for (const w of workers) {
      const n = await syncChannelTemplates(w.kc).catch((err: Error & { code?: number }) => {
        // A worker's API server just started answers 429 for a moment: say so in one line, and retry.
        process.stderr.write(`[dra-sim] ${w.name}: ${err.code ?? ""} ${err.message.split("\n")[0]}\n`);
        return 0;
      });
      if (n > 0) process.stderr.write(`[dra-sim] ${w.name}: created ${n} channel ResourceClaimTemplate(s)\n`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  process.exit(0);
}
