// The bearer token EKS clusters accept (what `aws eks get-token` prints):
// `k8s-aws-v1.` + base64url, unpadded, of a presigned STS GetCallerIdentity
// URL whose signature covers the header `x-k8s-aws-id: <cluster>`, valid 60 s.

import { Sha256 } from "@aws-crypto/sha256-js";
import { HttpRequest } from "@smithy/protocol-http";
import { SignatureV4 } from "@smithy/signature-v4";

export const EKS_TOKEN_PREFIX = "k8s-aws-v1.";
/** How long the presigned URL, and so the token, is valid. */
export const EKS_TOKEN_EXPIRES_SECONDS = 60;

export interface EksTokenOptions {
  readonly clusterName: string;
  readonly region: string;
  readonly credentials: {
    readonly accessKeyId: string;
    readonly secretAccessKey: string;
    readonly sessionToken?: string;
  };
  /** The signing time. Default: now. */
  readonly now?: Date;
  /** STS host. Default: `sts.<region>.amazonaws.com`. */
  readonly stsHost?: string;
}

export interface EksToken {
  readonly token: string;
  /** When the token stops being accepted; refresh a little before. */
  readonly expiresAt: Date;
}

function queryString(query: Record<string, string | string[] | null>): string {
  return Object.keys(query)
    .sort()
    .map((k) => `${encodeURIComponent(k)}=${encodeURIComponent(String(query[k] ?? ""))}`)
    .join("&");
}

/** A token for `clusterName`, signed with `credentials`. */
export async function eksToken(o: EksTokenOptions): Promise<EksToken> {
  const hostname = o.stsHost ?? `sts.${o.region}.amazonaws.com`;
  const signer = new SignatureV4({ service: "sts", region: o.region, credentials: o.credentials, sha256: Sha256 });
  const request = new HttpRequest({
    method: "GET",
    protocol: "https:",
    hostname,
    path: "/",
    query: { Action: "GetCallerIdentity", Version: "2011-06-15" },
    headers: { host: hostname, "x-k8s-aws-id": o.clusterName },
  });
  const now = o.now ?? new Date();
  const signed = await signer.presign(request, { expiresIn: EKS_TOKEN_EXPIRES_SECONDS, signingDate: now });
  const url = `https://${hostname}/?${queryString(signed.query as Record<string, string>)}`;
  return {
    token: EKS_TOKEN_PREFIX + Buffer.from(url).toString("base64url"),
    expiresAt: new Date(now.getTime() + EKS_TOKEN_EXPIRES_SECONDS * 1000),
  };
}
