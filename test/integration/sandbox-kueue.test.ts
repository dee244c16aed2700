// Kueue (the real controller, scripts/sandbox/kueue.ts) on the sandbox's hub
// admits Workloads against ClusterQueue quota: of two ownerless Workloads asking
// 16 nvidia.com/gpu each from a queue with 16, the first is admitted on the
// suite's own flavor and the second waits for quota. Reading a Workload as
// v1beta1 goes through the CRD's conversion webhook.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CustomObjectsApi } from "@kubernetes/client-node";
import { ensureKueue, KUEUE_GROUP, KUEUE_VERSION } from "../support/kueue.ts";
import { clients, eventually, uniqueName } from "../support/sandbox.ts";

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
interface Workload {
  metadata?: { name?: string };
  status?: {
    admission?: {
      clusterQueue?: string;
      podSetAssignments?: { name: string; flavors?: Record<string, string>; count?: number }[];
    };
    conditions?: Condition[];
  };
}

/** A flavor of this suite's own: other suites' ClusterQueues on the same hub may hold nvidia-h100. */
const FLAVOR = uniqueName("h100");
const GPU = "nvidia.com/gpu";

const condition = (w: Workload, type: string) => w.status?.conditions?.find((c) => c.type === type);

describe("Kueue on the sandbox hub", { timeout: 300_000 }, () => {
  const { kubeConfig, core } = clients("hub");
  const api = kubeConfig.makeApiClient(CustomObjectsApi);
  const namespace = uniqueName("kueue");
  const clusterQueue = uniqueName("gpus");
  const localQueue = "team-a";
  const cluster = (plural: string) => ({ group: KUEUE_GROUP, version: KUEUE_VERSION, plural });
  const namespaced = (plural: string) => ({ ...cluster(plural), namespace });
  const ignoreNotFound = (err: { code?: number }) => {
    if (err.code !== 404) throw err;
  };

  const workload = (name: string) => ({
    apiVersion: `${KUEUE_GROUP}/${KUEUE_VERSION}`,
    kind: "Workload",
    metadata: { name, namespace },
    spec: {
      queueName: localQueue,
      podSets: [
        {
          name: "main",
          count: 2,
          template: {
            spec: {
              restartPolicy: "Never",
              containers: [
                {
                  name: "trainer",
                  image: "example.invalid/trainer:1",
                  resources: { requests: { [GPU]: "8" }, limits: { [GPU]: "8" } },
                },
              ],
            },
          },
        },
      ],
    },
  });
  const readWorkload = async (name: string) =>
    (await api.getNamespacedCustomObject({ ...namespaced("workloads"), name })) as Workload;

  before(async () => {
    await ensureKueue();
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await api
      .createClusterCustomObject({
        ...cluster("resourceflavors"),
        body: { apiVersion: `${KUEUE_GROUP}/${KUEUE_VERSION}`, kind: "ResourceFlavor", metadata: { name: FLAVOR } },
      })
      .catch((err: { code?: number }) => {
        if (err.code !== 409) throw err;
      });
    await api.createClusterCustomObject({
      ...cluster("clusterqueues"),
      body: {
        apiVersion: `${KUEUE_GROUP}/${KUEUE_VERSION}`,
        kind: "ClusterQueue",
        metadata: { name: clusterQueue },
        spec: {
          namespaceSelector: {},
          resourceGroups: [
            { coveredResources: [GPU], flavors: [{ name: FLAVOR, resources: [{ name: GPU, nominalQuota: 16 }] }] },
          ],
        },
      },
    });
    await api.createNamespacedCustomObject({
      ...namespaced("localqueues"),
      body: {
        apiVersion: `${KUEUE_GROUP}/${KUEUE_VERSION}`,
        kind: "LocalQueue",
        metadata: { name: localQueue, namespace },
        spec: { clusterQueue },
      },
    });
    await eventually(
      `ClusterQueue ${clusterQueue} to be Active`,
      () => api.getClusterCustomObject({ ...cluster("clusterqueues"), name: clusterQueue }) as Promise<Workload>,
      (cq) => condition(cq, "Active")?.status === "True",
    );
  });

  after(async () => {
    for (const name of ["first", "second"]) {
      await api.deleteNamespacedCustomObject({ ...namespaced("workloads"), name }).catch(ignoreNotFound);
    }
    await api.deleteNamespacedCustomObject({ ...namespaced("localqueues"), name: localQueue }).catch(ignoreNotFound);
    await api.deleteClusterCustomObject({ ...cluster("clusterqueues"), name: clusterQueue }).catch(ignoreNotFound);
    await api.deleteClusterCustomObject({ ...cluster("resourceflavors"), name: FLAVOR }).catch(ignoreNotFound);
    await core.deleteNamespace({ name: namespace }).catch(ignoreNotFound);
    // Kueue's finalizers go once nothing uses the queue and the flavor.
    await eventually(
      "the ClusterQueue and the ResourceFlavor to be gone",
      async () => {
        const left: string[] = [];
        for (const [plural, name] of [
          ["clusterqueues", clusterQueue],
          ["resourceflavors", FLAVOR],
        ] as const) {
          const gone = await api.getClusterCustomObject({ ...cluster(plural), name }).then(
            () => false,
            (err: { code?: number }) => err.code === 404,
          );
          if (!gone) left.push(name);
        }
        return left;
      },
      (left) => left.length === 0,
    );
  });

  it("admits the Workload that fits the quota on the flavor, and holds the one that does not", async (t) => {
    await api.createNamespacedCustomObject({ ...namespaced("workloads"), body: workload("first") });
    const first = await eventually(
      "the first Workload to be admitted",
      () => readWorkload("first"),
      (w) => condition(w, "Admitted")?.status === "True",
    );
    assert.equal(first.status?.admission?.clusterQueue, clusterQueue);
    assert.deepEqual(
      first.status?.admission?.podSetAssignments?.map((a) => ({ name: a.name, flavors: a.flavors, count: a.count })),
      [{ name: "main", flavors: { [GPU]: FLAVOR }, count: 2 }],
    );
    assert.equal(condition(first, "QuotaReserved")?.status, "True");
    // Read as v1beta1 (stored as v1beta2): the CRD's conversion webhook answers.
    const old = (await api.getNamespacedCustomObject({
      ...namespaced("workloads"),
      version: "v1beta1",
      name: "first",
    })) as {
      apiVersion?: string;
      spec?: { podSets?: { count?: number }[] };
    };
    assert.equal(old.apiVersion, `${KUEUE_GROUP}/v1beta1`);
    assert.equal(old.spec?.podSets?.[0]?.count, 2);

    // Another 2 x 8 GPUs: 32 > 16, so it waits.
    await api.createNamespacedCustomObject({ ...namespaced("workloads"), body: workload("second") });
    const second = await eventually(
      "the second Workload to be found without quota",
      () => readWorkload("second"),
      (w) =>
        condition(w, "QuotaReserved")?.status === "False" &&
        /insufficient/i.test(condition(w, "QuotaReserved")?.message ?? ""),
    );
    t.diagnostic(`second: QuotaReserved=False: ${condition(second, "QuotaReserved")?.message}`);
    assert.equal(second.status?.admission, undefined);
    assert.match(
      condition(second, "QuotaReserved")?.message ?? "",
      /insufficient (unused )?quota for nvidia\.com\/gpu/,
    );
    assert.notEqual(condition(second, "Admitted")?.status, "True");
    // The first stays admitted.
    assert.equal(condition(await readWorkload("first"), "Admitted")?.status, "True");
  });
});
