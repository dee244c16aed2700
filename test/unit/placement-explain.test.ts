// placeJob's explanations: the winner's reason and one line per losing
// option name the rule that decided, with the numbers a person acts on.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { placeJob } from "../../src/placement/index.ts";
import { aCluster, aJob, ndh100, p5, trn1 } from "../support/builders.ts";

describe("placeJob explanations", () => {
  it("a loser that needs a scale-up says so, with numbers", () => {
    const d = placeJob(aJob(4).accelerator("trainium1", 16).accelerator("nvidia-h100", 8).obj(), [
      aCluster("aws-sim").group(trn1().nodes(4, 2).max(16)).obj(),
      aCluster("azure-sim").group(ndh100()).obj(),
    ]);
    assert.equal(d.outcome, "Placed");
    assert.match(d.reason, /^chose azure-sim\/ndh100 .*fits now.*\$393\.28\/h for 4 nodes; it fits now/);
    assert.deepEqual(d.explanations, [
      "aws-sim/trn1: needs 4 nodes, 2 free, can grow to 16 (scale-up to 6) — lost to azure-sim/ndh100, which fits now",
    ]);
  });

  it("a dearer loser states both prices", () => {
    const d = placeJob(aJob(2).accelerator("nvidia-h100", 8).obj(), [
      aCluster("aws-sim").group(p5()).obj(),
      aCluster("azure-sim").group(ndh100()).obj(),
    ]);
    assert.match(d.reason, /lowest cost \(LowestCost\)/);
    assert.deepEqual(d.explanations, ["azure-sim/ndh100: $196.64/h — lost to aws-sim/p5 at $110.08/h (LowestCost)"]);
  });

  it("Preference names the option numbers", () => {
    const d = placeJob(
      aJob(2).accelerator("nvidia-h100", 8).accelerator("trainium1", 16).strategy("Preference").obj(),
      [aCluster("aws-sim").group(p5(), trn1()).obj()],
    );
    assert.deepEqual(d.explanations, [
      "aws-sim/trn1: trainium1 is option #2 — lost to aws-sim/p5 with nvidia-h100, option #1 (Preference)",
    ]);
  });

  it("the checkpoint's moving cost shows in the comparison", () => {
    const d = placeJob(
      aJob(1)
        .accelerator("nvidia-h100", 8)
        .checkpointIn(1024 ** 4, "b")
        .obj(),
      [aCluster("a").group(p5().price("54.04")).obj(), aCluster("b").group(p5()).obj()],
    );
    assert.match(d.reason, /newest checkpoint is already in its store/);
    assert.match(
      d.explanations[0] ?? "",
      /^a\/p5: \$54\.04\/h \+ \$3\.84\/h to move the checkpoint — lost to b\/p5 at \$55\.04\/h/,
    );
  });

  it("other accelerators are summarized in one line, real blockers listed", () => {
    const d = placeJob(aJob(8).accelerator("trainium1", 16).obj(), [
      aCluster("aws-sim").group(trn1().max(4), p5()).obj(),
      aCluster("azure-sim").paused().group(ndh100()).obj(),
    ]);
    assert.equal(d.outcome, "InsufficientCapacity");
    assert.deepEqual(d.explanations, [
      "aws-sim/trn1: needs 8 nodes, 4 free, would need 8 nodes but maxSize is 4 (raise maxSize or free nodes)",
      "azure-sim: paused (spec.paused): takes no new placements",
      "1 node group(s) offer none of the job's accelerators (aws-sim/p5)",
    ]);
    assert.match(d.reason, /^not placed: node groups with the accelerators exist, but none has enough free nodes/);
  });

  it("the only option says so", () => {
    const d = placeJob(aJob(1).accelerator("trainium1", 16).obj(), [aCluster("aws-sim").group(trn1()).obj()]);
    assert.match(d.reason, /the only option that can take the job$/);
  });
});
