// Placement's ranking: the order of candidates under each strategy, and the
// cost used to rank them (whole-job price plus the amortized cost of moving
// the newest checkpoint to a cluster whose store does not hold it).

import { micros, parsePrice } from "../catalog/money.ts";
import type { Candidate, PlacementRequest, Strategy } from "./types.ts";

/** Knobs of the scoring; every field has a default. */
export interface PlacementOptions {
  /**
   * $ per GiB to move a checkpoint into a cluster whose store lacks the newest
   * step (egress plus transfer time, as money). Default "0.09".
   */
  readonly checkpointMovePerGiB?: string;
  /** Hours of running over which that one-off cost is spread when compared with $/hour. Default 24. */
  readonly checkpointAmortizationHours?: number;
}

const GIB = 1024 ** 3;

/** The hourly cost of moving the checkpoint to `candidate`, in micro-dollars (0 when it is already there). */
export function checkpointMoveMicros(
  request: PlacementRequest,
  candidate: Candidate,
  options: PlacementOptions,
): number {
  const ckpt = request.checkpoint;
  if (!ckpt || ckpt.clusters.length === 0 || candidate.hasCheckpoint) return 0;
  const perGiB = parsePrice(options.checkpointMovePerGiB ?? "0.09");
  if (!perGiB.ok) throw new Error(`PlacementOptions.checkpointMovePerGiB: ${perGiB.reason}`);
  const hours = options.checkpointAmortizationHours ?? 24;
  return Math.round((perGiB.value * (ckpt.sizeBytes / GIB)) / Math.max(hours, 1));
}

/**
 * The candidate with its ranking cost filled in. Reserved capacity is paid for whether used or not:
 * its marginal price is 0, whatever its list price (known or not); moving the checkpoint still counts.
 */
export function withEffectiveCost(request: PlacementRequest, c: Candidate, options: PlacementOptions): Candidate {
  const marginal = c.capacityType === "Reserved" ? 0 : c.priceMicros;
  if (marginal === undefined) return c;
  return { ...c, effectiveMicros: micros(marginal + checkpointMoveMicros(request, c, options)) };
}

/** The rules candidates are compared by, in the order a strategy applies them. */
export type RankKey = "fit" | "cost" | "checkpoint" | "preference" | "name";

export const RANK_KEYS: Readonly<Record<Strategy, readonly RankKey[]>> = {
  LowestCost: ["fit", "cost", "checkpoint", "preference", "name"],
  Preference: ["preference", "fit", "cost", "checkpoint", "name"],
};

const fitRank = (c: Candidate) => (c.fit === "Now" ? 0 : 1);
const costRank = (c: Candidate) => c.effectiveMicros ?? Number.MAX_SAFE_INTEGER;
const nameOf = (c: Candidate) => `${c.cluster}/${c.nodeGroup}`;

/** Negative when `a` ranks before `b` on `key`, positive after, 0 on a tie. */
export function compareOn(key: RankKey, a: Candidate, b: Candidate): number {
  switch (key) {
    case "fit":
      return fitRank(a) - fitRank(b);
    case "cost":
      return costRank(a) - costRank(b);
    case "checkpoint":
      return Number(b.hasCheckpoint) - Number(a.hasCheckpoint);
    case "preference":
      return a.preference - b.preference;
    case "name":
      return nameOf(a) < nameOf(b) ? -1 : nameOf(a) > nameOf(b) ? 1 : 0;
  }
}

/** The first rule on which `a` and `b` differ under `strategy`. */
export function decidingKey(strategy: Strategy, a: Candidate, b: Candidate): RankKey {
  return RANK_KEYS[strategy].find((k) => compareOn(k, a, b) !== 0) ?? "name";
}

/** Candidates best first under `strategy`. */
export function rank(strategy: Strategy, candidates: readonly Candidate[]): Candidate[] {
  const keys = RANK_KEYS[strategy];
  return [...candidates].sort((a, b) => {
    for (const k of keys) {
      const d = compareOn(k, a, b);
      if (d !== 0) return d;
    }
    return 0;
  });
}
