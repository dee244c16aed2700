// Trouble with one cluster's checkpoint store is contained to that cluster and
// the jobs it concerns, and shown on them (issue 10, items 6 and 7):
// - a missing store credentials Secret on azure-sim leaves azure-sim's store
//   out of replication (CheckpointReplicated=False, StoreUnavailable, naming
//   it, with a Warning event) while a job on aws-sim replicates nowhere else,
//   runs and finishes;
// - a replication pass that fails outright (the job's own store is gone)
//   becomes CheckpointReplicated=False, ReplicationFailed, with the cause;
// - the store Secret of a running job's own cluster deleted mid-run: the job
//   is still observed to Succeeded, with CheckpointReplicated=False naming the
//   Secret while it is missing, and no ReconcileError.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { defaultTopology } from "../../scripts/sandbox/topology.ts";
import type { TrainingJob } from "../../src/api/trainingjob.ts";
import { patchCluster, trainStep } from "../support/failover.ts";
import { withOperator } from "../support/operator.ts";
import { clients, eventually, uniqueName } from "../support/sandbox.ts";
import { aTrainingJob } from "../support/trainingjob.ts";

const AZURE_STORE = "azure-sim-store";
const AWS_STORE = "aws-sim-store";
/** A copy of aws-sim's store Secret that a test deletes. */
const DOOMED_STORE = uniqueName("doomed-store");
const S3 = () => `http://127.0.0.1:${defaultTopology().s3Port}`;

function replicated(job: TrainingJob) {
  return job.status?.conditions?.find((c) => c.type === "CheckpointReplicated");
}

function onAws(name: string, runFor: string): TrainingJob {
  return aTrainingJob(name)
    .replicas(1)
    .accelerator("trainium1", 16)
    .with((j) => {
      j.spec.placement.clouds = ["aws", "azure"];
      j.spec.placement.clusters = ["aws-sim", "azure-sim"];
      j.spec.accelerators.push({ type: "nvidia-h100", perReplica: 8 });
      j.spec.template.metadata = { annotations: { "sandbox.crosscloud.dev/run-for": runFor } };
    })
    .obj();
}

