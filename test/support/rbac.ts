// The operator's identities in the sandbox, as deploy/ ships them: deploy/operator's RBAC on the
// hub, deploy/worker's role on each worker, each given to a ServiceAccount crosscloud-operator,
// whose tokens come from the TokenRequest API. The suite's operator runs with these kubeconfigs
// (its KUBECONFIG for the hub, the ComputeClusters' kubeconfig Secrets for the workers), so a
// verb the shipped roles lack fails the suite.

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { REPO_ROOT, STATE_DIR } from "../../scripts/sandbox/paths.ts";
import { clients, kubectl, type SandboxCluster } from "./sandbox.ts";

export const OPERATOR_NAMESPACE = "crosscloud-system";
export const OPERATOR_SERVICE_ACCOUNT = "crosscloud-operator";
/** The Kubernetes group deploy/worker binds its role to (EKS access entries and AKS map identities to it). */
export const OPERATORS_GROUP = "crosscloud:operators";

const deploy = (path: string) => join(REPO_ROOT, "deploy", path);
const TOKEN_SECONDS = 24 * 3600;

/** The worker roles deploy/worker binds to crosscloud:operators (the default role alone, by default). */
export const WORKER_ROLE = "crosscloud-operator-worker";
export const STORE_CREDENTIALS_ROLE = "crosscloud-operator-worker-store-credentials";

/**
 * On a sandbox worker a ServiceAccount stands for the cloud identity that EKS or AKS would map to
 * crosscloud:operators: it is bound to the ClusterRoles deploy/worker ships (`roles`).
 */
function sandboxWorkerIdentity(serviceAccount: string, roles: readonly string[]): string {
  const binding = (role: string) => ({
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRoleBinding",
    metadata: { name: `${role}-sandbox-${serviceAccount}` },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: role },
    subjects: [{ kind: "ServiceAccount", name: serviceAccount, namespace: OPERATOR_NAMESPACE }],
  });
  const items = [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: OPERATOR_NAMESPACE } },
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: serviceAccount, namespace: OPERATOR_NAMESPACE } },
    ...roles.map(binding),
  ];
  return JSON.stringify({ apiVersion: "v1", kind: "List", items });
}

function run(cluster: SandboxCluster, args: readonly string[], input?: string): void {
  const r = kubectl(cluster, args, input);
  if (r.status !== 0) throw new Error(`kubectl ${args.join(" ")} on ${cluster} failed: ${r.stderr}`);
}

/**
 * Applies the shipped RBAC: deploy/operator's on the hub; on a worker, deploy/worker's roles and a
 * ServiceAccount bound to them. The sandbox's ComputeClusters give their pods the store credentials
 * (podCredentials: Secret), so the suite's operator gets deploy/worker/store-credentials' role too.
 */
export function applyShippedRbac(
  cluster: SandboxCluster,
  serviceAccount = OPERATOR_SERVICE_ACCOUNT,
  roles: readonly string[] = [WORKER_ROLE, STORE_CREDENTIALS_ROLE],
): void {
  if (cluster === "hub") {
    run(cluster, ["apply", "-f", deploy("operator/namespace.yaml"), "-f", deploy("operator/rbac.yaml")]);
    return;
  }
  run(cluster, ["apply", "-k", deploy("worker")]);
  run(cluster, ["apply", "-f", deploy("worker/store-credentials/clusterrole.yaml")]);
  run(cluster, ["apply", "-f", "-"], sandboxWorkerIdentity(serviceAccount, roles));
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
