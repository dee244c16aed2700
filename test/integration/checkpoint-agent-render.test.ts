// The checkpoint-agent sidecar as the operator renders it, on the sandbox: a
// job with spec.checkpoint.localDir is refused (ReconcileError naming
// OPERATOR_IMAGE) while the operator does not know its image, then launched
// once it does; the worker's API server accepts the Job, kwok starts its pods,
// and each pod read from the worker has the native sidecar, the shared volume,
// the store credentials in the agent only, and the grace period; the sidecar
// passes Pod Security "restricted" on the worker.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { V1Container, V1EnvVar, V1Pod } from "@kubernetes/client-node";
import type { TrainingJob } from "../../src/api/trainingjob.ts";
import {
  type OperatorProcess,
  prepareHub,
  reportFailures,
  startOperator,
  waitClustersReady,
} from "../support/operator.ts";
import { clients, eventually, uniqueName } from "../support/sandbox.ts";
import { aTrainingJob } from "../support/trainingjob.ts";
import { TrainingJobs, workloadOf } from "../support/trainingjobs.ts";

const IMAGE = "example.com/crosscloud-operator:render-test";
const NAME = "agent";

const job = aTrainingJob(NAME)
  .replicas(2)
  .accelerator("trainium1", 16)
  .onAwsUntilDeleted()
  .with((j) => {
    j.spec.checkpoint.localDir = "/checkpoints";
    j.spec.checkpoint.volume = { emptyDir: { sizeLimit: "20Gi" } };
    j.spec.checkpoint.keepLocal = 3;
    j.spec.terminationGracePeriod = "2m";
  })
  .obj();

const envOf = (env: readonly V1EnvVar[] | undefined) =>
  Object.fromEntries((env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));

function containers(pod: V1Pod): { trainer: V1Container; agent: V1Container } {
  const trainer = pod.spec?.containers.find((c) => c.name === "trainer");
  const agent = pod.spec?.initContainers?.find((c) => c.name === "checkpoint-agent");
  assert.ok(trainer && agent, `pod ${pod.metadata?.name} has the trainer and the checkpoint-agent`);
  return { trainer, agent };
}

