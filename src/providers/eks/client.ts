// Builds the EKS SDK client the provider uses: the SDK's own retries off
// (the provider retries with p-retry), an optional endpoint (the cloud
// simulator) and an optional extra CA for it.

import { Agent } from "node:https";
import { EKSClient, type EKSClientConfig } from "@aws-sdk/client-eks";

export interface EksClientOptions {
  readonly region: string;
  /** Another endpoint than the region's (the cloud simulator). Default: the public EKS endpoint. */
  readonly endpoint?: string;
  /** Credentials. Default: the SDK's default chain (env, profile, web identity, IMDS). */
  readonly credentials?: EKSClientConfig["credentials"];
  /** Extra CA (PEM) to trust for `endpoint`. Default: Node's trust store and NODE_EXTRA_CA_CERTS. */
  readonly ca?: string | Buffer;
  /** SDK-level attempts. Default 1: the provider retries. */
  readonly maxAttempts?: number;
}

export function createEksClient(o: EksClientOptions): EKSClient {
  return new EKSClient({
    region: o.region,
    maxAttempts: o.maxAttempts ?? 1,
    ...(o.endpoint ? { endpoint: o.endpoint } : {}),
    ...(o.credentials ? { credentials: o.credentials } : {}),
    ...(o.ca ? { requestHandler: { httpsAgent: new Agent({ ca: o.ca, keepAlive: true }) } } : {}),
  });
}
