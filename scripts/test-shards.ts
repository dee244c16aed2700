// Splits the integration test files into shards of about equal run time, so
// that `npm test` can run them against several sandboxes at once (each suite
// starts its own operator on its sandbox's hub, so two shards never share
// one). Usage: node scripts/test-shards.ts <shard> <shards>; prints the
// shard's files, one per line. Times are what each file took in a CI run
// (seconds, rounded); a file not listed counts as DEFAULT_SECONDS.

import { readdirSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "./sandbox/paths.ts";

const DEFAULT_SECONDS = 40;
const SECONDS: Readonly<Record<string, number>> = {
  "api.test.ts": 27,
  "bad-inputs.test.ts": 73,
  "checkpoint-agent-docs.test.ts": 14,
  "checkpoint-agent-pods.test.ts": 69,
  "checkpoint-agent-render.test.ts": 43,
  "checkpoint-agent-restore.test.ts": 28,
  "checkpoint-agent.test.ts": 19,
  "checkpoint-budget.test.ts": 3,
  "checkpoint-memory.test.ts": 10,
  "checkpoint-operator.test.ts": 58,
  "checkpoint-python.test.ts": 48,
  "checkpoint-replication.test.ts": 28,
  "checkpoint-scan.test.ts": 15,
  "checkpoint-store-contract.test.ts": 3,
  "cloud-hang-scale.test.ts": 59,
  "cloud-timeouts.test.ts": 33,
  "deploy.test.ts": 3,
  "gb200-topology.test.ts": 15,
  "failover-crash.test.ts": 86,
  "failover.test.ts": 172,
  "hardening-deletion.test.ts": 15,
  "hardening-job-update.test.ts": 84,
  "helm.test.ts": 38,
  "hub-timeouts.test.ts": 16,
  "image.test.ts": 74,
  "kstatus.test.ts": 50,
  "kueue-absent.test.ts": 5,
  "kueue-preemption.test.ts": 160,
  "kueue-queue.test.ts": 65,
  "lifecycle.test.ts": 49,
  "metrics-scrape.test.ts": 23,
  "operator-ha.test.ts": 61,
  "placement.test.ts": 110,
  "provider-cloudsim.test.ts": 4,
  "provider-contract.test.ts": 12,
  "rbac.test.ts": 27,
  "reconcile-errors.test.ts": 20,
  "replication-job.test.ts": 59,
  "runtime-informer.test.ts": 3,
  "runtime-leader.test.ts": 35,
  "sandbox-faults.test.ts": 33,
  "sandbox-kueue.test.ts": 5,
  "sandbox-scheduling.test.ts": 4,
  "sandbox-stores.test.ts": 1,
  "steady-writes.test.ts": 55,
  "store-timeouts.test.ts": 7,
  "store-trouble.test.ts": 83,
  "trn2-ultraserver.test.ts": 10,
  "worker-informers.test.ts": 19,
  "worker-objects.test.ts": 22,
  "worker-timeouts.test.ts": 22,
};

/** Longest first, each to the shard with the least time so far (LPT); ties by name, so it is stable. */
export function shard(files: readonly string[], shards: number, seconds: (f: string) => number): string[][] {
  const out = Array.from({ length: shards }, () => ({ files: [] as string[], total: 0 }));
  const order = [...files].sort((a, b) => seconds(b) - seconds(a) || a.localeCompare(b));
  for (const f of order) {
    const least = out.reduce((m, s) => (s.total < m.total ? s : m));
    least.files.push(f);
    least.total += seconds(f);
  }
  return out.map((s) => s.files.sort());
}

if (import.meta.main) {
  const [index = -1, count = 0] = process.argv.slice(2).map(Number);
  if (!Number.isInteger(index) || !Number.isInteger(count) || count < 1 || index < 0 || index >= count) {
    console.error("usage: node scripts/test-shards.ts <shard> <shards> (0 <= shard < shards)");
    process.exit(2);
  }
  const dir = join(REPO_ROOT, "test", "integration");
  const files = readdirSync(dir).filter((f) => f.endsWith(".test.ts"));
  const mine = shard(files, count, (f) => SECONDS[f] ?? DEFAULT_SECONDS)[index] ?? [];
  for (const f of mine) console.log(join("test", "integration", f));
}
