// Indexes find cached objects by a key, and follow an object whose key
// changes or that is removed.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Indexes } from "../../src/runtime/indexes.ts";

type Obj = { readonly owner?: string; readonly epoch: number };

describe("Indexes", () => {
  const make = () =>
    new Indexes<Obj>({ owner: (o) => o.owner, placement: (o) => (o.owner ? `${o.owner}/${o.epoch}` : undefined) });
  /** Object "a" indexed at epoch 1, then again at epoch 2. */
  const rekeyed = (ix: Indexes<Obj>) => {
    ix.put("a", { owner: "u1", epoch: 1 });
    ix.put("a", { owner: "u1", epoch: 2 });
  };
  const cases: {
    name: string;
    steps: (ix: Indexes<Obj>) => void;
    index: string;
    key: string;
    want: Obj[] | undefined;
  }[] = [
    {
      name: "an object under its key",
      steps: (ix) => ix.put("a", { owner: "u1", epoch: 1 }),
      index: "owner",
      key: "u1",
      want: [{ owner: "u1", epoch: 1 }],
    },
    {
      name: "two objects under one key",
      steps: (ix) => {
        ix.put("a", { owner: "u1", epoch: 1 });
        ix.put("b", { owner: "u1", epoch: 2 });
      },
      index: "owner",
      key: "u1",
      want: [
        { owner: "u1", epoch: 1 },
        { owner: "u1", epoch: 2 },
      ],
    },
    {
      name: "a key that changed: not found under the old one",
      steps: rekeyed,
      index: "placement",
      key: "u1/1",
      want: [],
    },
    {
      name: "a key that changed: found under the new one",
      steps: rekeyed,
      index: "placement",
      key: "u1/2",
      want: [{ owner: "u1", epoch: 2 }],
    },
    {
      name: "removed: found nowhere",
      steps: (ix) => {
        ix.put("a", { owner: "u1", epoch: 1 });
        ix.remove("a");
      },
      index: "owner",
      key: "u1",
      want: [],
    },
    {
      name: "an object without a key: not indexed",
      steps: (ix) => ix.put("a", { epoch: 1 }),
      index: "owner",
      key: "",
      want: [],
    },
    { name: "an index that does not exist", steps: () => {}, index: "nope", key: "u1", want: undefined },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const ix = make();
      c.steps(ix);
      assert.deepEqual(ix.get(c.index, c.key), c.want);
    });
  }
});
