// Replica counts of a job that is starting (1/4, 2/4, 3/4 running) are
// written at most every STARTING_PROGRESS_MS: a job whose pods come up within
// that time is written twice (placed, then Running) however its pods arrive.
// Anything else a pass changes (the phase, a problem, an event) is written at
// once. Placement does not read these counts from a worker whose informers
// have synced (it counts the bound pods: LiveCapacity in place.ts).

import { CONDITION } from "../../api/conditions.ts";
import type { TrainingJobStatus } from "../../api/trainingjob.ts";
import { canonical } from "./status.ts";

/** How often the replica counts of a Starting job are written, at most. */
export const STARTING_PROGRESS_MS = 5_000;

/** The status without what a Starting job's progress changes: the counts and the Running condition's message. */
function withoutProgress(s: TrainingJobStatus): unknown {
  const { replicas: _replicas, readyReplicas: _ready, ...rest } = s;
  const conditions = rest.conditions?.map((c) => (c.type === CONDITION.Running ? { ...c, message: "" } : c));
  return { ...rest, ...(conditions ? { conditions } : {}) };
}

/** True when `next` differs from `held` only in the replica counts of a job Starting in both. */
export function progressOnly(held: TrainingJobStatus, next: TrainingJobStatus): boolean {
  if (held.phase !== "Starting" || next.phase !== "Starting") return false;
  return canonical(withoutProgress(held)) === canonical(withoutProgress(next));
}

/** When each Starting job's status was last written by this process, by job uid. */
export class ProgressWrites {
  readonly #at = new Map<string, number>();

  /** How long a progress-only write of `uid` waits from `now`: 0 when it may go now. */
  wait(uid: string, now: number): number {
    const at = this.#at.get(uid);
    return at === undefined ? 0 : Math.max(0, at + STARTING_PROGRESS_MS - now);
  }

  /** Records a write of `status`; only a Starting job's writes are kept. */
  wrote(uid: string, status: TrainingJobStatus, now: number): void {
    if (status.phase === "Starting") this.#at.set(uid, now);
    else this.#at.delete(uid);
  }

  forget(uid: string): void {
    this.#at.delete(uid);
  }
}
