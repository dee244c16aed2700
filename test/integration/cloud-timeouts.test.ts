// A cloud API that accepts calls and never answers them, against the operator
// as users run it: the sandbox's cloud simulator hangs every EKS call (the
// ARM API keeps answering). aws-sim's cloud listing fails at the call's
// deadline and shows as CloudAPIReachable=False (CloudAPITimeout) naming the
// deadline, while its heartbeat goes on (Reachable, Ready, a new
// lastHeartbeatTime) and azure-sim stays Ready with a fresh heartbeat. Once
// the cloud answers again the listing comes back.

import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import type { ComputeCluster } from "../../src/api/computecluster.ts";
import { HEARTBEAT_STALE_MS } from "../../src/controller/trainingjob/place.ts";
import { admin } from "../support/cloudsim.ts";
import { getCluster } from "../support/failover.ts";
import { withOperator } from "../support/operator.ts";
import { eventually } from "../support/sandbox.ts";

const REQUEST_TIMEOUT_MS = 1_000;
const CALL_TIMEOUT_MS = 2_500;

const condition = (cc: ComputeCluster, type: string) => cc.status?.conditions?.find((c) => c.type === type);

interface SimFaults {
  injected: { hang: number };
}

describe("a cloud API that hangs", () => {
  withOperator("cloud-hang", {
    HEARTBEAT_MS: "1000",
    CLOUD_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
    CLOUD_CALL_TIMEOUT_MS: String(CALL_TIMEOUT_MS),
  });
  after(async () => {
    await admin("PUT", "/_admin/faults", {}).catch(() => {});
  });

  it("refuses a hang fault naming no known cloud", async () => {
    await assert.rejects(admin("PUT", "/_admin/faults", { hang: ["gcp"] }), /400 .*hang must be a list of clouds/);
  });

  it("times out one cluster's cloud listing while both clusters keep their heartbeat", async () => {
    // A listing first: before any, a hung call shows as "still waiting" (also CloudAPITimeout) until its deadline.
    await eventually(
      "aws-sim's cloud to be listed once",
      () => getCluster("aws-sim"),
      (cc) => condition(cc, "CloudAPIReachable")?.status === "True",
      30_000,
    );
    const hungBefore = ((await admin("GET", "/_admin/state")) as SimFaults).injected.hang;
    const since = Date.now();
    await admin("PUT", "/_admin/faults", { hang: ["aws"] });

    const aws = await eventually(
      "aws-sim's cloud listing to time out at its deadline",
      () => getCluster("aws-sim"),
      (cc) =>
        condition(cc, "CloudAPIReachable")?.reason === "CloudAPITimeout" &&
        !/still waiting/.test(condition(cc, "CloudAPIReachable")?.message ?? ""),
      30_000,
    );
    const took = Date.now() - since;
    const cloud = condition(aws, "CloudAPIReachable");
    assert.equal(cloud?.status, "False");
    // The call's deadline, or the request's when too little of the call's time is left for another attempt.
    assert.match(
      cloud?.message ?? "",
      /^EKS cluster aws-sim: .*did not (answer|finish) within (2\.5s|1s \(the request's deadline)/,
    );
    // The call's deadline, a heartbeat interval and the informer's lag; a hung call not cut would never end.
    assert.ok(took < CALL_TIMEOUT_MS + 8_000, `the timeout showed after ${took}ms`);
    assert.ok(((await admin("GET", "/_admin/state")) as SimFaults).injected.hang > hungBefore, "EKS calls were held");

    // The hung cloud did not hold aws-sim's own heartbeat: the status written with the condition is fresh.
    assert.equal(condition(aws, "Reachable")?.status, "True", JSON.stringify(aws.status?.conditions));
    assert.equal(condition(aws, "Ready")?.status, "True", JSON.stringify(aws.status?.conditions));
    assert.ok(
      Date.parse(aws.status?.lastHeartbeatTime ?? "") >= Math.floor(since / 1000) * 1000,
      `lastHeartbeatTime ${aws.status?.lastHeartbeatTime} is from before the hang`,
    );
    assert.ok((aws.status?.nodeGroups ?? []).length > 0, "capacity still comes from the nodes");

    // Nor azure-sim's: Ready, its cloud listed, and a heartbeat placement trusts.
    const azure = await getCluster("azure-sim");
    assert.equal(condition(azure, "Ready")?.status, "True", JSON.stringify(azure.status?.conditions));
    assert.equal(condition(azure, "CloudAPIReachable")?.status, "True");
    const age = Date.now() - Date.parse(azure.status?.lastHeartbeatTime ?? "");
    assert.ok(age < HEARTBEAT_STALE_MS, `azure-sim's heartbeat is ${age}ms old`);

    await admin("PUT", "/_admin/faults", {});
    await eventually(
      "aws-sim's cloud listing to come back",
      () => getCluster("aws-sim"),
      (cc) => condition(cc, "CloudAPIReachable")?.status === "True",
      CALL_TIMEOUT_MS + 15_000,
    );
  });
});
