// Connects to a worker whose kubeconfig has no credentials with the cloud's
// identity: the kubeconfig's user gets an EKS or AKS bearer token, and the
// connection's version changes with the token, so the registry reconnects
// when it is renewed.

import type { ComputeCluster } from "../../api/computecluster.ts";
import { type CloudTokens, type ClusterAuth, clusterAuthFor, withBearerToken } from "../../clusters/cloud-auth.ts";
import type { KubeconfigSource } from "../../clusters/kubeconfig.ts";

export type CloudIdentity = CloudTokens;

/** `source` as it is, or with a cloud token when its user has no credentials. */
export async function withCloudIdentity(
  source: KubeconfigSource,
  cc: ComputeCluster,
  identity: CloudIdentity | undefined,
): Promise<KubeconfigSource> {
  if (!source.ok || !identity) return source;
  const auth: ClusterAuth = clusterAuthFor(source.kubeConfig.getCurrentUser(), cc);
  if (auth.kind === "kubeconfig") return source;
  try {
    const token = await identity.token(cc.metadata.name ?? "", auth);
    return {
      ok: true,
      kubeConfig: withBearerToken(source.kubeConfig, token.token),
      version: `${source.version}/token-until-${token.expiresAt.toISOString()}`,
    };
  } catch (err) {
    const who = auth.kind === "eks" ? "an EKS token (default AWS credentials)" : "an AKS token (@azure/identity)";
    return {
      ok: false,
      reason: "CloudIdentityFailed",
      message: `the kubeconfig's user has no credentials and getting ${who} failed: ${(err as Error).message}`,
    };
  }
}
