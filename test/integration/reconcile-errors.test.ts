// A reconcile error that repeats is seen on the TrainingJob, not only in the
// operator's log: a job placed on a cluster whose store credentials Secret is
// missing gets the condition ReconcileError naming the Secret and the field,
// and a Warning event, and the ComputeCluster shows CheckpointStoreReady=False;
// once the Secret reference is fixed the job runs and both conditions clear.
// A store Secret whose AZURE_STORAGE_CONNECTION_STRING is for another Blob
// endpoint than the ComputeCluster's accountURL is a ReconcileError and an
// event naming that field and the variable (never the key), until fixed.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AZURITE_ACCOUNT, AZURITE_KEY } from "../../scripts/sandbox/sandbox.ts";
import { getCluster, patchCluster } from "../support/failover.ts";
import { withOperator } from "../support/operator.ts";
import { clients, eventually, uniqueName } from "../support/sandbox.ts";
import { aTrainingJob } from "../support/trainingjob.ts";
import { workloadOf } from "../support/trainingjobs.ts";

const STORE = { s3: { bucket: "ckpt-aws-sim" } };
/** A store Secret whose connection string names another Blob endpoint than azure-sim's accountURL. */
const MISMATCHED = uniqueName("mismatched-store");
const hub = clients("hub");

function azureRef(name: string) {
  return { checkpointStore: { credentialsSecretRef: { namespace: "crosscloud-system", name } } } as never;
}

describe("a reconcile error", { timeout: 240_000 }, () => {
  const { tjs } = withOperator("errors", {}, async (jobs) => {
    await patchCluster("aws-sim", {
      checkpointStore: { ...STORE, credentialsSecretRef: { namespace: "crosscloud-system", name: "aws-sim-store" } },
    } as never);
    await patchCluster("azure-sim", azureRef("azure-sim-store"));
    for (const name of ["broken", "mismatched"]) await jobs.deleteAndWait(name).catch(() => {});
    await hub.core.deleteNamespacedSecret({ namespace: "crosscloud-system", name: MISMATCHED }).catch(() => {});
  });

  it("becomes a condition and an event naming the cause, and goes when it is fixed", async () => {
    await patchCluster("aws-sim", {
      checkpointStore: { ...STORE, credentialsSecretRef: { namespace: "crosscloud-system", name: "no-such-secret" } },
    } as never);
    await tjs.create(
      aTrainingJob("broken")
        .replicas(1)
        .accelerator("trainium1", 16)
        .with((j) => {
          j.spec.placement.clouds = ["aws"];
          j.spec.template.metadata = { annotations: { "sandbox.crosscloud.dev/run-for": "900s" } };
        })
        .obj(),
    );
    const failing = await eventually(
      "the ReconcileError condition",
      () => tjs.get("broken"),
      (j) => j.status?.conditions?.some((c) => c.type === "ReconcileError" && c.status === "True") === true,
      60_000,
    );
    const condition = failing.status?.conditions?.find((c) => c.type === "ReconcileError");
    // The cluster it concerns says so too.
    const cc = await eventually(
      "aws-sim's CheckpointStoreReady=False",
      () => getCluster("aws-sim"),
      (c) => c.status?.conditions?.some((x) => x.type === "CheckpointStoreReady" && x.status === "False") === true,
      30_000,
    );
    const store = cc.status?.conditions?.find((x) => x.type === "CheckpointStoreReady");
    assert.equal(store?.reason, "CredentialsUnavailable");
    assert.match(store?.message ?? "", /crosscloud-system\/no-such-secret/);
    assert.match(condition?.message ?? "", /crosscloud-system\/no-such-secret/);
    assert.match(condition?.message ?? "", /spec\.checkpointStore\.credentialsSecretRef of ComputeCluster aws-sim/);
    const events = await eventually(
      "a ReconcileFailed event",
      () => tjs.events("broken"),
      (es) => es.some((e) => e.reason === "ReconcileFailed" && e.type === "Warning"),
      30_000,
    );
    assert.equal(
      events.filter((e) => e.reason === "ReconcileFailed").length,
      1,
      "one event while the cause stays the same",
    );

    await patchCluster("aws-sim", {
      checkpointStore: { ...STORE, credentialsSecretRef: { namespace: "crosscloud-system", name: "aws-sim-store" } },
    } as never);
    const running = await tjs.waitForPhase("broken", "Running", [], 120_000);
    await eventually(
      "aws-sim's CheckpointStoreReady=True again",
      () => getCluster("aws-sim"),
      (c) => c.status?.conditions?.some((x) => x.type === "CheckpointStoreReady" && x.status === "True") === true,
      30_000,
    );
    assert.equal(
      running.status?.conditions?.some((c) => c.type === "ReconcileError"),
      false,
      "the condition is gone once the pass succeeds",
    );
  });

  it("names AZURE_STORAGE_CONNECTION_STRING and the accountURL it does not match, never the key", async () => {
    const elsewhere = `http://127.0.0.1:1/${AZURITE_ACCOUNT}`;
    await hub.core.createNamespacedSecret({
      namespace: "crosscloud-system",
      body: {
        metadata: { name: MISMATCHED, namespace: "crosscloud-system" },
        stringData: {
          AZURE_STORAGE_CONNECTION_STRING: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${elsewhere};`,
        },
      },
    });
    await patchCluster("azure-sim", azureRef(MISMATCHED));
    await tjs.create(
      aTrainingJob("mismatched")
        .replicas(1)
        .accelerator("nvidia-h100", 8)
        .with((j) => {
          j.spec.placement.clouds = ["azure"];
          j.spec.template.metadata = { annotations: { "sandbox.crosscloud.dev/run-for": "900s" } };
        })
        .obj(),
    );
    const failing = await eventually(
      "the ReconcileError condition",
      () => tjs.get("mismatched"),
      (j) => j.status?.conditions?.some((c) => c.type === "ReconcileError" && c.status === "True") === true,
      60_000,
    );
    assert.equal(failing.status?.placement?.cluster, "azure-sim");
    const message = failing.status?.conditions?.find((c) => c.type === "ReconcileError")?.message ?? "";
    assert.match(message, /^not launched on azure-sim: /);
    assert.match(
      message,
      new RegExp(
        `Secret crosscloud-system/${MISMATCHED}: AZURE_STORAGE_CONNECTION_STRING is for the blob endpoint http://127\\.0\\.0\\.1:1/`,
      ),
    );
    assert.match(message, /spec\.checkpointStore\.azureBlob\.accountURL/);
    assert.ok(!message.includes(AZURITE_KEY), "the key is never shown");
    const events = await eventually(
      "a ReconcileFailed event naming the field",
      () => tjs.events("mismatched"),
      (es) => es.some((e) => e.reason === "ReconcileFailed" && /azureBlob\.accountURL/.test(e.message)),
      30_000,
    );
    assert.ok(events.every((e) => !e.message.includes(AZURITE_KEY)));
    const w = await workloadOf("azure-sim", failing.metadata.uid ?? "");
    assert.equal(w.jobs.length, 0, "nothing was launched");

    await patchCluster("azure-sim", azureRef("azure-sim-store"));
    const running = await tjs.waitForPhase("mismatched", "Running", [], 120_000);
    assert.equal(
      running.status?.conditions?.some((c) => c.type === "ReconcileError"),
      false,
    );
  });
});
