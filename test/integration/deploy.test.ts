// deploy/ as shipped: every kustomization renders and the API servers accept
// its objects (server-side dry run), and the operator's pod passes Pod
// Security "restricted", admitted in a namespace that enforces it (the same
// pod without its securityContext is refused there, so the check is live).

import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { V1Deployment, V1Pod } from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import { REPO_ROOT } from "../../scripts/sandbox/paths.ts";
import { clients, kubectl, type SandboxCluster, uniqueName } from "../support/sandbox.ts";

function kustomize(dir: string): { kind: string; metadata: { name: string } }[] {
  const r = kubectl("hub", ["kustomize", join(REPO_ROOT, "deploy", dir)]);
  assert.equal(r.status, 0, r.stderr);
  return parseAllDocuments(r.stdout).map((d) => d.toJS());
}

function dryRun(cluster: SandboxCluster, dir: string): void {
  const r = kubectl(cluster, ["apply", "--server-side", "--dry-run=server", "-k", join(REPO_ROOT, "deploy", dir)]);
  assert.equal(r.status, 0, `deploy/${dir} on ${cluster}: ${r.stderr}`);
}

describe("deploy/", { timeout: 120_000 }, () => {
  const hub = clients("hub");
  const namespace = uniqueName("restricted");
  before(async () => {
    await hub.core.createNamespace({
      body: {
        metadata: {
          name: namespace,
          labels: {
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/enforce-version": "latest",
          },
        },
      },
    });
  });
  after(async () => {
    await hub.core.deleteNamespace({ name: namespace }).catch(() => {});
  });

  it("renders and is accepted by the API servers", () => {
    const kinds = kustomize("operator").map((o) => `${o.kind}/${o.metadata.name}`);
    for (const want of ["Deployment/crosscloud-operator", "PodDisruptionBudget/crosscloud-operator"])
      assert.ok(kinds.includes(want), `${want} in ${kinds.join(", ")}`);
    dryRun("hub", "operator");
    dryRun("hub", "operator/in-cluster-worker");
    dryRun("aws-sim", "worker");
    dryRun("aws-sim", "worker/store-credentials");
  });

  it("runs the operator's pod under Pod Security restricted", async () => {
    const deployment = kustomize("operator").find((o) => o.kind === "Deployment") as unknown as V1Deployment;
    const template = deployment.spec?.template;
    const pod = (spec: V1Pod["spec"]): V1Pod => ({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "operator", labels: template?.metadata?.labels ?? {} },
      spec,
    });
    const spec = { ...template?.spec, serviceAccountName: undefined } as V1Pod["spec"];
    await hub.core.createNamespacedPod({ namespace, body: pod(spec), dryRun: "All" });

    const loose = structuredClone(spec);
    for (const c of loose?.containers ?? []) c.securityContext = undefined;
    await assert.rejects(
      hub.core.createNamespacedPod({ namespace, body: pod(loose), dryRun: "All" }),
      (err: { code?: number; body?: string }) => err.code === 403 && /violates PodSecurity/.test(String(err.body)),
      "a pod without the container securityContext is refused in the restricted namespace",
    );
  });
});
