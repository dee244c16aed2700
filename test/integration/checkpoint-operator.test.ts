// The operator keeps a running job's checkpoints replicated: a step the
// training code commits in its cluster's store (S3 on aws-sim) appears,
// verified, in the other cluster's store (Blob on azure-sim); status shows
// both stores; pods get the checkpoint env and store credentials; a job
// placed where a replicated step is gets it as its resume step. (Stale-epoch
// fencing across a move is proven in failover.test.ts.)

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { AZURITE_ACCOUNT, AZURITE_KEY, S3_ACCESS_KEY, S3_SECRET_KEY } from "../../scripts/sandbox/sandbox.ts";
import { defaultTopology } from "../../scripts/sandbox/topology.ts";
import { openStore } from "../../src/checkpoint/open-store.ts";
import { commitStep } from "../../src/checkpoint/steps.ts";
import { type OperatorProcess, prepareHub, startOperator, waitClustersReady } from "../support/operator.ts";
import { clients, eventually, uniqueName } from "../support/sandbox.ts";
import { aTrainingJob } from "../support/trainingjob.ts";
import { TrainingJobs } from "../support/trainingjobs.ts";

const topology = defaultTopology();
const s3Options = {
  s3Endpoint: `http://127.0.0.1:${topology.s3Port}`,
  s3Credentials: { accessKeyId: S3_ACCESS_KEY, secretAccessKey: S3_SECRET_KEY },
  env: {},
};
const blobUri = (prefix: string) => `http://127.0.0.1:${topology.blobPort}/${AZURITE_ACCOUNT}/ckpt-azure-sim/${prefix}`;

/** Writes step-N as training code does on the given epoch and commits it. */
async function trainStep(prefix: string, step: number, epoch: number): Promise<void> {
  const store = openStore(`s3://ckpt-aws-sim/${prefix}`, s3Options);
  await store.put(`step-${step}/model.bin`, randomBytes(256 * 1024));
  await store.put(`step-${step}/optimizer.bin`, randomBytes(64 * 1024));
  await commitStep(store, step, { epoch });
}

describe("checkpoint replication by the operator", { timeout: 300_000 }, () => {
  const tjs = new TrainingJobs(uniqueName("ckpt"));
  const prefix = `${tjs.namespace}/shared-run`;
  let operator: OperatorProcess;

  before(async () => {
    await prepareHub();
    await tjs.createNamespace();
    operator = startOperator("checkpoint-operator");
    await waitClustersReady();
  });
  after(async () => {
    await operator.stop();
    await tjs.deleteNamespace();
  });

  it("replicates a committed step from S3 to Blob and reports both stores", async () => {
    const job = aTrainingJob("writer")
      .replicas(2)
      .accelerator("trainium1", 16)
      .with((j) => {
        j.spec.checkpoint.prefix = prefix;
        j.spec.template.metadata = { annotations: { "sandbox.crosscloud.dev/run-for": "300s" } };
      })
      .obj();
    await tjs.create(job);
    await tjs.waitForPhase("writer", "Running");
    await trainStep(prefix, 100, 1);
    const replicated = await eventually(
      "step 100 in both stores",
      () => tjs.get("writer"),
      (j) => (j.status?.checkpoint?.stores ?? []).filter((s) => s.latestStep === 100).length === 2,
      90_000,
    );
    assert.equal(replicated.status?.checkpoint?.latestStep, 100);
    const stores = Object.fromEntries((replicated.status?.checkpoint?.stores ?? []).map((s) => [s.cluster, s]));
    assert.equal(stores["aws-sim"]?.uri, `s3://ckpt-aws-sim/${prefix}`);
    assert.equal(stores["azure-sim"]?.uri, blobUri(prefix));
    const condition = await eventually(
      "CheckpointReplicated True",
      async () => (await tjs.get("writer")).status?.conditions?.find((c) => c.type === "CheckpointReplicated"),
      (c) => c?.status === "True",
      30_000,
    );
    assert.match(condition?.message ?? "", /step 100 is in every store/);
    // The copy in Blob is whole: the manifest is there, with checksums the replicator computed.
    const blob = openStore(blobUri(prefix), { azureAccountKey: AZURITE_KEY, env: {} });
    const chunks: Uint8Array[] = [];
    for await (const chunk of await blob.read("step-100/manifest.json")) chunks.push(chunk);
    const manifest = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    assert.equal(manifest.step, 100);
    assert.equal(manifest.files.length, 2);
    for (const f of manifest.files) assert.match(f.sha256, /^[0-9a-f]{64}$/);
  });

  it("gives the pods their store's URI, endpoint and credentials", async () => {
    const aws = clients("aws-sim");
    const pods = await aws.core.listNamespacedPod({
      namespace: tjs.namespace,
      labelSelector: "training.crosscloud.dev/job-name=writer",
    });
    const trainer = pods.items[0]?.spec?.containers.find((c) => c.name === "trainer");
    const env = Object.fromEntries((trainer?.env ?? []).map((e) => [e.name, e.value]));
    assert.equal(env.CROSSCLOUD_CHECKPOINT_URI, `s3://ckpt-aws-sim/${prefix}`);
    assert.equal(env.AWS_ENDPOINT_URL_S3, `http://127.0.0.1:${topology.s3Port}`);
    const secretName = trainer?.envFrom?.[0]?.secretRef?.name ?? "";
    const secret = await aws.core.readNamespacedSecret({ namespace: tjs.namespace, name: secretName });
    assert.deepEqual(Object.keys(secret.data ?? {}).sort(), ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]);
  });

  it("resumes a job placed on the other cloud from the replicated step", async () => {
    const job = aTrainingJob("reader")
      .replicas(1)
      .accelerator("nvidia-h100", 8)
      .with((j) => {
        j.spec.checkpoint.prefix = prefix;
        j.spec.placement.clouds = ["azure"];
        j.spec.template.metadata = { annotations: { "sandbox.crosscloud.dev/run-for": "300s" } };
      })
      .obj();
    await tjs.create(job);
    // Its first pass reports the stores, then the workload is launched with the resume step.
    await tjs.waitForPhase("reader", "Running");
    const pods = await eventually(
      "the reader's pod",
      () =>
        clients("azure-sim").core.listNamespacedPod({
          namespace: tjs.namespace,
          labelSelector: "training.crosscloud.dev/job-name=reader",
        }),
      (list) => list.items.length > 0,
    );
    const env = Object.fromEntries((pods.items[0]?.spec?.containers[0]?.env ?? []).map((e) => [e.name, e.value]));
    assert.equal(env.CROSSCLOUD_CHECKPOINT_URI, blobUri(prefix));
    // The resume step is in the epoch's resume ConfigMap, which the trainer's env reads at start.
    const resume = await clients("azure-sim").core.readNamespacedConfigMap({
      namespace: tjs.namespace,
      name: "reader-e1-resume",
    });
    assert.deepEqual(resume.data, { step: "100", uri: `${blobUri(prefix)}/step-100` });
  });
});
