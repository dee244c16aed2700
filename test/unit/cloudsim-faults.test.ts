// The cloud simulator's fault injector (scripts/sandbox/cloudsim/faults.ts):
// the seeded rate, the calls throttled for sure (throttleFirst), and what a
// fault setting may hold.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FaultInjector, seededRandom, validateFaults } from "../../scripts/sandbox/cloudsim/faults.ts";

describe("the cloud simulator's faults", () => {
  it("throttles the first throttleFirst calls, then only at the rate", () => {
    const f = new FaultInjector({}, seededRandom(1));
    f.faults = { throttleFirst: 2 };
    assert.deepEqual([f.next(), f.next(), f.next(), f.next()], ["throttle", "throttle", undefined, undefined]);
    assert.equal(f.injected.throttle, 2);
    f.faults = { throttleRate: 1, throttleFirst: 1 };
    assert.deepEqual([f.next(), f.next()], ["throttle", "throttle"]);
    assert.equal(f.injected.throttle, 4);
  });

  it("refuses settings it cannot apply, naming the field", () => {
    const cases: [object, RegExp | undefined][] = [
      [{ throttleFirst: 3 }, undefined],
      [{ throttleFirst: -1 }, /throttleFirst must be a whole number >= 0/],
      [{ throttleFirst: 1.5 }, /throttleFirst must be a whole number >= 0/],
      [{ throttleRate: 2 }, /throttleRate must be a number from 0 to 1/],
    ];
    for (const [faults, want] of cases) {
      const errors = validateFaults(faults);
      if (want) assert.match(errors.join("; "), want, JSON.stringify(faults));
      else assert.deepEqual(errors, [], JSON.stringify(faults));
    }
  });
});
