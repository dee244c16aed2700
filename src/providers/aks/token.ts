// The bearer token AKS clusters with Entra ID integration accept: an access
// token for the AKS server application's scope, from any @azure/identity
// credential (workload identity, managed identity, CLI, ...).

import type { TokenCredential } from "@azure/identity";
import { ProviderError } from "../errors.ts";

/** The Entra ID scope of the AKS API server (the well-known AKS server application id). */
export const AKS_SCOPE = "6dae42f8-4368-4678-94ff-3960e28e3630/.default";

export interface AksToken {
  readonly token: string;
  readonly expiresAt: Date;
}

/** A token for AKS API servers from `credential`. */
export async function aksToken(credential: TokenCredential, signal?: AbortSignal): Promise<AksToken> {
  const t = await credential.getToken(AKS_SCOPE, signal ? { abortSignal: signal } : {});
  if (!t) throw new ProviderError("Unknown", `the credential returned no token for scope ${AKS_SCOPE}`);
  return { token: t.token, expiresAt: new Date(t.expiresOnTimestamp) };
}
