// The ComputeCluster's cloud side, pure: node groups the nodes show merged
// with what the cloud API lists, the CloudAPIReachable condition, and the
// choice between kubeconfig credentials and the cloud's identity.

import assert from "node:assert/strict";
import type { RequestOptions } from "node:https";
import { describe, it } from "node:test";
import { KubeConfig, type User } from "@kubernetes/client-node";
import type { ComputeCluster, NodeGroupStatus } from "../../src/api/computecluster.ts";
import { Catalog } from "../../src/catalog/index.ts";
import { priceOrThrow } from "../../src/catalog/money.ts";
import {
  BearerToken,
  CloudTokens,
  clusterAuthFor,
  userHasCredentials,
  withBearerToken,
} from "../../src/clusters/cloud-auth.ts";
import {
  type CloudGroup,
  CloudNodeGroups,
  cloudCondition,
  lastKnownCloudGroups,
  mergeNodeGroups,
} from "../../src/controller/computecluster/cloud.ts";
import { CloudCredentials, identityVersion } from "../../src/controller/computecluster/identity.ts";
import type { KubeConfigView } from "../../src/kube/config.ts";
import { ProviderError } from "../../src/providers/errors.ts";
import { FakeProvider } from "../../src/providers/fake.ts";

const catalog = Catalog.builtIn();

const kubeGroup = (name: string, over: Partial<NodeGroupStatus> = {}): NodeGroupStatus => ({
  name,
  instanceType: "trn1.32xlarge",
  accelerator: "trainium1",
  devicesPerNode: 16,
  capacityType: "OnDemand",
  nodes: 4,
  readyNodes: 4,
  freeNodes: 2,
  autoscaled: false,
  pricePerHour: "21.50",
  ...over,
});

const cloudGroup = (name: string, over: Partial<CloudGroup> = {}): CloudGroup => ({
  name,
  instanceType: "trn1.32xlarge",
  capacityType: "OnDemand",
  minSize: 1,
  maxSize: 16,
  desiredSize: 4,
  autoscalerOwned: false,
  ...over,
});

describe("mergeNodeGroups", () => {
  const cases: {
    name: string;
    kube: NodeGroupStatus[];
    cloud: CloudGroup[] | undefined;
    want: Partial<NodeGroupStatus>[];
  }[] = [
    {
      name: "no cloud data: a group is fixed at its node count",
      kube: [kubeGroup("trn1")],
      cloud: undefined,
      want: [{ name: "trn1", minSize: 0, maxSize: 4, desiredSize: 4, nodes: 4, freeNodes: 2 }],
    },
    {
      name: "the cloud's bounds and desired size, the nodes' capacity",
      kube: [kubeGroup("trn1")],
      cloud: [cloudGroup("trn1", { desiredSize: 6 })],
      want: [{ name: "trn1", minSize: 1, maxSize: 16, desiredSize: 6, nodes: 4, readyNodes: 4, freeNodes: 2 }],
    },
    {
      name: "a cloud group with no node yet is listed, empty, so placement can grow it",
      kube: [],
      cloud: [cloudGroup("p5", { instanceType: "p5.48xlarge", desiredSize: 0, maxSize: 8 })],
      want: [
        {
          name: "p5",
          instanceType: "p5.48xlarge",
          accelerator: "nvidia-h100",
          devicesPerNode: 8,
          capacityType: "OnDemand",
          nodes: 0,
          readyNodes: 0,
          freeNodes: 0,
          maxSize: 8,
          desiredSize: 0,
        },
      ],
    },
    {
      name: "a cloud group of an instance type without a known accelerator is left out",
      kube: [],
      cloud: [cloudGroup("system", { instanceType: "m5.large" })],
      want: [],
    },
    {
      name: "the cloud's autoscaler ownership wins",
      kube: [kubeGroup("trn1")],
      cloud: [cloudGroup("trn1", { autoscalerOwned: true })],
      want: [{ name: "trn1", autoscaled: true }],
    },
    {
      name: "Karpenter nodes stay autoscaled whatever the cloud says",
      kube: [kubeGroup("trn1", { autoscaled: true })],
      cloud: [cloudGroup("trn1")],
      want: [{ name: "trn1", autoscaled: true }],
    },
    {
      name: "Spot from the cloud where the nodes carry no spot label, repriced",
      kube: [
        kubeGroup("spot", {
          instanceType: "Standard_ND96isr_H100_v5",
          accelerator: "nvidia-h100",
          pricePerHour: "98.32",
        }),
      ],
      cloud: [cloudGroup("spot", { instanceType: "Standard_ND96isr_H100_v5", capacityType: "Spot" })],
      want: [{ name: "spot", capacityType: "Spot" }],
    },
    {
      name: "a node group the cloud does not list (self-managed) cannot grow",
      kube: [kubeGroup("selfmanaged")],
      cloud: [cloudGroup("trn1", { desiredSize: 0 })],
      want: [
        { name: "selfmanaged", maxSize: 4, desiredSize: 4 },
        { name: "trn1", nodes: 0, desiredSize: 0 },
      ],
    },
  ];
  for (const tc of cases) {
    it(tc.name, () => {
      const got = mergeNodeGroups(tc.kube, tc.cloud, catalog);
      assert.equal(got.length, tc.want.length);
      tc.want.forEach((w, i) => {
        for (const [k, v] of Object.entries(w)) assert.deepEqual(got[i]?.[k as keyof NodeGroupStatus], v, `${k}`);
      });
    });
  }

  it("prices a group the cloud says is Spot with the cluster's Spot price", () => {
    const [g] = mergeNodeGroups(
      [
        kubeGroup("spot", {
          instanceType: "Standard_ND96isr_H100_v5",
          accelerator: "nvidia-h100",
          pricePerHour: "98.32",
        }),
      ],
      [cloudGroup("spot", { instanceType: "Standard_ND96isr_H100_v5", capacityType: "Spot" })],
      catalog,
      new Map([["Standard_ND96isr_H100_v5:Spot", priceOrThrow("39.33", "test")]]),
    );
    assert.equal(g?.pricePerHour, "39.33");
  });

  it("keeps the last bounds seen when the cloud call fails", () => {
    const old = mergeNodeGroups([kubeGroup("trn1")], [cloudGroup("trn1", { maxSize: 12, desiredSize: 5 })], catalog);
    const again = mergeNodeGroups([kubeGroup("trn1")], lastKnownCloudGroups(old), catalog);
    assert.equal(again[0]?.maxSize, 12);
    assert.equal(again[0]?.desiredSize, 5);
    assert.equal(again[0]?.freeNodes, 2, "capacity still from the nodes");
  });
});

