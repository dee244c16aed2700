// placeJob: the pure placement decision. Filters every node group of the
// snapshot, ranks what is left by the job's strategy, and explains the
// outcome. No I/O; the same inputs always give the same decision.

import { failureReason, loserReason, rejectionLines, winnerReason } from "./explain.ts";
import { clusterRejection, evaluateGroup } from "./filter.ts";
import { type PlacementOptions, rank, withEffectiveCost } from "./score.ts";
import type {
  Candidate,
  ClusterSnapshot,
  PlacementDecision,
  PlacementOutcome,
  PlacementRequest,
  Rejection,
} from "./types.ts";

/** What is wrong with the request itself, or undefined (the CRD validates the same; this guards other callers). */
function requestProblem(request: PlacementRequest): string | undefined {
  if (!Number.isInteger(request.replicas) || request.replicas < 1)
    return `replicas must be >= 1, got ${request.replicas}`;
  if (request.accelerators.length === 0) return "accelerators must list at least one option";
  const bad = request.accelerators.find((a) => !Number.isInteger(a.perReplica) || a.perReplica < 1);
  if (bad) return `accelerators[${bad.type}].perReplica must be >= 1, got ${bad.perReplica}`;
  return undefined;
}

/** The most specific outcome when no candidate is left, from what the rejections say. */
function failureOutcome(snapshot: readonly ClusterSnapshot[], rejected: readonly Rejection[]): PlacementOutcome {
  const byReason = (...reasons: Rejection["reason"][]) => rejected.filter((r) => reasons.includes(r.reason));
  const limited = byReason("CloudNotAllowed", "ClusterNotAllowed").length;
  if (limited === snapshot.length) return "NoClusterAllowed";
  if (limited + byReason("ClusterPaused", "ClusterNotReady").length === snapshot.length)
    return "AllClustersUnavailable";
  if (byReason("InsufficientCapacity", "AutoscalerOwned", "PreviouslyFailed", "LargerThanDomain").length > 0)
    return "InsufficientCapacity";
  if (byReason("CapacityTypeNotAllowed").length > 0) return "NoCapacityTypeMatch";
  return "NoClusterOffersAccelerator";
}

function evaluate(request: PlacementRequest, snapshot: readonly ClusterSnapshot[]) {
  const candidates: Candidate[] = [];
  const rejected: Rejection[] = [];
  for (const cluster of snapshot) {
    const whole = clusterRejection(request, cluster);
    if (whole) {
      rejected.push(whole);
      continue;
    }
    for (const group of cluster.nodeGroups) {
      const e = evaluateGroup(request, cluster, group);
      if (e.ok) candidates.push(e.candidate);
      else rejected.push(e.rejection);
    }
  }
  const key = (r: Rejection) => `${r.cluster}/${r.nodeGroup ?? ""}`;
  rejected.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  return { candidates, rejected };
}

/** Decides where a job runs, against a snapshot that does not change during the decision. */
export function placeJob(
  request: PlacementRequest,
  snapshot: readonly ClusterSnapshot[],
  options: PlacementOptions = {},
): PlacementDecision {
  const problem = requestProblem(request);
  if (problem) {
    return { outcome: "InvalidRequest", ranked: [], rejected: [], reason: `not placed: ${problem}`, explanations: [] };
  }
  const { candidates, rejected } = evaluate(request, snapshot);
  const ranked = rank(
    request.strategy,
    candidates.map((c) => withEffectiveCost(request, c, options)),
  );
  const [winner, runnerUp] = ranked;
  const lines = rejectionLines(rejected);
  if (!winner) {
    const outcome = failureOutcome(snapshot, rejected) as Exclude<PlacementOutcome, "Placed" | "NeedsScaleUp">;
    return { outcome, ranked, rejected, reason: failureReason(outcome, lines), explanations: lines };
  }
  return {
    outcome: winner.fit === "Now" ? "Placed" : "NeedsScaleUp",
    winner,
    ranked,
    rejected,
    reason: winnerReason(request, winner, runnerUp),
    explanations: [...ranked.slice(1).map((c) => loserReason(request, c, winner)), ...lines],
  };
}
