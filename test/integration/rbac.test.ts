// The shipped RBAC holds: what the operator must not do is forbidden to the
// identities it runs with (deploy/operator on the hub, deploy/worker on the
// workers), asked of the API servers themselves (access reviews) and tried
// for real with its tokens; and a ComputeCluster naming a Secret outside the
// operator's namespace is refused with a condition naming the field. Every
// other suite that starts the operator runs it with these identities.

import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { AuthorizationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import { S3_ACCESS_KEY, S3_SECRET_KEY } from "../../scripts/sandbox/sandbox.ts";
import { GROUP, VERSION } from "../../src/api/common.ts";
import type { ComputeCluster } from "../../src/api/computecluster.ts";
import { LABEL_JOB_UID } from "../../src/workload/names.ts";
import { getCluster } from "../support/failover.ts";
import { withOperator } from "../support/operator.ts";
import {
  type Access,
  applyShippedRbac,
  OPERATOR_NAMESPACE,
  OPERATORS_GROUP,
  operatorHubKubeconfigPath,
  operatorToken,
  subjectAllowed,
  tokenKubeconfig,
  WORKER_ROLE,
} from "../support/rbac.ts";
import { clients, eventually, type SandboxCluster } from "../support/sandbox.ts";
import { aTrainingJob } from "../support/trainingjob.ts";

const show = (a: Access) =>
  `${a.verb} ${a.group ? `${a.group}/` : ""}${a.resource}${a.subresource ? `/${a.subresource}` : ""}${a.namespace ? ` in ${a.namespace}` : " (all namespaces)"}`;

/** What the token's identity may do, as the API server's authorizer answers. */
async function allowedWith(kubeConfig: KubeConfig, a: Access): Promise<boolean> {
  const review = await kubeConfig.makeApiClient(AuthorizationV1Api).createSelfSubjectAccessReview({
    body: { apiVersion: "authorization.k8s.io/v1", kind: "SelfSubjectAccessReview", spec: { resourceAttributes: a } },
  });
  return review.status?.allowed === true;
}

/** What a member of crosscloud:operators (an EKS access entry's or AKS Entra group's identity) may do on `cluster`. */
function groupAllowed(cluster: SandboxCluster, a: Access): Promise<boolean> {
  return subjectAllowed(
    cluster,
    { user: "arn:aws:iam::111122223333:role/crosscloud-operator", groups: [OPERATORS_GROUP] },
    a,
  );
}

async function expectAccess(ask: (a: Access) => Promise<boolean>, allowed: Access[], denied: Access[]) {
  const wrong: string[] = [];
  for (const a of allowed) if (!(await ask(a))) wrong.push(`should be allowed: ${show(a)}`);
  for (const a of denied) if (await ask(a)) wrong.push(`should be forbidden: ${show(a)}`);
  assert.deepEqual(wrong, []);
}

async function rejectsWith403(what: string, call: Promise<unknown>): Promise<void> {
  await assert.rejects(call, (err: { code?: number }) => err.code === 403, `${what} should be forbidden (403)`);
}

const tj = { group: GROUP, resource: "trainingjobs" };

describe("the shipped RBAC", { timeout: 180_000 }, () => {
  // The S3 server's keys in the operator's env: the default credential chain serves a cluster that
  // names no credentials Secret (the "least" cluster below).
  const { tjs } = withOperator("rbac", {
    HEARTBEAT_MS: "1000",
    AWS_ACCESS_KEY_ID: S3_ACCESS_KEY,
    AWS_SECRET_ACCESS_KEY: S3_SECRET_KEY,
  });
  const custom = clients("hub").kubeConfig.makeApiClient(CustomObjectsApi);
  const foreign = ["rbac-foreign-kubeconfig", "rbac-foreign-store", "rbac-least"];
  const createCluster = (name: string, spec: ComputeCluster["spec"]) =>
    custom.createClusterCustomObject({
      group: GROUP,
      version: VERSION,
      plural: "computeclusters",
      body: { apiVersion: `${GROUP}/${VERSION}`, kind: "ComputeCluster", metadata: { name }, spec },
    });
  after(async () => {
    await tjs.deleteAndWait("least").catch(() => {});
    await clients("hub")
      .core.deleteNamespacedSecret({ namespace: OPERATOR_NAMESPACE, name: "rbac-least-kubeconfig" })
      .catch(() => {});
    for (const name of foreign)
      await custom
        .deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: "computeclusters", name })
        .catch(() => {});
  });

  it("lets the operator's hub identity do its work and no more", async () => {
    const hub = new KubeConfig();
    hub.loadFromFile(operatorHubKubeconfigPath());
    await expectAccess(
      (a) => allowedWith(hub, a),
      [
        { ...tj, verb: "watch" },
        { ...tj, verb: "patch", namespace: tjs.namespace },
        { ...tj, verb: "update", subresource: "status", namespace: tjs.namespace },
        { group: GROUP, resource: "computeclusters", verb: "patch", subresource: "status" },
        { resource: "events", verb: "create", namespace: tjs.namespace },
        { resource: "secrets", verb: "get", namespace: OPERATOR_NAMESPACE },
        { resource: "secrets", verb: "watch", namespace: OPERATOR_NAMESPACE },
        { group: "coordination.k8s.io", resource: "leases", verb: "update", namespace: OPERATOR_NAMESPACE },
      ],
      [
        { resource: "secrets", verb: "get", namespace: tjs.namespace },
        { resource: "secrets", verb: "get", namespace: "kube-system" },
        { resource: "secrets", verb: "list" },
        { resource: "secrets", verb: "watch", namespace: tjs.namespace },
        { resource: "secrets", verb: "create", namespace: OPERATOR_NAMESPACE },
        { group: "apiextensions.k8s.io", resource: "customresourcedefinitions", verb: "delete" },
        { ...tj, verb: "delete", namespace: tjs.namespace },
        { ...tj, verb: "create", namespace: tjs.namespace },
        { group: GROUP, resource: "computeclusters", verb: "update" },
        { group: "coordination.k8s.io", resource: "leases", verb: "update", namespace: "kube-system" },
        // Workloads on the hub need deploy/operator/in-cluster-worker, which the sandbox does not bind.
        { group: "batch", resource: "jobs", verb: "create", namespace: tjs.namespace },
        { resource: "pods", verb: "create", namespace: tjs.namespace },
        { group: "rbac.authorization.k8s.io", resource: "clusterrolebindings", verb: "create" },
      ],
    );
    const core = hub.makeApiClient(CoreV1Api);
    await clients("hub").core.createNamespacedSecret({
      namespace: tjs.namespace,
      body: { metadata: { name: "not-the-operators" }, stringData: { token: "s3cr3t" } },
    });
    await rejectsWith403(
      "reading a Secret outside the operator's namespace",
      core.readNamespacedSecret({ namespace: tjs.namespace, name: "not-the-operators" }),
    );
  });

  it("gives the crosscloud:operators group on a worker what the operator does there and no more", async () => {
    const ns = tjs.namespace;
    for (const cluster of ["aws-sim", "azure-sim"] as const) {
      await expectAccess(
        (a) => groupAllowed(cluster, a),
        [
          { resource: "namespaces", verb: "create" },
          { group: "batch", resource: "jobs", verb: "watch" },
          { group: "batch", resource: "jobs", verb: "create", namespace: ns },
          { group: "batch", resource: "jobs", verb: "delete", namespace: ns },
          { resource: "services", verb: "patch", namespace: ns },
          { resource: "configmaps", verb: "list" },
          { resource: "pods", verb: "watch" },
          { resource: "pods", verb: "patch", namespace: ns },
          { resource: "nodes", verb: "list" },
          { resource: "events", verb: "list", namespace: ns },
          { resource: "events", verb: "watch" },
          { group: "resource.nvidia.com", resource: "computedomains", verb: "create", namespace: ns },
          { group: "resource.nvidia.com", resource: "computedomains", verb: "list" },
          { group: "resource.nvidia.com", resource: "computedomains", verb: "delete", namespace: ns },
        ],
        [
          { resource: "secrets", verb: "get", namespace: "kube-system" },
          { resource: "secrets", verb: "list" },
          { resource: "secrets", verb: "create", namespace: ns },
          { resource: "events", verb: "create", namespace: ns },
          { resource: "pods", verb: "create", namespace: ns },
          { resource: "pods", verb: "delete", namespace: ns },
          { resource: "pods", verb: "update", namespace: ns },
          { resource: "pods", subresource: "exec", verb: "create", namespace: ns },
          { resource: "nodes", verb: "patch" },
          { resource: "nodes", verb: "delete" },
          { resource: "namespaces", verb: "delete" },
          { resource: "serviceaccounts", subresource: "token", verb: "create", namespace: ns },
          { group: "apps", resource: "deployments", verb: "create", namespace: ns },
          { group: "rbac.authorization.k8s.io", resource: "rolebindings", verb: "create", namespace: ns },
          { group: "resource.k8s.io", resource: "resourceclaimtemplates", verb: "create", namespace: ns },
        ],
      );
    }
  });

  it("refuses for real what the operator's worker token must not do", async () => {
    const worker = tokenKubeconfig("aws-sim", await operatorToken("aws-sim", 600)).makeApiClient(CoreV1Api);
    const nodeName = (await clients("aws-sim").core.listNode()).items[0]?.metadata?.name ?? "";
    await rejectsWith403(
      "creating a pod directly",
      worker.createNamespacedPod({
        namespace: "default",
        body: { metadata: { name: "rbac-probe" }, spec: { containers: [{ name: "c", image: "busybox" }] } },
      }),
    );
    await rejectsWith403(
      "labelling a node",
      worker.patchNode({ name: nodeName, body: [{ op: "add", path: "/metadata/labels/rbac-probe", value: "x" }] }),
    );
    await rejectsWith403("deleting a namespace", worker.deleteNamespace({ name: "kube-public" }));
  });

  it("refuses a ComputeCluster Secret outside its namespace with a condition naming the field", async () => {
    const base = await getCluster("aws-sim");
    const make = (name: string, spec: Partial<ComputeCluster["spec"]>) =>
      createCluster(name, { ...base.spec, ...spec });
    await make("rbac-foreign-kubeconfig", {
      kubeconfigSecretRef: { namespace: tjs.namespace, name: "not-the-operators", key: "kubeconfig" },
    });
    await make("rbac-foreign-store", {
      checkpointStore: {
        ...base.spec.checkpointStore,
        credentialsSecretRef: { namespace: tjs.namespace, name: "not-the-operators" },
      },
    });
    const refused = (field: string) => (cc: ComputeCluster) =>
      cc.status?.conditions?.some(
        (c) =>
          c.type === "Ready" &&
          c.status === "False" &&
          c.message?.includes(field) === true &&
          c.message.includes(`outside the operator's namespace "${OPERATOR_NAMESPACE}"`),
      ) === true;
    const kubeconfig = await eventually(
      "Ready=False naming spec.kubeconfigSecretRef",
      () => getCluster("rbac-foreign-kubeconfig"),
      refused("spec.kubeconfigSecretRef"),
      30_000,
    );
    const reachable = kubeconfig.status?.conditions?.find((c) => c.type === "Reachable");
    assert.equal(reachable?.reason, "SecretOutsideOperatorNamespace");
    const store = await eventually(
      "Ready=False naming spec.checkpointStore.credentialsSecretRef",
      () => getCluster("rbac-foreign-store"),
      refused("spec.checkpointStore.credentialsSecretRef"),
      30_000,
    );
    assert.equal(store.status?.conditions?.find((c) => c.type === "Ready")?.reason, "SecretOutsideOperatorNamespace");
  });

  it("runs and deletes a job on a worker where it has only deploy/worker's default role (no Secrets)", async () => {
    // A second identity on aws-sim with exactly what crosscloud:operators gets, and a ComputeCluster
    // using it that names no store credentials (the operator's and the pods' own identity reach the
    // store), so nothing is copied to the worker.
    applyShippedRbac("aws-sim", "crosscloud-operator-least", [WORKER_ROLE]);
    const token = await operatorToken("aws-sim", 3600, "crosscloud-operator-least");
    await clients("hub").core.createNamespacedSecret({
      namespace: OPERATOR_NAMESPACE,
      body: {
        metadata: { name: "rbac-least-kubeconfig" },
        stringData: { kubeconfig: tokenKubeconfig("aws-sim", token).exportConfig() },
      },
    });
    const base = await getCluster("aws-sim");
    const {
      credentialsSecretRef: _ref,
      podCredentials: _pods,
      ...store
    } = base.spec.checkpointStore as ComputeCluster["spec"]["checkpointStore"] & { podCredentials?: string };
    await createCluster("rbac-least", {
      ...base.spec,
      kubeconfigSecretRef: { namespace: OPERATOR_NAMESPACE, name: "rbac-least-kubeconfig", key: "kubeconfig" },
      checkpointStore: store,
    });
    await eventually(
      "ComputeCluster rbac-least to be Ready",
      () => getCluster("rbac-least"),
      (cc) => cc.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true,
      60_000,
    );
    await tjs.create(
      aTrainingJob("least")
        .replicas(1)
        .accelerator("trainium1", 16)
        .with((j) => {
          j.spec.placement.clouds = ["aws"];
          j.spec.placement.clusters = ["rbac-least"];
          j.spec.template.metadata = { annotations: { "sandbox.crosscloud.dev/run-for": "900s" } };
        })
        .obj(),
    );
    const running = await tjs.waitForPhase("least", "Running");
    assert.equal(running.status?.placement?.cluster, "rbac-least");
    // Deletion cleans up the worker without any Secret verb there (a 403 listing Secrets used to stop it).
    await tjs.deleteAndWait("least", 60_000);
    const left = await clients("aws-sim").batch.listJobForAllNamespaces({
      labelSelector: `${LABEL_JOB_UID}=${running.metadata.uid}`,
    });
    assert.deepEqual(
      left.items.map((j) => j.metadata?.name),
      [],
    );
  });
});
