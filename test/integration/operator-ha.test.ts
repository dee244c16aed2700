// The operator as a highly available process: killed with SIGKILL in the middle
// of a launch it creates no duplicate when it comes back; of two replicas
// exactly one leads, the other taking over when the leader dies, and at once
// when the leader is stopped with SIGTERM (it releases the Lease); a leader cut
// off from the hub while it works stops at its renew deadline and none of its
// writes reaches the hub after that; /healthz turns 500 with the reason when
// reconciles hang past STALL_TIMEOUT_MS, and 200 again once they finish.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CoordinationV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import { GROUP, VERSION } from "../../src/api/common.ts";
import { type OperatorProcess, prepareHub, startOperator, waitClustersReady } from "../support/operator.ts";
import { serverOf, TcpProxy, writeKubeConfigVia } from "../support/runtime-proxy.ts";
import { clients, cordonOneNode, eventually, uniqueName } from "../support/sandbox.ts";
import { aTrainingJob } from "../support/trainingjob.ts";
import { TrainingJobs, workloadOf } from "../support/trainingjobs.ts";

const LEASE = { namespace: "crosscloud-system", name: "crosscloud-operator-leader" };
const LEASE_DURATION_MS = 4_000;
/** The cut-off leader's timing: longer than startOperator's, so that it keeps the Lease while it starts on a busy machine. */
const CUT_OFF = { LEASE_DURATION_MS: "8000", RENEW_DEADLINE_MS: "6000" } as const;
const hub = clients("hub");
const leases = hub.kubeConfig.makeApiClient(CoordinationV1Api);
const custom = hub.kubeConfig.makeApiClient(CustomObjectsApi);
const holder = async () => (await leases.readNamespacedLease(LEASE)).spec?.holderIdentity ?? "";

/** What the hub holds that the operator writes: resourceVersions of ComputeClusters and of the namespace's TrainingJobs and Events. */
async function hubWrites(namespace: string): Promise<Map<string, string>> {
  const versions = new Map<string, string>();
  const list = (plural: string, ns?: string) =>
    (ns
      ? custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural })
      : custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural })) as Promise<{
      items: { metadata: { name: string; resourceVersion: string } }[];
    }>;
  for (const o of (await list("computeclusters")).items)
    versions.set(`computecluster/${o.metadata.name}`, o.metadata.resourceVersion);
  for (const o of (await list("trainingjobs", namespace)).items)
    versions.set(`trainingjob/${o.metadata.name}`, o.metadata.resourceVersion);
  for (const e of (await hub.core.listNamespacedEvent({ namespace })).items)
    versions.set(`event/${e.metadata?.name}`, e.metadata?.resourceVersion ?? "");
  return versions;
}

/** GET `path` on the operator's health server (its port from its start log line); status and body. */
async function probe(operator: OperatorProcess, path: string): Promise<{ status: number; body: string }> {
  const port = /"healthPort":(\d+)/.exec(operator.logs())?.[1];
  if (!port) throw new Error("the operator has not logged its health port yet");
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text() };
}

function shortJob(name: string) {
  return aTrainingJob(name)
    .replicas(2)
    .accelerator("trainium1", 16)
    .with((j) => {
      j.spec.template.metadata = { annotations: { "sandbox.crosscloud.dev/run-for": "2s" } };
    })
    .obj();
}

