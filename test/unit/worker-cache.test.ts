// What the worker informers keep of pods, nodes and Jobs (src/clusters/worker-cache.ts): table tests
// of the fields kept and removed, and the readers (capacity, job status, failover triggers) giving
// the same answers from the cut objects as from the whole ones.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { CoreV1Event, V1Job, V1Node, V1Pod } from "@kubernetes/client-node";
import { Catalog } from "../../src/catalog/index.ts";
import { cachedJob, cachedNode, capacityPod, failedCreateEvent, managedPod } from "../../src/clusters/worker-cache.ts";
import { nodeGroupsFrom } from "../../src/controller/computecluster/capacity.ts";
import { capacityLostTrigger } from "../../src/controller/trainingjob/failover-trigger.ts";
import { lastPodFailure, observeWorkload } from "../../src/controller/trainingjob/observe.ts";
import {
  containerProblem,
  podsMissing,
  recentFailedCreate,
  schedulingProblem,
} from "../../src/controller/trainingjob/workload-problems.ts";

const NOW = new Date("2026-11-30T12:00:00Z");
const LONG_AGO = new Date("2026-11-30T11:00:00Z");
const managedFields = [{ manager: "kube-controller-manager", operation: "Update", fieldsV1: { "f:status": {} } }];

/** A managed worker pod as the API server returns it, with everything a real one carries. */
function wholePod(over: { name?: string; phase?: string; node?: string; waiting?: string } = {}): V1Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: over.name ?? "tj-1-0-abcde",
      namespace: "ml",
      uid: "pod-uid",
      resourceVersion: "1001",
      creationTimestamp: LONG_AGO,
      generateName: "tj-1-0-",
      labels: {
        "app.kubernetes.io/managed-by": "crosscloud-operator",
        "training.crosscloud.dev/job-uid": "tj-uid",
        "training.crosscloud.dev/job-name": "tj",
        "training.crosscloud.dev/job-namespace": "team",
        "training.crosscloud.dev/epoch": "1",
        "batch.kubernetes.io/job-completion-index": "0",
        "controller-uid": "job-uid",
      },
      annotations: { "batch.kubernetes.io/job-completion-index": "0", "kubectl.kubernetes.io/restartedAt": "x" },
      ownerReferences: [{ apiVersion: "batch/v1", kind: "Job", name: "tj-1", uid: "job-uid", controller: true }],
      managedFields,
      finalizers: ["batch.kubernetes.io/job-tracking"],
    },
    spec: {
      nodeName: over.node ?? "trn1-0",
      containers: [
        {
          name: "trainer",
          image: "trainer:1",
          command: ["python", "train.py"],
          env: [{ name: "CHECKPOINT_URI", value: "s3://b/p" }],
          volumeMounts: [{ name: "ckpt", mountPath: "/ckpt" }],
          resources: {
            requests: { "aws.amazon.com/neuron": "16", cpu: "100" },
            limits: { "aws.amazon.com/neuron": "16" },
          },
        },
      ],
      initContainers: [{ name: "checkpoint-agent", image: "op:1", restartPolicy: "Always" }],
      volumes: [{ name: "ckpt", emptyDir: {} }],
      tolerations: [{ key: "aws.amazon.com/neuron", operator: "Exists" }],
      nodeSelector: { "eks.amazonaws.com/nodegroup": "trn1" },
    },
    status: {
      phase: over.phase ?? "Running",
      reason: over.phase === "Failed" ? "Evicted" : undefined,
      podIP: "10.0.0.1",
      hostIP: "10.0.1.1",
      qosClass: "Burstable",
      startTime: LONG_AGO,
      conditions: [
        { type: "PodScheduled", status: "True", lastTransitionTime: LONG_AGO, lastProbeTime: LONG_AGO },
        {
          type: "DisruptionTarget",
          status: "True",
          reason: "PreemptionByScheduler",
          message: "m",
          lastTransitionTime: LONG_AGO,
        },
      ],
      containerStatuses: [
        {
          name: "trainer",
          image: "trainer:1",
          imageID: "sha256:abc",
          containerID: "containerd://1",
          ready: false,
          restartCount: 3,
          started: false,
          state:
            over.phase === "Failed"
              ? {
                  terminated: {
                    reason: "OOMKilled",
                    exitCode: 137,
                    startedAt: LONG_AGO,
                    finishedAt: NOW,
                    containerID: "c",
                  },
                }
              : over.waiting
                ? { waiting: { reason: over.waiting, message: "back-off pulling image" } }
                : { running: { startedAt: LONG_AGO } },
          lastState: { terminated: { reason: "Error", exitCode: 1 } },
        },
      ],
      initContainerStatuses: [{ name: "checkpoint-agent", image: "op:1", imageID: "x", ready: true, restartCount: 0 }],
    },
  };
}

