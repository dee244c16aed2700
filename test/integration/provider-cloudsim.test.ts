// The cloud simulator itself, through the official SDKs: the ARM
// long-running operation polled to completion by createOrUpdate's own
// poller, EKS DescribeUpdate, the admin API, ARM's api-version rule, and
// trust of its certificate through NODE_EXTRA_CA_CERTS in a fresh process.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { Agent, request } from "node:https";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { DescribeUpdateCommand, UpdateNodegroupConfigCommand } from "@aws-sdk/client-eks";
import { type CloudSim, startCloudSim } from "../../scripts/sandbox/cloudsim/index.ts";
import { createAksClient } from "../../src/providers/aks/client.ts";
import { createEksClient } from "../../src/providers/eks/client.ts";

let sim: CloudSim;
let agent: Agent;

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${sim.url}${path}`,
      { method, agent, headers: { "content-type": "application/json" } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString() || "null") }),
        );
      },
    );
    req.on("error", reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

before(async () => {
  sim = await startCloudSim({ scaleDelayMs: 500, seed: 1 });
  agent = new Agent({ ca: readFileSync(sim.caFile) });
});
after(async () => {
  agent?.destroy();
  await sim?.stop();
});

describe("cloudsim", () => {
  it("ARM: createOrUpdate's poller follows Azure-AsyncOperation to Succeeded", async () => {
    const client = createAksClient(
      { getToken: async () => ({ token: "sandbox", expiresOnTimestamp: Date.now() + 3_600_000 }) },
      { subscriptionId: "00000000-0000-0000-0000-000000000000", endpoint: sim.url, ca: readFileSync(sim.caFile) },
    );
    const pool = await client.agentPools.get("sandbox", "azure-sim", "ndh100spot");
    const count = pool.count ?? 0;
    const grown = await client.agentPools
      .createOrUpdate("sandbox", "azure-sim", "ndh100spot", { ...pool, count: count + 1 }, { updateIntervalInMs: 100 })
      .pollUntilDone();
    assert.equal(grown.count, count + 1);
    assert.equal(grown.provisioningState, "Succeeded");
    assert.equal(grown.scaleSetPriority, "Spot");
    const back = await client.agentPools
      .createOrUpdate("sandbox", "azure-sim", "ndh100spot", { ...grown, count }, { updateIntervalInMs: 100 })
      .pollUntilDone();
    assert.equal(back.count, count);
    const mc = await client.managedClusters.get("sandbox", "azure-sim");
    assert.equal(mc.agentPoolProfiles?.length, 3); // ndh100, ndh100spot, ndgb200
  });

  it("EKS: UpdateNodegroupConfig returns an update that DescribeUpdate follows", async () => {
    const eks = createEksClient({
      region: "us-east-1",
      endpoint: sim.url,
      credentials: { accessKeyId: "a", secretAccessKey: "b" },
      ca: readFileSync(sim.caFile),
    });
    const g = sim.state.group("aws-sim", "trn2");
    assert.ok(g);
    const size = g.desiredSize;
    const scalingConfig = { minSize: g.minSize, maxSize: g.maxSize, desiredSize: size + 1 };
    const out = await eks.send(
      new UpdateNodegroupConfigCommand({ clusterName: "aws-sim", nodegroupName: "trn2", scalingConfig }),
    );
    assert.equal(out.update?.status, "InProgress");
    assert.deepEqual(out.update?.params, [{ type: "DesiredSize", value: String(size + 1) }]);
    const finished = async (updateId: string) => {
      for (let i = 0; i < 50; i++) {
        const d = await eks.send(new DescribeUpdateCommand({ name: "aws-sim", updateId, nodegroupName: "trn2" }));
        if (d.update?.status !== "InProgress") return d.update?.status;
        await new Promise((r) => setTimeout(r, 100));
      }
      return "InProgress";
    };
    assert.equal(await finished(out.update?.id ?? ""), "Successful");
    const back = await eks.send(
      new UpdateNodegroupConfigCommand({
        clusterName: "aws-sim",
        nodegroupName: "trn2",
        scalingConfig: { ...scalingConfig, desiredSize: size },
      }),
    );
    assert.equal(await finished(back.update?.id ?? ""), "Successful");
    await assert.rejects(
      eks.send(
        new UpdateNodegroupConfigCommand({
          clusterName: "aws-sim",
          nodegroupName: "trn2",
          scalingConfig: { ...scalingConfig, desiredSize: 99 },
        }),
      ),
      (e: Error) => e.name === "InvalidParameterException",
    );
  });

  it("ARM refuses a call without api-version, as ARM does", async () => {
    const r = await call(
      "GET",
      "/subscriptions/s/resourceGroups/r/providers/Microsoft.ContainerService/managedClusters/azure-sim",
    );
    assert.equal(r.status, 400);
    assert.deepEqual((r.body as { error: { code: string } }).error.code, "MissingApiVersionParameter");
  });

  it("admin API: faults change at run time and are validated; state shows the groups", async () => {
    assert.equal((await call("PUT", "/_admin/faults", { throttleRate: 2 })).status, 400);
    assert.equal((await call("PUT", "/_admin/faults", { throttleRate: 1 })).status, 200);
    const throttled = await call("GET", "/clusters/aws-sim/node-groups");
    assert.equal(throttled.status, 429);
    assert.equal((await call("PUT", "/_admin/faults", {})).status, 200);
    assert.equal((await call("PUT", "/_admin/node-groups/aws-sim/p5", { autoscalerOwned: true })).status, 200);
    const state = (await call("GET", "/_admin/state")).body as {
      groups: { group: string; autoscalerOwned: boolean }[];
    };
    assert.equal(state.groups.find((g) => g.group === "p5")?.autoscalerOwned, true);
    await call("PUT", "/_admin/node-groups/aws-sim/p5", { autoscalerOwned: false });
  });

  it("a fresh process trusts the simulator through NODE_EXTRA_CA_CERTS", async () => {
    const script = `
      const { EKSClient, ListNodegroupsCommand } = await import("@aws-sdk/client-eks");
      const eks = new EKSClient({ region: "us-east-1", endpoint: process.argv[1], credentials: { accessKeyId: "a", secretAccessKey: "b" } });
      const out = await eks.send(new ListNodegroupsCommand({ clusterName: "aws-sim" }));
      console.log(out.nodegroups.join(","));`;
    const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script, sim.url], {
      env: { ...process.env, NODE_EXTRA_CA_CERTS: sim.caFile },
    });
    assert.equal(stdout.trim(), "trn1,trn2,p5,p6b200,gb200,trn2u");
  });
});
