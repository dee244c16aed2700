// The cloud node-group provider of each ComputeCluster: an EKS provider from
// spec.aws, an AKS provider from spec.azure (names, region, endpoint), made
// once and remade when that part of the spec changes. Both controllers share
// one registry: the ComputeCluster controller lists groups, the TrainingJob
// controller scales them.

import type { TokenCredential } from "@azure/identity";
import type { ComputeCluster } from "../api/computecluster.ts";
import { createAksClient } from "../providers/aks/client.ts";
import { AksProvider } from "../providers/aks/provider.ts";
import { createEksClient } from "../providers/eks/client.ts";
import { EksProvider } from "../providers/eks/provider.ts";
import { type RetryOptions, validateRetryOptions } from "../providers/retry.ts";
import type { NodeGroupProvider } from "../providers/types.ts";

/** Builds the provider for a ComputeCluster; undefined when its spec names no cloud cluster. */
export type ProviderFactory = (cc: ComputeCluster) => NodeGroupProvider | undefined;

/**
 * A static bearer token for ARM, for the sandbox's cloud simulator only (it
 * accepts any token). Never set it against real Azure: use workload identity.
 */
export const AZURE_STATIC_TOKEN_ENV = "CROSSCLOUD_AZURE_STATIC_TOKEN";

/** A credential that always returns `token` (sandbox only, see AZURE_STATIC_TOKEN_ENV). */
export function staticTokenCredential(token: string): TokenCredential {
  return { getToken: async () => ({ token, expiresOnTimestamp: Date.now() + 3_600_000 }) };
}

/** The Azure credential: the static sandbox token when its env var is set, else DefaultAzureCredential. */
export async function azureCredentialFromEnv(env: NodeJS.ProcessEnv = process.env): Promise<TokenCredential> {
  const token = env[AZURE_STATIC_TOKEN_ENV];
  if (token) return staticTokenCredential(token);
  const { DefaultAzureCredential } = await import("@azure/identity");
  return new DefaultAzureCredential();
}

/** The env variables of the cloud calls' deadlines (see CallOptions in src/providers/types.ts). */
export const CLOUD_DEADLINE_ENV = {
  requestTimeoutMs: "CLOUD_REQUEST_TIMEOUT_MS",
  callTimeoutMs: "CLOUD_CALL_TIMEOUT_MS",
} as const;

/** The deadlines the env sets (CLOUD_REQUEST_TIMEOUT_MS, CLOUD_CALL_TIMEOUT_MS); throws naming a bad one. */
export function cloudDeadlinesFromEnv(env: NodeJS.ProcessEnv = process.env): RetryOptions {
  const out: { requestTimeoutMs?: number; callTimeoutMs?: number } = {};
  for (const [field, name] of Object.entries(CLOUD_DEADLINE_ENV) as [keyof typeof out, string][]) {
    const text = env[name];
    if (text === undefined || text === "") continue;
    const ms = Number(text);
    if (!Number.isInteger(ms) || ms <= 0) {
      throw new Error(
        `${name} must be a whole number of milliseconds > 0, got ${JSON.stringify(text)}; unset it for the default`,
      );
    }
    out[field] = ms;
  }
  if (
    out.requestTimeoutMs !== undefined &&
    out.callTimeoutMs !== undefined &&
    out.callTimeoutMs < out.requestTimeoutMs
  ) {
    throw new Error(
      `CLOUD_CALL_TIMEOUT_MS (${out.callTimeoutMs}) is shorter than CLOUD_REQUEST_TIMEOUT_MS (${out.requestTimeoutMs}): a call could never wait for one request; raise it`,
    );
  }
  return out;
}

export interface CloudProviderOptions {
  /** The credential of ARM calls (made once, on the first Azure cluster). AWS uses the SDK's default chain. */
  readonly azureCredential: () => Promise<TokenCredential>;
  /** Backoff and deadlines of cloud calls. Default: the deadlines of cloudDeadlinesFromEnv(), the providers' backoff. */
  readonly retry?: RetryOptions;
}

/** The factory for real clouds (or the simulator, through spec.aws.endpoint / spec.azure.endpoint). */
export function cloudProviderFactory(o: CloudProviderOptions): ProviderFactory {
  const retry = o.retry ?? cloudDeadlinesFromEnv();
  validateRetryOptions(retry);
  let credential: Promise<TokenCredential> | undefined;
  const lazyCredential: TokenCredential = {
    getToken: async (scopes, options) => {
      credential ??= o.azureCredential();
      return (await credential).getToken(scopes, options);
    },
  };
  return (cc) => {
    const { aws, azure } = cc.spec;
    if (cc.spec.cloud === "aws" && aws) {
      const client = createEksClient({ region: aws.region, ...(aws.endpoint ? { endpoint: aws.endpoint } : {}) });
      return new EksProvider({ client, clusterName: aws.clusterName, retry });
    }
    if (cc.spec.cloud === "azure" && azure) {
      const client = createAksClient(lazyCredential, {
        subscriptionId: azure.subscriptionId,
        ...(azure.endpoint ? { endpoint: azure.endpoint } : {}),
      });
      return new AksProvider({
        client,
        resourceGroup: azure.resourceGroup,
        clusterName: azure.clusterName,
        retry,
      });
    }
    return undefined;
  };
}

/** Providers by ComputeCluster name, remade when the cloud part of the spec changes. */
export class ProviderRegistry {
  readonly #factory: ProviderFactory;
  readonly #providers = new Map<string, { key: string; provider: NodeGroupProvider | undefined }>();

  constructor(factory: ProviderFactory) {
    this.#factory = factory;
  }

  /** The provider of `cc`, or undefined when it names no cloud cluster. */
  for(cc: ComputeCluster): NodeGroupProvider | undefined {
    const name = cc.metadata.name ?? "";
    const key = JSON.stringify([cc.spec.cloud, cc.spec.aws, cc.spec.azure]);
    const cached = this.#providers.get(name);
    if (cached?.key === key) return cached.provider;
    const provider = this.#factory(cc);
    this.#providers.set(name, { key, provider });
    return provider;
  }

  forget(name: string): void {
    this.#providers.delete(name);
  }
}
