// The metrics the alerts and the dashboard read, scraped from a real operator
// against the sandbox: it leads, its ComputeClusters are reachable and ready,
// a placed job counts under its phase and cloud and in the placement latency,
// and a job that commits two steps gets a checkpoint interval beside its
// replication lag, both gone once the job is deleted.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { trainStep } from "../support/failover.ts";
import { scrapeMetrics as scrape, withOperator } from "../support/operator.ts";
import { eventually } from "../support/sandbox.ts";
import { aTrainingJob } from "../support/trainingjob.ts";

describe("the operator's metrics for alerts and the dashboard", { timeout: 300_000 }, () => {
  const suite = withOperator("metrics", { CHECKPOINT_INTERVAL_MS: "2000" }, async (jobs) => {
    await jobs.deleteAndWait("scraped").catch(() => {});
  });
  const tjs = suite.tjs;

  it("leader, clusters, jobs by phase and cloud, placement latency, checkpoint interval and lag", async () => {
    const created = Date.now();
    await tjs.create(
      aTrainingJob("scraped")
        .replicas(1)
        .accelerator("trainium1", 16)
        .with((j) => {
          j.spec.template.metadata = { annotations: { "sandbox.crosscloud.dev/run-for": "900s" } };
        })
        .obj(),
    );
    await tjs.waitForPhase("scraped", "Running");
    let m = await scrape(suite.operator());
    assert.equal(m.get("crosscloud_leader"), 1);
    assert.equal(m.get('crosscloud_computecluster_reachable{cluster="aws-sim",cloud="aws"}'), 1);
    assert.equal(m.get('crosscloud_computecluster_ready{cluster="azure-sim",cloud="azure"}'), 1);
    assert.ok((m.get('crosscloud_trainingjobs{phase="Running",cloud="aws"}') ?? 0) >= 1, "the job, Running on aws");
    assert.equal(m.get('crosscloud_placement_duration_seconds_count{cloud="aws"}'), 1, "one first placement");
    const placed = m.get('crosscloud_placement_duration_seconds_sum{cloud="aws"}') ?? -1;
    assert.ok(placed >= 0 && placed <= (Date.now() - created) / 1000 + 1, `placement took ${placed}s`);

    const prefix = `${tjs.namespace}/scraped`;
    const job = `namespace="${tjs.namespace}",name="scraped"`;
    await trainStep("aws-sim", prefix, 5, 1);
    await new Promise((r) => setTimeout(r, 2_000));
    await trainStep("aws-sim", prefix, 10, 1);
    m = await eventually(
      "the job's checkpoint interval and lag scraped",
      () => scrape(suite.operator()),
      (s) =>
        s.has(`crosscloud_checkpoint_job_interval_seconds{${job}}`) &&
        [...s.keys()].some((k) => k.startsWith(`crosscloud_checkpoint_job_replication_lag_seconds{${job}`)),
      60_000,
    );
    const interval = m.get(`crosscloud_checkpoint_job_interval_seconds{${job}}`) ?? 0;
    assert.ok(interval >= 1 && interval < 30, `two steps about 2 s apart, interval ${interval}s`);

    await tjs.deleteAndWait("scraped");
    m = await eventually(
      "the job's series removed",
      () => scrape(suite.operator()),
      (s) => ![...s.keys()].some((k) => k.includes(job)),
      60_000,
    );
    assert.equal(m.get("crosscloud_leader"), 1);
  });
});
