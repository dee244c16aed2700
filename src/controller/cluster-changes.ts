// What changed in a ComputeCluster, as each of its readers sees it, so that an
// informer event wakes only the controllers it concerns: the cluster's own
// reconciler on a spec change (its status writes and heartbeats are its own),
// jobs waiting for a placement on anything placement reads, jobs placed there
// on what tells them to move (reachability, drain, pause, deletion). A status
// write that only moves lastHeartbeatTime wakes nobody.

import { isDeepStrictEqual } from "node:util";
import type { ComputeCluster } from "../api/computecluster.ts";

export interface ClusterChange {
  /** spec, generation or deletion: the cluster's reconciler runs. */
  readonly spec: boolean;
  /** Anything placement reads (spec, node groups, conditions): unplaced jobs try again. */
  readonly placement: boolean;
  /** What a placed job acts on (spec, deletion, the conditions' status and reason). */
  readonly placed: boolean;
}

interface Views {
  readonly spec: unknown;
  readonly placement: unknown;
  readonly placed: unknown;
}

function views(cc: ComputeCluster): Views {
  const spec = [cc.spec, cc.metadata.generation, cc.metadata.deletionTimestamp ?? null];
  const { lastHeartbeatTime: _beat, ...status } = cc.status ?? {};
  const conditions = (cc.status?.conditions ?? []).map((c) => [c.type, c.status, c.reason]);
  return { spec, placement: [spec, status], placed: [spec, conditions] };
}

/** Remembers each cluster's last views; `update` says which changed since the last event. */
export class ClusterChanges {
  readonly #last = new Map<string, Views>();

  update(cc: ComputeCluster, deleted: boolean): ClusterChange {
    const name = cc.metadata.name ?? "";
    const before = this.#last.get(name);
    if (deleted) {
      this.#last.delete(name);
      return { spec: true, placement: true, placed: true };
    }
    const now = views(cc);
    this.#last.set(name, now);
    if (!before) return { spec: true, placement: true, placed: true };
    return {
      spec: !isDeepStrictEqual(before.spec, now.spec),
      placement: !isDeepStrictEqual(before.placement, now.placement),
      placed: !isDeepStrictEqual(before.placed, now.placed),
    };
  }
}
