// Large steps are replicated by a Job on the source cluster: with a 1 MiB
// threshold and OPERATOR_IMAGE set, a committed step above it makes the
// operator create a replicate Job on aws-sim (the operator's image, the
// replicate command for that step, both stores' credentials from a Secret
// there). kwok runs no containers, so the test runs that Job's command itself
// as a process, with the Job's env and Secret read from aws-sim; then the Blob
// store holds the verified copy and CheckpointReplicated says so. A step below
// the threshold is replicated in-process as before, with no Job. A Job that
// fails is shown (condition, Warning event) and run again. Deleting the TrainingJob removes its replicate Jobs and Secrets.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { PatchStrategy, setHeaderOptions, type V1Container, type V1Job } from "@kubernetes/client-node";
import { REPO_ROOT } from "../../scripts/sandbox/paths.ts";
import { AZURITE_ACCOUNT, AZURITE_KEY, S3_ACCESS_KEY, S3_SECRET_KEY } from "../../scripts/sandbox/sandbox.ts";
import { defaultTopology } from "../../scripts/sandbox/topology.ts";
import { openStore } from "../../src/checkpoint/open-store.ts";
import { commitStep } from "../../src/checkpoint/steps.ts";
import { type OperatorProcess, prepareHub, startOperator, waitClustersReady } from "../support/operator.ts";
import { clients, eventually, uniqueName } from "../support/sandbox.ts";
import { aTrainingJob } from "../support/trainingjob.ts";
import { TrainingJobs } from "../support/trainingjobs.ts";

const MiB = 2 ** 20;
const IMAGE = "registry.example/crosscloud-operator:replicate-test";
const topology = defaultTopology();
const s3Options = {
  s3Endpoint: `http://127.0.0.1:${topology.s3Port}`,
  s3Credentials: { accessKeyId: S3_ACCESS_KEY, secretAccessKey: S3_SECRET_KEY },
  env: {},
};
const blobUri = (prefix: string) => `http://127.0.0.1:${topology.blobPort}/${AZURITE_ACCOUNT}/ckpt-azure-sim/${prefix}`;

/** Writes and commits step-N in the S3 store with files of these sizes; returns each file's SHA-256. */
async function trainStep(prefix: string, step: number, sizes: number[]): Promise<Record<string, string>> {
  const store = openStore(`s3://ckpt-aws-sim/${prefix}`, s3Options);
  const sums: Record<string, string> = {};
  for (const [i, size] of sizes.entries()) {
    const data = randomBytes(size);
    await store.put(`step-${step}/shard-${i}.bin`, data);
    sums[`shard-${i}.bin`] = createHash("sha256").update(data).digest("hex");
  }
  await commitStep(store, step, { epoch: 1 });
  return sums;
}

/** The SHA-256 of each file of step-N in the Blob store, by its manifest. */
async function blobStep(prefix: string, step: number): Promise<Record<string, string>> {
  const blob = openStore(blobUri(prefix), { azureAccountKey: AZURITE_KEY, env: {} });
  const text = async (key: string) => {
    const chunks: Uint8Array[] = [];
    for await (const chunk of await blob.read(key)) chunks.push(chunk);
    return Buffer.concat(chunks);
  };
  const manifest = JSON.parse((await text(`step-${step}/manifest.json`)).toString("utf8"));
  const sums: Record<string, string> = {};
  for (const f of manifest.files)
    sums[f.path] = createHash("sha256")
      .update(await text(`step-${step}/${f.path}`))
      .digest("hex");
  return sums;
}

