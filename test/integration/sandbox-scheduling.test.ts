// The sandbox behaves like the clouds it stands for: the real kube-scheduler
// places accelerator pods on the right fake nodes by their resources and
// taints, the real kube-controller-manager runs Indexed Jobs, and kwok plays
// the pods' lifecycle (including a failing container).

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { V1Job, V1Pod, V1Toleration } from "@kubernetes/client-node";
import { type ClusterClients, clients, eventually, uniqueName } from "../support/sandbox.ts";

function pod(
  name: string,
  resources: Record<string, string>,
  tolerations: V1Toleration[],
  extra: Partial<V1Pod["spec"]> = {},
): V1Pod {
  return {
    metadata: { name },
    spec: {
      restartPolicy: "Never",
      tolerations,
      containers: [
        { name: "trainer", image: "example.com/train:latest", resources: { requests: resources, limits: resources } },
      ],
      ...extra,
    },
  };
}

async function nodeOf(c: ClusterClients, namespace: string, name: string) {
  const running = await eventually(
    `pod ${namespace}/${name} to be Running`,
    () => c.core.readNamespacedPod({ name, namespace }),
    (p) => p.status?.phase === "Running",
  );
  const nodeName = running.spec?.nodeName;
  assert.ok(nodeName, "a Running pod has a node");
  return c.core.readNode({ name: nodeName });
}

describe("sandbox scheduling on aws-sim", () => {
  const aws = clients("aws-sim");
  const namespace = uniqueName("sched");
  before(() => aws.core.createNamespace({ body: { metadata: { name: namespace } } }));
  after(() => aws.core.deleteNamespace({ name: namespace }));

  it("runs a Trainium pod (16 Neuron devices, 8 EFA) on a trn1.32xlarge node", async () => {
    const body = pod(
      "neuron",
      { "aws.amazon.com/neuron": "16", "vpc.amazonaws.com/efa": "8", cpu: "100", memory: "400Gi" },
      [{ key: "aws.amazon.com/neuron", operator: "Exists", effect: "NoSchedule" }],
      { nodeSelector: { "node.kubernetes.io/instance-type": "trn1.32xlarge" } },
    );
    await aws.core.createNamespacedPod({ namespace, body });
    const node = await nodeOf(aws, namespace, "neuron");
    assert.equal(node.metadata?.labels?.["node.kubernetes.io/instance-type"], "trn1.32xlarge");
    assert.equal(node.metadata?.labels?.["eks.amazonaws.com/nodegroup"], "trn1");
    assert.equal(node.status?.allocatable?.["aws.amazon.com/neuron"], "16");
  });

  it("completes an Indexed Job of 2 completions", async () => {
    const job: V1Job = {
      metadata: { name: "indexed" },
      spec: {
        completionMode: "Indexed",
        completions: 2,
        parallelism: 2,
        backoffLimit: 0,
        template: {
          metadata: { annotations: { "sandbox.crosscloud.dev/run-for": "1s" } },
          spec: {
            restartPolicy: "Never",
            tolerations: [{ operator: "Exists" }],
            containers: [{ name: "trainer", image: "example.com/train:latest" }],
          },
        },
      },
    };
    await aws.batch.createNamespacedJob({ namespace, body: job });
    const done = await eventually(
      "the Indexed Job to complete",
      () => aws.batch.readNamespacedJob({ name: "indexed", namespace }),
      (j) => (j.status?.conditions ?? []).some((c) => c.type === "Complete" && c.status === "True"),
    );
    assert.equal(done.status?.succeeded, 2);
    assert.equal(done.status?.completedIndexes, "0,1");
  });

  it("fails a pod whose container kwok is told to fail, with its exit code", async () => {
    const body = pod("failing", {}, [{ operator: "Exists" }]);
    body.metadata = {
      name: "failing",
      annotations: { "sandbox.crosscloud.dev/fail-after": "1s", "sandbox.crosscloud.dev/exit-code": "137" },
    };
    await aws.core.createNamespacedPod({ namespace, body });
    const failed = await eventually(
      "the pod to fail",
      () => aws.core.readNamespacedPod({ name: "failing", namespace }),
      (p) => p.status?.phase === "Failed",
    );
    assert.equal(failed.status?.containerStatuses?.[0]?.state?.terminated?.exitCode, 137);
  });
});

describe("sandbox scheduling on azure-sim", () => {
  const azure = clients("azure-sim");
  const namespace = uniqueName("sched");
  before(() => azure.core.createNamespace({ body: { metadata: { name: namespace } } }));
  after(() => azure.core.deleteNamespace({ name: namespace }));

  it("runs an 8-GPU pod tolerating sku=gpu on a Standard_ND96isr_H100_v5 node of the regular pool", async () => {
    const body = pod("gpu", { "nvidia.com/gpu": "8" }, [
      { key: "sku", operator: "Equal", value: "gpu", effect: "NoSchedule" },
    ]);
    await azure.core.createNamespacedPod({ namespace, body });
    const node = await nodeOf(azure, namespace, "gpu");
    assert.equal(node.metadata?.labels?.["node.kubernetes.io/instance-type"], "Standard_ND96isr_H100_v5");
    assert.equal(node.metadata?.labels?.["kubernetes.azure.com/agentpool"], "ndh100");
    assert.equal(node.metadata?.labels?.["kubernetes.azure.com/accelerator"], "nvidia");
  });

  it("leaves a GPU pod without the toleration Pending, with the scheduler's reason", async () => {
    await azure.core.createNamespacedPod({ namespace, body: pod("untolerated", { "nvidia.com/gpu": "1" }, []) });
    const pending = await eventually(
      "the scheduler to report the pod unschedulable",
      () => azure.core.readNamespacedPod({ name: "untolerated", namespace }),
      (p) => (p.status?.conditions ?? []).some((c) => c.type === "PodScheduled" && c.reason === "Unschedulable"),
    );
    assert.equal(pending.status?.phase, "Pending");
    assert.equal(pending.spec?.nodeName, undefined);
    const condition = pending.status?.conditions?.find((c) => c.type === "PodScheduled");
    // Every azure-sim node (ndh100 4, ndh100spot 4, ndgb200 18) is tainted sku=gpu:NoSchedule (the spot ones twice).
    assert.match(condition?.message ?? "", /0\/26 nodes are available: 26 node\(s\) had untolerated taint/);
  });
});
