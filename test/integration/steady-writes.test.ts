// What the operator sends when nothing changes: a job Running with a
// replicated checkpoint (so its replication passes, resume ConfigMap, fencing
// and failover triggers all run every pass) makes no write to the hub or the
// workers, counted by crosscloud_api_requests_total; nor does one queued and
// admitted through Kueue (its Workload is not written either). The only hub writes
// allowed are the ComputeCluster heartbeat refreshes (at most one per cluster
// every 30 s, patch), over a 12 s window of 6 replication passes.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { trainStep } from "../support/failover.ts";
import { ensureKueue } from "../support/kueue.ts";
import { applyToHub } from "../support/kueue-jobs.ts";
import { type OperatorProcess, type OperatorSuite, withOperator } from "../support/operator.ts";
import { eventually, uniqueName } from "../support/sandbox.ts";
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

/** Waits until `name` runs with a replicated step, then asserts that 12 s of its passes write nothing. */
async function assertSteady(suite: OperatorSuite, name: string): Promise<void> {
  const tjs = suite.tjs;
  const prefix = `${tjs.namespace}/${name}`;
  await tjs.waitForPhase(name, "Running");
  await trainStep("aws-sim", prefix, 7, 1);
  await eventually(
    "step 7 replicated and reported",
    () => tjs.get(name),
    (j) => j.status?.conditions?.some((c) => c.type === "CheckpointReplicated" && c.status === "True") === true,
    60_000,
  );
  // Let the last writes of getting there (status, resume ConfigMap, events) settle.
  await new Promise((r) => setTimeout(r, 3_000));
  const start = await tjs.get(name);
  const first = await requestCounts(suite.operator());
  await new Promise((r) => setTimeout(r, 12_000));
  const second = await requestCounts(suite.operator());
  const end = await tjs.get(name);
  const writes = writesBetween(first, second);
  const heartbeats = writes.get("hub/patch") ?? 0;
  writes.delete("hub/patch");
  const changed =
    JSON.stringify(start.status) === JSON.stringify(end.status)
      ? "nothing"
      : JSON.stringify([start.status, end.status]);
  assert.deepEqual(Object.fromEntries(writes), {}, `writes while nothing changed; status before and after: ${changed}`);
  assert.ok(heartbeats <= 2, `hub patches (heartbeat refreshes): ${heartbeats}`);
  assert.equal(end.metadata.resourceVersion, start.metadata.resourceVersion, "the TrainingJob was written");
}

const steadyJob = (name: string) =>
  aTrainingJob(name)
    .replicas(1)
    .accelerator("trainium1", 16)
    .with((j) => {
      j.spec.template.metadata = { annotations: { "sandbox.crosscloud.dev/run-for": "900s" } };
    });

describe("a steady job", { timeout: 300_000 }, () => {
  const suite = withOperator("steady", { CHECKPOINT_INTERVAL_MS: "2000" }, async (jobs) => {
    for (const name of ["steady", "queued"]) await jobs.deleteAndWait(name).catch(() => {});
  });

  it("makes no write while nothing changes", async () => {
    await suite.tjs.create(steadyJob("steady").obj());
    await assertSteady(suite, "steady");
    await suite.tjs.deleteAndWait("steady");
  });

  it("makes no write while nothing changes, queued and admitted through Kueue", async () => {
    await ensureKueue();
    const queue = uniqueName("steady");
    applyToHub({
      yaml: `apiVersion: kueue.x-k8s.io/v1beta2
kind: ResourceFlavor
metadata: {name: trainium1}
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: ClusterQueue
metadata: {name: ${queue}}
spec:
  namespaceSelector: {}
  resourceGroups:
    - coveredResources: [aws.amazon.com/neuron]
      flavors: [{name: trainium1, resources: [{name: aws.amazon.com/neuron, nominalQuota: 16}]}]
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: LocalQueue
metadata: {name: ${queue}, namespace: ${suite.tjs.namespace}}
spec: {clusterQueue: ${queue}}
`,
    });
    await suite.tjs.create(
      steadyJob("queued")
        .with((j) => (j.metadata.labels = { "kueue.x-k8s.io/queue-name": queue }))
        .obj(),
    );
    await assertSteady(suite, "queued");
    const job = await suite.tjs.get("queued");
    assert.equal(job.status?.conditions?.find((c) => c.type === "Admitted")?.status, "True");
  });
});
