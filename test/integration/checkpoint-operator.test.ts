// The operator keeps a running job's checkpoints replicated: a step the
// training code commits in its cluster's store (S3 on aws-sim) appears,
// verified, in the other cluster's store (Blob on azure-sim); status shows
// both stores; pods get the checkpoint env and store credentials; a job that
// names the first with spec.checkpoint.from, placed on the other cloud,
// resumes from its replicated step. Tenancy: a job's line is under its own
// namespace (a prefix naming another namespace's line stays in its own), two
// jobs of a namespace never write one line, and by default pods get the
// ComputeCluster's workload identity, not the store's keys. (Stale-epoch
// fencing across a move is proven in failover.test.ts.)

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import type { V1Pod } from "@kubernetes/client-node";
import { AZURITE_ACCOUNT, AZURITE_KEY, S3_ACCESS_KEY, S3_SECRET_KEY } from "../../scripts/sandbox/sandbox.ts";
import { defaultTopology } from "../../scripts/sandbox/topology.ts";
import { openStore } from "../../src/checkpoint/open-store.ts";
import { commitStep } from "../../src/checkpoint/steps.ts";
import { storeOptions } from "../../src/clusters/stores.ts";
import { newestStep } from "../../src/controller/trainingjob/checkpoints.ts";
import { getCluster, patchCluster, trainerEnv } from "../support/failover.ts";
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

/** The first pod of a job on a worker, once there is one. */
async function firstPod(cluster: "aws-sim" | "azure-sim", namespace: string, job: string): Promise<V1Pod> {
  const list = await eventually(
    `a pod of ${namespace}/${job} on ${cluster}`,
    () =>
      clients(cluster).core.listNamespacedPod({
        namespace,
        labelSelector: `training.crosscloud.dev/job-name=${job}`,
      }),
    (l) => l.items.length > 0,
  );
  return list.items[0] as V1Pod;
}

/** The trainer container's env of a job's first pod on a worker. */
async function podEnv(cluster: "aws-sim" | "azure-sim", namespace: string, job: string) {
  return trainerEnv(await firstPod(cluster, namespace, job));
}

/** Writes step-N as training code does on the given epoch and commits it. */
async function trainStep(prefix: string, step: number, epoch: number): Promise<void> {
  const store = openStore(`s3://ckpt-aws-sim/${prefix}`, s3Options);
  await store.put(`step-${step}/model.bin`, randomBytes(256 * 1024));
  await store.put(`step-${step}/optimizer.bin`, randomBytes(64 * 1024));
  await commitStep(store, step, { epoch });
}

