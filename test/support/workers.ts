// The informers of a worker connection made by a test's own ClusterRegistry,
// and waiting for them to sync.

import { informersOf, type WorkerCluster } from "../../src/clusters/registry.ts";
import { eventually } from "./sandbox.ts";

export { informersOf };

export async function waitSynced(w: WorkerCluster): Promise<void> {
  await eventually(
    `the informers of ${w.name} to sync`,
    () => Promise.resolve(informersOf(w).map((i) => i.synced)),
    (s) => s.every(Boolean),
    30_000,
  );
}
