// Connects to a worker whose kubeconfig has no credentials with the cloud's
// identity: the kubeconfig's user gets an EKS or AKS bearer token from a
// holder kept per cluster, which each request reads. A renewed token is put
// into that holder, and the connection's version leaves the token out, so a
// renewal neither reconnects nor relists; a change of the kubeconfig Secret
// (server, CA, user) still gives a new version and a new connection.

import type { ComputeCluster } from "../../api/computecluster.ts";
import {
  BearerToken,
  type CloudTokens,
  type ClusterAuth,
  clusterAuthFor,
  withBearerToken,
} from "../../clusters/cloud-auth.ts";
import type { KubeconfigSource } from "../../clusters/kubeconfig.ts";

export type CloudIdentity = CloudTokens;

/** The connection's version with cloud identity: the kubeconfig's, and which identity; never the token. */
export function identityVersion(kubeconfigVersion: string, auth: Exclude<ClusterAuth, { kind: "kubeconfig" }>): string {
  return auth.kind === "eks"
    ? `${kubeconfigVersion}/eks-token:${auth.region}/${auth.clusterName}`
    : `${kubeconfigVersion}/aks-token`;
}

/** The bearer token holder of each cluster connected with cloud identity. */
export class CloudCredentials {
  readonly #identity: CloudIdentity | undefined;
  readonly #held = new Map<string, BearerToken>();

  constructor(identity: CloudIdentity | undefined) {
    this.#identity = identity;
  }

  /**
   * `source` as it is, or, when its user has no credentials, a copy whose user sends the cluster's cloud
   * token; the holder gets the current token (fetched again near its expiry) on every call.
   */
  async apply(source: KubeconfigSource, cc: ComputeCluster): Promise<KubeconfigSource> {
    const identity = this.#identity;
    if (!source.ok || !identity) return source;
    const name = cc.metadata.name ?? "";
    const auth: ClusterAuth = clusterAuthFor(source.kubeConfig.getCurrentUser(), cc);
    if (auth.kind === "kubeconfig") {
      this.#held.delete(name);
      return source;
    }
    try {
      const token = (await identity.token(name, auth)).token;
      const holder = this.#held.get(name) ?? new BearerToken(token);
      holder.set(token);
      this.#held.set(name, holder);
      return {
        ok: true,
        kubeConfig: withBearerToken(source.kubeConfig, holder),
        version: identityVersion(source.version, auth),
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

  /** Drops the holder of a cluster whose ComputeCluster is gone. */
  forget(name: string): void {
    this.#held.delete(name);
  }
}
