// The operator's identities in the sandbox, as the Helm charts make them: the hub chart's
// ServiceAccount and RBAC on the hub (`helm template --show-only`, applied with kubectl), and on
// each worker the worker chart installed for real (`helm upgrade --install`), whose role is bound
// to the group crosscloud:operators and, standing in for the cloud identity that EKS or AKS would
// map to that group, to ServiceAccounts crosscloud-operator (and others a suite asks for), whose
// tokens come from the TokenRequest API. The suite's operator runs with these kubeconfigs (its
// KUBECONFIG for the hub, the ComputeClusters' kubeconfig Secrets for the workers), so a verb the
// charts' roles lack fails the suite. test/integration/helm.test.ts checks that the charts and the
// kustomize bases in deploy/ render the same objects.

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { AuthorizationV1Api, KubeConfig, type V1ResourceAttributes } from "@kubernetes/client-node";
import { REPO_ROOT, STATE_DIR } from "../../scripts/sandbox/paths.ts";
import { kubeconfigPath } from "../../scripts/sandbox/sandbox.ts";
import { clients, kubectl, type SandboxCluster } from "./sandbox.ts";
import { runTool } from "./tools.ts";

export const OPERATOR_NAMESPACE = "crosscloud-system";
export const OPERATOR_SERVICE_ACCOUNT = "crosscloud-operator";
/** The Kubernetes group the worker chart binds its role to (EKS access entries and AKS map identities to it). */
export const OPERATORS_GROUP = "crosscloud:operators";

const TOKEN_SECONDS = 24 * 3600;

/** The charts, and the hub chart's release name (its objects are then named as deploy/operator names them). */
export const HUB_CHART = join(REPO_ROOT, "deploy", "helm", "crosscloud-operator");
export const WORKER_CHART = join(REPO_ROOT, "deploy", "helm", "crosscloud-worker");
export const HUB_RELEASE = "crosscloud-operator";
/** The worker chart's release on each sandbox worker, in OPERATOR_NAMESPACE. */
export const WORKER_RELEASE = "crosscloud-worker";
/**
 * The worker roles the worker chart makes (the default role alone, by default). The sandbox's
 * release names them apart from the chart's default names (fullnameOverride), with the same rules:
 * deploy.test.ts dry-runs deploy/worker, whose binding (the group alone) must not meet this one's
 * subjects (the group and the stand-in ServiceAccounts) in a server-side apply conflict.
 */
export const WORKER_ROLE = "crosscloud-operator-worker-sandbox";
export const STORE_CREDENTIALS_ROLE = `${WORKER_ROLE}-store-credentials`;

type ServiceAccountSubject = { name: string; namespace: string };
/** The worker chart's values the sandbox sets. */
interface WorkerValues {
  fullnameOverride: string;
  subjects: { groups: string[]; serviceAccounts: ServiceAccountSubject[] };
  storeCredentials: { enabled: boolean; subjects: { serviceAccounts: ServiceAccountSubject[] } };
}

function run(cluster: SandboxCluster, args: readonly string[], input?: string): void {
  const r = kubectl(cluster, args, input);
  if (r.status !== 0) throw new Error(`kubectl ${args.join(" ")} on ${cluster} failed: ${r.stderr}`);
}

