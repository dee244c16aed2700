// The worker informers against the sandbox's real aws-sim API server: they
// cache only the fields the operator reads (no managedFields, annotations,
// pod templates, container specs of other pods), keep finished pods out of the
// capacity cache (field selector) while the managed pods' cache keeps a failed
// pod for job status, and find a placement's pods by index. Then cloud-token
// auth as the ComputeCluster reconciler runs it (in-process, against the hub):
// the "EKS token" is a real ServiceAccount token of the worker from the
// TokenRequest API; a refresh swaps it for another identity's token, which the
// next request uses (SelfSubjectReview says who is calling), without a
// reconnect or a list; watches reconnecting after the old identity was deleted
// carry the new token (no 401, no restart, no relist). A kubeconfig Secret
// change still reconnects.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CoreV1Api, KubeConfig, type V1Pod } from "@kubernetes/client-node";
import { Counter, Registry } from "prom-client";
import { CloudTokens } from "../../src/clusters/cloud-auth.ts";
import { ClusterRegistry, type WorkerCluster } from "../../src/clusters/registry.ts";
import type { ComputeClusterReconciler } from "../../src/controller/computecluster/reconciler.ts";
import { silentLogger } from "../../src/runtime/logger.ts";
import { LABEL_EPOCH, LABEL_JOB_UID, MANAGED_SELECTOR } from "../../src/workload/names.ts";
import { type HubComputeCluster, hubComputeCluster } from "../support/hub-computecluster.ts";
import { applyShippedRbac, OPERATOR_NAMESPACE, operatorToken, tokenKubeconfig } from "../support/rbac.ts";
import { clients, eventually, kubectl, uniqueName } from "../support/sandbox.ts";
import { informersOf, waitSynced } from "../support/workers.ts";

const aws = clients("aws-sim");
const hub = clients("hub");

/** A pod that stays Pending (no node has the label), with what real pods carry and the operator never reads. */
function heavyPod(name: string, namespace: string, labels: Record<string, string> = {}): V1Pod {
  return {
    metadata: {
      name,
      namespace,
      labels: { app: "x", ...labels },
      annotations: { "example.com/notes": "n".repeat(2000) },
    },
    spec: {
      nodeSelector: { "worker-informers.test/none": "true" },
      containers: [
        {
          name: "trainer",
          image: "busybox",
          command: ["sleep", "3600"],
          env: Array.from({ length: 20 }, (_, i) => ({ name: `VAR_${i}`, value: "v".repeat(100) })),
          resources: { requests: { cpu: "1", "nvidia.com/gpu": "8" }, limits: { "nvidia.com/gpu": "8" } },
        },
      ],
    },
  };
}