function pendingPod(name: string): V1Pod {
  const p = wholePod({ name, phase: "Pending" });
  delete p.spec?.nodeName;
  p.status = {
    phase: "Pending",
    conditions: [
      {
        type: "PodScheduled",
        status: "False",
        reason: "Unschedulable",
        message: "0/4 nodes are available",
        lastTransitionTime: LONG_AGO,
      },
    ],
  };
  return p;
}

function wholeNode(name: string, ready = "True"): V1Node {
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name,
      uid: `${name}-uid`,
      resourceVersion: "7",
      labels: {
        "node.kubernetes.io/instance-type": "trn1.32xlarge",
        "eks.amazonaws.com/nodegroup": "trn1",
        "eks.amazonaws.com/capacityType": "ON_DEMAND",
        "nvidia.com/gpu.clique": "u1.1",
        "kubernetes.io/hostname": name,
        "topology.kubernetes.io/zone": "us-east-1a",
        type: "kwok",
      },
      annotations: { "node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake" },
      managedFields,
    },
    spec: { taints: [{ key: "aws.amazon.com/neuron", effect: "NoSchedule" }], providerID: "kwok://x" },
    status: {
      allocatable: { "aws.amazon.com/neuron": "16", cpu: "128" },
      capacity: { "aws.amazon.com/neuron": "16", cpu: "128" },
      conditions: [
        { type: "Ready", status: ready, lastHeartbeatTime: NOW, lastTransitionTime: LONG_AGO, reason: "KubeletReady" },
        { type: "MemoryPressure", status: "False", lastHeartbeatTime: NOW },
      ],
      images: [{ names: ["trainer:1"], sizeBytes: 1e9 }],
      nodeInfo: { kubeletVersion: "fake" } as never,
      addresses: [{ type: "InternalIP", address: "10.0.1.1" }],
    },
  };
}

function wholeJob(): V1Job {
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: {
      name: "tj-1",
      namespace: "ml",
      uid: "job-uid",
      resourceVersion: "55",
      creationTimestamp: LONG_AGO,
      labels: { "training.crosscloud.dev/job-uid": "tj-uid", "training.crosscloud.dev/epoch": "1" },
      annotations: { "training.crosscloud.dev/spec-hash": "h", "training.crosscloud.dev/resume-step": "40" },
      managedFields,
    },
    spec: {
      completions: 4,
      parallelism: 4,
      completionMode: "Indexed",
      suspend: false,
      template: { spec: { containers: [{ name: "trainer", image: "trainer:1", env: [{ name: "A", value: "B" }] }] } },
    },
    status: { active: 4, ready: 4, conditions: [{ type: "Complete", status: "False" }] },
  };
}

/** The value at a dotted path ("spec.containers.0.env"), undefined when any step is missing. */
function at(o: unknown, path: string): unknown {
  return path.split(".").reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], o);
}

