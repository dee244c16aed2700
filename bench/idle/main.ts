// bench/idle: what an idle operator sends. Against the running sandbox, with
// both ComputeClusters registered and no TrainingJob, the operator process (as
// users run it, test/support/operator.ts) is left alone for a warm-up, then
// its own counter crosscloud_api_requests_total{cluster,verb} is read from
// /metrics at the start and at the end of a window. Prints the requests per
// minute by cluster and verb as a markdown table, and the writes per minute
// beside what the heartbeat alone needs: one ComputeCluster status write per
// cluster per HEARTBEAT_REFRESH_MS while nothing changes.
//
// Usage: npm run bench:idle -- [--minutes 2] [--warmup-seconds 20]

import { parseArgs } from "node:util";
import { HEARTBEAT_REFRESH_MS } from "../../src/controller/computecluster/reconciler.ts";
import { prepareHub, startOperator, waitClustersReady } from "../../test/support/operator.ts";
import { eventually } from "../../test/support/sandbox.ts";
import { requestsBetween, scrapeRequests, total } from "../support/requests.ts";

const CLUSTERS = 2;

const { values } = parseArgs({
  options: { minutes: { type: "string", default: "2" }, "warmup-seconds": { type: "string", default: "20" } },
});
const minutes = Number(values.minutes);
const warmupMs = Number(values["warmup-seconds"]) * 1000;
if (!(minutes > 0) || !(warmupMs >= 0)) throw new Error("--minutes must be > 0 and --warmup-seconds >= 0");

await prepareHub();
const operator = startOperator("bench-idle", { HEALTH_PORT: "0" });
try {
  await waitClustersReady();
  const port = await eventually(
    "the operator's health port in its log",
    async () => Number(/"healthPort":(\d+)/.exec(operator.logs())?.[1] ?? 0),
    (p) => p > 0,
    30_000,
  );
  await new Promise((r) => setTimeout(r, warmupMs));
  const before = await scrapeRequests(port);
  await new Promise((r) => setTimeout(r, minutes * 60_000));
  const rows = requestsBetween(before, await scrapeRequests(port));
  console.log(
    `Idle operator, ${CLUSTERS} ComputeClusters, no TrainingJob; ${minutes} min after a ${warmupMs / 1000} s warm-up.\n`,
  );
  console.log("| cluster | verb | requests per minute |");
  console.log("| --- | --- | ---: |");
  for (const r of rows) console.log(`| ${r.cluster} | ${r.verb} | ${(r.count / minutes).toFixed(1)} |`);
  const writes = total(rows, true) / minutes;
  const floor = (CLUSTERS * 60_000) / HEARTBEAT_REFRESH_MS;
  console.log(`| all | all | ${(total(rows) / minutes).toFixed(1)} |`);
  console.log(
    `\nWrites per minute: ${writes.toFixed(1)} (the heartbeat alone: ${floor} = ${CLUSTERS} clusters x one status write per ${HEARTBEAT_REFRESH_MS / 1000} s).`,
  );
} finally {
  await operator.stop();
}
