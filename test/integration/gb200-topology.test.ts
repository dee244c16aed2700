// A GB200 job with topology Required through the real operator: placed on
// aws-sim's gb200 group (two UltraServers of 18 nodes, one NVLink clique
// each) inside one clique, its pods pinned to that clique and running there,
// its ComputeDomain on the worker, and the ComputeDomain gone with the job.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CustomObjectsApi } from "@kubernetes/client-node";
import { workloadName } from "../../src/workload/names.ts";
import { withOperator } from "../support/operator.ts";
import { clients, eventually } from "../support/sandbox.ts";
import { aTrainingJob } from "../support/trainingjob.ts";
import { workloadOf } from "../support/trainingjobs.ts";

const CLIQUE = "nvidia.com/gpu.clique";
const COMPUTE_DOMAINS = { group: "resource.nvidia.com", version: "v1beta1", plural: "computedomains" };
const REPLICAS = 16;

interface ComputeDomain {
  metadata: { name: string; namespace: string; labels?: Record<string, string> };
  spec: { numNodes: number; channel: { resourceClaimTemplate: { name: string } } };
}

describe("GB200 in one NVLink domain", { timeout: 300_000 }, () => {
  const { tjs } = withOperator("gb200", {}, async (t) => {
    await t.deleteAndWait("gb200").catch(() => {});
  });
  const aws = clients("aws-sim");
  const custom = aws.kubeConfig.makeApiClient(CustomObjectsApi);
  const computeDomain = (name: string) =>
    custom
      .getNamespacedCustomObject({ ...COMPUTE_DOMAINS, namespace: tjs.namespace, name })
      .then((o) => o as ComputeDomain)
      .catch((err: { code?: number }) => (err.code === 404 ? undefined : Promise.reject(err)));

  it("places 16 replicas of 4 GPUs in one clique, runs them there with a ComputeDomain, and removes it with the job", async () => {
    await tjs.create(
      aTrainingJob("gb200")
        .replicas(REPLICAS)
        .accelerator("nvidia-gb200", 4)
        .with((j) => {
          j.spec.placement.clouds = ["aws"];
          j.spec.placement.topology = "Required";
          j.spec.template.metadata = { annotations: { "sandbox.crosscloud.dev/run-for": "900s" } };
        })
        .obj(),
    );
    const job = await tjs.waitForPhase("gb200", "Running", [], 120_000);
    const p = job.status?.placement;
    assert.equal(`${p?.cluster}/${p?.nodeGroup}`, "aws-sim/gb200");
    assert.equal(p?.domainKey, CLIQUE);
    assert.equal(p?.domains?.length, 1, `one domain: ${JSON.stringify(p?.domains)}`);
    const clique = p?.domains?.[0] ?? "";

    // Every pod is pinned to that clique and runs on its nodes, one per node.
    const { pods } = await eventually(
      `${REPLICAS} pods on aws-sim`,
      () => workloadOf("aws-sim", job.metadata.uid ?? ""),
      (w) => w.pods.filter((x) => x.spec?.nodeName).length === REPLICAS,
    );
    const nodes = new Map(
      (await aws.core.listNode({ labelSelector: "eks.amazonaws.com/nodegroup=gb200" })).items.map((n) => [
        n.metadata?.name ?? "",
        n.metadata?.labels ?? {},
      ]),
    );
    for (const pod of pods) {
      const terms = pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
      assert.ok(terms?.length, `${pod.metadata?.name} has a required node affinity`);
      for (const term of terms ?? []) {
        assert.ok(
          term.matchExpressions?.some((e) => e.key === CLIQUE && e.operator === "In" && e.values?.join() === clique),
          `${pod.metadata?.name}: every term names the clique ${clique}`,
        );
      }
      assert.equal(
        pod.spec?.affinity?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.[0]?.topologyKey,
        CLIQUE,
      );
      assert.equal(pod.spec?.nodeSelector?.["kubernetes.io/arch"], "arm64");
      assert.equal(nodes.get(pod.spec?.nodeName ?? "")?.[CLIQUE], clique, `${pod.metadata?.name} runs in the clique`);
      assert.deepEqual(
        pod.spec?.resourceClaims?.map((c) => c.name),
        ["compute-domain-channel"],
      );
    }
    assert.equal(new Set(pods.map((x) => x.spec?.nodeName)).size, REPLICAS, "one pod per node");

    // The placement's ComputeDomain, named and labelled like its Job.
    const name = workloadName({ name: "gb200", namespace: tjs.namespace }, job.status?.epoch ?? 1, tjs.namespace);
    const cd = await computeDomain(name);
    assert.ok(cd, `ComputeDomain ${tjs.namespace}/${name} exists on aws-sim`);
    assert.deepEqual(cd.spec, { numNodes: REPLICAS, channel: { resourceClaimTemplate: { name: `${name}-channel` } } });
    assert.equal(cd.metadata.labels?.["training.crosscloud.dev/job-uid"], job.metadata.uid);
    assert.equal(
      pods[0]?.spec?.resourceClaims?.[0]?.resourceClaimTemplateName,
      `${name}-channel`,
      "the pods claim its channel",
    );

    // Deleting the job deletes the ComputeDomain with the rest of the workload.
    await tjs.deleteAndWait("gb200", 120_000);
    assert.equal(await computeDomain(name), undefined, "the ComputeDomain is gone");
    const left = await workloadOf("aws-sim", job.metadata.uid ?? "");
    assert.deepEqual([left.jobs.length, left.services.length], [0, 0]);
  });
});
