// One contract suite, run against both providers (EKS and AKS) talking
// through the official SDKs to the cloud simulator, which is backed by the
// running sandbox: listing, idempotent scale-up, never past max, never on an
// autoscaler-owned group, retries under 30% throttling, nodes that really
// appear, and the scale operation watched to completion.
//
// Needs the sandbox up (same SANDBOX_STATE_DIR / SANDBOX_PORT_BASE). The
// simulator's CA is passed to the SDKs explicitly, so NODE_EXTRA_CA_CERTS is
// not needed here (the operator uses it: it is read at process start).

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import type { AccessToken } from "@azure/identity";
import { type CloudSim, startCloudSim } from "../../scripts/sandbox/cloudsim/index.ts";
import { SANDBOX_GROUP_LABEL } from "../../scripts/sandbox/nodes.ts";
import { createAksClient } from "../../src/providers/aks/client.ts";
import { AksProvider } from "../../src/providers/aks/provider.ts";
import { createEksClient } from "../../src/providers/eks/client.ts";
import { EksProvider } from "../../src/providers/eks/provider.ts";
import { isAutoscalerOwned, isExceedsMaxSize, isNotFound } from "../../src/providers/errors.ts";
import type { NodeGroupProvider } from "../../src/providers/types.ts";
import { clients, eventually, type SandboxCluster } from "../support/sandbox.ts";

interface ProviderCase {
  readonly name: string;
  readonly cluster: SandboxCluster;
  /** The group the suite scales. */
  readonly group: string;
  /** A group the suite marks as autoscaler-owned. */
  readonly ownedGroup: string;
  readonly make: (sim: CloudSim) => NodeGroupProvider;
}

const retry = { minTimeoutMs: 5, maxTimeoutMs: 40, retries: 8 };
const wait = { pollIntervalMs: 200, timeoutMs: 30_000 };

const cases: ProviderCase[] = [
  {
    name: "EKS",
    cluster: "aws-sim",
    group: "trn1",
    ownedGroup: "p5",
    make: (sim) =>
      new EksProvider({
        client: createEksClient({
          region: "us-east-1",
          endpoint: sim.url,
          credentials: { accessKeyId: "sandbox", secretAccessKey: "sandbox" },
          ca: readFileSync(sim.caFile),
        }),
        clusterName: "aws-sim",
        retry,
      }),
  },
  {
    name: "AKS",
    cluster: "azure-sim",
    group: "ndh100",
    ownedGroup: "ndh100spot",
    make: (sim) => {
      const credential = {
        getToken: async (): Promise<AccessToken> => ({ token: "sandbox", expiresOnTimestamp: Date.now() + 3_600_000 }),
      };
      const client = createAksClient(credential, {
        subscriptionId: "00000000-0000-0000-0000-000000000000",
        endpoint: sim.url,
        ca: readFileSync(sim.caFile),
      });
      return new AksProvider({ client, resourceGroup: "sandbox", clusterName: "azure-sim", retry });
    },
  },
];

async function nodesOf(cluster: SandboxCluster, group: string): Promise<number> {
  const list = await clients(cluster).core.listNode({ labelSelector: `${SANDBOX_GROUP_LABEL}=${group}` });
  return list.items.length;
}

let sim: CloudSim;
before(async () => {
  sim = await startCloudSim({ scaleDelayMs: 1000, seed: 7 });
});
after(async () => {
  await sim?.stop();
});

