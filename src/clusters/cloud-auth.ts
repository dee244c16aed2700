// Cloud identity for worker clusters whose kubeconfig carries no credentials:
// an EKS token (presigned STS GetCallerIdentity, signed with the default AWS
// credentials) or an AKS Entra ID token (@azure/identity), sent as a bearer
// token that each request reads from a holder (BearerToken), so a refresh
// swaps it in place: no new connection, no relist. The decision of which to
// use is pure; fetching is injected.

import type { User } from "@kubernetes/client-node";
import type { ComputeCluster } from "../api/computecluster.ts";
import type { KubeConfigView } from "../kube/config.ts";
import { DEFAULT_CALL_TIMEOUT_MS, seconds, timeoutSignal } from "../providers/retry.ts";

/** How the operator authenticates to a worker's API server. */
export type ClusterAuth =
  | { readonly kind: "kubeconfig" }
  | { readonly kind: "eks"; readonly clusterName: string; readonly region: string }
  | { readonly kind: "aks" };

/** True when the kubeconfig user can authenticate by itself (token, client certificate, exec or auth provider, basic). */
export function userHasCredentials(user: User | null | undefined): boolean {
  if (!user) return false;
  const cert = Boolean(user.certData || user.certFile) && Boolean(user.keyData || user.keyFile);
  return Boolean(user.token || user.exec || user.authProvider || user.username || cert);
}

/** Kubeconfig credentials when it has them; else the identity of the ComputeCluster's cloud. */
export function clusterAuthFor(user: User | null | undefined, cc: ComputeCluster): ClusterAuth {
  if (userHasCredentials(user)) return { kind: "kubeconfig" };
  if (cc.spec.cloud === "aws" && cc.spec.aws) {
    return { kind: "eks", clusterName: cc.spec.aws.clusterName, region: cc.spec.aws.region };
  }
  if (cc.spec.cloud === "azure") return { kind: "aks" };
  return { kind: "kubeconfig" };
}

/**
 * A bearer token that every request made with a kubeconfig of withBearerToken reads when it is sent
 * (API calls and each watch request alike): set() swaps it for the requests that follow, while a
 * watch already open goes on with the token it was opened with.
 */
export class BearerToken {
  #token: string;

  constructor(token: string) {
    this.#token = token;
  }

  get token(): string {
    return this.#token;
  }

  set(token: string): void {
    this.#token = token;
  }
}

/** `kc` whose requests authenticate with the token `holder` holds at the time of each request. */
export function withBearerToken(kc: KubeConfigView, holder: BearerToken): KubeConfigView {
  return {
    get clusters() {
      return kc.clusters;
    },
    get users() {
      return kc.users;
    },
    get contexts() {
      return kc.contexts;
    },
    getCurrentContext: () => kc.getCurrentContext(),
    getContextObject: (name) => kc.getContextObject(name),
    getCurrentCluster: () => kc.getCurrentCluster(),
    getCurrentUser: () => kc.getCurrentUser(),
    applyToHTTPSOptions: async (opts) => {
      await kc.applyToHTTPSOptions(opts);
      opts.headers = { ...opts.headers, Authorization: `Bearer ${holder.token}` };
    },
  };
}

export interface CloudToken {
  readonly token: string;
  readonly expiresAt: Date;
}

export interface CloudTokenSources {
  /** Fetches a token; `signal` aborts when the deadline passes (a source that cannot stop is left behind). */
  readonly eks: (clusterName: string, region: string, signal: AbortSignal) => Promise<CloudToken>;
  readonly aks: (signal: AbortSignal) => Promise<CloudToken>;
  /** Refresh this long before a token expires. Default 5 minutes. */
  readonly refreshBeforeMs?: number;
  /** A token not there this long fails the fetch, naming the cluster. Default: CLOUD_CALL_TIMEOUT_MS, else 30 s. */
  readonly timeoutMs?: number;
  readonly now?: () => number;
}

/**
 * How long an EKS token is used. The presigned URL says 60 s, but EKS accepts
 * a token for 15 minutes after signing, and `aws eks get-token` reports an
 * expiry 14 minutes out; the operator renews after 10.
 */
export const EKS_TOKEN_REUSE_MS = 10 * 60_000;

/** Tokens by cluster, fetched when missing or close to expiry. */
export class CloudTokens {
  readonly #o: CloudTokenSources;
  readonly #cache = new Map<string, CloudToken>();

  constructor(sources: CloudTokenSources) {
    this.#o = sources;
  }

  /**
   * A valid token for `auth` (not "kubeconfig"), cached under `key`. A fetch that takes longer than
   * the deadline, or that `signal` aborts, rejects at once, naming the cluster and the deadline.
   */
  async token(
    key: string,
    auth: Exclude<ClusterAuth, { kind: "kubeconfig" }>,
    signal?: AbortSignal,
  ): Promise<CloudToken> {
    const now = (this.#o.now ?? Date.now)();
    const cached = this.#cache.get(key);
    if (cached && cached.expiresAt.getTime() - (this.#o.refreshBeforeMs ?? 300_000) > now) return cached;
    const timeoutMs = this.#o.timeoutMs ?? envTimeoutMs() ?? DEFAULT_CALL_TIMEOUT_MS;
    const timer = timeoutSignal(timeoutMs);
    const deadline = timer.signal;
    const stop = signal ? AbortSignal.any([signal, deadline]) : deadline;
    const fetch = auth.kind === "eks" ? this.#o.eks(auth.clusterName, auth.region, stop) : this.#o.aks(stop);
    const fresh = await untilAborted(fetch, stop, () =>
      deadline.aborted && !signal?.aborted
        ? new Error(`the ${auth.kind.toUpperCase()} token for cluster ${key} did not come within ${seconds(timeoutMs)}`)
        : new Error(`fetching the ${auth.kind.toUpperCase()} token for cluster ${key} was aborted`),
    ).finally(() => timer.clear());
    this.#cache.set(key, fresh);
    return fresh;
  }
}

function envTimeoutMs(): number | undefined {
  const ms = Number(process.env.CLOUD_CALL_TIMEOUT_MS);
  return Number.isInteger(ms) && ms > 0 ? ms : undefined;
}

/** `work`, or the error of `failure()` as soon as `signal` aborts (the work is left to finish on its own). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal, failure: () => Error): Promise<T> {
  if (signal.aborted) return Promise.reject(failure());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(failure());
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}

/** Token sources for real clouds: the default AWS credential chain, and an @azure/identity credential. */
export function defaultCloudTokenSources(azure: () => Promise<import("@azure/identity").TokenCredential>) {
  return {
    eks: async (clusterName: string, region: string): Promise<CloudToken> => {
      // The default chain has no AbortSignal: CloudTokens stops waiting for it at the deadline.
      const [{ fromNodeProviderChain }, { eksToken }] = await Promise.all([
        import("@aws-sdk/credential-providers"),
        import("../providers/eks/token.ts"),
      ]);
      const credentials = await fromNodeProviderChain()();
      const now = new Date();
      const t = await eksToken({ clusterName, region, credentials, now });
      // Renewed after EKS_TOKEN_REUSE_MS plus the refresh margin.
      return { token: t.token, expiresAt: new Date(now.getTime() + EKS_TOKEN_REUSE_MS + 300_000) };
    },
    aks: async (signal: AbortSignal): Promise<CloudToken> => {
      const { aksToken } = await import("../providers/aks/token.ts");
      return aksToken(await azure(), signal);
    },
  } satisfies CloudTokenSources;
}