describe("checkpoint store trouble", { timeout: 300_000 }, () => {
  const { tjs } = withOperator("stores", { CHECKPOINT_INTERVAL_MS: "1000" }, async (jobs) => {
    await patchCluster("azure-sim", {
      checkpointStore: { credentialsSecretRef: { namespace: "crosscloud-system", name: AZURE_STORE } },
    } as never);
    await patchCluster("aws-sim", {
      checkpointStore: {
        s3: { bucket: "ckpt-aws-sim", endpoint: S3() },
        credentialsSecretRef: { namespace: "crosscloud-system", name: AWS_STORE },
      },
    } as never);
    for (const name of ["contained", "storeless", "orphaned"]) await jobs.deleteAndWait(name).catch(() => {});
    await hub.core.deleteNamespacedSecret({ namespace: "crosscloud-system", name: DOOMED_STORE }).catch(() => {});
  });
  const hub = clients("hub");

  it("leaves out the store of a cluster whose Secret is missing, and the job on the other cluster finishes", async () => {
    await patchCluster("azure-sim", {
      checkpointStore: { credentialsSecretRef: { namespace: "crosscloud-system", name: "no-such-store-secret" } },
    } as never);
    const created = await tjs.create(onAws("contained", "25s"));
    await tjs.waitForPhase("contained", "Running", [], 120_000);
    await trainStep("aws-sim", `${tjs.namespace}/contained`, 10, created.status?.epoch ?? 1);

    const leftOut = await eventually(
      "CheckpointReplicated=False naming azure-sim's store",
      () => tjs.get("contained"),
      (j) => replicated(j)?.reason === "StoreUnavailable" && j.status?.checkpoint?.latestStep === 10,
      60_000,
    );
    assert.equal(replicated(leftOut)?.status, "False");
    assert.match(replicated(leftOut)?.message ?? "", /azure-sim: .*no-such-store-secret/);
    assert.deepEqual(
      leftOut.status?.checkpoint?.stores?.map((x) => [x.cluster, x.latestStep]),
      [["aws-sim", 10]],
      "aws-sim's own store is still read and reported; azure-sim's is left out",
    );
    await tjs.eventMatching(
      "contained",
      "a StoreUnavailable Warning",
      (e) => e.type === "Warning" && e.reason === "StoreUnavailable",
    );

    const done = await tjs.waitForPhase("contained", "Succeeded", [], 120_000);
    assert.equal(
      done.status?.conditions?.find((c) => c.type === "ReconcileError"),
      undefined,
    );
  });

  it("says so when a replication pass fails outright", async () => {
    await patchCluster("azure-sim", {
      checkpointStore: { credentialsSecretRef: { namespace: "crosscloud-system", name: AZURE_STORE } },
    } as never);
    await tjs.create(onAws("storeless", "900s"));
    await tjs.waitForPhase("storeless", "Running", [], 120_000);
    // The job's own store goes away under it: the bucket named is not there.
    await patchCluster("aws-sim", {
      checkpointStore: { s3: { bucket: "no-such-bucket", endpoint: S3() } },
    } as never);
    const failed = await eventually(
      "CheckpointReplicated=False, ReplicationFailed",
      () => tjs.get("storeless"),
      (j) => replicated(j)?.reason === "ReplicationFailed",
      60_000,
    );
    assert.match(replicated(failed)?.message ?? "", /the last replication pass failed: .+/);
    assert.equal(failed.status?.phase, "Running", "the job runs on");
    await tjs.eventMatching(
      "storeless",
      "a ReplicationFailed Warning",
      (e) => e.type === "Warning" && e.reason === "ReplicationFailed",
    );
  });

  it("observes a running job to Succeeded when its own cluster's store Secret goes missing, naming it", async () => {
    await patchCluster("azure-sim", {
      checkpointStore: { credentialsSecretRef: { namespace: "crosscloud-system", name: AZURE_STORE } },
    } as never);
    await patchCluster("aws-sim", { checkpointStore: { s3: { bucket: "ckpt-aws-sim", endpoint: S3() } } } as never);
    const original = await hub.core.readNamespacedSecret({ namespace: "crosscloud-system", name: AWS_STORE });
    await hub.core.createNamespacedSecret({
      namespace: "crosscloud-system",
      body: { metadata: { name: DOOMED_STORE, namespace: "crosscloud-system" }, data: original.data ?? {} },
    });
    await patchCluster("aws-sim", {
      checkpointStore: { credentialsSecretRef: { namespace: "crosscloud-system", name: DOOMED_STORE } },
    } as never);
    const created = await tjs.create(onAws("orphaned", "45s"));
    await tjs.waitForPhase("orphaned", "Running", [], 120_000);
    assert.equal((await tjs.get("orphaned")).status?.placement?.cluster, "aws-sim");

    await hub.core.deleteNamespacedSecret({ namespace: "crosscloud-system", name: DOOMED_STORE });
    const missing = await eventually(
      "CheckpointReplicated=False naming the missing Secret",
      () => tjs.get("orphaned"),
      (j) => replicated(j)?.reason === "StoreUnavailable" && /aws-sim: /.test(replicated(j)?.message ?? ""),
      60_000,
    );
    assert.equal(replicated(missing)?.status, "False");
    assert.match(
      replicated(missing)?.message ?? "",
      new RegExp(
        `Secret crosscloud-system/${DOOMED_STORE} \\(spec\\.checkpointStore\\.credentialsSecretRef of ComputeCluster aws-sim\\) does not exist`,
      ),
    );
    assert.equal(missing.status?.phase, "Running", "the job runs on");
    assert.equal(
      missing.status?.conditions?.find((c) => c.type === "ReconcileError"),
      undefined,
      "its passes go on",
    );

    // The pod ends while the Secret is still missing: its end is recorded all the same.
    const done = await tjs.waitForPhase("orphaned", "Succeeded", [], 120_000);
    assert.ok(done.status?.completionTime, "the completion time is recorded");
    assert.equal(done.status?.epoch, created.status?.epoch ?? 1, "no new epoch");
    assert.equal(
      done.status?.conditions?.find((c) => c.type === "ReconcileError"),
      undefined,
    );
    assert.equal(replicated(done)?.reason, "StoreUnavailable", "the Secret was missing to the end");
  });
});
