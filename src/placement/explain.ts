// Placement's explanations: why the winner won, why every other candidate
// lost, and why nothing could be chosen, in words a person can act on.

import { formatPrice, micros } from "../catalog/money.ts";
import { decidingKey } from "./score.ts";
import type { Candidate, PlacementOutcome, PlacementRequest, Rejection } from "./types.ts";

const name = (c: Candidate) => `${c.cluster}/${c.nodeGroup}`;
const listPrice = (c: Candidate) => (c.pricePerHour === undefined ? "price unknown" : `$${c.pricePerHour}/h`);
/** Reserved capacity is paid for whether used or not: placement ranks it at $0/h. */
const RESERVED = "reserved capacity (already paid for): marginal price $0/h";
const price = (c: Candidate) =>
  c.capacityType === "Reserved"
    ? `$0/h marginal (reserved capacity, already paid for${c.pricePerHour === undefined ? "" : `; list ${listPrice(c)}`})`
    : listPrice(c);

function fitText(c: Candidate): string {
  if (c.fit === "Now" && c.domains) {
    return `fits now in ${c.domains.names.join(" + ")} (${c.nodesNeeded} nodes needed, ${c.freeNodes} free in the group)`;
  }
  if (c.fit === "Now") return `fits now (${c.nodesNeeded} nodes needed, ${c.freeNodes} free)`;
  return `needs ${c.nodesNeeded} nodes, ${c.freeNodes} free, can grow to ${c.maxSize} (scale-up to ${c.scaleUpTo})`;
}

function moveText(c: Candidate): string {
  const extra = (c.effectiveMicros ?? 0) - (c.priceMicros ?? 0);
  return extra > 0 ? ` + $${formatPrice(micros(extra))}/h to move the checkpoint` : "";
}

/** A one-line summary of a candidate. */
export function describeCandidate(c: Candidate): string {
  return `${name(c)} (${c.instanceType}, ${c.accelerator}, ${c.capacityType}): ${fitText(c)}, ${price(c)} for ${c.nodesNeeded} nodes${moveText(c)}`;
}

/** Why `winner` won: the rule that set it apart from the runner-up, or that it was the only option. */
export function winnerReason(request: PlacementRequest, winner: Candidate, runnerUp: Candidate | undefined): string {
  const head = `chose ${describeCandidate(winner)}`;
  const ckpt = winner.hasCheckpoint ? "; the newest checkpoint is already in its store" : "";
  const topo = winner.topologyReason ? `; ${winner.topologyReason}` : "";
  if (!runnerUp) return `${head}; the only option that can take the job${ckpt}${topo}`;
  const cost = `lowest cost (${request.strategy})`;
  const why: Record<ReturnType<typeof decidingKey>, string> = {
    fit: "it fits now, the others need a scale-up",
    cost: winner.capacityType === "Reserved" ? `${RESERVED}, ${cost}` : cost,
    checkpoint: "same cost, and the newest checkpoint is already here",
    preference: `accelerator option #${winner.preference + 1} of the job's list (${request.strategy})`,
    name: "tied with others on every rule; first by name",
  };
  return `${head}; ${why[decidingKey(request.strategy, winner, runnerUp)]}${ckpt}${topo}`;
}

/** Why `loser` lost to `winner`, naming the rule that decided. */
export function loserReason(request: PlacementRequest, loser: Candidate, winner: Candidate): string {
  const w = name(winner);
  switch (decidingKey(request.strategy, loser, winner)) {
    case "fit":
      return `${name(loser)}: ${fitText(loser)} — lost to ${w}, which fits now`;
    case "cost":
      return `${name(loser)}: ${price(loser)}${moveText(loser)} — lost to ${w} at ${price(winner)}${moveText(winner)} (${request.strategy})`;
    case "checkpoint":
      return `${name(loser)}: same cost — lost to ${w}, whose store already holds the newest checkpoint`;
    case "preference":
      return `${name(loser)}: ${loser.accelerator} is option #${loser.preference + 1} — lost to ${w} with ${winner.accelerator}, option #${winner.preference + 1} (Preference)`;
    case "name":
      return `${name(loser)}: tied with ${w} on every rule — lost by name order`;
  }
}

/** The lines for the rejected groups, the uninteresting ones (other accelerators) summarized in one line. */
export function rejectionLines(rejected: readonly Rejection[]): string[] {
  const noise = rejected.filter((r) => r.reason === "AcceleratorNotRequested");
  const lines = rejected.filter((r) => r.reason !== "AcceleratorNotRequested").map((r) => r.message);
  if (noise.length > 0) {
    const groups = noise.map((r) => `${r.cluster}/${r.nodeGroup}`);
    const shown = groups.slice(0, 5).join(", ") + (groups.length > 5 ? ", ..." : "");
    lines.push(`${noise.length} node group(s) offer none of the job's accelerators (${shown})`);
  }
  return lines;
}

const FAILURE: Readonly<Record<Exclude<PlacementOutcome, "Placed" | "NeedsScaleUp">, string>> = {
  InvalidRequest: "the request is invalid",
  NoClusterAllowed: "no ComputeCluster is allowed by placement.clouds and placement.clusters",
  AllClustersUnavailable: "every allowed cluster is paused or not Ready",
  NoClusterOffersAccelerator:
    "no available cluster has a node group with the requested accelerators and enough devices per node",
  NoCapacityTypeMatch: "node groups with the accelerators exist, but none with the requested capacityType",
  InsufficientCapacity: "node groups with the accelerators exist, but none has enough free nodes or room to grow",
};

/** Why nothing was chosen, followed by the most useful rejections. */
export function failureReason(
  outcome: Exclude<PlacementOutcome, "Placed" | "NeedsScaleUp">,
  lines: readonly string[],
): string {
  const detail = lines.slice(0, 6).join("; ");
  return `not placed: ${FAILURE[outcome]}${detail ? `: ${detail}` : ""}`;
}