/** Runs helm against `cluster` (its admin kubeconfig); throws with helm's error unless it succeeds. */
export function helm(cluster: SandboxCluster, args: readonly string[], input?: string): string {
  const all = [...args, "--kubeconfig", kubeconfigPath(cluster)];
  const r = runTool("helm", all, { input });
  if (r.status !== 0) throw new Error(`helm ${all.join(" ")} failed (exit ${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** The values of `release` on `cluster` as the user gave them, or undefined when there is no such release. */
function releaseValues(cluster: SandboxCluster, release: string, namespace: string): Partial<WorkerValues> | undefined {
  const r = runTool("helm", [
    "get",
    "values",
    release,
    "-n",
    namespace,
    "-o",
    "json",
    "--kubeconfig",
    kubeconfigPath(cluster),
  ]);
  if (r.status !== 0) {
    if (/not found/i.test(r.stderr)) return undefined;
    throw new Error(`helm get values ${release} on ${cluster} failed: ${r.stderr}`);
  }
  return (JSON.parse(r.stdout || "null") ?? {}) as Partial<WorkerValues>;
}

/** `list` with `sa` (added last when missing) when `keep`, else without it. */
function withSubject(list: readonly ServiceAccountSubject[], sa: ServiceAccountSubject, keep: boolean) {
  const others = list.filter((s) => s.name !== sa.name || s.namespace !== sa.namespace);
  if (!keep) return others;
  return others.length < list.length ? [...list] : [...list, sa];
}

/**
 * The worker chart on `cluster`: its role bound to crosscloud:operators and, when `roles` has
 * WORKER_ROLE, to `serviceAccount`; its store-credentials role bound to `serviceAccount` when `roles`
 * has STORE_CREDENTIALS_ROLE (to ServiceAccounts only: the group keeps the default role alone, which
 * rbac.test.ts checks). ServiceAccounts bound before stay bound: the release's values carry them.
 */
function installWorkerChart(cluster: SandboxCluster, serviceAccount: string, roles: readonly string[]): void {
  const before = releaseValues(cluster, WORKER_RELEASE, OPERATOR_NAMESPACE);
  const sa = { name: serviceAccount, namespace: OPERATOR_NAMESPACE };
  const values: WorkerValues = {
    fullnameOverride: WORKER_ROLE,
    subjects: {
      groups: [OPERATORS_GROUP],
      serviceAccounts: withSubject(before?.subjects?.serviceAccounts ?? [], sa, roles.includes(WORKER_ROLE)),
    },
    storeCredentials: {
      enabled: false,
      subjects: {
        serviceAccounts: withSubject(
          before?.storeCredentials?.subjects?.serviceAccounts ?? [],
          sa,
          roles.includes(STORE_CREDENTIALS_ROLE),
        ),
      },
    },
  };
  values.storeCredentials.enabled = values.storeCredentials.subjects.serviceAccounts.length > 0;
  if (before && isDeepStrictEqual(before, values)) return;
  // --take-ownership: objects of this name applied before by other means are adopted.
  helm(
    cluster,
    [
      "upgrade",
      "--install",
      WORKER_RELEASE,
      WORKER_CHART,
      "-n",
      OPERATOR_NAMESPACE,
      "--take-ownership",
      "--history-max",
      "3",
      "-f",
      "-",
    ],
    JSON.stringify(values),
  );
}

/**
 * Applies the charts' RBAC: on the hub the hub chart's ServiceAccount and roles (rendered with
 * `helm template --show-only`, applied with kubectl); on a worker a ServiceAccount `serviceAccount`
 * (the cloud identity's stand-in) and the worker chart installed with it as a subject of `roles`.
 * The sandbox's ComputeClusters give their pods the store credentials (podCredentials: Secret), so
 * the suite's operator gets the chart's store-credentials role too.
 */
export function applyShippedRbac(
  cluster: SandboxCluster,
  serviceAccount = OPERATOR_SERVICE_ACCOUNT,
  roles: readonly string[] = [WORKER_ROLE, STORE_CREDENTIALS_ROLE],
): void {
  const namespace = { apiVersion: "v1", kind: "Namespace", metadata: { name: OPERATOR_NAMESPACE } };
  if (cluster === "hub") {
    run(cluster, ["apply", "-f", "-"], JSON.stringify(namespace));
    const rendered = helm(cluster, [
      "template",
      HUB_RELEASE,
      HUB_CHART,
      "-n",
      OPERATOR_NAMESPACE,
      "--show-only",
      "templates/serviceaccount.yaml",
      "--show-only",
      "templates/rbac.yaml",
    ]);
    run(cluster, ["apply", "-f", "-"], rendered);
    return;
  }
  const identity = {
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: { name: serviceAccount, namespace: OPERATOR_NAMESPACE },
  };
  run(cluster, ["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "List", items: [namespace, identity] }));
  installWorkerChart(cluster, serviceAccount, roles);
}

/** A token of a ServiceAccount of the operator's namespace on `cluster` (default the operator's), from the TokenRequest API. */
export async function operatorToken(
  cluster: SandboxCluster,
  seconds = TOKEN_SECONDS,
  serviceAccount = OPERATOR_SERVICE_ACCOUNT,
): Promise<string> {
  const made = await clients(cluster).core.createNamespacedServiceAccountToken({
    namespace: OPERATOR_NAMESPACE,
    name: serviceAccount,
    body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { expirationSeconds: seconds } },
  });
  const token = made.status?.token;
  if (!token) throw new Error(`TokenRequest for ${serviceAccount} on ${cluster} returned no token`);
  return token;
}

/** A kubeconfig for `cluster` (its server and CA, as the sandbox's admin kubeconfig has them) authenticating with `token`. */
export function tokenKubeconfig(cluster: SandboxCluster, token: string): KubeConfig {
  const admin = clients(cluster).kubeConfig;
  const server = admin.getCurrentCluster();
  if (!server) throw new Error(`the sandbox kubeconfig of ${cluster} has no current cluster`);
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [server],
    users: [{ name: OPERATOR_SERVICE_ACCOUNT, token }],
    contexts: [{ name: cluster, cluster: server.name, user: OPERATOR_SERVICE_ACCOUNT }],
    currentContext: cluster,
  });
  return kc;
}

/** The operator's kubeconfig for `cluster` (RBAC applied, a fresh token) as YAML-compatible JSON text. */
export async function operatorKubeconfig(cluster: SandboxCluster): Promise<string> {
  applyShippedRbac(cluster);
  return tokenKubeconfig(cluster, await operatorToken(cluster)).exportConfig();
}

/** Where the operator process's hub kubeconfig is written (by prepareHub). */
export function operatorHubKubeconfigPath(): string {
  return join(STATE_DIR, "operator", "hub.kubeconfig");
}

/** Writes the operator's hub kubeconfig (operatorHubKubeconfigPath) and returns its path. */
export async function writeOperatorHubKubeconfig(): Promise<string> {
  const path = operatorHubKubeconfigPath();
  mkdirSync(join(STATE_DIR, "operator"), { recursive: true });
  writeFileSync(path, await operatorKubeconfig("hub"), { mode: 0o600 });
  return path;
}

/** A request's attributes, as a SubjectAccessReview asks about them. */
export type Access = Pick<V1ResourceAttributes, "verb" | "resource" | "namespace" | "group" | "subresource" | "name">;

/** Whether the API server of `cluster` lets `who` do `a` (SubjectAccessReview, asked as the sandbox's admin). */
export async function subjectAllowed(
  cluster: SandboxCluster,
  who: { user: string; groups?: string[] },
  a: Access,
): Promise<boolean> {
  const review = await clients(cluster)
    .kubeConfig.makeApiClient(AuthorizationV1Api)
    .createSubjectAccessReview({
      body: {
        apiVersion: "authorization.k8s.io/v1",
        kind: "SubjectAccessReview",
        spec: { ...who, resourceAttributes: a },
      },
    });
  return review.status?.allowed === true;
}
