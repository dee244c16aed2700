// workloadName: worker object names are unique per hub job, also in a shared
// workload namespace, and short enough for the pods' hostnames (table tests, pure).

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MAX_TRAINING_JOB_NAME } from "../../src/api/trainingjob.ts";
import { namespaceTag, workloadName } from "../../src/workload/names.ts";

describe("workloadName", () => {
  const cases: {
    name: string;
    job: { namespace: string; name: string };
    epoch: number;
    worker: string;
    want: string;
  }[] = [
    {
      name: "in the job's own namespace: <job>-e<epoch>",
      job: { namespace: "ml", name: "train" },
      epoch: 1,
      worker: "ml",
      want: "train-e1",
    },
    {
      name: "in a shared namespace: the hub namespace's tag between",
      job: { namespace: "ml", name: "train" },
      epoch: 2,
      worker: "shared",
      want: `train-${namespaceTag("ml")}-e2`,
    },
  ];
  for (const c of cases) {
    it(c.name, () => assert.equal(workloadName(c.job, c.epoch, c.worker), c.want));
  }

  it("gives two hub namespaces' jobs of one name different names in one shared namespace", () => {
    const a = workloadName({ namespace: "ml", name: "train" }, 1, "shared");
    const b = workloadName({ namespace: "research", name: "train" }, 1, "shared");
    assert.notEqual(a, b);
  });

  it("keeps the longest name's pod hostnames (<name>-<index>) within 63 characters up to epoch 999", () => {
    const longest = "a".repeat(MAX_TRAINING_JOB_NAME);
    const name = workloadName({ namespace: "ml", name: longest }, 999, "shared");
    assert.ok(`${name}-1023`.length <= 63, `${name}-1023 is ${name.length + 5} characters`);
  });

  it("tags are four lowercase base-36 characters, stable for a namespace", () => {
    for (const ns of ["ml", "research", "default", "x".repeat(63)]) {
      assert.match(namespaceTag(ns), /^[0-9a-z]{4}$/);
      assert.equal(namespaceTag(ns), namespaceTag(ns));
    }
  });
});
