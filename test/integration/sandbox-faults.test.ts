// The sandbox's fault commands, run as people run them (scripts/sandbox/cli.ts)
// against the running sandbox: a partitioned worker accepts TCP connections
// yet answers no HTTPS request while the other clusters answer, heal brings it
// back, and an eviction fails the pods on the reclaimed nodes with
// DisruptionTarget, deletes them and the nodes, and shrinks the cloud
// simulator's group. The spot pool is scaled back through the ARM API after.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import type { RequestOptions } from "node:https";
import { request } from "node:https";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { ContainerServiceClient } from "@azure/arm-containerservice";
import { type V1Pod, Watch } from "@kubernetes/client-node";
import { SANDBOX_GROUP_LABEL } from "../../scripts/sandbox/nodes.ts";
import { REPO_ROOT } from "../../scripts/sandbox/paths.ts";
import { kubeConfigFor } from "../../scripts/sandbox/sandbox.ts";
import { defaultTopology } from "../../scripts/sandbox/topology.ts";
import { sandboxAksClient, scaleAzurePool, simGroup } from "../support/cloudsim.ts";
import { clients, eventually, type SandboxCluster, uniqueName } from "../support/sandbox.ts";

const cli = join(REPO_ROOT, "scripts/sandbox/cli.ts");

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `cli.ts args` in its own process (asynchronously, so this process's watches keep reading). */
function sandbox(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { env: { ...process.env, ...env } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

const apiPort = (cluster: SandboxCluster) => defaultTopology().clusters.find((c) => c.name === cluster)?.apiPort ?? 0;

/** Whether a plain TCP connection to the port is accepted within `ms`. */
function tcpConnects(port: number, ms = 3_000): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port, timeout: ms });
    socket.on("connect", () => {
      socket.destroy();
      resolve("connected");
    });
    socket.on("timeout", () => {
      socket.destroy();
      resolve("timeout");
    });
    socket.on("error", (err: NodeJS.ErrnoException) => resolve(`error ${err.code}`));
  });
}

/** GET /version with the cluster's kubeconfig: "status 200", "timeout" (no answer in `ms`) or "error <code>". */
async function getVersion(cluster: SandboxCluster, ms: number): Promise<string> {
  const options: RequestOptions = { agent: false };
  await kubeConfigFor(cluster).applyToHTTPSOptions(options);
  return new Promise((resolve) => {
    const req = request(`https://127.0.0.1:${apiPort(cluster)}/version`, options, (res) => {
      res.resume();
      clearTimeout(timer);
      resolve(`status ${res.statusCode}`);
    });
    const timer = setTimeout(() => {
      resolve("timeout");
      req.destroy();
    }, ms);
    req.on("error", (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(`error ${err.code ?? err.message}`);
    });
    req.end();
  });
}

