// placeJob with reserved capacity (EKS Capacity Blocks, Karpenter reserved):
// a marginal price of $0/h under the cost rule, and which capacityType
// requests accept it (OnDemand and Reserved do, Spot does not).

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { placeJob } from "../../src/placement/index.ts";
import type { CapacityTypeRequest, ClusterSnapshot, PlacementOutcome } from "../../src/placement/types.ts";
import { aCluster, aGroup, aJob, p5 } from "../support/builders.ts";

/** aws-b200 with a reserved p6-b200 group (Capacity Block) at a high list price, and cheaper on-demand and spot p5. */
function snapshot(): ClusterSnapshot[] {
  const b200 = aGroup("b200cb").instance("p6-b200.48xlarge", "nvidia-b200", 8).price("113.9328").capacity("Reserved");
  return [aCluster("aws-use1").cloud("aws").group(b200, p5(), p5("p5spot").spot().price("20.00")).obj()];
}

const job = (capacityType: CapacityTypeRequest = "OnDemand") =>
  aJob(4).accelerator("nvidia-h100", 8).accelerator("nvidia-b200", 8).capacity(capacityType).obj();

describe("reserved capacity", () => {
  it("wins under LowestCost over cheaper-looking on-demand, and the reason says reserved", () => {
    const d = placeJob(job(), snapshot());
    assert.equal(d.outcome, "Placed");
    assert.equal(d.winner?.nodeGroup, "b200cb");
    assert.equal(d.winner?.capacityType, "Reserved");
    assert.match(d.reason, /reserved capacity \(already paid for\): marginal price \$0\/h, lowest cost \(LowestCost\)/);
    assert.equal(d.winner?.pricePerHour, "455.7312", "status keeps the list price of the whole job");
    const p5Line = d.explanations.find((l) => l.startsWith("aws-use1/p5:"));
    assert.match(p5Line ?? "", /lost to aws-use1\/b200cb at \$0\/h marginal \(reserved capacity, already paid for/);
  });

  it("wins even when its price is unknown (Capacity Blocks only)", () => {
    const s = snapshot();
    const groups = s[0]?.nodeGroups.map((g) => (g.name === "b200cb" ? { ...g, pricePerHour: undefined } : g)) ?? [];
    const d = placeJob(job(), [{ ...(s[0] as ClusterSnapshot), nodeGroups: groups }]);
    assert.equal(d.winner?.nodeGroup, "b200cb");
  });

  it("does not beat a group that fits now when it needs a scale-up (fit comes first)", () => {
    const s = snapshot();
    const groups = s[0]?.nodeGroups.map((g) => (g.name === "b200cb" ? { ...g, freeNodes: 2, maxSize: 16 } : g)) ?? [];
    const d = placeJob(job(), [{ ...(s[0] as ClusterSnapshot), nodeGroups: groups }]);
    assert.equal(d.winner?.nodeGroup, "p5");
  });

  const rows: { request: CapacityTypeRequest; outcome: PlacementOutcome; winner: string; excluded: string[] }[] = [
    { request: "OnDemand", outcome: "Placed", winner: "b200cb", excluded: ["p5spot"] },
    { request: "Reserved", outcome: "Placed", winner: "b200cb", excluded: ["p5", "p5spot"] },
    { request: "Spot", outcome: "Placed", winner: "p5spot", excluded: ["b200cb", "p5"] },
    { request: "Any", outcome: "Placed", winner: "b200cb", excluded: [] },
  ];
  for (const row of rows) {
    it(`capacityType ${row.request} chooses ${row.winner} and excludes [${row.excluded.join(", ")}]`, () => {
      const d = placeJob(job(row.request), snapshot());
      assert.equal(d.outcome, row.outcome, d.reason);
      assert.equal(d.winner?.nodeGroup, row.winner);
      const excluded = d.rejected.filter((r) => r.reason === "CapacityTypeNotAllowed").map((r) => r.nodeGroup);
      assert.deepEqual(excluded.sort(), [...row.excluded].sort());
    });
  }

  it("capacityType Reserved with no reserved group: NoCapacityTypeMatch", () => {
    const d = placeJob(job("Reserved"), [aCluster("aws-use1").group(p5()).obj()]);
    assert.equal(d.outcome, "NoCapacityTypeMatch");
    assert.match(d.explanations.join("\n"), /OnDemand capacity, the job asks for placement.capacityType Reserved/);
  });

  it("two reserved groups tie on cost: the user's order decides, as before", () => {
    const reserved = (name: string, type: string, accel: string) =>
      aGroup(name).instance(type, accel, 8).price("1.00").capacity("Reserved");
    const c = aCluster("aws-use1")
      .group(reserved("b200cb", "p6-b200.48xlarge", "nvidia-b200"), reserved("p5cb", "p5.48xlarge", "nvidia-h100"))
      .obj();
    const d = placeJob(job(), [c]);
    assert.equal(d.winner?.nodeGroup, "p5cb");
    assert.match(d.reason, /accelerator option #1/);
  });
});