describe("operator availability", { timeout: 300_000 }, () => {
  const tjs = new TrainingJobs(uniqueName("ha"));
  const running: OperatorProcess[] = [];
  const start = (identity: string, env: NodeJS.ProcessEnv = {}) => {
    const p = startOperator(identity, {
      LEASE_DURATION_MS: String(LEASE_DURATION_MS),
      RENEW_DEADLINE_MS: "3000",
      RETRY_PERIOD_MS: "500",
      ...env,
    });
    running.push(p);
    return p;
  };

  before(async () => {
    await prepareHub();
    await tjs.createNamespace();
  });
  after(async () => {
    await Promise.all(running.map((p) => p.stop("SIGKILL")));
    await tjs.deleteNamespace();
  });

  it("restarts after a SIGKILL between creating the worker Service and its Job without duplicating anything", async () => {
    const crashing = start("crash-a", { CROSSCLOUD_FAILPOINTS: "launch.before-job" });
    await waitClustersReady();
    const created = await tjs.create(shortJob("interrupted"));
    const exit = await crashing.exited;
    assert.equal(exit.signal, "SIGKILL", `the failpoint killed the operator:\n${crashing.logs().slice(-2000)}`);
    const uid = created.metadata.uid ?? "";
    const half = await workloadOf("aws-sim", uid);
    assert.equal(half.services.length, 1, "the Service was created before the crash");
    assert.equal(half.jobs.length, 0, "the Job was not");

    start("crash-b");
    const done = await tjs.waitForPhase("interrupted", "Succeeded");
    assert.equal(done.status?.epoch, 1, "the same placement, not a second one");
    const whole = await workloadOf("aws-sim", uid);
    assert.deepEqual(
      whole.jobs.map((j) => j.metadata?.name),
      ["interrupted-e1"],
    );
    assert.deepEqual(
      whole.services.map((s) => s.metadata?.name),
      ["interrupted-e1"],
    );
    assert.equal((await workloadOf("azure-sim", uid)).jobs.length, 0, "nothing on the other cluster");
    await Promise.all(running.splice(0).map((p) => p.stop()));
  });

  it("runs one leader of two replicas, and the other takes over within the lease duration when it is killed", async () => {
    const a = start("replica-a");
    const b = start("replica-b");
    const first = await eventually("a leader", holder, (h) => h === "replica-a" || h === "replica-b", 30_000).catch(
      (err: Error) => {
        throw new Error(`${err.message}\nreplica-a:\n${a.logs().slice(-1500)}\nreplica-b:\n${b.logs().slice(-1500)}`);
      },
    );
    const [leader, standby] = first === "replica-a" ? [a, b] : [b, a];
    // Only the leader works: the standby logs no reconcile.
    await waitClustersReady();
    assert.ok(!standby.logs().includes('"msg":"leading"'), "the standby does not lead");

    const killedAt = Date.now();
    await leader.stop("SIGKILL");
    await eventually("the standby to take the Lease", holder, (h) => h === standby.identity, 20_000);
    const takeoverMs = Date.now() - killedAt;
    // The Lease expires LEASE_DURATION_MS after the last renewal; the standby retries every 500 ms.
    assert.ok(takeoverMs < 2 * LEASE_DURATION_MS, `took over in ${takeoverMs} ms`);

    await tjs.create(shortJob("after-takeover"));
    await tjs.waitForPhase("after-takeover", "Succeeded").catch((err: Error) => {
      throw new Error(`${err.message.slice(0, 600)}\nnew leader:\n${standby.logs().slice(-2500)}`);
    });
    assert.ok(standby.logs().includes('"msg":"leading"'));
  });

  it("a leader stopped with SIGTERM releases its Lease, and the standby leads without waiting for it to expire", async () => {
    await Promise.all(running.splice(0).map((p) => p.stop("SIGTERM")));
    // A Lease of 30 s: a standby that waited for it to expire would take that long.
    const slow = { LEASE_DURATION_MS: "30000", RENEW_DEADLINE_MS: "20000" };
    const a = start("graceful-a", slow);
    await eventually("graceful-a to lead", holder, (h) => h === "graceful-a", 30_000);
    const b = start("graceful-b", slow);
    await eventually(
      "graceful-b waiting as the standby",
      async () => b.logs(),
      (l) => l.includes("lease held by another replica"),
      30_000,
    );

    const stoppedAt = Date.now();
    await a.stop("SIGTERM");
    assert.equal((await a.exited).code, 0, `graceful-a exits 0:\n${a.logs().slice(-1500)}`);
    assert.match(a.logs(), /"msg":"released the lease"/, "the leader released the Lease before it exited");
    await eventually("graceful-b to take the Lease", holder, (h) => h === "graceful-b", 30_000);
    const takeoverMs = Date.now() - stoppedAt;
    assert.ok(takeoverMs < 15_000, `took over ${takeoverMs} ms after the SIGTERM: it waited for the Lease to expire`);
    await eventually(
      "graceful-b leading",
      async () => b.logs(),
      (l) => l.includes('"msg":"leading"'),
      30_000,
    );
    await b.stop("SIGTERM");
  });

  it("a leader cut off from the hub while it works stops at its renew deadline, and none of its writes lands after", async () => {
    await Promise.all(running.splice(0).map((p) => p.stop()));
    const proxy = await TcpProxy.start(serverOf(hub.kubeConfig));
    try {
      // Admin credentials through the proxy: this test is about the Lease, not about RBAC.
      const leader = start("cut-off", {
        KUBECONFIG: writeKubeConfigVia(hub.kubeConfig, proxy),
        ...CUT_OFF,
        HEARTBEAT_MS: "300",
      });
      const withLogs = (err: Error) => {
        throw new Error(`${err.message.slice(0, 300)}\noperator:\n${leader.logs().slice(-3000)}`);
      };
      await eventually("the cut-off replica to lead", holder, (h) => h === "cut-off", 30_000).catch(withLogs);
      await waitClustersReady().catch(withLogs);
      await tjs.create(shortJob("in-flight"));
      // Pods about to run: the pass that sees them writes status and events, and the heartbeat capacity.
      await tjs.waitForPhase("in-flight", "Starting");
      proxy.hang();
      const hungAt = Date.now();
      const lastRenew = await eventually(
        "the leader's renews to stop reaching the hub",
        async () => new Date((await leases.readNamespacedLease(LEASE)).spec?.renewTime ?? 0).getTime(),
        (t) => Date.now() - t > 1_000,
        10_000,
      );
      // The leader stops leading RENEW_DEADLINE_MS after the start of its last renew, the renewTime it wrote.
      const lostBy = lastRenew + Number(CUT_OFF.RENEW_DEADLINE_MS);
      await new Promise((r) => setTimeout(r, Math.max(0, lostBy - Date.now()) + 500));
      const atLoss = await hubWrites(tjs.namespace);
      proxy.heal(); // what the proxy still holds of the old leader's requests would reach the hub now
      const exit = await Promise.race([leader.exited, new Promise((r) => setTimeout(r, 10_000, undefined))]);
      await new Promise((r) => setTimeout(r, 2_000));
      const later = await hubWrites(tjs.namespace);
      const changed = [...later].filter(([k, v]) => atLoss.get(k) !== v).map(([k]) => k);
      assert.deepEqual(
        changed,
        [],
        `written by the old leader after it lost the Lease:\n${leader.logs().slice(-3000)}`,
      );
      assert.match(leader.logs(), /"msg":"lost the lease; aborting in-flight work"/);
      assert.deepEqual(exit, { code: 1, signal: null }, "it exits so that a fresh start cannot act on stale state");
      assert.ok(Date.now() - hungAt < 30_000);
    } finally {
      await proxy.close();
      // The cut-off leader could not release its Lease: later suites need not wait for it to expire.
      await leases.deleteNamespacedLease(LEASE).catch(() => {});
    }
  });

  it("/healthz turns 500 with the reason while reconciles hang past STALL_TIMEOUT_MS, and 200 once they finish", async () => {
    await Promise.all(running.splice(0).map((p) => p.stop()));
    const proxy = await TcpProxy.start(serverOf(hub.kubeConfig));
    try {
      // No Lease, so that a hung hub stalls the controllers instead of ending the leadership.
      const operator = start("stalling", {
        KUBECONFIG: writeKubeConfigVia(hub.kubeConfig, proxy),
        LEADER_ELECTION: "false",
        HEARTBEAT_MS: "300",
        STALL_TIMEOUT_MS: "2000",
      });
      await waitClustersReady();
      assert.deepEqual(await probe(operator, "/healthz"), { status: 200, body: "ok\n" });
      // A capacity change on each worker: both clusters' passes write status to the hub, which hangs
      // (the hub deadline is 30 s).
      proxy.hang();
      const undo = [await cordonOneNode("aws-sim"), await cordonOneNode("azure-sim")];
      // Another controller (a TrainingJob pass left from an earlier suite's job) may stall first.
      const unhealthy = await eventually(
        "/healthz to fail naming the computecluster controller",
        () => probe(operator, "/healthz"),
        (r) => r.status !== 200 && /controller computecluster/.test(r.body),
        15_000,
      ).finally(() => Promise.all(undo.map((u) => u())));
      assert.equal(unhealthy.status, 500);
      assert.match(unhealthy.body, /^unhealthy: /);
      assert.match(unhealthy.body, /controller computecluster: no reconcile finished for \d+s \(2 running/);
      proxy.heal();
      await eventually(
        "/healthz to pass again",
        () => probe(operator, "/healthz"),
        (r) => r.status === 200,
        15_000,
      );
    } finally {
      await proxy.close();
    }
  });
});
