// A ComputeCluster's Secret references must stay in the operator's namespace.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { secretRefRefusal } from "../../src/clusters/secret-refs.ts";

describe("secretRefRefusal", () => {
  const field = "spec.kubeconfigSecretRef";
  const cases: { name: string; ref?: { namespace: string; name: string }; ns?: string; refused: boolean }[] = [
    { name: "no reference", ns: "crosscloud-system", refused: false },
    {
      name: "in the operator's namespace",
      ref: { namespace: "crosscloud-system", name: "k" },
      ns: "crosscloud-system",
      refused: false,
    },
    { name: "in another namespace", ref: { namespace: "team-a", name: "k" }, ns: "crosscloud-system", refused: true },
    { name: "kube-system", ref: { namespace: "kube-system", name: "k" }, ns: "ops", refused: true },
    { name: "no namespace enforced", ref: { namespace: "team-a", name: "k" }, refused: false },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const why = secretRefRefusal(field, c.ref, c.ns);
      assert.equal(why !== undefined, c.refused);
      if (why) {
        assert.match(why, /spec\.kubeconfigSecretRef names Secret/);
        assert.match(why, new RegExp(`${c.ref?.namespace}/k, outside the operator's namespace "${c.ns}"`));
        assert.match(why, new RegExp(`set spec\\.kubeconfigSecretRef\\.namespace to "${c.ns}"`));
      }
    });
  }
});