describe("sandbox:partition and sandbox:heal", { timeout: 120_000 }, () => {
  after(() => sandbox(["heal", "aws-sim"]));

  it("partition: aws-sim accepts TCP but answers no HTTPS request within 3 s; the hub and azure-sim answer", async () => {
    const run = await sandbox(["partition", "aws-sim"]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(await tcpConnects(apiPort("aws-sim")), "connected", "the kernel still accepts the connection");
    assert.equal(await getVersion("aws-sim", 3_000), "timeout", "the request hangs, it is not refused");
    // The others only have to answer: a loaded machine may take longer than 3 s.
    assert.equal(await getVersion("hub", 10_000), "status 200");
    assert.equal(await getVersion("azure-sim", 10_000), "status 200");
    const status = await sandbox(["status"]);
    assert.match(status.stdout, /partitioned {2}aws-sim: kube-apiserver \(pid \d+\) paused since/);
  });

  it("heal: aws-sim answers again", async () => {
    const run = await sandbox(["heal", "aws-sim"]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /healed aws-sim/);
    assert.equal(await getVersion("aws-sim", 10_000), "status 200");
    assert.doesNotMatch((await sandbox(["status"])).stdout, /partitioned/);
  });
});

/** A pod on the spot pool: all 8 GPUs of one node, tolerating the pool's taints. */
function spotPod(name: string): V1Pod {
  const gpus = { "nvidia.com/gpu": "8" };
  return {
    metadata: { name },
    spec: {
      restartPolicy: "Never",
      nodeSelector: { "kubernetes.azure.com/agentpool": "ndh100spot" },
      tolerations: [
        { key: "sku", operator: "Equal", value: "gpu", effect: "NoSchedule" },
        { key: "kubernetes.azure.com/scalesetpriority", operator: "Equal", value: "spot", effect: "NoSchedule" },
      ],
      containers: [{ name: "trainer", image: "example.com/train:latest", resources: { requests: gpus, limits: gpus } }],
    },
  };
}

interface PodEvent {
  readonly type: string;
  readonly pod: V1Pod;
}

describe("sandbox:evict", { timeout: 240_000 }, () => {
  const azure = clients("azure-sim");
  const namespace = uniqueName("evict");
  const pool = "ndh100spot";
  const events: PodEvent[] = [];
  let watch: AbortController | undefined;
  let size = 0;
  let aks: ContainerServiceClient;

  const poolNodes = async () =>
    (await azure.core.listNode({ labelSelector: `${SANDBOX_GROUP_LABEL}=${pool}` })).items.filter((n) =>
      n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
    );

  const scalePool = (count: number) => scaleAzurePool(pool, count, 60_000);

  /** Runs a pod on the pool and returns the node it runs on. */
  const runPod = async (name: string) => {
    await azure.core.createNamespacedPod({ namespace, body: spotPod(name) });
    const running = await eventually(
      `pod ${name} to run`,
      () => azure.core.readNamespacedPod({ name, namespace }),
      (p) => p.status?.phase === "Running",
    );
    return running.spec?.nodeName ?? "";
  };

  /** The first watch event showing `name` with DisruptionTarget, and whether a DELETED event followed. */
  const seen = (name: string) => {
    const ofPod = events.filter((e) => e.pod.metadata?.name === name);
    const disrupted = ofPod.find((e) => e.pod.status?.conditions?.some((c) => c.type === "DisruptionTarget"));
    return { disrupted: disrupted?.pod, deleted: ofPod.some((e) => e.type === "DELETED") };
  };

  before(async () => {
    aks = sandboxAksClient();
    size = (await simGroup("azure-sim", pool)).desiredSize;
    await azure.core.createNamespace({ body: { metadata: { name: namespace } } });
    watch = await new Watch(azure.kubeConfig).watch(
      `/api/v1/namespaces/${namespace}/pods`,
      {},
      (type, pod: V1Pod) => events.push({ type, pod }),
      () => {},
    );
  });

  after(async () => {
    watch?.abort();
    // Later tests expect the pool's default nodes: scale it back whatever happened above.
    if ((await simGroup("azure-sim", pool)).desiredSize !== size) await scalePool(size);
    await azure.core.deleteNamespace({ name: namespace });
  });

  it("evicting the whole spot pool fails its pods with DisruptionTarget, deletes pods and nodes, shrinks the pool", async () => {
    const node = await runPod("whole");
    const before = await simGroup("azure-sim", pool);
    const run = await sandbox(["evict", `azure-sim/${pool}`]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`pod ${namespace}/whole on ${node}: Failed, DisruptionTarget`));

    const { disrupted } = await eventually(
      "the pod's DisruptionTarget and deletion",
      async () => seen("whole"),
      (s) => s.deleted,
    );
    const condition = disrupted?.status?.conditions?.find((c) => c.type === "DisruptionTarget");
    assert.equal(condition?.status, "True");
    assert.equal(condition?.reason, "TerminationByKubelet");
    assert.equal(disrupted?.status?.phase, "Failed");
    assert.equal(disrupted?.status?.reason, "Terminated");

    assert.deepEqual(await poolNodes(), [], "the pool's nodes are gone");
    await assert.rejects(azure.core.readNode({ name: node }), (e: { code?: number }) => e.code === 404);
    const after = await simGroup("azure-sim", pool);
    assert.equal(after.desiredSize, before.desiredSize - size);
    assert.equal(after.nodes, before.nodes - size);
    assert.equal(after.maxSize, before.maxSize, "the pool can grow back");
    assert.equal((await aks.agentPools.get("sandbox", "azure-sim", pool)).count, 0, "ARM shows the smaller pool");
  });

  it("the pool grows back through the ARM API", async () => {
    await scalePool(size);
    assert.equal((await simGroup("azure-sim", pool)).nodes, size);
  });

  it("evicting 1 node takes the one running a pod and leaves the others", async () => {
    const node = await runPod("one");
    const run = await sandbox(["evict", `azure-sim/${pool}`, "1"]);
    assert.equal(run.code, 0, run.stderr);
    const { disrupted } = await eventually(
      "the pod's DisruptionTarget and deletion",
      async () => seen("one"),
      (s) => s.deleted,
    );
    assert.equal(
      disrupted?.status?.conditions?.find((c) => c.type === "DisruptionTarget")?.reason,
      "TerminationByKubelet",
    );
    const left = (await poolNodes()).map((n) => n.metadata?.name);
    assert.equal(left.length, size - 1);
    assert.ok(!left.includes(node), `${node}, which ran the pod, was evicted`);
    const g = await simGroup("azure-sim", pool);
    assert.deepEqual([g.desiredSize, g.nodes], [size - 1, size - 1]);
  });
});

describe("fault commands refuse what the sandbox does not have", { timeout: 60_000 }, () => {
  it("an unknown cluster or node group exits 2 naming the known ones; the hub cannot be partitioned", async () => {
    const cases: [string[], RegExp][] = [
      [["partition", "mars"], /no worker cluster "mars"; the sandbox has aws-sim, azure-sim/],
      [["partition", "hub"], /the hub cannot be partitioned/],
      [["heal"], /name a worker cluster: aws-sim, azure-sim/],
      [
        ["evict", "azure-sim/nope"],
        /no node group "azure-sim\/nope"; the sandbox's node groups are aws-sim\/trn1, .*azure-sim\/ndh100spot/,
      ],
      [["evict", "hub/system"], /no node group "hub\/system"/],
      [["evict", "azure-sim/ndh100spot", "0"], /count "0" is not a whole number of nodes >= 1/],
      [["evict", "azure-sim/ndh100spot", "99"], /azure-sim\/ndh100spot has \d+ nodes; cannot evict 99/],
    ];
    const runs = await Promise.all(cases.map(([args]) => sandbox(args)));
    cases.forEach(([args, message], i) => {
      assert.equal(runs[i]?.code, 2, `${args.join(" ")} exits 2:\n${runs[i]?.stderr}`);
      assert.match(runs[i]?.stderr ?? "", message);
    });
  });

  it("with no sandbox up, a fault command says to start it", async () => {
    const empty = mkdtempSync(join(tmpdir(), "sandbox-faults-"));
    try {
      const run = await sandbox(["partition", "aws-sim"], { SANDBOX_STATE_DIR: empty });
      assert.equal(run.code, 1);
      assert.match(run.stderr, /the sandbox is not up .*; start it: npm run sandbox:up/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
