// Turns a ComputeCluster into a KubeConfig for its API server: the kubeconfig
// in its Secret, or the operator's own cluster when it names none.

import type { ComputeCluster } from "../api/computecluster.ts";
import { KubeConfig, type KubeConfigView } from "../kube/config.ts";
import { ignoreNotFound } from "../runtime/api-errors.ts";
import { SECRET_OUTSIDE_NAMESPACE, secretRefRefusal } from "./secret-refs.ts";
import type { SecretReader } from "./secrets.ts";

export type KubeconfigSource =
  | { readonly ok: true; readonly kubeConfig: KubeConfigView; readonly version: string }
  | {
      readonly ok: false;
      readonly reason: "SecretNotFound" | "InvalidKubeconfig" | "CloudIdentityFailed" | typeof SECRET_OUTSIDE_NAMESPACE;
      readonly message: string;
    };

/**
 * Reads the ComputeCluster's kubeconfig; `version` changes when the Secret does. A Secret outside
 * `secretNamespace` (the operator's namespace; undefined: any) is refused without being read.
 */
export async function kubeconfigFor(
  cc: ComputeCluster,
  hub: KubeConfigView,
  core: SecretReader,
  secretNamespace?: string,
): Promise<KubeconfigSource> {
  const ref = cc.spec.kubeconfigSecretRef;
  if (!ref) return { ok: true, kubeConfig: hub, version: "in-cluster" };
  const refused = secretRefRefusal("spec.kubeconfigSecretRef", ref, secretNamespace);
  if (refused) return { ok: false, reason: SECRET_OUTSIDE_NAMESPACE, message: refused };
  const where = `Secret ${ref.namespace}/${ref.name}`;
  const secret = await ignoreNotFound(core.readNamespacedSecret({ namespace: ref.namespace, name: ref.name }));
  if (!secret) {
    return {
      ok: false,
      reason: "SecretNotFound",
      message: `${where} (spec.kubeconfigSecretRef) does not exist: create it with the worker's kubeconfig under key ${ref.key}`,
    };
  }
  const data = secret.data?.[ref.key];
  if (!data) {
    return {
      ok: false,
      reason: "InvalidKubeconfig",
      message: `${where} has no key "${ref.key}" (spec.kubeconfigSecretRef.key); its keys: ${Object.keys(secret.data ?? {}).join(", ") || "none"}`,
    };
  }
  const kubeConfig = new KubeConfig();
  try {
    kubeConfig.loadFromString(Buffer.from(data, "base64").toString("utf8"));
  } catch (err) {
    return {
      ok: false,
      reason: "InvalidKubeconfig",
      message: `${where} key "${ref.key}" is not a kubeconfig: ${(err as Error).message}`,
    };
  }
  if (!kubeConfig.getCurrentCluster()) {
    return {
      ok: false,
      reason: "InvalidKubeconfig",
      message: `${where} key "${ref.key}" has no current cluster: set current-context`,
    };
  }
  return { ok: true, kubeConfig, version: secret.metadata?.resourceVersion ?? "" };
}
