// observeWorkload: a placement's state from its worker Job's status (table tests).

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1Job, V1Pod } from "@kubernetes/client-node";
import { observeWorkload } from "../../src/controller/trainingjob/observe.ts";

function job(status: V1Job["status"], suspend = false): V1Job {
  return { metadata: { name: "x-e1" }, spec: { suspend, template: {} }, status };
}
const cond = (type: string, reason = "", message = "") => [{ type, status: "True", reason, message }];
const failedPod: V1Pod = {
  metadata: { name: "x-e1-0-abc", creationTimestamp: new Date("2026-11-27T10:00:00Z") },
  status: {
    phase: "Failed",
    containerStatuses: [
      {
        name: "trainer",
        image: "i",
        imageID: "",
        ready: false,
        restartCount: 0,
        state: { terminated: { exitCode: 137, reason: "OOMKilled" } },
      },
    ],
  },
};

describe("observeWorkload", () => {
  const cases = [
    { name: "no Job yet", job: undefined, want: "Missing" },
    { name: "pods not all ready", job: job({ active: 4, ready: 2 }), want: "Starting" },
    { name: "all ready", job: job({ active: 4, ready: 4 }), want: "Running" },
    { name: "some finished, the rest running", job: job({ active: 2, ready: 2, succeeded: 2 }), want: "Running" },
    { name: "all finished, Job not yet Complete", job: job({ active: 0, ready: 0, succeeded: 4 }), want: "Running" },
    { name: "Complete", job: job({ succeeded: 4, conditions: cond("Complete") }), want: "Succeeded" },
    { name: "suspended with no active pods", job: job({ active: 0 }, true), want: "Suspended" },
    { name: "suspended, pods still going", job: job({ active: 2, ready: 2 }, true), want: "Starting" },
    {
      name: "Failed",
      job: job({
        failed: 4,
        conditions: cond("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
      }),
      want: "Failed",
    },
  ];
  for (const tc of cases) {
    it(`is ${tc.want} when ${tc.name}`, () => {
      assert.equal(observeWorkload(tc.job, [failedPod], 4).kind, tc.want);
    });
  }

  it("names the failed pod's reason and exit code", () => {
    const state = observeWorkload(
      job({ failed: 4, conditions: cond("Failed", "BackoffLimitExceeded", "backoff limit reached") }),
      [failedPod],
      4,
    );
    assert.equal(state.kind, "Failed");
    assert.ok(state.kind === "Failed" && /pod x-e1-0-abc failed: OOMKilled, exit code 137/.test(state.message));
    assert.ok(state.kind === "Failed" && state.reason === "BackoffLimitExceeded");
  });
});