describe("checkpoint replication by the operator", { timeout: 300_000 }, () => {
  const tjs = new TrainingJobs(uniqueName("ckpt"));
  // The writer's checkpoint line: the default, <namespace>/<name>.
  const prefix = `${tjs.namespace}/writer`;
  let operator: OperatorProcess;

  before(async () => {
    await prepareHub();
    await tjs.createNamespace();
    // This suite does not test leadership: a Lease that survives a loaded machine's slow renewals.
    operator = startOperator("checkpoint-operator", { LEASE_DURATION_MS: "15000", RENEW_DEADLINE_MS: "10000" });
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
    const pod = await firstPod("aws-sim", tjs.namespace, "writer");
    const trainer = pod.spec?.containers.find((c) => c.name === "trainer");
    const env = trainerEnv(pod);
    assert.equal(env.CROSSCLOUD_CHECKPOINT_URI, `s3://ckpt-aws-sim/${prefix}`);
    assert.equal(env.AWS_ENDPOINT_URL_S3, `http://127.0.0.1:${topology.s3Port}`);
    const secretName = trainer?.envFrom?.[0]?.secretRef?.name ?? "";
    const secret = await aws.core.readNamespacedSecret({ namespace: tjs.namespace, name: secretName });
    assert.deepEqual(Object.keys(secret.data ?? {}).sort(), ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]);
  });

  it("resumes a job placed on the other cloud from the replicated step of the job it names in checkpoint.from", async () => {
    const job = aTrainingJob("reader")
      .replicas(1)
      .accelerator("nvidia-h100", 8)
      .with((j) => {
        j.spec.checkpoint.from = "writer";
        j.spec.placement.clouds = ["azure"];
        j.spec.template.metadata = { annotations: { "sandbox.crosscloud.dev/run-for": "300s" } };
      })
      .obj();
    await tjs.create(job);
    // Its first pass reports the stores, then the workload is launched with the resume step.
    await tjs.waitForPhase("reader", "Running");
    const env = await podEnv("azure-sim", tjs.namespace, "reader");
    // It writes its own line, and resumes from the writer's step in its store.
    assert.equal(env.CROSSCLOUD_CHECKPOINT_URI, blobUri(`${tjs.namespace}/reader`));
    // The resume step is in the epoch's resume ConfigMap, which the trainer's env reads at start.
    const resume = await clients("azure-sim").core.readNamespacedConfigMap({
      namespace: tjs.namespace,
      name: "reader-e1-resume",
    });
    assert.deepEqual(resume.data, { step: "100", uri: `${blobUri(prefix)}/step-100` });
  });

  it("keeps a prefix naming another namespace's line inside the job's own namespace", async () => {
    const other = new TrainingJobs(uniqueName("ckpt-other"));
    await other.createNamespace();
    try {
      await other.create(
        aTrainingJob("intruder")
          .replicas(1)
          .accelerator("trainium1", 16)
          .with((j) => {
            // The writer's line, as the prefix used to be written (<namespace>/<name>).
            j.spec.checkpoint.prefix = prefix;
            j.spec.template.metadata = { annotations: { "sandbox.crosscloud.dev/run-for": "300s" } };
          })
          .obj(),
      );
      const seen = await eventually(
        "the intruder's stores reported",
        () => other.get("intruder"),
        (j) => (j.status?.checkpoint?.stores ?? []).length === 2,
        90_000,
      );
      const uris = (seen.status?.checkpoint?.stores ?? []).map((s) => s.uri).sort();
      assert.deepEqual(uris, [
        blobUri(`${other.namespace}/${prefix}`),
        `s3://ckpt-aws-sim/${other.namespace}/${prefix}`,
      ]);
      // The writer's step 100 is not its to see, resume from, replicate or prune.
      assert.equal(seen.status?.checkpoint?.latestStep, undefined);
      const env = await podEnv("aws-sim", other.namespace, "intruder");
      assert.equal(env.CROSSCLOUD_CHECKPOINT_URI, `s3://ckpt-aws-sim/${other.namespace}/${prefix}`);
      assert.equal(env.CROSSCLOUD_RESUME_STEP, undefined);
      assert.equal((await tjs.get("writer")).status?.checkpoint?.latestStep, 100);
    } finally {
      await other.deleteNamespace();
    }
  });

  it("refuses a second job of the namespace writing a line another job writes, naming it", async () => {
    await tjs.create(
      aTrainingJob("copycat")
        .replicas(1)
        .accelerator("trainium1", 16)
        .with((j) => {
          j.spec.checkpoint.prefix = "writer";
        })
        .obj(),
    );
    const refused = await eventually(
      "copycat's ReconcileError",
      () => tjs.get("copycat"),
      (j) => j.status?.conditions?.some((c) => c.type === "ReconcileError" && c.status === "True") === true,
      60_000,
    );
    const message = refused.status?.conditions?.find((c) => c.type === "ReconcileError")?.message ?? "";
    assert.match(message, /spec\.checkpoint\.prefix/);
    assert.match(message, new RegExp(`written by TrainingJob ${tjs.namespace}/writer`));
    assert.match(message, /spec\.checkpoint\.from: writer/);
    const pods = await clients(
      refused.status?.placement?.cluster === "azure-sim" ? "azure-sim" : "aws-sim",
    ).core.listNamespacedPod({
      namespace: tjs.namespace,
      labelSelector: "training.crosscloud.dev/job-name=copycat",
    });
    assert.equal(pods.items.length, 0, "copycat launched nothing");
    await tjs.deleteAndWait("copycat");
  });
  it("reads the Blob account key from AZURE_STORAGE_CONNECTION_STRING (Azurite)", async () => {
    const azure = await getCluster("azure-sim");
    const accountURL = azure.spec.checkpointStore.azureBlob?.accountURL ?? "";
    const connection = `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${accountURL};`;
    const options = storeOptions(azure, { AZURE_STORAGE_CONNECTION_STRING: connection });
    // The writer's step 100, replicated to Azurite, read with the key from the connection string.
    const newest = await newestStep(blobUri(prefix), options, { activeEpoch: 1 });
    assert.equal(newest?.step, 100);
    const elsewhere = `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=http://127.0.0.1:1/${AZURITE_ACCOUNT};`;
    assert.throws(
      () => storeOptions(azure, { AZURE_STORAGE_CONNECTION_STRING: elsewhere }),
      (err: Error) =>
        /AZURE_STORAGE_CONNECTION_STRING is for the blob endpoint http:\/\/127\.0\.0\.1:1\//.test(err.message) &&
        err.message.includes("spec.checkpointStore.azureBlob.accountURL") &&
        !err.message.includes(AZURITE_KEY),
    );
  });

  it("by default runs pods as the ComputeCluster's workload identity, without the store's keys", async () => {
    const identity = "trainer-identity";
    const aws = clients("aws-sim");
    // The platform team's ServiceAccount (annotated for IRSA on a real EKS).
    await aws.core.createNamespace({ body: { metadata: { name: tjs.namespace } } }).catch(() => {});
    await aws.core.createNamespacedServiceAccount({
      namespace: tjs.namespace,
      body: {
        metadata: {
          name: identity,
          annotations: { "eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/ckpt" },
        },
      },
    });
    await patchCluster("aws-sim", {
      checkpointStore: { podCredentials: null },
      workloadIdentity: { serviceAccountName: identity },
    } as never);
    try {
      await tjs.create(
        aTrainingJob("tenant")
          .replicas(1)
          .accelerator("trainium1", 16)
          .with((j) => {
            // Another ServiceAccount of the namespace, maybe with other cloud permissions: not used.
            if (j.spec.template.spec) j.spec.template.spec.serviceAccountName = "default";
            j.spec.template.metadata = { annotations: { "sandbox.crosscloud.dev/run-for": "300s" } };
          })
          .obj(),
      );
      const pod = await firstPod("aws-sim", tjs.namespace, "tenant");
      assert.equal(pod.spec?.serviceAccountName, identity);
      assert.equal(pod.metadata?.labels?.["azure.workload.identity/use"], undefined, "the Azure label only on azure");
      const trainer = pod.spec?.containers.find((c) => c.name === "trainer");
      assert.equal(trainer?.envFrom, undefined, "no store Secret in the trainer's env");
      const secrets = await aws.core.listNamespacedSecret({ namespace: tjs.namespace });
      assert.deepEqual(
        secrets.items.map((x) => x.metadata?.name).filter((n) => n?.startsWith("tenant")),
        [],
        "no copy of the store's credentials Secret on the worker",
      );
      // The operator's own replication still reads both stores with the hub-side Secrets.
      await tjs.waitForPhase("tenant", "Running");
      await trainStep(`${tjs.namespace}/tenant`, 5, 1);
      await eventually(
        "the tenant's step 5 replicated to azure-sim",
        () => tjs.get("tenant"),
        (j) => j.status?.checkpoint?.stores?.find((x) => x.cluster === "azure-sim")?.latestStep === 5,
        60_000,
      );
    } finally {
      await patchCluster("aws-sim", {
        checkpointStore: { podCredentials: "Secret" },
        workloadIdentity: null,
      } as never);
    }
  });
});