/** The container's env as its pod would see it: plain values and the Secrets of envFrom, read from the worker. */
async function containerEnv(namespace: string, c: V1Container): Promise<Record<string, string>> {
  const env: Record<string, string> = {};
  for (const from of c.envFrom ?? []) {
    const name = from.secretRef?.name ?? "";
    const secret = await clients("aws-sim").core.readNamespacedSecret({ namespace, name });
    for (const [k, v] of Object.entries(secret.data ?? {})) env[k] = Buffer.from(v, "base64").toString("utf8");
  }
  for (const e of c.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
  return env;
}

/** Runs the Job's command as a process (the source file for dist/checkpoint/cli.js); resolves with its exit code. */
function runAsPod(c: V1Container, env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const args = [...(c.command ?? []), ...(c.args ?? [])];
  const at = args.indexOf("dist/checkpoint/cli.js");
  assert.ok(at > 0, `the command runs dist/checkpoint/cli.js: ${args.join(" ")}`);
  const cli = join(REPO_ROOT, "src/checkpoint/cli.ts");
  const child = spawn(process.execPath, [cli, ...args.slice(at + 1)], {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((resolve) => child.on("exit", (code) => resolve({ code, stderr })));
}

describe("large steps replicated by a Job on the source cluster", { timeout: 300_000 }, () => {
  const tjs = new TrainingJobs(uniqueName("repjob"));
  const prefix = `${tjs.namespace}/big`;
  let operator: OperatorProcess;

  before(async () => {
    await prepareHub();
    await tjs.createNamespace();
    operator = startOperator("replication-job", {
      LEASE_DURATION_MS: "15000",
      RENEW_DEADLINE_MS: "10000",
      CHECKPOINT_INTERVAL_MS: "2000",
      OPERATOR_IMAGE: IMAGE,
      REPLICATION_JOB_THRESHOLD_BYTES: String(MiB),
    });
    await waitClustersReady();
    const job = aTrainingJob("big")
      .replicas(1)
      .accelerator("trainium1", 16)
      .with((j) => {
        j.spec.template.metadata = { annotations: { "sandbox.crosscloud.dev/run-for": "600s" } };
      })
      .obj();
    await tjs.create(job);
    await tjs.waitForPhase("big", "Running");
  });
  after(async () => {
    await operator.stop();
    await tjs.deleteNamespace();
  });

  const condition = async () =>
    (await tjs.get("big")).status?.conditions?.find((c) => c.type === "CheckpointReplicated");

  it("replicates a step below the threshold in-process, with no Job", async () => {
    const sums = await trainStep(prefix, 5, [256 * 1024, 64 * 1024]);
    const c = await eventually("step 5 replicated", condition, (c) => c?.status === "True", 90_000);
    assert.match(c?.message ?? "", /step 5 is in every store/);
    assert.deepEqual(await blobStep(prefix, 5), sums);
    const jobs = await clients("aws-sim").batch.listNamespacedJob({
      namespace: tjs.namespace,
      labelSelector: "app.kubernetes.io/component=checkpoint-replicate",
    });
    assert.deepEqual(
      jobs.items.map((j) => j.metadata?.name),
      [],
    );
  });

  let replicateJob: V1Job;
  it("creates a replicate Job on aws-sim for a step above it, with the image, command and credentials", async () => {
    const sums = await trainStep(prefix, 10, [MiB, MiB / 2]);
    replicateJob = await eventually(
      "the replicate Job of step 10 on aws-sim",
      () => clients("aws-sim").batch.readNamespacedJob({ namespace: tjs.namespace, name: "big-e1-r10" }),
      (j) => j.metadata?.name === "big-e1-r10",
      60_000,
    );
    const c = replicateJob.spec?.template.spec?.containers[0] as V1Container;
    assert.equal(c.image, IMAGE);
    assert.deepEqual(
      [...(c.command ?? []), ...(c.args ?? [])],
      [
        "/nodejs/bin/node",
        "dist/checkpoint/cli.js",
        "replicate",
        "--from",
        `s3://ckpt-aws-sim/${prefix}`,
        "--to",
        blobUri(prefix),
        "--epoch",
        "1",
        "--step",
        "10",
      ],
    );
    const env = await containerEnv(tjs.namespace, c);
    assert.deepEqual(Object.keys(env).sort(), [
      "AWS_ACCESS_KEY_ID",
      "AWS_ENDPOINT_URL_S3",
      "AWS_REGION",
      "AWS_SECRET_ACCESS_KEY",
      "AZURE_STORAGE_ACCOUNT_KEY",
    ]);
    assert.equal(
      replicateJob.metadata?.labels?.["training.crosscloud.dev/job-uid"],
      (await tjs.get("big")).metadata.uid,
    );
    // The operator's pass leaves the step to the Job: it is not in Blob, and the condition says it is on its way.
    const waiting = await eventually("Replicating", condition, (c) => c?.reason === "Replicating", 30_000);
    assert.match(waiting?.message ?? "", /step 10 is being replicated/);
    await assert.rejects(blobStep(prefix, 10));

    const run = await runAsPod(c, env);
    assert.equal(run.code, 0, run.stderr);
    const done = await eventually("step 10 replicated", condition, (c) => c?.status === "True", 90_000);
    assert.match(done?.message ?? "", /step 10 is in every store/);
    assert.deepEqual(await blobStep(prefix, 10), sums);
    const stores = (await tjs.get("big")).status?.checkpoint?.stores ?? [];
    assert.deepEqual(stores.map((s) => [s.cluster, s.latestStep]).sort(), [
      ["aws-sim", 10],
      ["azure-sim", 10],
    ]);
  });

  it("shows a failed Job in the condition and an event, and runs it again", async () => {
    await trainStep(prefix, 20, [MiB, MiB]);
    const aws = clients("aws-sim");
    const first = await eventually(
      "the replicate Job of step 20",
      () => aws.batch.readNamespacedJob({ namespace: tjs.namespace, name: "big-e1-r20" }),
      (j) => j.metadata?.uid !== undefined,
      60_000,
    );
    // The sandbox's nodes all carry accelerator taints, so its pod waits: a deadline of 1 s (as an
    // admin could set) makes the Job controller fail it with DeadlineExceeded.
    await aws.batch.patchNamespacedJob(
      { namespace: tjs.namespace, name: "big-e1-r20", body: { spec: { activeDeadlineSeconds: 1 } } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    const failed = await eventually("ReplicationFailed", condition, (c) => c?.reason === "ReplicationFailed", 60_000);
    assert.match(
      failed?.message ?? "",
      new RegExp(
        `step 20 to azure-sim: replicate Job ${tjs.namespace}/big-e1-r20 failed \\(DeadlineExceeded: .*\\) on aws-sim`,
      ),
    );
    await tjs.eventMatching("big", "a Warning event", (e) => e.type === "Warning" && e.reason === "ReplicationFailed");
    await tjs.eventMatching("big", "ReplicationJobRetried", (e) => e.reason === "ReplicationJobRetried", 60_000);
    const again = await eventually(
      "step 20's Job created again",
      () => aws.batch.readNamespacedJob({ namespace: tjs.namespace, name: "big-e1-r20" }),
      (j) => j.metadata?.uid !== first.metadata?.uid && !j.metadata?.deletionTimestamp,
      60_000,
    );
    assert.equal(again.spec?.activeDeadlineSeconds, 21600);
    const c = again.spec?.template.spec?.containers[0] as V1Container;
    const run = await runAsPod(c, await containerEnv(tjs.namespace, c));
    assert.equal(run.code, 0, run.stderr);
    const done = await eventually("step 20 replicated", condition, (c) => c?.status === "True", 90_000);
    assert.match(done?.message ?? "", /step 20 is in every store/);
  });

  it("copies only the step --step names", async () => {
    const line = `${tjs.namespace}/cli-step`;
    await trainStep(line, 30, [1024]);
    const sums = await trainStep(line, 31, [2048]);
    const c: V1Container = {
      name: "replicate",
      command: ["/nodejs/bin/node"],
      args: [
        "dist/checkpoint/cli.js",
        "replicate",
        "--from",
        `s3://ckpt-aws-sim/${line}`,
        "--to",
        blobUri(line),
      ].concat(["--epoch", "1", "--step", "31"]),
    };
    const env = {
      AWS_ENDPOINT_URL_S3: s3Options.s3Endpoint,
      AWS_ACCESS_KEY_ID: S3_ACCESS_KEY,
      AWS_SECRET_ACCESS_KEY: S3_SECRET_KEY,
      AZURE_STORAGE_ACCOUNT_KEY: AZURITE_KEY,
    };
    const run = await runAsPod(c, env);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(await blobStep(line, 31), sums);
    await assert.rejects(blobStep(line, 30));
  });

  it("removes the replicate Job and its Secret with the TrainingJob", async () => {
    const secret = replicateJob.spec?.template.spec?.containers[0]?.envFrom?.[0]?.secretRef?.name ?? "";
    await tjs.deleteAndWait("big", 90_000);
    const aws = clients("aws-sim");
    const gone = (err: unknown) => (err as { code?: number }).code === 404;
    await assert.rejects(aws.batch.readNamespacedJob({ namespace: tjs.namespace, name: "big-e1-r10" }), gone);
    await assert.rejects(aws.core.readNamespacedSecret({ namespace: tjs.namespace, name: secret }), gone);
  });
});
