// Builds the ARM client the AKS provider uses: the pipeline's own retries
// off (the provider retries), an optional endpoint (the cloud simulator) and
// an optional extra CA for it (ARM sends bearer tokens over HTTPS only).

import { ContainerServiceClient } from "@azure/arm-containerservice";
import type { TokenCredential } from "@azure/identity";

export interface AksClientOptions {
  readonly subscriptionId: string;
  /** ARM endpoint. Default: https://management.azure.com. */
  readonly endpoint?: string;
  /** Extra CA (PEM) to trust for `endpoint`. Default: Node's trust store and NODE_EXTRA_CA_CERTS. */
  readonly ca?: string | Buffer;
  /** Pipeline-level retries. Default 0: the provider retries. */
  readonly maxRetries?: number;
}

export function createAksClient(credential: TokenCredential, o: AksClientOptions): ContainerServiceClient {
  return new ContainerServiceClient(credential, o.subscriptionId, {
    retryOptions: { maxRetries: o.maxRetries ?? 0 },
    ...(o.endpoint ? { endpoint: o.endpoint } : {}),
    ...(o.ca ? { tlsOptions: { ca: o.ca.toString() } } : {}),
  });
}
