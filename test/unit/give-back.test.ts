// giveBackSize: how far a node group grown for a job is scaled back down (table tests, pure).

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type GiveBackInput, giveBackSize } from "../../src/controller/trainingjob/give-back.ts";

describe("giveBackSize", () => {
  const cases: { name: string; input: GiveBackInput; want: number | undefined }[] = [
    {
      name: "nothing else there: back to what the operator found",
      input: { fromSize: 4, current: 6, busyNodes: 0, placedElsewhere: 0 },
      want: 4,
    },
    {
      name: "never below what the operator found, even when it is idle",
      input: { fromSize: 2, current: 6, busyNodes: 0, placedElsewhere: 0 },
      want: 2,
    },
    {
      name: "keeps the nodes other pods run on",
      input: { fromSize: 2, current: 8, busyNodes: 5, placedElsewhere: 0 },
      want: 5,
    },
    {
      name: "keeps room for jobs placed there that do not run yet",
      input: { fromSize: 2, current: 8, busyNodes: 3, placedElsewhere: 6 },
      want: 6,
    },
    {
      name: "no call when everything still needs the nodes",
      input: { fromSize: 2, current: 6, busyNodes: 6, placedElsewhere: 0 },
      want: undefined,
    },
    {
      name: "never grows: someone shrank it already",
      input: { fromSize: 4, current: 3, busyNodes: 0, placedElsewhere: 0 },
      want: undefined,
    },
  ];
  for (const c of cases) {
    it(c.name, () => assert.equal(giveBackSize(c.input), c.want));
  }
});