describe("worker informers cache only what the operator reads", () => {
  const namespace = uniqueName("worker-informers");
  const uid = "worker-informers-uid";
  const managedLabels = {
    "app.kubernetes.io/managed-by": "crosscloud-operator",
    [LABEL_JOB_UID]: uid,
    [LABEL_EPOCH]: "1",
  };
  let registry: ClusterRegistry;
  let w: WorkerCluster;

  before(async () => {
    assert.equal(MANAGED_SELECTOR, "app.kubernetes.io/managed-by=crosscloud-operator");
    await aws.core.createNamespace({ body: { metadata: { name: namespace } } });
    for (const pod of [heavyPod("plain", namespace), heavyPod("managed", namespace, managedLabels)]) {
      // Retried: a new namespace's default ServiceAccount, which admission wants, may still be coming.
      await eventually(
        `pod ${pod.metadata?.name}`,
        () => aws.core.createNamespacedPod({ namespace, body: pod }),
        Boolean,
      );
    }
    registry = new ClusterRegistry({ logger: silentLogger(), onChange: () => {} });
    w = registry.connect("aws-sim", aws.kubeConfig, "1");
    await waitSynced(w);
  });
  after(async () => {
    registry.disconnectAll();
    await aws.core.deleteNamespace({ name: namespace }).catch(() => {});
  });

  it("keeps a capacity pod's node, phase and requests, and nothing of its template, annotations or managedFields", async () => {
    const raw = await aws.core.readNamespacedPod({ namespace, name: "plain" });
    assert.ok(raw.metadata?.managedFields?.length, "the API server sends managedFields");
    const cached = await eventually(
      "the plain pod in the capacity cache",
      () => Promise.resolve(w.pods.get(namespace, "plain")),
      Boolean,
    );
    assert.deepEqual(cached, {
      metadata: {
        name: "plain",
        namespace,
        uid: raw.metadata?.uid,
        resourceVersion: cached?.metadata?.resourceVersion,
      },
      spec: { containers: [{ name: "trainer", resources: { requests: { cpu: "1", "nvidia.com/gpu": "8" } } }] },
      status: { phase: "Pending" },
    });
    const size = (o: unknown) => JSON.stringify(o).length;
    assert.ok(size(cached) * 10 < size(raw), `cached ${size(cached)} bytes of a ${size(raw)}-byte pod`);
    assert.equal(w.managedPods.get(namespace, "plain"), undefined, "an unmanaged pod is not in the managed cache");
  });

  it("keeps a managed pod's status for job status, without its spec, and finds it by placement", async () => {
    const cached = await eventually(
      "the managed pod in the managed cache",
      () => Promise.resolve(w.managedPods.get(namespace, "managed")),
      Boolean,
    );
    assert.equal(cached?.spec, undefined);
    assert.equal(cached?.metadata?.annotations, undefined);
    assert.equal(cached?.metadata?.managedFields, undefined);
    assert.deepEqual(cached?.metadata?.labels, { [LABEL_JOB_UID]: uid, [LABEL_EPOCH]: "1" });
    assert.ok(cached?.status?.conditions?.some((c) => c.type === "PodScheduled" && c.reason === "Unschedulable"));
    assert.deepEqual(
      w.podsOf(uid, 1).map((p) => p.metadata?.name),
      ["managed"],
    );
    assert.deepEqual(w.podsOf(uid, 2), []);
    assert.equal(w.pods.get(namespace, "managed")?.metadata?.labels?.[LABEL_JOB_UID], uid, "give-back's label");
  });

  it("keeps nodes' group labels and Ready only", () => {
    const nodes = w.nodes.list();
    assert.ok(nodes.length > 0);
    for (const n of nodes) {
      assert.deepEqual(Object.keys(n).sort(), ["metadata", "spec", "status"]);
      assert.equal(n.metadata?.annotations, undefined);
      assert.equal(n.metadata?.managedFields, undefined);
      assert.equal(n.status?.allocatable, undefined);
      assert.ok((n.status?.conditions ?? []).every((c) => c.type === "Ready" && Object.keys(c).length === 2));
      assert.ok(n.metadata?.labels?.["node.kubernetes.io/instance-type"], n.metadata?.name);
      assert.equal(n.metadata?.labels?.["kubernetes.io/hostname"], undefined);
    }
  });

  it("drops a failed pod from the capacity cache and keeps it, with its failure, in the managed cache", async () => {
    const failed = {
      status: {
        phase: "Failed",
        reason: "Evicted",
        message: "test",
        containerStatuses: [
          {
            name: "trainer",
            image: "busybox",
            imageID: "",
            ready: false,
            restartCount: 0,
            state: { terminated: { reason: "OOMKilled", exitCode: 137 } },
          },
        ],
      },
    };
    for (const name of ["plain", "managed"]) {
      const r = kubectl("aws-sim", [
        "patch",
        "pod",
        name,
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        JSON.stringify(failed),
      ]);
      assert.equal(r.status, 0, r.stderr);
    }
    await eventually(
      "both pods out of the capacity cache",
      () => Promise.resolve([w.pods.get(namespace, "plain"), w.pods.get(namespace, "managed")]),
      (l) => l.every((p) => p === undefined),
      20_000,
    );
    const kept = await eventually(
      "the managed pod Failed in the managed cache",
      () => Promise.resolve(w.podsOf(uid, 1)),
      (pods) => pods[0]?.status?.phase === "Failed",
      20_000,
    );
    assert.deepEqual(kept[0]?.status?.containerStatuses?.[0]?.state, {
      terminated: { reason: "OOMKilled", exitCode: 137 },
    });
    assert.deepEqual(
      informersOf(w).map((i) => [i.name, i.relists, i.restarts]),
      informersOf(w).map((i) => [i.name, 0, 0]),
    );
  });
});

