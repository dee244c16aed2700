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
  "api.test.ts": 36,
  "bad-inputs.test.ts": 70,
  "checkpoint-agent-docs.test.ts": 14,
  "checkpoint-agent-pods.test.ts": 87,
  "checkpoint-agent-render.test.ts": 34,
  "checkpoint-agent-restore.test.ts": 15,
  "checkpoint-agent.test.ts": 18,
  "checkpoint-budget.test.ts": 5,
  "checkpoint-memory.test.ts": 33,
  "checkpoint-operator.test.ts": 31,
  "checkpoint-python.test.ts": 32,
  "checkpoint-replication.test.ts": 15,
  "checkpoint-scan.test.ts": 21,
  "checkpoint-store-contract.test.ts": 4,
  "cloud-hang-scale.test.ts": 46,
  "cloud-timeouts.test.ts": 21,
  "deploy.test.ts": 2,
  "gb200-topology.test.ts": 8,
  "failover-crash.test.ts": 61,
  "failover.test.ts": 161,
  "hardening-deletion.test.ts": 8,
  "hardening-job-update.test.ts": 77,
  "helm.test.ts": 43,
  "hub-timeouts.test.ts": 14,
  "image.test.ts": 61,
  "kstatus.test.ts": 30,
  "kueue-absent.test.ts": 8,
  "kueue-preemption.test.ts": 109,
  "kueue-queue.test.ts": 48,
  "lifecycle.test.ts": 41,
  "metrics-scrape.test.ts": 14,
  "operator-ha.test.ts": 41,
  "placement.test.ts": 88,
  "provider-cloudsim.test.ts": 3,
  "provider-contract.test.ts": 13,
  "rbac.test.ts": 11,
  "reconcile-errors.test.ts": 11,
  "replication-job.test.ts": 53,
  "runtime-informer.test.ts": 4,
  "runtime-leader.test.ts": 36,
  "sandbox-faults.test.ts": 18,
  "sandbox-kueue.test.ts": 1,
  "sandbox-scheduling.test.ts": 4,
  "sandbox-stores.test.ts": 1,
  "steady-writes.test.ts": 42,
  "store-timeouts.test.ts": 8,
  "store-trouble.test.ts": 80,
  "trn2-ultraserver.test.ts": 7,
  "worker-informers.test.ts": 21,
  "worker-objects.test.ts": 15,
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
