// placeJob's scoring, one row per rule: LowestCost (whole-job price),
// Preference (the user's order first), fits-now beats needs-scale-up, the
// checkpoint's location as an amortized moving cost, deterministic ties.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { placeJob } from "../../src/placement/index.ts";
import type { ClusterSnapshot, PlacementRequest } from "../../src/placement/types.ts";
import { aCluster, aJob, ndh100, p5, sandboxSnapshot, trn1 } from "../support/builders.ts";

const TiB = 1024 ** 4;

/** trn1 full and unable to grow; H100 on both clouds. */
const trn1Full = (): ClusterSnapshot[] => [
  aCluster("aws-sim").group(trn1().nodes(4, 0).max(4), p5().nodes(4)).obj(),
  aCluster("azure-sim").group(ndh100()).obj(),
];

interface Row {
  readonly name: string;
  readonly request: PlacementRequest;
  readonly snapshot: ClusterSnapshot[];
  /** Candidates best first, as cluster/group. */
  readonly order: readonly string[];
  readonly price?: string;
}

const rows: Row[] = [
  {
    name: "LowestCost: cheapest whole-job price wins (trn1 4 x 21.50 = 86.00)",
    request: aJob(4).accelerator("nvidia-h100", 8).accelerator("trainium1", 16).obj(),
    snapshot: [aCluster("aws-sim").group(p5().nodes(4), trn1()).obj(), aCluster("azure-sim").group(ndh100()).obj()],
    order: ["aws-sim/trn1", "aws-sim/p5", "azure-sim/ndh100"],
    price: "86.00",
  },
  {
    name: "Preference: the user's first option wins though dearer",
    request: aJob(4).accelerator("nvidia-h100", 8).accelerator("trainium1", 16).strategy("Preference").obj(),
    snapshot: [aCluster("aws-sim").group(p5().nodes(4), trn1()).obj(), aCluster("azure-sim").group(ndh100()).obj()],
    order: ["aws-sim/p5", "azure-sim/ndh100", "aws-sim/trn1"],
    price: "220.16",
  },
  {
    name: "trn1 full and unable to grow, LowestCost: the cheaper H100 (p5)",
    request: aJob(4).accelerator("trainium1", 16).accelerator("nvidia-h100", 8).obj(),
    snapshot: trn1Full(),
    order: ["aws-sim/p5", "azure-sim/ndh100"],
  },
  {
    name: "trn1 full and unable to grow, Preference: H100 by price among equals",
    request: aJob(4).accelerator("trainium1", 16).accelerator("nvidia-h100", 8).strategy("Preference").obj(),
    snapshot: trn1Full(),
    order: ["aws-sim/p5", "azure-sim/ndh100"],
  },
  {
    name: "LowestCost: fits now beats a cheaper scale-up",
    request: aJob(4).accelerator("trainium1", 16).accelerator("nvidia-h100", 8).obj(),
    snapshot: [aCluster("aws-sim").group(trn1().nodes(2)).obj(), aCluster("azure-sim").group(ndh100()).obj()],
    order: ["azure-sim/ndh100", "aws-sim/trn1"],
  },
  {
    name: "Preference: the first option wins even when it needs a scale-up",
    request: aJob(4).accelerator("trainium1", 16).accelerator("nvidia-h100", 8).strategy("Preference").obj(),
    snapshot: [aCluster("aws-sim").group(trn1().nodes(2)).obj(), aCluster("azure-sim").group(ndh100()).obj()],
    order: ["aws-sim/trn1", "azure-sim/ndh100"],
  },
  {
    name: "Preference: within one option, fits now beats scale-up",
    request: aJob(4).accelerator("nvidia-h100", 8).strategy("Preference").obj(),
    snapshot: [aCluster("aws-sim").group(p5().nodes(2)).obj(), aCluster("azure-sim").group(ndh100()).obj()],
    order: ["azure-sim/ndh100", "aws-sim/p5"],
  },
  {
    name: "an unknown price ranks after known ones",
    request: aJob(2).accelerator("nvidia-h100", 8).obj(),
    snapshot: [aCluster("aws-sim").group(p5().price(undefined)).obj(), aCluster("azure-sim").group(ndh100()).obj()],
    order: ["azure-sim/ndh100", "aws-sim/p5"],
  },
  {
    name: "checkpoint: equal price, the store holding the newest step wins",
    request: aJob(2).accelerator("nvidia-h100", 8).checkpointIn(0, "b").obj(),
    snapshot: [aCluster("a").group(p5()).obj(), aCluster("b").group(p5()).obj()],
    order: ["b/p5", "a/p5"],
  },
  {
    name: "checkpoint: moving 1 TiB (~$3.84/h over 24 h) outweighs a $1/h cheaper cluster",
    request: aJob(1).accelerator("nvidia-h100", 8).checkpointIn(TiB, "b").obj(),
    snapshot: [aCluster("a").group(p5().price("54.04")).obj(), aCluster("b").group(p5()).obj()],
    order: ["b/p5", "a/p5"],
  },
  {
    name: "checkpoint: a small checkpoint does not outweigh a real saving",
    request: aJob(1)
      .accelerator("nvidia-h100", 8)
      .checkpointIn(10 * 1024 ** 3, "b")
      .obj(),
    snapshot: [aCluster("a").group(p5().price("54.04")).obj(), aCluster("b").group(p5()).obj()],
    order: ["a/p5", "b/p5"],
  },
  {
    name: "ties break by name, so the decision is deterministic",
    request: aJob(2).accelerator("nvidia-h100", 8).obj(),
    snapshot: [aCluster("z").group(p5()).obj(), aCluster("a").group(p5()).obj()],
    order: ["a/p5", "z/p5"],
  },
];

describe("placeJob scoring", () => {
  for (const row of rows) {
    it(row.name, () => {
      const d = placeJob(row.request, row.snapshot);
      assert.deepEqual(
        d.ranked.map((c) => `${c.cluster}/${c.nodeGroup}`),
        row.order,
        d.reason,
      );
      if (row.price) assert.equal(d.winner?.pricePerHour, row.price);
    });
  }

  it("the decision does not depend on the snapshot's order", () => {
    const request = aJob(4).accelerator("trainium1", 16).accelerator("nvidia-h100", 8).obj();
    const a = placeJob(request, sandboxSnapshot());
    const b = placeJob(request, [...sandboxSnapshot()].reverse());
    assert.deepEqual(a, b);
  });

  it("whole-job price is node price x replicas without float drift", () => {
    const d = placeJob(aJob(3).accelerator("nvidia-a100", 1).obj(), [
      aCluster("azure-sim")
        .group(ndh100("nc").instance("Standard_NC24ads_A100_v4", "nvidia-a100", 1).price("0.10"))
        .obj(),
    ]);
    assert.equal(d.winner?.pricePerHour, "0.30");
  });
});
