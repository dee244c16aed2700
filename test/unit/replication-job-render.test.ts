// The replicate Job the operator runs on a source cluster: its command (one
// step, from the source line to each destination line), the stores'
// credentials given as a job's pods get theirs, labels that tie it to its
// TrainingJob (and keep its pods out of the placement's), its restricted
// security context, and stores that cannot share one pod.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  credentialsClash,
  jobRefusal,
  LABEL_REPLICATE_STEP,
  type ReplicateJobInput,
  type ReplicateStore,
  renderReplicateJob,
  replicateJobName,
  replicateStepOf,
} from "../../src/controller/trainingjob/replicate-job.ts";
import { LABEL_EPOCH, LABEL_JOB_UID } from "../../src/workload/names.ts";

const s3: ReplicateStore = {
  cluster: "aws-sim",
  uri: "s3://ckpt-aws/ml/llama",
  env: [
    { name: "AWS_ENDPOINT_URL_S3", value: "http://127.0.0.1:26000" },
    { name: "AWS_REGION", value: "us-east-1" },
  ],
  credentials: { AWS_ACCESS_KEY_ID: "ak", AWS_SECRET_ACCESS_KEY: "sk" },
};
const blob: ReplicateStore = {
  cluster: "azure-sim",
  uri: "http://127.0.0.1:26010/devstoreaccount1/ckpt/ml/llama",
  env: [],
  credentials: { AZURE_STORAGE_ACCOUNT_KEY: "key" },
};
const input: ReplicateJobInput = {
  job: { namespace: "ml", name: "llama", uid: "uid-1" },
  epoch: 3,
  step: 1200,
  stepEpoch: 2,
  namespace: "ml",
  workload: "llama-e3",
  image: "registry.example/crosscloud-operator:1.2.3",
  source: s3,
  destinations: [blob],
};

describe("renderReplicateJob", () => {
  const { job, secret } = renderReplicateJob(input);
  const pod = job.spec?.template.spec;
  const container = pod?.containers[0];
  it("runs replicate of one step from the operator's image", () => {
    assert.equal(container?.image, input.image);
    assert.deepEqual(
      [...(container?.command ?? []), ...(container?.args ?? [])],
      [
        "/nodejs/bin/node",
        "dist/checkpoint/cli.js",
        "replicate",
        "--from",
        s3.uri,
        "--to",
        blob.uri,
        "--epoch",
        "2",
        "--step",
        "1200",
      ],
    );
  });
  it("gives both stores' credentials through one Secret, and their endpoints as env", () => {
    assert.equal(secret?.metadata?.name, "llama-e3-r1200-stores");
    assert.deepEqual(secret?.stringData, {
      AWS_ACCESS_KEY_ID: "ak",
      AWS_SECRET_ACCESS_KEY: "sk",
      AZURE_STORAGE_ACCOUNT_KEY: "key",
    });
    assert.deepEqual(container?.envFrom, [{ secretRef: { name: "llama-e3-r1200-stores" } }]);
    assert.deepEqual(container?.env, s3.env);
    assert.ok(!JSON.stringify(job).includes("sk"), "no key in the Job itself");
  });
  it("is labelled for its TrainingJob and step; its pods carry no epoch label", () => {
    assert.equal(job.metadata?.name, "llama-e3-r1200");
    assert.equal(job.metadata?.labels?.[LABEL_JOB_UID], "uid-1");
    assert.equal(job.metadata?.labels?.[LABEL_EPOCH], "3");
    assert.equal(job.metadata?.labels?.[LABEL_REPLICATE_STEP], "1200");
    assert.equal(replicateStepOf(job.metadata?.labels), 1200);
    assert.equal(job.spec?.template.metadata?.labels?.[LABEL_JOB_UID], "uid-1");
    assert.equal(job.spec?.template.metadata?.labels?.[LABEL_EPOCH], undefined);
    assert.deepEqual(secret?.metadata?.labels, job.metadata?.labels);
  });
  it("is bounded and restricted", () => {
    assert.equal(job.spec?.backoffLimit, 3);
    assert.equal(job.spec?.ttlSecondsAfterFinished, 3600);
    assert.equal(pod?.restartPolicy, "Never");
    assert.equal(pod?.automountServiceAccountToken, false);
    assert.equal(pod?.securityContext?.runAsNonRoot, true);
    assert.equal(pod?.securityContext?.seccompProfile?.type, "RuntimeDefault");
    assert.deepEqual(container?.securityContext, {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ["ALL"] },
    });
  });
  it("without credentials in Secrets: no Secret, the workload identity's ServiceAccount", () => {
    const bare = renderReplicateJob({
      ...input,
      source: { ...s3, credentials: undefined },
      destinations: [{ ...blob, credentials: undefined }],
      serviceAccountName: "ckpt",
    });
    assert.equal(bare.secret, undefined);
    assert.equal(bare.job.spec?.template.spec?.containers[0]?.envFrom, undefined);
    assert.equal(bare.job.spec?.template.spec?.serviceAccountName, "ckpt");
    assert.equal(bare.job.spec?.template.spec?.automountServiceAccountToken, true);
  });
});

