// The cloud permissions in deploy/cloud grant exactly what the code calls: the
// EKS actions of the SDK commands src/providers/eks sends, the ARM actions of the
// agent pool and cluster calls of src/providers/aks, and the S3 actions of the
// commands the S3 store sends; the Blob store's calls fit "Storage Blob Data
// Contributor". The calls are read from the source, so a new call without its
// permission (or a permission nothing calls) fails here. Also: the files parse,
// and the node groups carry the taints the rendered pods tolerate.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { instanceType } from "../../src/catalog/instance-types.ts";
import { tolerationsFor } from "../../src/workload/scheduling.ts";

const ROOT = join(import.meta.dirname, "../..");
const read = (path: string) => readFileSync(join(ROOT, path), "utf8");
const sourcesIn = (dir: string) =>
  readdirSync(join(ROOT, dir))
    .filter((f) => f.endsWith(".ts"))
    .map((f) => read(join(dir, f)))
    .join("\n");
const sorted = (s: Iterable<string>) => [...new Set(s)].sort();

/** SDK v3 commands constructed in `source` (`new XCommand(`), by operation name. */
function commandsSent(source: string): string[] {
  return sorted([...source.matchAll(/\bnew\s+([A-Z][A-Za-z0-9]*)Command\s*\(/g)].map((m) => m[1] ?? ""));
}

/** ARM calls in `source`: `client.<operationGroup>.<method>(`, also across lines. */
function armCalls(source: string): string[] {
  return sorted(
    [...source.matchAll(/\bclient\s*\.\s*(agentPools|managedClusters)\s*\.\s*(\w+)\s*\(/g)].map(
      (m) => `${m[1]}.${m[2]}`,
    ),
  );
}

/** ARM actions by SDK call (@azure/arm-containerservice): GET and list read, PUT writes. */
const ARM_ACTIONS: Readonly<Record<string, string>> = {
  "managedClusters.get": "Microsoft.ContainerService/managedClusters/read",
  "agentPools.list": "Microsoft.ContainerService/managedClusters/agentPools/read",
  "agentPools.get": "Microsoft.ContainerService/managedClusters/agentPools/read",
  "agentPools.createOrUpdate": "Microsoft.ContainerService/managedClusters/agentPools/write",
  "agentPools.beginCreateOrUpdate": "Microsoft.ContainerService/managedClusters/agentPools/write",
  "agentPools.delete": "Microsoft.ContainerService/managedClusters/agentPools/delete",
};

/** IAM actions by S3 operation (the S3 API reference's "Permissions" of each operation). */
const S3_ACTIONS: Readonly<Record<string, string>> = {
  ListObjectsV2: "s3:ListBucket",
  HeadObject: "s3:GetObject",
  GetObject: "s3:GetObject",
  PutObject: "s3:PutObject",
  DeleteObject: "s3:DeleteObject",
  CreateMultipartUpload: "s3:PutObject",
  UploadPart: "s3:PutObject",
  CompleteMultipartUpload: "s3:PutObject",
  AbortMultipartUpload: "s3:AbortMultipartUpload",
  ListMultipartUploads: "s3:ListBucketMultipartUploads",
  ListParts: "s3:ListMultipartUploadParts",
};

/** Blob data actions by @azure/storage-blob call; SAS URLs are signed locally and need none. */
const BLOB = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs";
const BLOB_ACTIONS: Readonly<Record<string, string | undefined>> = {
  listBlobsFlat: `${BLOB}/read`,
  getProperties: `${BLOB}/read`,
  download: `${BLOB}/read`,
  getBlockList: `${BLOB}/read`,
  upload: `${BLOB}/write`,
  stageBlock: `${BLOB}/write`,
  stageBlockFromURL: `${BLOB}/write`,
  commitBlockList: `${BLOB}/write`,
  deleteIfExists: `${BLOB}/delete`,
  generateSasUrl: undefined,
};
/** The data actions of the built-in role "Storage Blob Data Contributor" (Azure built-in roles, Storage). */
const STORAGE_BLOB_DATA_CONTRIBUTOR = [
  `${BLOB}/delete`,
  `${BLOB}/read`,
  `${BLOB}/write`,
  `${BLOB}/move/action`,
  `${BLOB}/add/action`,
];

function mapped(calls: readonly string[], table: Readonly<Record<string, string | undefined>>, what: string) {
  const unknown = calls.filter((c) => !(c in table));
  assert.deepEqual(unknown, [], `${what}: add these calls to the test's table, and their permission to deploy/cloud`);
  return sorted(calls.flatMap((c) => (table[c] ? [table[c]] : [])));
}

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: string | string[];
}
const statements = (path: string): Statement[] => JSON.parse(read(path)).Statement;
const list = (v: string | string[]) => (Array.isArray(v) ? v : [v]);
const allowed = (path: string) => sorted(statements(path).flatMap((s) => (s.Effect === "Allow" ? list(s.Action) : [])));

describe("deriving calls from source", () => {
  const commandCases = [
    { source: "client.send(new DescribeNodegroupCommand({ clusterName }))", want: ["DescribeNodegroup"] },
    { source: "import { type ListNodegroupsCommand } from 'x'; // not sent", want: [] },
    {
      source: "new PutObjectCommand({}); new PutObjectCommand ({})\nnew UploadPartCommand(x)",
      want: ["PutObject", "UploadPart"],
    },
  ];
  for (const tc of commandCases) {
    it(`commands sent by ${JSON.stringify(tc.source.slice(0, 40))}`, () =>
      assert.deepEqual(commandsSent(tc.source), tc.want));
  }
  const armCases = [
    { source: "client.agentPools.get(rg, c, n)", want: ["agentPools.get"] },
    { source: "client.agentPools\n  .createOrUpdate(rg, c, n, p).submitted()", want: ["agentPools.createOrUpdate"] },
    { source: "client.managedClusters.get(rg, c); other.agentPools.list()", want: ["managedClusters.get"] },
  ];
  for (const tc of armCases) {
    it(`ARM calls in ${JSON.stringify(tc.source.slice(0, 40))}`, () => assert.deepEqual(armCalls(tc.source), tc.want));
  }
  it("refuses a call the tables do not know", () => {
    assert.throws(() => mapped(["agentPools.abortLatestOperation"], ARM_ACTIONS, "AKS"), /add these calls/);
  });
});

describe("EKS: deploy/cloud/eks/iam-policy.json", () => {
  const actions = commandsSent(sourcesIn("src/providers/eks")).map((c) => `eks:${c}`);
  it("allows exactly the EKS actions of the commands the provider sends", () => {
    assert.deepEqual(allowed("deploy/cloud/eks/iam-policy.json"), sorted(actions));
  });
  it("is scoped to one cluster and its node groups", () => {
    const resources = statements("deploy/cloud/eks/iam-policy.json").flatMap((s) => list(s.Resource));
    assert.deepEqual(resources, [
      "arn:aws:eks:us-east-1:111122223333:cluster/ml-prod",
      "arn:aws:eks:us-east-1:111122223333:nodegroup/ml-prod/*/*",
    ]);
  });
});

describe("AKS: deploy/cloud/aks/role.json", () => {
  const role = JSON.parse(read("deploy/cloud/aks/role.json"));
  it("allows exactly the ARM actions of the provider's calls, and no data action", () => {
    const calls = armCalls(sourcesIn("src/providers/aks"));
    assert.deepEqual(sorted(role.Actions), mapped(calls, ARM_ACTIONS, "AKS"));
    assert.deepEqual([role.NotActions, role.DataActions, role.NotDataActions], [[], [], []]);
  });
  it("is assignable in one resource group and assigned on the cluster", () => {
    assert.deepEqual(role.AssignableScopes, ["/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/ml"]);
    assert.match(read("deploy/cloud/aks/setup.sh"), /--role "crosscloud-operator agent pools" --scope "\$CLUSTER_ID"/);
  });
});

describe("S3: deploy/cloud/eks/bucket-policy.json", () => {
  const policy = statements("deploy/cloud/eks/bucket-policy.json");
  it("allows exactly the S3 actions of the commands the S3 store sends", () => {
    const used = mapped(commandsSent(sourcesIn("src/checkpoint/s3")), S3_ACTIONS, "S3");
    assert.deepEqual(allowed("deploy/cloud/eks/bucket-policy.json"), used);
  });
  it("gives object actions on the job lines' prefix only, and bucket actions on the bucket only", () => {
    const bucketActions = new Set(["s3:ListBucket", "s3:ListBucketMultipartUploads"]);
    for (const s of policy) {
      const onBucket = list(s.Action).every((a) => bucketActions.has(a));
      assert.deepEqual(list(s.Resource), onBucket ? ["arn:aws:s3:::ckpt-use1"] : ["arn:aws:s3:::ckpt-use1/ml/*"]);
    }
  });
});

describe("Blob: Storage Blob Data Contributor", () => {
  it("covers every call the Blob store makes", () => {
    const source = sourcesIn("src/checkpoint/azure-blob");
    const names = Object.keys(BLOB_ACTIONS).join("|");
    const calls = sorted([...source.matchAll(new RegExp(`\\.(${names})\\(`, "g"))].map((m) => m[1] ?? ""));
    assert.ok(calls.includes("stageBlockFromURL") && calls.includes("listBlobsFlat"), "the calls were found");
    const needed = mapped(calls, BLOB_ACTIONS, "Blob");
    assert.deepEqual(
      needed.filter((a) => !STORAGE_BLOB_DATA_CONTRIBUTOR.includes(a)),
      [],
    );
    assert.match(read("deploy/cloud/aks/setup.sh"), /--role "Storage Blob Data Contributor" --scope "\$STORE"/);
  });
});

describe("node groups and pools carry the taints the rendered pods tolerate", () => {
  const config = parse(read("deploy/cloud/eks/cluster.yaml"));
  const groups = (name: string) => config.managedNodeGroups.find((g: { name: string }) => g.name === name);
  const cases = [
    { group: "trn1", type: "trn1.32xlarge" },
    { group: "trn2", type: "trn2.48xlarge" },
    { group: "p5", type: "p5.48xlarge" },
  ];
  for (const tc of cases) {
    it(`EKS ${tc.group}: ${tc.type}, EFA, one zone, tainted as tolerated`, () => {
      const g = groups(tc.group);
      assert.equal(g.instanceType, tc.type);
      assert.equal(g.efaEnabled, true);
      assert.equal(g.availabilityZones.length, 1);
      const tolerations = tolerationsFor({
        cloud: "aws",
        nodeGroup: tc.group,
        instanceType: instanceType(tc.type),
        capacityType: "OnDemand",
      });
      for (const taint of g.taints) {
        assert.ok(
          tolerations.some(
            (t) =>
              t.key === taint.key && t.effect === taint.effect && (t.operator === "Exists" || t.value === taint.value),
          ),
          `${tc.group}: taint ${taint.key} is tolerated`,
        );
      }
    });
  }
  it("EKS: the operator's role is mapped to crosscloud:operators by an access entry", () => {
    assert.deepEqual(config.accessConfig.accessEntries, [
      {
        principalARN: "arn:aws:iam::111122223333:role/crosscloud-operator",
        type: "STANDARD",
        kubernetesGroups: ["crosscloud:operators"],
      },
    ]);
  });
  it("AKS: both ND H100 v5 pools get sku=gpu:NoSchedule, the spot one Spot priority", () => {
    const script = read("deploy/cloud/aks/setup.sh");
    const commands = script.replace(/\\\n\s*/g, " ").split("\n");
    const pools = commands.filter((line) => line.startsWith("az aks nodepool add "));
    assert.equal(pools.length, 2);
    for (const p of pools) {
      assert.match(p, /--node-vm-size Standard_ND96isr_H100_v5/);
      assert.match(p, /--node-taints sku=gpu:NoSchedule/);
    }
    assert.match(pools[1] ?? "", /--name ndh100spot[\s\S]*--priority Spot/);
    const azure = tolerationsFor({
      cloud: "azure",
      nodeGroup: "ndh100",
      instanceType: instanceType("Standard_ND96isr_H100_v5"),
      capacityType: "OnDemand",
    });
    assert.deepEqual(azure[0], { key: "sku", operator: "Equal", value: "gpu", effect: "NoSchedule" });
  });
});

describe("the files parse", () => {
  for (const path of ["deploy/cloud/eks/cluster.yaml", "deploy/cloud/aks/worker-rbac/kustomization.yaml"]) {
    it(`${path} is YAML`, () => assert.ok(parse(read(path))));
  }
  for (const path of ["deploy/cloud/eks/setup.sh", "deploy/cloud/aks/setup.sh"]) {
    it(`${path} is bash (bash -n)`, () => {
      execFileSync("bash", ["-n", join(ROOT, path)]);
    });
  }
});