describe("the checkpoint-agent sidecar on a worker", { timeout: 300_000 }, () => {
  const tjs = new TrainingJobs(uniqueName("agent-render"));
  let operator: OperatorProcess | undefined;
  let created: TrainingJob;
  let agentSeen: V1Container | undefined;

  before(async () => {
    await prepareHub();
    await tjs.createNamespace();
  });
  reportFailures(tjs, () => operator);
  after(async () => {
    await tjs.delete(NAME).catch(() => {});
    await operator?.stop();
    await tjs.deleteNamespace();
  });

  it("is not launched while OPERATOR_IMAGE is unset: a ReconcileError and an event name it", async () => {
    operator = startOperator("agent-render-no-image", { OPERATOR_IMAGE: "" });
    await waitClustersReady();
    created = await tjs.create(job);
    const refused = await eventually(
      "a ReconcileError naming OPERATOR_IMAGE",
      () => tjs.get(NAME),
      (j) =>
        j.status?.conditions?.some((c) => c.type === "ReconcileError" && /OPERATOR_IMAGE/.test(c.message)) === true,
      60_000,
    );
    const condition = refused.status?.conditions?.find((c) => c.type === "ReconcileError");
    assert.match(condition?.message ?? "", /spec\.checkpoint\.localDir \(\/checkpoints\).*OPERATOR_IMAGE is not set/);
    await tjs.eventMatching(
      NAME,
      "a ReconcileFailed event naming OPERATOR_IMAGE",
      (e) => e.reason === "ReconcileFailed" && e.type === "Warning" && /OPERATOR_IMAGE/.test(e.message),
    );
    const { jobs } = await workloadOf("aws-sim", created.metadata.uid ?? "");
    assert.equal(jobs.length, 0, "no worker Job without the agent's image");
    await operator.stop();
  });

  it("launches once OPERATOR_IMAGE is set: the worker runs pods with the sidecar, volume, env split and grace period", async () => {
    operator = startOperator("agent-render", { OPERATOR_IMAGE: IMAGE });
    const running = await tjs.waitForPhase(NAME, "Running", [], 120_000);
    assert.equal(running.status?.placement?.cluster, "aws-sim");
    assert.ok(
      !running.status?.conditions?.some((c) => c.type === "ReconcileError"),
      "the ReconcileError is cleared once the job launches",
    );
    const uid = created.metadata.uid ?? "";
    const { pods } = await eventually(
      "2 running pods on aws-sim",
      () => workloadOf("aws-sim", uid),
      (w) => w.pods.filter((p) => p.status?.phase === "Running").length === 2,
      60_000,
    );
    // Plain objects: the client returns its model classes, which deepEqual tells apart from literals.
    for (const pod of JSON.parse(JSON.stringify(pods)) as V1Pod[]) {
      const spec = pod.spec;
      const { trainer, agent } = containers(pod);
      // The native sidecar, as the worker's API server stored it.
      assert.equal(agent.restartPolicy, "Always");
      assert.equal(agent.image, IMAGE);
      assert.deepEqual(agent.command, ["/nodejs/bin/node", "dist/checkpoint/cli.js", "agent"]);
      assert.deepEqual(agent.startupProbe?.httpGet?.path, "/started");
      assert.equal(agent.startupProbe?.httpGet?.port, "agent");
      assert.equal(agent.securityContext?.runAsUser, 65532);
      assert.equal(agent.securityContext?.readOnlyRootFilesystem, true);
      // One volume, mounted at localDir in both.
      assert.deepEqual(
        spec?.volumes?.find((v) => v.name === "checkpoint-local"),
        { name: "checkpoint-local", emptyDir: { sizeLimit: "20Gi" } },
      );
      for (const c of [trainer, agent]) {
        const mount = c.volumeMounts?.find((m) => m.name === "checkpoint-local");
        assert.equal(mount?.mountPath, "/checkpoints", `${c.name} mounts checkpoint-local at localDir`);
      }
      // The env split: the store's endpoint and credentials Secret in the agent only.
      const a = envOf(agent.env);
      const t = envOf(trainer.env);
      assert.equal(a.CROSSCLOUD_CHECKPOINT_DIR, "/checkpoints");
      assert.equal(a.CROSSCLOUD_REPLICAS, "2");
      assert.equal(a.CROSSCLOUD_KEEP_LOCAL, "3");
      assert.equal(a.CROSSCLOUD_AGENT_PORT, "8089");
      assert.equal(a.CROSSCLOUD_EPOCH, "1");
      assert.match(String(a.CROSSCLOUD_CHECKPOINT_URI), /^s3:\/\/ckpt-aws-sim\//);
      assert.deepEqual(a.CROSSCLOUD_REPLICA_INDEX, {
        fieldRef: { apiVersion: "v1", fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']" },
      });
      assert.equal(a.AWS_REGION, "us-east-1");
      assert.match(String(a.AWS_ENDPOINT_URL_S3), /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.deepEqual(agent.envFrom, [{ secretRef: { name: `${NAME}-e1-store` } }]);
      assert.equal(t.CROSSCLOUD_CHECKPOINT_DIR, "/checkpoints");
      assert.ok(t.CROSSCLOUD_RESUME_DIR, "the trainer's CROSSCLOUD_RESUME_DIR comes from the resume ConfigMap");
      assert.equal(t.AWS_REGION, undefined, "no store env in the trainer");
      assert.equal(t.AWS_ENDPOINT_URL_S3, undefined, "no store endpoint in the trainer");
      assert.equal(trainer.envFrom, undefined, "no store Secret in the trainer");
      assert.equal(spec?.terminationGracePeriodSeconds, 120);
      // kwok started the pod: the trainer runs.
      const status = pod.status?.containerStatuses?.find((s) => s.name === "trainer");
      assert.ok(status?.state?.running, `the trainer of ${pod.metadata?.name} runs`);
    }
    const agent = containers(JSON.parse(JSON.stringify(pods[0])) as V1Pod).agent;
    // Without the ServiceAccount token's mount the API server added to the pod.
    agentSeen = { ...agent, volumeMounts: agent.volumeMounts?.filter((m) => m.name === "checkpoint-local") };
  });

  it("runs the sidecar under Pod Security restricted (and the check is live)", async () => {
    assert.ok(agentSeen, "the previous test read the agent from the worker");
    const worker = clients("aws-sim").core;
    const namespace = uniqueName("agent-restricted");
    await worker.createNamespace({
      body: { metadata: { name: namespace, labels: { "pod-security.kubernetes.io/enforce": "restricted" } } },
    });
    try {
      // The agent beside a main container that is restricted itself: only the agent is judged.
      const main = { name: "main", image: "example.com/main:1", securityContext: agentSeen.securityContext };
      const pod = (agent: V1Container): V1Pod => ({
        metadata: { name: "agent", namespace },
        spec: { initContainers: [agent], containers: [main], volumes: [{ name: "checkpoint-local", emptyDir: {} }] },
      });
      await worker.createNamespacedPod({ namespace, body: pod(agentSeen), dryRun: "All" });
      const { securityContext: _dropped, ...bare } = agentSeen;
      await assert.rejects(
        worker.createNamespacedPod({ namespace, body: pod(bare), dryRun: "All" }),
        /violates PodSecurity .*restricted.*container .*checkpoint-agent/,
      );
    } finally {
      await worker.deleteNamespace({ name: namespace });
    }
  });
});
