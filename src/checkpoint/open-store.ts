// Opens an ObjectStore from a store URI with each cloud's usual credentials:
// the AWS SDK's default chain (IRSA, EKS Pod Identity, env keys) for S3, and
// for Azure an account key when one is given (the sandbox's Secret) or else
// DefaultAzureCredential (Azure Workload Identity in AKS). Every request has
// a deadline (STORE_REQUEST_TIMEOUT_MS, see store-deadline.ts).

import { S3Client } from "@aws-sdk/client-s3";
import type { AccessToken, GetTokenOptions, TokenCredential } from "@azure/identity";
import { ContainerClient, StorageSharedKeyCredential } from "@azure/storage-blob";
import { AzureBlobStore } from "./azure-blob/blob-store.ts";
import { connectionKeyFor } from "./connection-string.ts";
import { CheckpointError } from "./errors.ts";
import { S3Store } from "./s3/s3-store.ts";
import type { ObjectStore } from "./store.ts";
import { type RequestHook, type StoreDeadline, storeTimeoutFromEnv } from "./store-deadline.ts";
import { type StoreUri, storeUri } from "./uri.ts";

export interface OpenStoreOptions {
  /** S3 endpoint of a non-AWS server (the sandbox's versitygw); default env CROSSCLOUD_S3_ENDPOINT or AWS_ENDPOINT_URL_S3, else AWS itself. */
  readonly s3Endpoint?: string;
  /** Default env AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1. */
  readonly s3Region?: string;
  /** Static S3 keys (a ComputeCluster's credentials Secret); absent: the SDK's default chain. */
  readonly s3Credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /**
   * Storage account key; default env AZURE_STORAGE_ACCOUNT_KEY or AZURE_STORAGE_KEY, else the AccountKey of
   * env AZURE_STORAGE_CONNECTION_STRING (which must be for this store); absent: DefaultAzureCredential.
   */
  readonly azureAccountKey?: string;
  /** Server-side Put Block From URL at Azure destinations; default true on *.blob.core.* hosts, false on emulators. */
  readonly azureStageFromUrl?: boolean;
  /** How long a request may wait for an answer; default env STORE_REQUEST_TIMEOUT_MS, else 30 s. */
  readonly requestTimeoutMs?: number;
  /** Environment to read defaults from; default process.env. */
  readonly env?: NodeJS.ProcessEnv;
}

/** A URL's host, or the text as it is when it is no URL (never its user or password). */
function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return "the configured endpoint";
  }
}

/** The store `uri` names (text or parsed), with clients built from `options` and the environment. */
export function openStore(uri: string | StoreUri, options: OpenStoreOptions = {}): ObjectStore {
  const parsed = typeof uri === "string" ? storeUri(uri) : uri;
  return openStoreRoot(parsed, options).at(parsed.prefix);
}

/** A bucket or container with its clients built once: stores rooted at any prefix in it share them. */
export interface StoreRoot {
  /** The bucket or container (prefix ""). */
  readonly uri: StoreUri;
  /** The store rooted at `prefix` (relative to the bucket or container), on this root's clients. */
  at(prefix: string): ObjectStore;
}

/** The bucket or container of `uri` (its prefix ignored), its clients built from `options` and the environment. */
export function openStoreRoot(uri: StoreUri, options: OpenStoreOptions = {}, onRequest?: RequestHook): StoreRoot {
  const env = options.env ?? process.env;
  const timeoutMs = options.requestTimeoutMs ?? storeTimeoutFromEnv(env);
  const root: StoreUri = { ...uri, prefix: "" };
  if (uri.kind === "s3") {
    const endpoint = options.s3Endpoint ?? env.CROSSCLOUD_S3_ENDPOINT ?? env.AWS_ENDPOINT_URL_S3;
    const region = options.s3Region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? "us-east-1";
    const credentials = options.s3Credentials ? { credentials: options.s3Credentials } : {};
    const client = new S3Client(
      endpoint
        ? {
            region,
            endpoint,
            forcePathStyle: true,
            requestChecksumCalculation: "WHEN_REQUIRED",
            responseChecksumValidation: "WHEN_REQUIRED",
            ...credentials,
          }
        : { region, ...credentials },
    );
    const server = endpoint ? hostOf(endpoint) : `s3.${region}.amazonaws.com`;
    const deadline: StoreDeadline = { timeoutMs, store: `s3://${uri.bucket} at ${server}` };
    return {
      uri: root,
      at: (prefix) => new S3Store({ client, bucket: uri.bucket, prefix, deadline, ...opt(onRequest) }),
    };
  }
  const key =
    options.azureAccountKey ?? env.AZURE_STORAGE_ACCOUNT_KEY ?? env.AZURE_STORAGE_KEY ?? connectionKey(env, uri);
  const credential = key ? new StorageSharedKeyCredential(uri.account, key) : new LazyDefaultAzureCredential();
  const container = new ContainerClient(`${uri.accountUrl}/${uri.container}`, credential);
  const realService = /\.blob\.core\./.test(new URL(uri.accountUrl).hostname);
  const stageFromUrl = options.azureStageFromUrl ?? realService;
  const deadline: StoreDeadline = { timeoutMs, store: `${uri.accountUrl}/${uri.container}` };
  return {
    uri: root,
    at: (prefix) => new AzureBlobStore({ container, prefix, stageFromUrl, deadline, ...opt(onRequest) }),
  };
}

/**
 * DefaultAzureCredential, loaded at its first token request: @azure/identity (with MSAL, ~500 modules,
 * about 35 MiB of RSS) is loaded only by an operator that authenticates to Azure with it, not by one
 * that uses account keys or has no Blob store.
 */
class LazyDefaultAzureCredential implements TokenCredential {
  #inner: Promise<TokenCredential> | undefined;

  async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
    this.#inner ??= import("@azure/identity").then((m) => new m.DefaultAzureCredential());
    return (await this.#inner).getToken(scopes, options);
  }
}

function opt(onRequest: RequestHook | undefined): { onRequest?: RequestHook } {
  return onRequest ? { onRequest } : {};
}

/** The AccountKey of env AZURE_STORAGE_CONNECTION_STRING for the Blob store `uri`, when the env has one. */
function connectionKey(env: NodeJS.ProcessEnv, uri: StoreUri & { kind: "azure-blob" }): string | undefined {
  const text = env.AZURE_STORAGE_CONNECTION_STRING;
  if (!text) return undefined;
  const key = connectionKeyFor(text, uri.accountUrl, uri.account);
  if (!key.ok)
    throw new CheckpointError({ code: "InvalidOptions", field: "AZURE_STORAGE_CONNECTION_STRING" }, key.reason);
  return key.key;
}
