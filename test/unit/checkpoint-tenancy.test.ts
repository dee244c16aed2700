// Tenancy of checkpoints and pod identity, as pure logic (table tests): a
// job's line is under its namespace whatever its prefix says; one unfinished
// job holds a line; Azure connection strings give the account key of the
// store they name; pods get the store's Secret only when the ComputeCluster
// opts in (the rendered ServiceAccount and label: workload-render.test.ts).

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ComputeCluster } from "../../src/api/computecluster.ts";
import type { TrainingJob } from "../../src/api/trainingjob.ts";
import { parseConnectionString } from "../../src/checkpoint/connection-string.ts";
import { isCheckpointError } from "../../src/checkpoint/errors.ts";
import { openStore } from "../../src/checkpoint/open-store.ts";
import {
  checkpointLine,
  checkpointUri,
  lineHolder,
  podIdentity,
  podsGetStoreSecret,
  storeOptions,
} from "../../src/clusters/stores.ts";
import { anAwsComputeCluster } from "../support/builders.ts";
import { aTrainingJob } from "../support/trainingjob.ts";

const KEY = "a2V5LWJ5dGVz"; // base64, as account keys are; not a real key
const BLOB = "http://127.0.0.1:10000/devstoreaccount1";

function job(namespace: string, name: string, mutate: (j: TrainingJob) => void = () => {}): TrainingJob {
  return aTrainingJob(name)
    .accelerator("trainium1", 16)
    .with((j) => {
      j.metadata = { ...j.metadata, namespace, name, uid: `${namespace}-${name}` };
      mutate(j);
    })
    .obj();
}

function azureCluster(spec: Partial<ComputeCluster["spec"]> = {}): ComputeCluster {
  return anAwsComputeCluster("azure-sim", {
    cloud: "azure",
    aws: undefined,
    azure: { subscriptionId: "s", resourceGroup: "rg", clusterName: "azure-sim" },
    checkpointStore: {
      azureBlob: { accountURL: BLOB, container: "ckpt" },
      credentialsSecretRef: { namespace: "crosscloud-system", name: "azure-sim-store" },
    },
    ...spec,
  });
}

