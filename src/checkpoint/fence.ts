// Epoch fencing of checkpoints: which committed steps a placement may
// replicate, count and resume from, and which a stale (fenced) epoch wrote.

/** What the active placement knows about epochs. */
export interface EpochFence {
  /** The epoch of the active placement; steps of lower epochs are stale unless covered below. */
  readonly activeEpoch: number;
  /**
   * The step the active placement resumed from, when it resumed. Steps of an
   * older epoch at or below it were committed before the failover and stay
   * valid; above it, an older epoch's steps were written by a fenced workload.
   * Absent: every step of an older epoch is stale.
   */
  readonly resumedFromStep?: number;
}

/** True when `m` was written by a fenced epoch and must not be replicated, counted or resumed from. */
export function isStale(m: { readonly step: number; readonly epoch: number }, fence: EpochFence | undefined): boolean {
  if (!fence || m.epoch >= fence.activeEpoch) return false;
  return fence.resumedFromStep === undefined || m.step > fence.resumedFromStep;
}
