// The hashes that decide what a pass does with a worker Job that is there
// already (src/workload/job-hashes.ts): a change of any field an existing Job
// cannot take changes the fixed hash (so it is never re-applied: a new epoch
// or left running), a change of a field it can take changes only the spec
// hash (so it is applied), and the input hash follows the user's request only.
// test/integration/hardening-job-update.test.ts checks MUTABLE_JOB_FIELDS
// against a real API server.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1JobSpec } from "@kubernetes/client-node";
import { instanceType } from "../../src/catalog/instance-types.ts";
import {
  fixedHash,
  inputHash,
  legacyTemplateHash,
  MUTABLE_JOB_FIELDS,
  specHash,
} from "../../src/workload/job-hashes.ts";
import { renderWorkload, type Workload } from "../../src/workload/render.ts";
import { aTrainingJob } from "../support/trainingjob.ts";

const target = {
  cluster: "aws-sim",
  namespace: "ml",
  cloud: "aws",
  nodeGroup: "trn1",
  instanceType: instanceType("trn1.32xlarge"),
  capacityType: "OnDemand",
} as const;

function rendered(): Workload {
  const job = aTrainingJob("llama").replicas(2).accelerator("trainium1", 16).obj();
  const option = job.spec.accelerators[0];
  assert.ok(option);
  return renderWorkload({ job, epoch: 1, option, target, checkpointUri: "s3://ckpt/ml/llama" });
}

/** `w` with its Job spec changed by `change` (the Service and labels as they were). */
function withSpec(w: Workload, change: (spec: V1JobSpec) => void): Workload {
  const job = structuredClone(w.job);
  if (job.spec) change(job.spec);
  return { ...w, job };
}

describe("the fixed hash of a worker Job", () => {
  const base = rendered();

  const fixed: [string, (s: V1JobSpec) => void][] = [
    [
      "completionMode",
      (s) => {
        s.completionMode = "NonIndexed";
      },
    ],
    [
      "podFailurePolicy",
      (s) => {
        s.podFailurePolicy = { rules: [] };
      },
    ],
    [
      "completions",
      (s) => {
        s.completions = 3;
      },
    ],
    [
      "the pod template's image",
      (s) => {
        const c = s.template.spec?.containers[0];
        if (c) c.image = "example.com/other:2";
      },
    ],
    [
      "backoffLimitPerIndex (a field this release does not render)",
      (s) => {
        s.backoffLimitPerIndex = 1;
      },
    ],
    [
      "selector",
      (s) => {
        s.selector = { matchLabels: { a: "b" } };
      },
    ],
  ];
  for (const [name, change] of fixed) {
    it(`changes with ${name}, which an existing Job cannot take`, () => {
      const changed = withSpec(base, change);
      assert.notEqual(fixedHash(changed), fixedHash(base));
      assert.notEqual(specHash(changed), specHash(base));
    });
  }

  const values: Record<(typeof MUTABLE_JOB_FIELDS)[number], unknown> = {
    suspend: true,
    parallelism: 1,
    backoffLimit: 7,
    activeDeadlineSeconds: 60,
    ttlSecondsAfterFinished: 30,
  };
  for (const field of MUTABLE_JOB_FIELDS) {
    it(`stays the same when only ${field} changes, which is applied (the spec hash changes)`, () => {
      const changed = withSpec(base, (s) => Object.assign(s, { [field]: values[field] }));
      assert.equal(fixedHash(changed), fixedHash(base));
      assert.notEqual(specHash(changed), specHash(base));
    });
  }

  it("changes with the Service's clusterIP, which a Service cannot take", () => {
    const service = { ...base.service, spec: { ...base.service.spec, clusterIP: "" } };
    assert.notEqual(fixedHash({ ...base, service }), fixedHash(base));
  });

  it("is the same for the same rendering", () => {
    assert.equal(fixedHash(rendered()), fixedHash(base));
    assert.equal(specHash(rendered()), specHash(base));
  });

  it("the legacy template hash (Jobs an earlier release launched) ignores completionMode and podFailurePolicy", () => {
    const changed = withSpec(base, (s) => {
      s.completionMode = "NonIndexed";
    });
    assert.equal(legacyTemplateHash(changed), legacyTemplateHash(base));
  });
});

describe("the input hash", () => {
  const job = aTrainingJob("llama").replicas(2).accelerator("trainium1", 16, { image: "example.com/train:1" }).obj();
  const option = job.spec.accelerators[0];

  it("changes with the option's image and env, the template and replicas", () => {
    const before = inputHash(job, option);
    assert.ok(option);
    assert.notEqual(inputHash(job, { ...option, image: "example.com/train:2" }), before);
    assert.notEqual(inputHash(job, { ...option, env: [{ name: "A", value: "1" }] }), before);
    const more = structuredClone(job);
    more.spec.replicas = 3;
    assert.notEqual(inputHash(more, option), before);
    const edited = structuredClone(job);
    edited.spec.template.metadata = { labels: { team: "x" } };
    assert.notEqual(inputHash(edited, option), before);
  });

  it("does not change with fields that are not the pods' (runPolicy, suspend)", () => {
    const other = structuredClone(job);
    other.spec.runPolicy.backoffLimit = 9;
    other.spec.suspend = true;
    assert.equal(inputHash(other, option), inputHash(job, option));
  });
});