describe("what the worker informers keep", () => {
  const cases: { name: string; cut: unknown; kept: Record<string, unknown>; removed: string[] }[] = [
    {
      name: "capacityPod",
      cut: capacityPod(wholePod()),
      kept: {
        "metadata.name": "tj-1-0-abcde",
        "metadata.namespace": "ml",
        "metadata.resourceVersion": "1001",
        "metadata.labels": { "training.crosscloud.dev/job-uid": "tj-uid", "training.crosscloud.dev/epoch": "1" },
        "spec.nodeName": "trn1-0",
        "spec.containers.0.resources": { requests: { "aws.amazon.com/neuron": "16", cpu: "100" } },
        "status.phase": "Running",
      },
      removed: [
        "metadata.managedFields",
        "metadata.annotations",
        "metadata.ownerReferences",
        "metadata.finalizers",
        "spec.containers.0.env",
        "spec.containers.0.image",
        "spec.containers.0.resources.limits",
        "spec.initContainers",
        "spec.volumes",
        "status.conditions",
        "status.containerStatuses",
        "status.podIP",
      ],
    },
    {
      name: "capacityPod of a DaemonSet's pod",
      cut: capacityPod({
        ...wholePod(),
        metadata: {
          name: "ds-x",
          resourceVersion: "1",
          ownerReferences: [{ apiVersion: "apps/v1", kind: "DaemonSet", name: "ds", uid: "u", controller: true }],
        },
      }),
      kept: { "metadata.ownerReferences": [{ apiVersion: "apps/v1", kind: "DaemonSet", name: "ds", uid: "u" }] },
      removed: ["metadata.labels"],
    },
    {
      name: "managedPod",
      cut: managedPod(wholePod({ phase: "Failed" })),
      kept: {
        "metadata.name": "tj-1-0-abcde",
        "metadata.resourceVersion": "1001",
        "metadata.creationTimestamp": LONG_AGO,
        "metadata.labels": {
          "training.crosscloud.dev/job-uid": "tj-uid",
          "training.crosscloud.dev/epoch": "1",
          "training.crosscloud.dev/job-name": "tj",
          "training.crosscloud.dev/job-namespace": "team",
        },
        "metadata.annotations": { "batch.kubernetes.io/job-completion-index": "0" },
        "status.phase": "Failed",
        "status.reason": "Evicted",
        "status.conditions.1": {
          type: "DisruptionTarget",
          status: "True",
          reason: "PreemptionByScheduler",
          message: "m",
          lastTransitionTime: LONG_AGO,
        },
        "status.containerStatuses.0": {
          name: "trainer",
          image: "trainer:1",
          state: { terminated: { reason: "OOMKilled", exitCode: 137 } },
        },
      },
      removed: [
        "spec",
        "metadata.managedFields",
        "metadata.ownerReferences",
        "status.podIP",
        "status.conditions.0.lastProbeTime",
        "status.containerStatuses.0.lastState",
        "status.containerStatuses.0.imageID",
      ],
    },
    {
      name: "managedPod of a gated pod (UltraServer pinning reads its gates)",
      cut: managedPod({
        ...wholePod(),
        spec: {
          ...wholePod().spec,
          containers: wholePod().spec?.containers ?? [],
          schedulingGates: [{ name: "training.crosscloud.dev/ultraserver-node" }],
        },
      }),
      kept: { "spec.schedulingGates": [{ name: "training.crosscloud.dev/ultraserver-node" }] },
      removed: ["spec.nodeName", "spec.volumes"],
    },
    {
      name: "cachedNode",
      cut: cachedNode(wholeNode("trn1-0")),
      kept: {
        "metadata.name": "trn1-0",
        "metadata.resourceVersion": "7",
        "metadata.labels": {
          "node.kubernetes.io/instance-type": "trn1.32xlarge",
          "eks.amazonaws.com/nodegroup": "trn1",
          "eks.amazonaws.com/capacityType": "ON_DEMAND",
          "nvidia.com/gpu.clique": "u1.1",
        },
        "status.conditions": [{ type: "Ready", status: "True" }],
      },
      removed: [
        "metadata.annotations",
        "metadata.managedFields",
        "spec.taints",
        "status.allocatable",
        "status.images",
        "status.nodeInfo",
        "status.addresses",
      ],
    },
    {
      name: "cachedJob",
      cut: cachedJob(wholeJob()),
      kept: {
        kind: "Job",
        "metadata.labels": { "training.crosscloud.dev/job-uid": "tj-uid", "training.crosscloud.dev/epoch": "1" },
        "metadata.annotations": {
          "training.crosscloud.dev/spec-hash": "h",
          "training.crosscloud.dev/resume-step": "40",
        },
        "metadata.creationTimestamp": LONG_AGO,
        "spec.suspend": false,
        "spec.completions": 4,
        "status.ready": 4,
      },
      removed: ["metadata.managedFields", "spec.template"],
    },
  ];
  for (const tc of cases) {
    it(`${tc.name}: keeps ${Object.keys(tc.kept).join(", ")}; removes ${tc.removed.join(", ")}`, () => {
      for (const [path, want] of Object.entries(tc.kept)) assert.deepEqual(at(tc.cut, path), want, path);
      for (const path of tc.removed) assert.equal(at(tc.cut, path), undefined, `${path} is removed`);
    });
  }

  it("a node heartbeat (new times, new resourceVersion) cuts to the same node but for its resourceVersion", () => {
    const beat = wholeNode("trn1-0");
    beat.metadata = { ...beat.metadata, resourceVersion: "8" };
    const ready = beat.status?.conditions?.[0];
    if (ready) ready.lastHeartbeatTime = new Date(NOW.getTime() + 20_000);
    const a = cachedNode(wholeNode("trn1-0"));
    const b = cachedNode(beat);
    assert.deepEqual({ ...b, metadata: { ...b.metadata, resourceVersion: "7" } }, a);
  });
});

