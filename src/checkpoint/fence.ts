// Epoch fencing of checkpoints: which committed steps a placement may
// replicate, count and resume from, and which a stale (fenced) epoch wrote.

/** One move in the job's history: the epoch it started and the step that epoch resumed from. */
export interface EpochStart {
  readonly epoch: number;
  /** Absent: that epoch started from scratch, so nothing older is on its line. */
  readonly resumedFromStep?: number;
}

/** What the active placement knows about epochs. */
export interface EpochFence {
  /** The epoch of the active placement; steps of lower epochs are stale unless covered below. */
  readonly activeEpoch: number;
  /**
   * The step the active placement resumed from, when it resumed. Steps of an
   * older epoch at or below it were committed before the failover and stay
   * valid; above it, an older epoch's steps were written by a fenced workload.
   * Absent: every step of an older epoch is stale. Ignored when `lineage` is given.
   */
  readonly resumedFromStep?: number;
  /**
   * Every epoch that started by moving while an older one could still be writing (a failover),
   * with the step it resumed from. A step of epoch k is valid when, for each such epoch j with
   * k < j <= activeEpoch, the step is at or below the step j resumed from. Epochs not listed
   * (the first placement, a new epoch after the old workload was confirmed gone) fence nothing.
   */
  readonly lineage?: readonly EpochStart[];
}

/** True when `m` was written by a fenced epoch and must not be replicated, counted or resumed from. */
export function isStale(m: { readonly step: number; readonly epoch: number }, fence: EpochFence | undefined): boolean {
  if (!fence || m.epoch >= fence.activeEpoch) return false;
  if (fence.lineage) {
    return fence.lineage.some(
      (j) =>
        j.epoch > m.epoch &&
        j.epoch <= fence.activeEpoch &&
        (j.resumedFromStep === undefined || m.step > j.resumedFromStep),
    );
  }
  return fence.resumedFromStep === undefined || m.step > fence.resumedFromStep;
}