for (const c of cases) {
  describe(`${c.name} provider contract`, () => {
    let provider: NodeGroupProvider;
    let original = 0;
    const simGroup = (name = c.group) => {
      const g = sim.state.group(c.cluster, name);
      assert.ok(g, `the simulator has ${c.cluster}/${name}`);
      return g;
    };
    const scaleAndWait = async (size: number) => {
      const op = await provider.scaleNodeGroup(c.group, size, randomUUID());
      return provider.waitForScale(op, wait);
    };

    before(async () => {
      sim.faults.faults = {};
      provider = c.make(sim);
      original = (await provider.getNodeGroup(c.group)).desiredSize;
    });
    after(async () => {
      sim.faults.faults = {};
      await scaleAndWait(original);
      await eventually(
        `${c.group} back to ${original} nodes`,
        () => nodesOf(c.cluster, c.group),
        (n) => n === original,
        20_000,
      );
    });

    it("lists the cluster's node groups with their sizes and instance types", async () => {
      const groups = await provider.listNodeGroups();
      const expected = sim.state
        .clusterGroups(c.cluster)
        .map((g) => g.spec.name)
        .sort();
      assert.deepEqual(
        groups.map((g) => g.name),
        expected,
      );
      const mine = groups.find((g) => g.name === c.group);
      assert.equal(mine?.desiredSize, await nodesOf(c.cluster, c.group));
      assert.equal(mine?.instanceType, simGroup().spec.instanceType);
      assert.equal(mine?.maxSize, simGroup().maxSize);
      assert.equal(mine?.autoscalerOwned, false);
    });

    it("describes the cluster", async () => {
      const info = await provider.describeCluster();
      assert.equal(info.name, c.cluster);
      assert.match(info.endpoint, /^https:\/\/127\.0\.0\.1:\d+/);
      assert.match(info.kubernetesVersion, /^1\.36/);
    });

    it("a missing node group is NotFound", async () => {
      await assert.rejects(provider.getNodeGroup("no-such-group"), isNotFound);
    });

    it("scales up idempotently: the same client token twice is one change", async () => {
      const before = simGroup().changes;
      const token = randomUUID();
      const first = await provider.scaleNodeGroup(c.group, original + 1, token);
      const second = await provider.scaleNodeGroup(c.group, original + 1, token);
      assert.equal(simGroup().changes, before + 1);
      assert.equal(simGroup().desiredSize, original + 1);
      assert.equal(first.desiredSize, second.desiredSize);
      const done = await provider.waitForScale(first, wait);
      assert.equal(done.status, "Succeeded");
    });

    it("the new nodes really appear in the sandbox cluster", async () => {
      await eventually(
        `${original + 1} ${c.group} nodes`,
        () => nodesOf(c.cluster, c.group),
        (n) => n === original + 1,
        20_000,
      );
      assert.equal((await provider.getNodeGroup(c.group)).status, "Active");
    });

    it("never scales past maxSize (typed error, nothing sent)", async () => {
      const before = simGroup().changes;
      const max = (await provider.getNodeGroup(c.group)).maxSize;
      await assert.rejects(provider.scaleNodeGroup(c.group, max + 1, randomUUID()), isExceedsMaxSize);
      assert.equal(simGroup().changes, before);
    });

    it("never scales a group an autoscaler owns", async () => {
      const owned = simGroup(c.ownedGroup);
      owned.autoscalerOwned = true;
      try {
        const g = await provider.getNodeGroup(c.ownedGroup);
        assert.equal(g.autoscalerOwned, true);
        await assert.rejects(provider.scaleNodeGroup(c.ownedGroup, g.desiredSize + 1, randomUUID()), isAutoscalerOwned);
        assert.equal(owned.changes, 0);
      } finally {
        owned.autoscalerOwned = false;
      }
    });

    it("with 30% of calls throttled, the scale happens exactly once and completes", async () => {
      // The first call is throttled for sure (the seeded 30% alone may spare a short scale), then 30%.
      sim.faults.faults = { throttleRate: 0.3, throttleFirst: 1 };
      const throttledBefore = sim.faults.injected.throttle;
      const before = simGroup().changes;
      try {
        const done = await scaleAndWait(original + 2);
        assert.equal(done.status, "Succeeded");
      } finally {
        sim.faults.faults = {};
      }
      assert.equal(simGroup().changes, before + 1, "one change despite the retries");
      assert.ok(sim.faults.injected.throttle > throttledBefore, "some calls were throttled");
      await eventually(
        `${original + 2} ${c.group} nodes`,
        () => nodesOf(c.cluster, c.group),
        (n) => n === original + 2,
        20_000,
      );
    });

    it("a 5xx after the change was applied is retried without a second change", async () => {
      sim.faults.faults = { errorAfterApplyRate: 1 };
      const before = simGroup().changes;
      const token = randomUUID();
      const scaling = provider.scaleNodeGroup(c.group, original + 3, token);
      // Every retry fails after applying too; stop the faults once the first attempt went through.
      await eventually(
        "the change to be applied",
        async () => simGroup().changes,
        (n) => n > before,
        5_000,
      );
      sim.faults.faults = {};
      const op = await scaling;
      await provider.waitForScale(op, wait);
      assert.equal(simGroup().changes, before + 1);
      assert.equal(simGroup().desiredSize, original + 3);
    });

    it("waiting stops when the signal fires", async () => {
      const op = await provider.scaleNodeGroup(c.group, original + 2, randomUUID());
      const abort = new AbortController();
      setTimeout(() => abort.abort(), 50);
      await assert.rejects(provider.waitForScale(op, { ...wait, signal: abort.signal }), /aborted/);
      await provider.waitForScale(op, wait);
    });
  });
}
