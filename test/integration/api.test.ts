// The CRDs on a real API server (the sandbox's hub): examples apply with
// kubectl and with the operator's server-side apply, a corpus of invalid
// objects is refused with messages naming the field, defaults appear,
// kubectl explain and get show descriptions and columns, and the fields that
// cannot change while a job is placed are refused.

import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  CustomObjectsApi,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
} from "@kubernetes/client-node";
import { parse, parseAllDocuments } from "yaml";
import { REPO_ROOT } from "../../scripts/sandbox/paths.ts";
import { API_VERSION, GROUP, VERSION } from "../../src/api/common.ts";
import type { TrainingJob } from "../../src/api/trainingjob.ts";
import { ensureKueue } from "../support/kueue.ts";
import { clients, installCrds, kubectl, uniqueName } from "../support/sandbox.ts";

const hub = clients("hub");
const objects = KubernetesObjectApi.makeApiClient(hub.kubeConfig);
const custom = hub.kubeConfig.makeApiClient(CustomObjectsApi);
const namespace = uniqueName("api");
const examplesDir = join(REPO_ROOT, "examples");
const invalidDir = join(REPO_ROOT, "test/fixtures/invalid");
const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

function examples(): { file: string; docs: KubernetesObject[] }[] {
  return readdirSync(examplesDir)
    .filter((f) => f.endsWith(".yaml") && f !== "replicate-job.yaml")
    .map((file) => ({
      file,
      docs: parseAllDocuments(readFileSync(join(examplesDir, file), "utf8")).map((d) => d.toJS() as KubernetesObject),
    }));
}

/** The error text the API server answered with. */
function refusal(err: unknown): string {
  const e = err as { code?: number; body?: unknown; message?: string };
  const body = typeof e.body === "string" ? e.body : JSON.stringify(e.body ?? "");
  return `${e.code ?? ""} ${body} ${e.message ?? ""}`;
}

