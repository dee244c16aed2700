// One Placed event for a job placed and launched in one pass; events of
// other passes stay as they are.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { PendingEvent } from "../../src/controller/events.ts";
import { mergeLaunch } from "../../src/controller/trainingjob/reconciler.ts";

const ev = (reason: string, message: string): PendingEvent => ({ type: "Normal", reason, message });

const cases: { name: string; in: PendingEvent[]; want: PendingEvent[] }[] = [
  {
    name: "placed then launched: one Placed saying both",
    in: [ev("Placed", "epoch 1: chose a/b"), ev("Launched", "created Job and Service n/x on a")],
    want: [ev("Placed", "epoch 1: chose a/b; created Job and Service n/x on a")],
  },
  {
    name: "other events keep their place",
    in: [ev("Placed", "p"), ev("ScaledDown", "s"), ev("Launched", "l")],
    want: [ev("Placed", "p; l"), ev("ScaledDown", "s")],
  },
  { name: "a launch alone (a later pass)", in: [ev("Launched", "l")], want: [ev("Launched", "l")] },
  { name: "a placement alone (a move)", in: [ev("Placed", "p")], want: [ev("Placed", "p")] },
  {
    name: "a launch before a placement is not merged",
    in: [ev("Launched", "l"), ev("Placed", "p")],
    want: [ev("Launched", "l"), ev("Placed", "p")],
  },
];

describe("mergeLaunch", () => {
  for (const c of cases) it(c.name, () => assert.deepEqual(mergeLaunch(c.in), c.want));
});