describe("cloudCondition", () => {
  it("True with the count of groups listed", () => {
    const c = cloudCondition({ ok: true, groups: [cloudGroup("a"), cloudGroup("b")] }, "aws");
    assert.deepEqual([c.status, c.reason], ["True", "Listed"]);
    assert.match(c.message, /aws API listed 2 node groups/);
  });
  it("False with the cloud's error, saying capacity still comes from the nodes", () => {
    const c = cloudCondition({ ok: false, message: "EKS answered ThrottlingException: Rate exceeded" }, "aws");
    assert.deepEqual([c.type, c.status, c.reason], ["CloudAPIReachable", "False", "CloudAPIError"]);
    assert.match(c.message, /ThrottlingException.*capacity still comes from the nodes/);
  });
  it("Unknown when the cluster names no cloud cluster", () => {
    assert.equal(cloudCondition(undefined, "aws").status, "Unknown");
  });
});

describe("CloudNodeGroups", () => {
  it("reuses a fresh listing, lists again when it is old or invalidated, and turns errors into a listing", async () => {
    let now = 0;
    const fake = new FakeProvider("aws", []);
    const cache = new CloudNodeGroups({ maxAgeMs: 5_000, now: () => now });
    assert.equal((await cache.list("c", fake)).ok, true);
    await cache.list("c", fake);
    assert.equal(fake.calls.length, 1);
    now = 6_000;
    fake.queueError("listNodeGroups", new ProviderError("Throttled", "slow down"));
    const failed = await cache.list("c", fake);
    assert.deepEqual(failed, { ok: false, message: "slow down" });
    cache.invalidate("c");
    assert.equal((await cache.list("c", fake)).ok, true);
    assert.equal(fake.calls.length, 3);
  });
});

const cc = (cloud: "aws" | "azure"): ComputeCluster => ({
  apiVersion: "training.crosscloud.dev/v1alpha1",
  kind: "ComputeCluster",
  metadata: { name: `${cloud}-x` },
  spec: {
    cloud,
    ...(cloud === "aws"
      ? { aws: { region: "us-east-1", clusterName: "ml-prod" } }
      : { azure: { subscriptionId: "s", resourceGroup: "rg", clusterName: "ml-prod" } }),
    checkpointStore: { s3: { bucket: "b" } },
    paused: false,
    drain: false,
    workloadNamespace: "",
  },
});

/** Tokens t1, t2, ... valid 10 min from a clock the test sets, refreshed 1 min before they expire. */
function countingTokens() {
  const clock = { now: 0, fetched: 0 };
  const tokens = new CloudTokens({
    eks: async () => ({ token: `t${++clock.fetched}`, expiresAt: new Date(clock.now + 600_000) }),
    aks: async () => ({ token: "a", expiresAt: new Date(clock.now + 3_600_000) }),
    refreshBeforeMs: 60_000,
    now: () => clock.now,
  });
  return { tokens, clock };
}

