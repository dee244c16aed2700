// A Starting job's replica counts are written at most every STARTING_PROGRESS_MS
// (src/controller/trainingjob/progress.ts): which status changes count as
// progress only, and how long such a write waits.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { TrainingJobStatus } from "../../src/api/trainingjob.ts";
import { ProgressWrites, progressOnly, STARTING_PROGRESS_MS } from "../../src/controller/trainingjob/progress.ts";

const T = "2026-12-01T00:00:00Z";

function starting(running: number, over: Partial<TrainingJobStatus> = {}): TrainingJobStatus {
  return {
    phase: "Starting",
    epoch: 1,
    observedGeneration: 1,
    replicas: { desired: 4, running, succeeded: 0, failed: 0 },
    readyReplicas: `${running}/4`,
    conditions: [
      {
        type: "Running",
        status: "False",
        reason: "Starting",
        message: `${running}/4 replicas running on aws-sim`,
        lastTransitionTime: T,
      },
    ],
    ...over,
  };
}

describe("progressOnly", () => {
  const cases: { name: string; held: TrainingJobStatus; next: TrainingJobStatus; want: boolean }[] = [
    { name: "more replicas running while Starting", held: starting(1), next: starting(2), want: true },
    { name: "nothing changed", held: starting(1), next: starting(1), want: true },
    {
      name: "Starting to Running",
      held: starting(3),
      next: { ...starting(4), phase: "Running" },
      want: false,
    },
    { name: "a new generation observed", held: starting(1), next: starting(2, { observedGeneration: 2 }), want: false },
    {
      name: "the Running condition's reason changed (a problem)",
      held: starting(1),
      next: starting(1, {
        conditions: [
          { type: "Running", status: "False", reason: "Unschedulable", message: "1/4", lastTransitionTime: T },
        ],
      }),
      want: false,
    },
    {
      name: "another condition added",
      held: starting(1),
      next: starting(2, {
        conditions: [
          ...(starting(2).conditions ?? []),
          { type: "WorkloadBlocked", status: "True", reason: "ImagePullFailed", message: "m", lastTransitionTime: T },
        ],
      }),
      want: false,
    },
    {
      name: "a failed pod counted",
      held: starting(1),
      next: starting(1, { replicas: { desired: 4, running: 1, succeeded: 0, failed: 1 } }),
      want: true,
    },
  ];
  for (const tc of cases) it(tc.name, () => assert.equal(progressOnly(tc.held, tc.next), tc.want));
});

describe("ProgressWrites", () => {
  it("lets the first write go, then holds progress for STARTING_PROGRESS_MS after a Starting write", () => {
    const p = new ProgressWrites();
    assert.equal(p.wait("a", 1_000), 0, "nothing written yet");
    p.wrote("a", starting(0), 1_000);
    assert.equal(p.wait("a", 2_000), STARTING_PROGRESS_MS - 1_000);
    assert.equal(p.wait("a", 1_000 + STARTING_PROGRESS_MS), 0);
    assert.equal(p.wait("b", 2_000), 0, "another job");
  });

  it("forgets a job once a written status is not Starting, or the job is gone", () => {
    const p = new ProgressWrites();
    p.wrote("a", starting(0), 1_000);
    p.wrote("a", { ...starting(4), phase: "Running" }, 2_000);
    assert.equal(p.wait("a", 2_500), 0);
    p.wrote("b", starting(0), 1_000);
    p.forget("b");
    assert.equal(p.wait("b", 1_500), 0);
  });
});