describe("a cloud token refresh swaps credentials without a relist", () => {
  const name = uniqueName("token");
  const namespace = uniqueName("worker-informers-hub");
  const podNamespace = uniqueName("worker-informers-token");
  const metrics = new Registry();
  const requests = new Counter({
    name: "test_requests_total",
    help: "worker requests",
    labelNames: ["cluster", "verb"] as const,
    registers: [metrics],
  });
  const identities = ["cloud-a", "cloud-b"];
  let identity = "cloud-a";
  const fetched: string[] = [];
  let offsetMs = 0;
  let cc: HubComputeCluster;
  let registry: ClusterRegistry;
  let reconciler: ComputeClusterReconciler;
  let worker: WorkerCluster;

  /** The kubeconfig of aws-sim (server and CA) whose user has no credentials: the cloud's identity is used. */
  function credentiallessKubeconfig(user: string): string {
    const server = aws.kubeConfig.getCurrentCluster();
    if (!server) throw new Error("aws-sim has no current cluster");
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [server],
      users: [{ name: user }],
      contexts: [{ name: "aws", cluster: server.name, user }],
      currentContext: "aws",
    });
    return kc.exportConfig();
  }

  async function lists(): Promise<number> {
    const values = (await requests.get()).values;
    return values.filter((v) => v.labels.cluster === name && v.labels.verb === "list").reduce((n, v) => n + v.value, 0);
  }

  /** Who the worker says the caller is, asked through the registry's own client. */
  async function whoAmI(w: WorkerCluster): Promise<string | undefined> {
    const review = await w.client.request<{ status?: { userInfo?: { username?: string } } }>({
      method: "POST",
      path: "/apis/authentication.k8s.io/v1/selfsubjectreviews",
      body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview", metadata: {} },
    });
    return review.status?.userInfo?.username;
  }

  before(async () => {
    for (const sa of identities) applyShippedRbac("aws-sim", sa);
    await aws.core.createNamespace({ body: { metadata: { name: podNamespace } } });
    cc = await hubComputeCluster(name, namespace, credentiallessKubeconfig("eks"));
    // Watches of quiet collections are reconnected every 2 s, so a reconnect after the refresh is seen soon.
    registry = new ClusterRegistry({
      logger: silentLogger(),
      onChange: () => {},
      apiRequests: requests,
      watchIdleTimeoutMs: 2_000,
    });
    const tokens = new CloudTokens({
      eks: async (clusterName, region) => {
        assert.deepEqual([clusterName, region], ["aws-sim", "us-east-1"]);
        fetched.push(identity);
        const token = await operatorToken("aws-sim", 3600, identity);
        return { token, expiresAt: new Date(Date.now() + 10 * 60_000) };
      },
      aks: () => Promise.reject(new Error("not an AKS cluster")),
      now: () => Date.now() + offsetMs,
    });
    reconciler = cc.reconciler(registry, { cloudIdentity: tokens });
  });
  after(async () => {
    registry.disconnectAll();
    await cc.remove();
    await aws.core.deleteNamespace({ name: podNamespace }).catch(() => {});
    for (const sa of identities) {
      await aws.core.deleteNamespacedServiceAccount({ namespace: OPERATOR_NAMESPACE, name: sa }).catch(() => {});
    }
  });

  it("connects with the first identity's token", async () => {
    await cc.reconcileFresh(reconciler);
    const w = registry.get(name);
    assert.ok(w, "connected");
    worker = w;
    await waitSynced(worker);
    assert.deepEqual(fetched, ["cloud-a"]);
    assert.equal(await whoAmI(worker), `system:serviceaccount:${OPERATOR_NAMESPACE}:cloud-a`);
    assert.ok(!worker.version.includes(".") && worker.version.endsWith("/eks-token:us-east-1/aws-sim"), worker.version);
  });

  it("a refreshed token is used by the next request, on the same connection, without a list", async () => {
    const listsBefore = await lists();
    assert.ok(listsBefore >= 4, `the first lists were counted (${listsBefore})`);
    identity = "cloud-b";
    offsetMs = 6 * 60_000; // within the 5-minute refresh margin of the token's expiry
    await cc.reconcileFresh(reconciler);
    assert.deepEqual(fetched, ["cloud-a", "cloud-b"], "the token was fetched again");
    assert.equal(registry.get(name), worker, "the same connection");
    assert.equal(await whoAmI(worker), `system:serviceaccount:${OPERATOR_NAMESPACE}:cloud-b`);
    assert.equal(await lists(), listsBefore, "no list request");
    assert.deepEqual(
      informersOf(worker).map((i) => [i.name, i.lists, i.relists]),
      informersOf(worker).map((i) => [i.name, 1, 0]),
    );
  });

  it("watches that reconnect after the old identity is gone carry the new token: no 401, restart or relist", async () => {
    const listsBefore = await lists();
    const tokenA = await operatorToken("aws-sim", 600, "cloud-a");
    const asA = tokenKubeconfig("aws-sim", tokenA).makeApiClient(CoreV1Api);
    await asA.listNamespace({ limit: 1 }).catch((err: unknown) => assert.match(String(err), /403|Forbidden/));
    await aws.core.deleteNamespacedServiceAccount({ namespace: OPERATOR_NAMESPACE, name: "cloud-a" });
    // The control: from now on the old identity's tokens are refused.
    await eventually(
      "a token of the deleted identity to be refused",
      () =>
        asA.listNamespace({ limit: 1 }).then(
          () => "accepted",
          (err: unknown) => String(err),
        ),
      (outcome) => /401|Unauthorized/.test(outcome),
      15_000,
    );
    const timeoutsBefore = informersOf(worker).map((i) => i.watchTimeouts);
    await eventually(
      "every watch to reconnect twice",
      () => Promise.resolve(informersOf(worker).map((i, k) => i.watchTimeouts - (timeoutsBefore[k] ?? 0))),
      (d) => d.every((n) => n >= 2),
      30_000,
    );
    await eventually(
      "a pod to be created",
      () => aws.core.createNamespacedPod({ namespace: podNamespace, body: heavyPod("after-refresh", podNamespace) }),
      Boolean,
    );
    await eventually(
      "the pod in the capacity cache, through a watch opened with the new token",
      () => Promise.resolve(worker.pods.get(podNamespace, "after-refresh")),
      Boolean,
      15_000,
    );
    assert.deepEqual(
      informersOf(worker).map((i) => [i.name, i.restarts, i.relists]),
      informersOf(worker).map((i) => [i.name, 0, 0]),
    );
    assert.equal(await lists(), listsBefore, "no list request");
  });

  it("a kubeconfig Secret change still reconnects", async () => {
    await hub.core.replaceNamespacedSecret({
      namespace,
      name: "kubeconfig",
      body: {
        metadata: { name: "kubeconfig", namespace },
        stringData: { kubeconfig: credentiallessKubeconfig("eks2") },
      },
    });
    await cc.reconcileFresh(reconciler);
    const next = registry.get(name);
    assert.ok(next && next !== worker, "a new connection");
    assert.notEqual(next.version, worker.version);
    await waitSynced(next);
    assert.equal(await whoAmI(next), `system:serviceaccount:${OPERATOR_NAMESPACE}:cloud-b`);
  });
});