describe("checkpoint lines", () => {
  const aws = anAwsComputeCluster("aws-sim", { checkpointStore: { s3: { bucket: "ckpt" } } });
  const cases: [string, TrainingJob, string][] = [
    ["default: <namespace>/<name>", job("team-a", "llama"), "s3://ckpt/team-a/llama"],
    [
      "a prefix is under the namespace",
      job("team-a", "llama", (j) => {
        j.spec.checkpoint.prefix = "runs/llama";
      }),
      "s3://ckpt/team-a/runs/llama",
    ],
    [
      "another namespace's line, named as a prefix, stays in this one",
      job("team-b", "thief", (j) => {
        j.spec.checkpoint.prefix = "team-a/llama";
      }),
      "s3://ckpt/team-b/team-a/llama",
    ],
  ];
  for (const [name, j, want] of cases) it(name, () => assert.equal(checkpointUri(aws, j), want));

  for (const bad of ["../team-a/llama", "x/../../team-a", "./x", "x//y", "/x", "x/", "x\\..\\y", "%2e%2e/x"]) {
    it(`refuses the prefix ${JSON.stringify(bad)} even past the CRD, naming the field`, () => {
      const j = job("team-b", "thief", (x) => {
        x.spec.checkpoint.prefix = bad;
      });
      assert.throws(() => checkpointLine(j), /spec\.checkpoint\.prefix .* is refused: .*under the job's namespace/);
    });
  }

  it("is held by the oldest unfinished job of the namespace writing it", () => {
    const at = (t: string) => (j: TrainingJob) => {
      j.metadata.creationTimestamp = new Date(t);
    };
    const first = job("ml", "first", at("2026-01-01T00:00:00Z"));
    const second = job("ml", "second", (j) => {
      at("2026-01-02T00:00:00Z")(j);
      j.spec.checkpoint.prefix = "first";
    });
    const elsewhere = job("other", "x", (j) => {
      at("2025-01-01T00:00:00Z")(j);
      j.spec.checkpoint.prefix = "first";
    });
    const all = [first, second, elsewhere];
    assert.equal(lineHolder(second, all)?.metadata.name, "first");
    assert.equal(lineHolder(first, all), undefined, "the older job keeps its line");
    assert.equal(lineHolder(elsewhere, all), undefined, "another namespace's job never holds it");
    first.status = { phase: "Succeeded" };
    assert.equal(lineHolder(second, all), undefined, "a finished job writes no more");
  });
});

describe("AZURE_STORAGE_CONNECTION_STRING", () => {
  const parsed: [string, string, { accountName: string; blobEndpoint: string } | RegExp][] = [
    [
      "an account in Azure",
      `DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=${KEY}==;EndpointSuffix=core.windows.net`,
      { accountName: "acct", blobEndpoint: "https://acct.blob.core.windows.net" },
    ],
    [
      "an emulator's BlobEndpoint, trailing ';' and '/'",
      `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${KEY};BlobEndpoint=${BLOB}/;`,
      { accountName: "devstoreaccount1", blobEndpoint: BLOB },
    ],
    ["no AccountKey", "AccountName=acct", /has no AccountKey/],
    [
      "a SAS only",
      "BlobEndpoint=https://a.blob.core.windows.net;SharedAccessSignature=sv=2024",
      /SharedAccessSignature/,
    ],
    ["UseDevelopmentStorage", "UseDevelopmentStorage=true", /UseDevelopmentStorage is not read/],
    ["not Key=Value", `AccountName=acct;${KEY}`, /not Key=Value/],
  ];
  for (const [name, text, want] of parsed) {
    it(`parses ${name}`, () => {
      const r = parseConnectionString(text);
      if (want instanceof RegExp) {
        assert.equal(r.ok, false);
        if (!r.ok) {
          assert.match(r.reason, want);
          assert.ok(!r.reason.includes(KEY), "the reason never repeats the key");
        }
        return;
      }
      assert.ok(r.ok, r.ok ? "" : r.reason);
      assert.equal(r.value.accountName, want.accountName);
      assert.equal(r.value.blobEndpoint, want.blobEndpoint);
      assert.ok(r.value.accountKey.startsWith(KEY));
    });
  }

  it("gives the operator the account key of the store it names", () => {
    const text = `AccountName=devstoreaccount1;AccountKey=${KEY}==;BlobEndpoint=${BLOB}`;
    assert.equal(storeOptions(azureCluster(), { AZURE_STORAGE_CONNECTION_STRING: text }).azureAccountKey, `${KEY}==`);
  });

  for (const [name, text] of [
    [
      "another endpoint",
      `AccountName=devstoreaccount1;AccountKey=${KEY};BlobEndpoint=http://127.0.0.1:1/devstoreaccount1`,
    ],
    ["another account", `AccountName=other;AccountKey=${KEY};BlobEndpoint=${BLOB}`],
  ] as const) {
    it(`refuses a connection string for ${name}, naming both and not the key`, () => {
      assert.throws(
        () => storeOptions(azureCluster(), { AZURE_STORAGE_CONNECTION_STRING: text }),
        (err: Error) =>
          /azure-sim-store: AZURE_STORAGE_CONNECTION_STRING is for the blob endpoint/.test(err.message) &&
          err.message.includes("spec.checkpointStore.azureBlob.accountURL") &&
          !err.message.includes(KEY),
      );
    });
  }
});

describe("openStore with AZURE_STORAGE_CONNECTION_STRING in the env (the checkpoint command, a pod given the Secret)", () => {
  const uri = `${BLOB}/ckpt/ml/llama`;
  it("opens the store it names", () => {
    const env = {
      AZURE_STORAGE_CONNECTION_STRING: `AccountName=devstoreaccount1;AccountKey=${KEY};BlobEndpoint=${BLOB}`,
    };
    assert.ok(openStore(uri, { env }));
  });
  it("refuses one for another store, naming the field and not the key", () => {
    const env = { AZURE_STORAGE_CONNECTION_STRING: `AccountName=other;AccountKey=${KEY};BlobEndpoint=${BLOB}` };
    assert.throws(
      () => openStore(uri, { env }),
      (err: unknown) =>
        isCheckpointError(err, "InvalidOptions") &&
        /for the blob endpoint .* \(account other\), but the store is/.test(err.message) &&
        !err.message.includes(KEY),
    );
  });
});

describe("pod identity", () => {
  const withSecret = azureCluster({
    checkpointStore: { ...azureCluster().spec.checkpointStore, podCredentials: "Secret" },
  });
  it("gives pods the store's Secret only when the ComputeCluster opts in", () => {
    assert.equal(podsGetStoreSecret(azureCluster()), false);
    assert.equal(podsGetStoreSecret(withSecret), true);
  });
  it("labels pods for Azure Workload Identity unless they get the Secret", () => {
    assert.equal(podIdentity(azureCluster()).azureWorkloadIdentity, true);
    assert.equal(podIdentity(withSecret).azureWorkloadIdentity, false);
    assert.equal(podIdentity(anAwsComputeCluster("aws")).azureWorkloadIdentity, false);
  });
});
