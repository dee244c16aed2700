// What the operator remembers of each placement's resume ConfigMap is
// forgotten with its TrainingJob: a long-running operator holds nothing of
// jobs that are gone.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { forgetResumeSteps } from "../../src/controller/trainingjob/launch.ts";

describe("forgetResumeSteps", () => {
  const held = () =>
    new Map([
      ["uid-a|aws-sim/ml/a-e1-resume", "100"],
      ["uid-a|azure-sim/ml/a-e2-resume", "200"],
      ["uid-a2|aws-sim/ml/a2-e1-resume", "7"],
      ["uid-b|aws-sim/ml/b-e1-resume", ""],
    ]);
  const cases = [
    {
      name: "every epoch and cluster of the job",
      uid: "uid-a",
      left: ["uid-a2|aws-sim/ml/a2-e1-resume", "uid-b|aws-sim/ml/b-e1-resume"],
    },
    { name: "a job with none: nothing", uid: "uid-c", left: [...held().keys()] },
    {
      name: "not another job whose uid starts the same",
      uid: "uid-a2",
      left: ["uid-a|aws-sim/ml/a-e1-resume", "uid-a|azure-sim/ml/a-e2-resume", "uid-b|aws-sim/ml/b-e1-resume"],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const steps = held();
      forgetResumeSteps(steps, c.uid);
      assert.deepEqual([...steps.keys()], c.left);
    });
  }
});
