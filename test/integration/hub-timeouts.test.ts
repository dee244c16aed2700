// A hub that accepts connections and never answers: the operator, run as
// users run it, reaches the hub through a TCP proxy that hangs. Its hub
// requests fail at HUB_REQUEST_TIMEOUT_MS (2 s here, not the 30 s default)
// with an error naming the hub and the request, so a reconcile that reads
// the hub is held at most that long; once the proxy heals they succeed.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type OperatorProcess, prepareHub, startOperator, waitClustersReady } from "../support/operator.ts";
import { kubeConfigVia, serverOf, TcpProxy } from "../support/runtime-proxy.ts";
import { clients, cordonOneNode, eventually } from "../support/sandbox.ts";

const HUB_TIMEOUT_MS = 2_000;

describe("a hub that hangs", () => {
  const dir = mkdtempSync(join(tmpdir(), "hub-hang-"));
  let proxy: TcpProxy;
  let operator: OperatorProcess;

  before(async () => {
    await prepareHub();
    const hub = clients("hub").kubeConfig;
    proxy = await TcpProxy.start(serverOf(hub));
    const kubeconfig = join(dir, "hub-via-proxy.kubeconfig");
    writeFileSync(kubeconfig, kubeConfigVia(hub, proxy).exportConfig());
    operator = startOperator("hub-hang-operator", {
      KUBECONFIG: kubeconfig,
      LEADER_ELECTION: "false",
      HEARTBEAT_MS: "1000",
      HUB_REQUEST_TIMEOUT_MS: String(HUB_TIMEOUT_MS),
    });
    await waitClustersReady();
  });
  after(async () => {
    await operator?.stop();
    await proxy?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("fails hub requests at HUB_REQUEST_TIMEOUT_MS naming the hub, and goes on once it answers", async () => {
    const logged = operator.logs().length;
    proxy.hang();
    // A capacity change on the worker: aws-sim's ComputeCluster status is written to the hub within a
    // heartbeat (1 s), a request that gets no answer.
    const uncordon = await cordonOneNode("aws-sim");
    const started = Date.now();
    const line = await eventually(
      "a reconcile to fail on a hub request that got no answer",
      () => Promise.resolve(operator.logs().slice(logged)),
      (text) => /the hub did not answer (GET|PATCH|PUT|POST|DELETE) \/\S+ within 2s/.test(text),
      HUB_TIMEOUT_MS + 6_000,
    ).finally(uncordon);
    const took = Date.now() - started;
    assert.ok(took < HUB_TIMEOUT_MS + 6_000, `the first hub request failed after ${took}ms`);
    // The reconcile that met it failed and will be retried, rather than waiting on the hub.
    assert.match(line, /"msg":"reconcile failed; will retry".*the hub did not answer/);
    assert.equal(operator.child.exitCode, null, "the operator keeps running");

    proxy.heal();
    // Requests sent before the heal may still fail; none sent after it does.
    await new Promise((r) => setTimeout(r, HUB_TIMEOUT_MS + 1_000));
    const afterHeal = operator.logs().length;
    await new Promise((r) => setTimeout(r, 2 * HUB_TIMEOUT_MS));
    const later = operator.logs().slice(afterHeal);
    assert.doesNotMatch(later, /the hub did not answer/, "hub requests still fail after the heal");
  });
});