describe("the readers give the same answers from the cut objects", () => {
  const catalog = Catalog.builtIn();
  it("free capacity per node group", () => {
    const nodes = [wholeNode("trn1-0"), wholeNode("trn1-1"), wholeNode("trn1-2", "False")];
    const pods = [wholePod({ node: "trn1-0" })];
    const whole = nodeGroupsFrom(nodes, pods, catalog);
    assert.deepEqual(
      whole.map((g) => [g.nodes, g.readyNodes, g.freeNodes]),
      [[3, 2, 1]],
    );
    assert.deepEqual(nodeGroupsFrom(nodes.map(cachedNode), pods.map(capacityPod), catalog), whole);
  });

  const podSets: { name: string; pods: V1Pod[]; finds: "failure" | "container" | "scheduling" }[] = [
    { name: "a failed pod", pods: [wholePod({ phase: "Failed" }), wholePod({ name: "p2" })], finds: "failure" },
    { name: "an image that cannot be pulled", pods: [wholePod({ waiting: "ImagePullBackOff" })], finds: "container" },
    { name: "unschedulable pods", pods: [pendingPod("p1"), pendingPod("p2")], finds: "scheduling" },
  ];
  const job = cachedJob(wholeJob());
  const where = { cluster: "aws-sim", namespace: "ml", nodeGroup: "trn1" };
  const group = { name: "trn1", nodes: 4, desiredSize: 4 };
  for (const tc of podSets) {
    it(`job status, problems and failover triggers with ${tc.name}`, () => {
      const answers = (pods: V1Pod[]) => ({
        failure: lastPodFailure(pods),
        state: observeWorkload(wholeJob(), pods, 4),
        stateFromCutJob: observeWorkload(job, pods, 4),
        missing: podsMissing(job, pods, 4, NOW),
        container: containerProblem(pods, where, (c) => c),
        scheduling: schedulingProblem(pods, where, NOW),
        capacityLost: capacityLostTrigger(pods, group, NOW, 60_000),
      });
      const whole = answers(tc.pods);
      assert.ok(whole[tc.finds], `the whole pods show ${tc.finds}`);
      assert.deepEqual(answers(tc.pods.map(managedPod)), whole);
    });
  }
});

/** The Job controller's FailedCreate event as the API server returns it; `seen` is when it was last seen. */
function failedCreate(message: string, seen: Date, series = false): CoreV1Event {
  return {
    apiVersion: "v1",
    kind: "Event",
    metadata: {
      name: `tj-1.${message.length}`,
      namespace: "ml",
      uid: `ev-${message.length}`,
      resourceVersion: "7",
      creationTimestamp: LONG_AGO,
      managedFields,
    },
    involvedObject: {
      apiVersion: "batch/v1",
      kind: "Job",
      name: "tj-1",
      namespace: "ml",
      uid: "job-uid",
      resourceVersion: "900",
    },
    reason: "FailedCreate",
    message,
    source: { component: "job-controller" },
    reportingComponent: "job-controller",
    firstTimestamp: LONG_AGO,
    lastTimestamp: series ? LONG_AGO : seen,
    count: 3,
    type: "Warning",
    ...(series ? { series: { count: 3, lastObservedTime: seen } } : {}),
  };
}

describe("what the FailedCreate informer keeps", () => {
  const cases: { name: string; events: CoreV1Event[]; want: string | undefined }[] = [
    { name: "none", events: [], want: undefined },
    {
      name: "the newest by lastTimestamp",
      events: [
        failedCreate("Error creating: quota", new Date("2026-11-30T11:58:00Z")),
        failedCreate("Error creating: pods are forbidden", new Date("2026-11-30T11:59:00Z")),
      ],
      want: "Error creating: pods are forbidden",
    },
    {
      name: "the newest by its series' last observed time",
      events: [
        failedCreate("Error creating: old", new Date("2026-11-30T11:58:00Z")),
        failedCreate("Error creating: in a series", new Date("2026-11-30T11:59:30Z"), true),
      ],
      want: "Error creating: in a series",
    },
    { name: "one seen too long ago", events: [failedCreate("Error creating: fixed since", LONG_AGO)], want: undefined },
  ];
  for (const tc of cases) {
    it(`gives the same message from the cut events: ${tc.name}`, () => {
      assert.equal(recentFailedCreate(tc.events, NOW), tc.want);
      assert.equal(recentFailedCreate(tc.events.map(failedCreateEvent), NOW), tc.want);
    });
  }

  it("keeps the Job it is about, its message and times, and nothing else", () => {
    const cut = failedCreateEvent(failedCreate("Error creating: quota", NOW, true));
    assert.deepEqual(cut, {
      metadata: { name: "tj-1.21", namespace: "ml", uid: "ev-21", resourceVersion: "7", creationTimestamp: LONG_AGO },
      involvedObject: { kind: "Job", name: "tj-1", namespace: "ml", uid: "job-uid" },
      reason: "FailedCreate",
      message: "Error creating: quota",
      lastTimestamp: LONG_AGO,
      series: { lastObservedTime: NOW },
    });
  });
});
