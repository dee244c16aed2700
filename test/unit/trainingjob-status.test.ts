// The status a pass builds (StatusBuilder): written only when it differs by
// value from what the server holds, and a condition set twice in one pass
// keeps the transition time the server has.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { TrainingJobStatus } from "../../src/api/trainingjob.ts";
import { StatusBuilder } from "../../src/controller/trainingjob/status.ts";
import { aTrainingJob } from "../support/trainingjob.ts";

const NOW = new Date("2026-11-30T12:00:00Z");
const held = (status: TrainingJobStatus) =>
  aTrainingJob("x")
    .with((j) => {
      j.metadata.generation = 1;
      j.status = status;
    })
    .obj();

describe("StatusBuilder.changed", () => {
  const cases: { name: string; server: TrainingJobStatus; pass: (b: StatusBuilder) => void; want: boolean }[] = [
    {
      name: "the same values in another key order: unchanged",
      server: {
        observedGeneration: 1,
        replicas: { desired: 1, failed: 0, running: 1, succeeded: 0 },
        phase: "Running",
      },
      pass: (b) => {
        b.status.replicas = { desired: 1, running: 1, succeeded: 0, failed: 0 };
      },
      want: false,
    },
    {
      name: "an undefined member: unchanged",
      server: { observedGeneration: 1, phase: "Running" },
      pass: (b) => {
        b.status.placement = undefined;
      },
      want: false,
    },
    {
      name: "a count that moved: changed",
      server: { observedGeneration: 1, replicas: { desired: 2, running: 1, succeeded: 0, failed: 0 } },
      pass: (b) => {
        b.status.replicas = { desired: 2, running: 2, succeeded: 0, failed: 0 };
      },
      want: true,
    },
    {
      name: "a condition set twice in a pass, ending as the server has it: unchanged",
      server: {
        observedGeneration: 1,
        conditions: [
          {
            type: "Running",
            status: "Unknown",
            reason: "CapacityLost",
            message: "m",
            lastTransitionTime: "2026-11-30T11:00:00.000Z",
            observedGeneration: 1,
          },
        ],
      },
      pass: (b) => {
        b.condition({ type: "Running", status: "False", reason: "Starting", message: "0/1" });
        b.condition({ type: "Running", status: "Unknown", reason: "CapacityLost", message: "m" });
      },
      want: false,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const b = new StatusBuilder(held(c.server), NOW);
      c.pass(b);
      assert.equal(b.changed(), c.want);
    });
  }
});
