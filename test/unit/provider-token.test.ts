// Cluster-auth tokens: the EKS token's exact shape (deterministic with fixed
// credentials and clock) and the AKS token's scope.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { AccessToken, GetTokenOptions } from "@azure/identity";
import { AKS_SCOPE, aksToken } from "../../src/providers/aks/token.ts";
import { eksToken } from "../../src/providers/eks/token.ts";

const credentials = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" };
const now = new Date("2026-11-27T12:00:00Z");

describe("eksToken", () => {
  it("is k8s-aws-v1. + unpadded base64url of a presigned GetCallerIdentity URL", async () => {
    const { token, expiresAt } = await eksToken({ clusterName: "ml-prod", region: "us-east-1", credentials, now });
    assert.match(token, /^k8s-aws-v1\.[A-Za-z0-9_-]+$/, "base64url without padding");
    const url = new URL(Buffer.from(token.slice("k8s-aws-v1.".length), "base64url").toString());
    assert.equal(url.origin, "https://sts.us-east-1.amazonaws.com");
    const q = Object.fromEntries(url.searchParams);
    assert.equal(q.Action, "GetCallerIdentity");
    assert.equal(q.Version, "2011-06-15");
    assert.equal(q["X-Amz-Algorithm"], "AWS4-HMAC-SHA256");
    assert.equal(q["X-Amz-Credential"], "AKIDEXAMPLE/20261127/us-east-1/sts/aws4_request");
    assert.equal(q["X-Amz-Date"], "20261127T120000Z");
    assert.equal(q["X-Amz-Expires"], "60");
    assert.equal(q["X-Amz-SignedHeaders"], "host;x-k8s-aws-id");
    assert.match(q["X-Amz-Signature"] ?? "", /^[0-9a-f]{64}$/);
    assert.equal(expiresAt.toISOString(), "2026-11-27T12:01:00.000Z");
  });

  it("is deterministic, and the signature covers the cluster name", async () => {
    const a = await eksToken({ clusterName: "ml-prod", region: "us-east-1", credentials, now });
    const b = await eksToken({ clusterName: "ml-prod", region: "us-east-1", credentials, now });
    const c = await eksToken({ clusterName: "ml-dev", region: "us-east-1", credentials, now });
    assert.equal(a.token, b.token);
    assert.notEqual(a.token, c.token);
  });

  it("carries the session token of temporary credentials", async () => {
    const { token } = await eksToken({
      clusterName: "c",
      region: "eu-west-1",
      credentials: { ...credentials, sessionToken: "FQoGZXIvYXdzEXAMPLE" },
      now,
    });
    const url = new URL(Buffer.from(token.slice(11), "base64url").toString());
    assert.equal(url.searchParams.get("X-Amz-Security-Token"), "FQoGZXIvYXdzEXAMPLE");
    assert.equal(url.hostname, "sts.eu-west-1.amazonaws.com");
  });
});

describe("aksToken", () => {
  it("asks the credential for the AKS server scope", async () => {
    const asked: string[] = [];
    const credential = {
      getToken: async (scopes: string | string[], _o?: GetTokenOptions): Promise<AccessToken> => {
        asked.push(...[scopes].flat());
        return { token: "eyJ0", expiresOnTimestamp: now.getTime() + 3_600_000 };
      },
    };
    const t = await aksToken(credential);
    assert.deepEqual(asked, [AKS_SCOPE]);
    assert.equal(AKS_SCOPE, "6dae42f8-4368-4678-94ff-3960e28e3630/.default");
    assert.equal(t.token, "eyJ0");
    assert.equal(t.expiresAt.toISOString(), "2026-11-27T13:00:00.000Z");
  });

  it("fails clearly when the credential has no token", async () => {
    await assert.rejects(aksToken({ getToken: async () => null }), /returned no token for scope 6dae42f8/);
  });
});