describe("the CRDs on the hub", () => {
  before(async () => {
    installCrds();
    // examples/kueue.yaml needs Kueue's kinds on the hub (its objects are left there, as by kueue-queue.test.ts).
    await ensureKueue();
    await hub.core.createNamespace({ body: { metadata: { name: namespace } } });
  });
  after(async () => {
    await hub.core.deleteNamespace({ name: namespace });
    for (const cc of ["aws-sim", "azure-sim"]) {
      await custom
        .deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: "computeclusters", name: cc })
        .catch(() => {});
    }
  });

  it("applies every example with kubectl apply", () => {
    for (const { file, docs } of examples()) {
      // TrainingJob examples leave the namespace to the user; the others name theirs.
      const ns = docs.some((d) => d.kind === "TrainingJob") ? ["-n", namespace] : [];
      const r = kubectl("hub", ["apply", ...ns, "-f", join(examplesDir, file)]);
      assert.equal(r.status, 0, `${file}: ${r.stderr}`);
    }
    const tjs = kubectl("hub", ["get", "tj", "-n", namespace, "-o", "name"]);
    assert.match(tjs.stdout, /trainingjob.training.crosscloud.dev\/llama-8b/);
  });

  it("applies every example with the operator's server-side apply", async () => {
    for (const { file, docs } of examples()) {
      for (const doc of docs) {
        const namespaced =
          doc.kind === "TrainingJob" ? { ...doc, metadata: { ...doc.metadata, namespace: `${namespace}` } } : doc;
        const applied = await objects.patch(
          namespaced,
          undefined,
          undefined,
          "crosscloud-operator-test",
          true,
          PatchStrategy.ServerSideApply,
        );
        assert.equal(applied.metadata?.name, doc.metadata?.name, file);
        // An object applied with no fields of its own (a Namespace, a ResourceFlavor of only a name)
        // gets no managedFields entry.
        const own = Object.keys(doc).filter((k) => !["apiVersion", "kind", "metadata"].includes(k));
        if (own.length === 0 && Object.keys(doc.metadata ?? {}).every((k) => k === "name")) continue;
        assert.ok(
          applied.metadata?.managedFields?.some(
            (m) => m.manager === "crosscloud-operator-test" && m.operation === "Apply",
          ),
          `${file}: ${doc.kind} is managed by the apply`,
        );
      }
    }
  });

  const invalid = readdirSync(invalidDir).filter((f) => f.endsWith(".yaml"));
  it("has a corpus of at least 40 invalid objects", () => {
    assert.ok(invalid.length >= 40, `${invalid.length} invalid objects`);
  });

  for (const file of invalid) {
    it(`refuses ${file.replace(".yaml", "")}, naming the field`, async () => {
      const text = readFileSync(join(invalidDir, file), "utf8");
      const field = /^# expect: (\S+)/.exec(text)?.[1];
      assert.ok(field, `${file} starts with "# expect: <field>"`);
      const obj = parse(text) as KubernetesObject;
      if (obj.kind === "TrainingJob") obj.metadata = { ...obj.metadata, namespace };
      let message = "";
      try {
        await objects.create(obj);
        await objects.delete(obj).catch(() => {});
        assert.fail(`${file} was accepted`);
      } catch (err) {
        if (err instanceof assert.AssertionError) throw err;
        message = refusal(err);
      }
      assert.match(message, /^422 /, `${file} is refused as Invalid: ${message}`);
      assert.ok(message.includes(field), `${file}: the refusal names ${field}: ${message}`);
    });
  }

  it("applies the operator's kustomize base (server dry run)", () => {
    const r = kubectl("hub", ["apply", "--dry-run=server", "-k", join(REPO_ROOT, "deploy/operator")]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /deployment.apps\/crosscloud-operator (created|configured|unchanged) \(server dry run\)/);
    assert.match(r.stdout, /clusterrole.rbac.authorization.k8s.io\/crosscloud-operator/);
  });

  it("fills in the defaults on a minimal TrainingJob", async () => {
    const minimal: TrainingJob = {
      apiVersion: API_VERSION,
      kind: "TrainingJob",
      metadata: { name: "minimal", namespace },
      spec: {
        replicas: 1,
        accelerators: [{ type: "nvidia-h100", perReplica: 8 }],
        template: { spec: { containers: [{ name: "trainer", image: "example.com/t:1" }] } },
      } as TrainingJob["spec"],
    };
    const created = (await objects.create(minimal)) as unknown as TrainingJob;
    assert.deepEqual(created.spec.placement, {
      clouds: ["aws", "azure"],
      capacityType: "OnDemand",
      strategy: "LowestCost",
      topology: "None",
    });
    assert.deepEqual(created.spec.checkpoint, { keep: 3, keepLocal: 2 });
    assert.equal(created.spec.terminationGracePeriod, "300s");
    assert.deepEqual(created.spec.failover, {
      enabled: true,
      maxFailovers: 3,
      clusterLostTimeout: "60s",
      unschedulableTimeout: "5m",
      drainCheckpointTimeout: "10m",
    });
    assert.deepEqual(created.spec.runPolicy, { backoffLimit: 3 });
    assert.equal(created.spec.suspend, false);
  });

  it("answers kubectl explain with the descriptions", () => {
    const cases = [
      ["trainingjob.spec.failover.clusterLostTimeout", /How long the job's cluster may stay unreachable/],
      ["tj.spec.accelerators.perReplica", /Devices per replica/],
      ["computecluster.spec.checkpointStore", /exactly one of s3 and azureBlob/],
      ["cc.status.nodeGroups.freeNodes", /devices are all unallocated/],
    ] as const;
    for (const [path, description] of cases) {
      const r = kubectl("hub", ["explain", path]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, description, path);
    }
  });

  it("shows the printer columns in kubectl get", async () => {
    await custom.patchNamespacedCustomObjectStatus(
      {
        group: GROUP,
        version: VERSION,
        namespace,
        plural: "trainingjobs",
        name: "minimal",
        body: {
          status: {
            phase: "Running",
            placement: { cluster: "azure-sim", cloud: "azure", accelerator: "nvidia-h100" },
            readyReplicas: "1/1",
            checkpoint: { latestStep: 12000 },
          },
        },
      },
      mergePatch,
    );
    const r = kubectl("hub", ["get", "tj", "minimal", "-n", namespace]);
    assert.equal(r.status, 0, r.stderr);
    const [header, row] = r.stdout.trim().split("\n");
    assert.match(
      header ?? "",
      /^NAME\s+PHASE\s+QUEUE\s+ADMISSION\s+CLOUD\s+CLUSTER\s+ACCELERATOR\s+READY\s+STEP\s+AGE$/,
    );
    assert.match(row ?? "", /^minimal\s+Running\s+azure\s+azure-sim\s+nvidia-h100\s+1\/1\s+12000\s+\S+$/);
    const cc = kubectl("hub", ["get", "cc"]);
    assert.match(cc.stdout.split("\n")[0] ?? "", /^NAME\s+CLOUD\s+READY\s+PAUSED\s+VERSION\s+HEARTBEAT\s+AGE$/);
  });

  it("refuses changing replicas or accelerators while placed, and allows it once suspended", async () => {
    const patch = (body: object) =>
      custom.patchNamespacedCustomObject(
        { group: GROUP, version: VERSION, namespace, plural: "trainingjobs", name: "minimal", body },
        mergePatch,
      );
    for (const [field, body] of [
      ["spec.replicas", { spec: { replicas: 2 } }],
      ["spec.accelerators", { spec: { accelerators: [{ type: "nvidia-a100", perReplica: 8 }] } }],
    ] as const) {
      const message = await patch(body).then(
        () => "accepted",
        (err: unknown) => refusal(err),
      );
      assert.match(message, /^422 /, message);
      assert.ok(message.includes(`${field} cannot change while the job is placed`), message);
    }
    await custom.patchNamespacedCustomObjectStatus(
      {
        group: GROUP,
        version: VERSION,
        namespace,
        plural: "trainingjobs",
        name: "minimal",
        body: { status: { phase: "Suspended" } },
      },
      mergePatch,
    );
    const changed = (await patch({ spec: { replicas: 2, suspend: true } })) as TrainingJob;
    assert.equal(changed.spec.replicas, 2);
  });
});