/** A kubeconfig whose user has no credentials. */
function credentialless(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "c", server: "https://x.example:443", skipTLSVerify: false }],
    users: [{ name: "u" }],
    contexts: [{ name: "ctx", cluster: "c", user: "u" }],
    currentContext: "ctx",
  });
  return kc;
}

describe("cluster authentication", () => {
  const users: { name: string; user: User | null; has: boolean }[] = [
    { name: "no user", user: null, has: false },
    { name: "a user with nothing", user: { name: "u" }, has: false },
    { name: "a token", user: { name: "u", token: "t" }, has: true },
    { name: "a client certificate and key", user: { name: "u", certData: "c", keyData: "k" }, has: true },
    { name: "a certificate without a key", user: { name: "u", certData: "c" }, has: false },
    { name: "an exec plugin", user: { name: "u", exec: { command: "aws" } }, has: true },
    { name: "an auth provider", user: { name: "u", authProvider: { name: "oidc" } }, has: true },
  ];
  for (const tc of users) {
    it(`${tc.name}: ${tc.has ? "kubeconfig" : "cloud identity"}`, () => {
      assert.equal(userHasCredentials(tc.user), tc.has);
      const auth = clusterAuthFor(tc.user, cc("aws"));
      assert.deepEqual(
        auth,
        tc.has ? { kind: "kubeconfig" } : { kind: "eks", clusterName: "ml-prod", region: "us-east-1" },
      );
    });
  }

  it("uses an AKS token for an azure cluster", () => {
    assert.deepEqual(clusterAuthFor({ name: "u" }, cc("azure")), { kind: "aks" });
  });

  it("sends the held token from a copy of the kubeconfig, each request the newest, leaving the original alone", async () => {
    const kc = credentialless();
    const holder = new BearerToken("k8s-aws-v1.abc");
    const copy = withBearerToken(kc, holder);
    const authorization = async (config: KubeConfigView) => {
      const options: RequestOptions = {};
      await config.applyToHTTPSOptions(options);
      return (options.headers as Record<string, string> | undefined)?.Authorization;
    };
    assert.equal(await authorization(copy), "Bearer k8s-aws-v1.abc");
    assert.equal(copy.getCurrentCluster()?.server, "https://x.example:443");
    holder.set("k8s-aws-v1.def");
    assert.equal(await authorization(copy), "Bearer k8s-aws-v1.def", "the next request reads the new token");
    assert.equal(await authorization(kc), undefined, "the original kubeconfig has no credentials");
    assert.equal(kc.getCurrentUser()?.token, undefined);
  });

  describe("the connection's version", () => {
    const eks = { kind: "eks", clusterName: "ml-prod", region: "us-east-1" } as const;
    const cases = [
      { name: "an EKS token", version: identityVersion("41", eks), want: "41/eks-token:us-east-1/ml-prod" },
      { name: "an AKS token", version: identityVersion("41", { kind: "aks" }), want: "41/aks-token" },
      { name: "another Secret version", version: identityVersion("42", eks), want: "42/eks-token:us-east-1/ml-prod" },
      {
        name: "another EKS cluster",
        version: identityVersion("41", { ...eks, clusterName: "other" }),
        want: "41/eks-token:us-east-1/other",
      },
    ];
    for (const tc of cases) {
      it(`${tc.name}: ${tc.want}`, () => assert.equal(tc.version, tc.want));
    }
  });

  it("keeps the connection's version and one holder across a token refresh; a Secret change gives a new version", async () => {
    const { tokens, clock } = countingTokens();
    const credentials = new CloudCredentials(tokens);
    const kc = credentialless();
    const connect = async (version: string) => {
      const source = await credentials.apply({ ok: true, kubeConfig: kc, version }, cc("aws"));
      assert.ok(source.ok);
      return source;
    };
    const first = await connect("41");
    clock.now = 545_000; // within refreshBeforeMs of the expiry: fetched again
    const second = await connect("41");
    assert.equal(clock.fetched, 2);
    assert.equal(second.version, first.version, "a refreshed token is not a new connection");
    const options: RequestOptions = {};
    await first.kubeConfig.applyToHTTPSOptions(options);
    assert.equal(
      (options.headers as Record<string, string> | undefined)?.Authorization,
      "Bearer t2",
      "the first connection's kubeconfig sends the new token",
    );
    assert.notEqual((await connect("42")).version, first.version, "a new Secret is a new connection");
  });

  it("fetches a token once and again only near its expiry", async () => {
    const { tokens, clock } = countingTokens();
    const auth = { kind: "eks", clusterName: "c", region: "r" } as const;
    assert.equal((await tokens.token("c", auth)).token, "t1");
    clock.now = 500_000;
    assert.equal((await tokens.token("c", auth)).token, "t1");
    clock.now = 545_000;
    assert.equal((await tokens.token("c", auth)).token, "t2");
  });
});