describe("replicateJobName", () => {
  const cases = [
    { workload: "llama-e3", step: 7, want: "llama-e3-r7" },
    { workload: `${"a".repeat(48)}-ab12-e3`, step: 123456789 },
  ];
  for (const c of cases) {
    it(`${c.workload} step ${c.step}`, () => {
      const name = replicateJobName(c.workload, c.step);
      assert.ok(name.length <= 63, name);
      assert.ok(name.endsWith(`-r${c.step}`), name);
      if (c.want) assert.equal(name, c.want);
      assert.equal(replicateJobName(c.workload, c.step), name, "stable");
    });
  }
  it("two long workloads keep different names", () => {
    const a = replicateJobName(`${"a".repeat(55)}-e1`, 99999);
    const b = replicateJobName(`${"a".repeat(55)}-e2`, 99999);
    assert.notEqual(a, b);
  });
});

describe("credentialsClash", () => {
  const cases = [
    { name: "S3 and Blob share one pod", stores: [s3, blob], clash: false },
    { name: "two S3 stores with the same keys and endpoint", stores: [s3, { ...s3, cluster: "aws-2" }], clash: false },
    {
      name: "two S3 stores with other keys",
      stores: [
        s3,
        { ...s3, cluster: "aws-2", credentials: { AWS_ACCESS_KEY_ID: "other", AWS_SECRET_ACCESS_KEY: "sk" } },
      ],
      clash: true,
    },
    {
      name: "two S3 endpoints",
      stores: [s3, { ...s3, cluster: "aws-2", env: [{ name: "AWS_ENDPOINT_URL_S3", value: "http://elsewhere" }] }],
      clash: true,
    },
    {
      name: "two Blob accounts' keys",
      stores: [blob, { ...blob, cluster: "az-2", credentials: { AZURE_STORAGE_ACCOUNT_KEY: "k2" } }],
      clash: true,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const why = credentialsClash(c.stores);
      assert.equal(why !== undefined, c.clash, why);
      if (why) assert.ok(!why.includes("other") && !why.includes("k2"), "never a value");
    });
  }
});

describe("replicateStepOf", () => {
  const cases: { labels: Record<string, string> | undefined; want: number | undefined }[] = [
    { labels: { "app.kubernetes.io/component": "checkpoint-replicate", [LABEL_REPLICATE_STEP]: "5" }, want: 5 },
    { labels: { [LABEL_REPLICATE_STEP]: "5" }, want: undefined },
    { labels: { "app.kubernetes.io/component": "checkpoint-replicate", [LABEL_REPLICATE_STEP]: "x" }, want: undefined },
    { labels: undefined, want: undefined },
  ];
  for (const c of cases) it(JSON.stringify(c.labels), () => assert.equal(replicateStepOf(c.labels), c.want));
});

describe("jobRefusal", () => {
  const aws = { ...s3, cloud: "aws" };
  const azure = { ...blob, cloud: "azure" };
  const cases = [
    { name: "both stores give pods their keys", stores: [aws, azure], refused: undefined },
    {
      name: "a destination of another cloud without pod credentials",
      stores: [aws, { ...azure, credentials: undefined }],
      refused: /no credentials for the store of azure-sim/,
    },
    {
      name: "a destination of the same cloud: the source's workload identity may reach it",
      stores: [
        { ...aws, credentials: undefined },
        { ...aws, cluster: "aws-2", credentials: undefined },
      ],
      refused: undefined,
    },
    {
      name: "a source without pod credentials is reached by its workload identity",
      stores: [{ ...aws, credentials: undefined }, azure],
      refused: undefined,
    },
    {
      name: "clashing keys",
      stores: [aws, { ...aws, cluster: "aws-2", credentials: { AWS_ACCESS_KEY_ID: "x", AWS_SECRET_ACCESS_KEY: "y" } }],
      refused: /different AWS_ACCESS_KEY_ID/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const why = jobRefusal(c.stores);
      if (c.refused) assert.match(why ?? "", c.refused);
      else assert.equal(why, undefined);
    });
  }
});
