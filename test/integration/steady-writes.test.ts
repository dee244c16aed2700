// What the operator sends when nothing changes: a job Running with a
// replicated checkpoint (so its replication passes, resume ConfigMap, fencing
// and failover triggers all run every pass) makes no write to the hub or the
// workers, counted by crosscloud_api_requests_total. The only hub writes
// allowed are the ComputeCluster heartbeat refreshes (at most one per cluster
// every 30 s, patch), over a 12 s window of 6 replication passes.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { trainStep } from "../support/failover.ts";
import { type OperatorProcess, withOperator } from "../support/operator.ts";
import { eventually } from "../support/sandbox.ts";
import { aTrainingJob } from "../support/trainingjob.ts";

const WRITES = ["create", "patch", "replace", "delete"];

/** crosscloud_api_requests_total by "cluster/verb", scraped from the operator's /metrics. */
async function requestCounts(operator: OperatorProcess): Promise<Map<string, number>> {
  const port = /"healthPort":(\d+)/.exec(operator.logs())?.[1];
  assert.ok(port, "the operator logged its health port");
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const counts = new Map<string, number>();
  for (const m of text.matchAll(/^crosscloud_api_requests_total\{cluster="([^"]+)",verb="([^"]+)"\} (\d+)/gm)) {
    counts.set(`${m[1]}/${m[2]}`, Number(m[3]));
  }
  return counts;
}

function writesBetween(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  const writes = new Map<string, number>();
  for (const [key, n] of after) {
    const verb = key.split("/")[1] ?? "";
    const delta = n - (before.get(key) ?? 0);
    if (WRITES.includes(verb) && delta > 0) writes.set(key, delta);
  }
  return writes;
}

describe("a steady job", { timeout: 300_000 }, () => {
  const suite = withOperator("steady", { CHECKPOINT_INTERVAL_MS: "2000" }, async (jobs) => {
    await jobs.deleteAndWait("steady").catch(() => {});
  });
  const tjs = suite.tjs;

  it("makes no write while nothing changes", async () => {
    const prefix = `${tjs.namespace}/steady`;
    await tjs.create(
      aTrainingJob("steady")
        .replicas(1)
        .accelerator("trainium1", 16)
        .with((j) => {
          j.spec.template.metadata = { annotations: { "sandbox.crosscloud.dev/run-for": "900s" } };
        })
        .obj(),
    );
    await tjs.waitForPhase("steady", "Running");
    await trainStep("aws-sim", prefix, 7, 1);
    await eventually(
      "step 7 replicated and reported",
      () => tjs.get("steady"),
      (j) => j.status?.conditions?.some((c) => c.type === "CheckpointReplicated" && c.status === "True") === true,
      60_000,
    );
    // Let the last writes of getting there (status, resume ConfigMap, events) settle.
    await new Promise((r) => setTimeout(r, 3_000));
    const start = await tjs.get("steady");
    const first = await requestCounts(suite.operator());
    await new Promise((r) => setTimeout(r, 12_000));
    const second = await requestCounts(suite.operator());
    const end = await tjs.get("steady");
    const writes = writesBetween(first, second);
    const heartbeats = writes.get("hub/patch") ?? 0;
    writes.delete("hub/patch");
    const changed =
      JSON.stringify(start.status) === JSON.stringify(end.status)
        ? "nothing"
        : JSON.stringify([start.status, end.status]);
    assert.deepEqual(
      Object.fromEntries(writes),
      {},
      `writes while nothing changed; status before and after: ${changed}`,
    );
    assert.ok(heartbeats <= 2, `hub patches (heartbeat refreshes): ${heartbeats}`);
    assert.equal(end.metadata.resourceVersion, start.metadata.resourceVersion, "the TrainingJob was written");
  });
});
