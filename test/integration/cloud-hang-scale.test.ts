// A cloud API that hangs while jobs wait to grow a group there: the sandbox's
// cloud simulator holds every EKS call (the ARM API keeps answering) and five
// Trainium jobs that fit on aws-sim only after a scale-up are created, then a
// job that fits on azure-sim now. With 4 reconcile workers, the EKS calls of
// the first two jobs hold two of them until the call's deadline; the others
// are not sent to the hung cloud (Placed=False, CloudAPIBusy) and the Azure
// job is placed at once instead of waiting for the EKS deadline.

import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { PLACED } from "../../src/api/conditions.ts";
import type { TrainingJob } from "../../src/api/trainingjob.ts";
import { admin, simGroup } from "../support/cloudsim.ts";
import { getCluster } from "../support/failover.ts";
import { withOperator } from "../support/operator.ts";
import { eventually } from "../support/sandbox.ts";
import { aTrainingJob } from "../support/trainingjob.ts";

const CALL_TIMEOUT_MS = 15_000;
const placedCondition = (j: TrainingJob) => j.status?.conditions?.find((c) => c.type === "Placed");

describe("scale-ups to a cloud API that hangs", () => {
  const { tjs } = withOperator("cloud-hang-scale", {
    WORKERS: "4",
    CLOUD_REQUEST_TIMEOUT_MS: String(CALL_TIMEOUT_MS),
    CLOUD_CALL_TIMEOUT_MS: String(CALL_TIMEOUT_MS),
  });
  after(async () => {
    await admin("PUT", "/_admin/faults", {}).catch(() => {});
  });

  it("holds at most two workers on the hung cloud: a job for another cloud is placed at once", async () => {
    const trn1 = await simGroup("aws-sim", "trn1");
    // Room for every grower's scale-up (placement counts the others' as asked for).
    await admin("PUT", "/_admin/node-groups/aws-sim/trn1", { maxSize: 96 });
    const seen = await eventually(
      "the operator to see trn1's new maxSize",
      async () => (await getCluster("aws-sim")).status?.nodeGroups?.find((g) => g.name === "trn1"),
      (g) => g?.maxSize === 96,
      60_000,
    );
    const replicas = (seen?.freeNodes ?? 0) + 1;
    await admin("PUT", "/_admin/faults", { hang: ["aws"] });
    const growers = Array.from({ length: 5 }, (_, i) => `grower-${i}`);
    try {
      for (const name of growers) {
        await tjs.create(
          aTrainingJob(name)
            .replicas(replicas)
            .accelerator("trainium1", 16)
            .with((j) => {
              j.spec.placement.clouds = ["aws"];
            })
            .obj(),
        );
      }
      // Every grower has reached its scale-up (the two first wait inside the hung calls).
      await eventually(
        "the growers past placement, some told the cloud is busy",
        () => Promise.all(growers.map((n) => tjs.get(n))),
        (jobs) => jobs.filter((j) => placedCondition(j)?.reason === PLACED.CloudAPIBusy).length >= 3,
        CALL_TIMEOUT_MS - 3_000,
      );
      const busy = (await Promise.all(growers.map((n) => tjs.get(n)))).find(
        (j) => placedCondition(j)?.reason === PLACED.CloudAPIBusy,
      );
      assert.match(
        placedCondition(busy as TrainingJob)?.message ?? "",
        /^aws-sim\/trn1: not asking to grow it to \d+ nodes yet: (a call to its cloud API has not been answered for 2s or more|2 calls to its cloud API are under way) \(will ask again\)$/,
      );

      const created = Date.now();
      await tjs.create(
        aTrainingJob("on-azure")
          .replicas(1)
          .accelerator("nvidia-h100", 8)
          .with((j) => {
            j.spec.placement.clouds = ["azure"];
          })
          .obj(),
      );
      const azure = await eventually(
        "the Azure job placed",
        () => tjs.get("on-azure"),
        (j) => j.status?.placement?.cluster === "azure-sim",
        CALL_TIMEOUT_MS,
      );
      const took = Date.now() - created;
      assert.ok(took < CALL_TIMEOUT_MS / 2, `placed after ${took}ms: it waited for the hung cloud's calls`);
      assert.equal(placedCondition(azure)?.status, "True");
    } finally {
      for (const name of [...growers, "on-azure"]) await tjs.delete(name).catch(() => {});
      // The held calls end at their deadline, before the cloud answers again: nothing is scaled late.
      await new Promise((r) => setTimeout(r, CALL_TIMEOUT_MS + 1_000));
      await admin("PUT", "/_admin/faults", {});
      await admin("PUT", "/_admin/node-groups/aws-sim/trn1", { maxSize: trn1.maxSize });
    }
    assert.equal((await simGroup("aws-sim", "trn1")).desiredSize, trn1.desiredSize, "no scale-up reached the cloud");
  });
});
