// Bad input on a worker is seen on the TrainingJob, not only on the worker:
// an image that cannot be pulled, an admission webhook refusing the Job (a
// real HTTPS webhook served by this test), Pod Security and a ResourceQuota
// refusing its pods (FailedCreate), pods that cannot be scheduled although
// placement found room, and a placement.clusters entry naming no
// ComputeCluster. Each gets its condition (WorkloadBlocked, or Placed=False)
// naming the cause and the field, one Warning event, and loses it once the
// cause is fixed; a refused Job is tried again at the job's interval, not in
// a loop.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { AdmissionregistrationV1Api, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { STATE_DIR } from "../../scripts/sandbox/paths.ts";
import { ensurePki } from "../../scripts/sandbox/pki.ts";
import type { TrainingJob } from "../../src/api/trainingjob.ts";
import { LABEL_JOB_NAME } from "../../src/workload/names.ts";
import { withOperator } from "../support/operator.ts";
import { clients, eventually } from "../support/sandbox.ts";
import { aTrainingJob } from "../support/trainingjob.ts";

/** How often the operator looks at an active (or refused) job in this suite. */
const INTERVAL_MS = 1_000;
const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
const aws = clients("aws-sim");

/** A one-replica job on aws-sim that runs until deleted, changed by `mutate`. */
function aJob(name: string, mutate: (j: TrainingJob) => void = () => {}): TrainingJob {
  return aTrainingJob(name).replicas(1).accelerator("trainium1", 16).onAwsUntilDeleted().with(mutate).obj();
}

const conditionOf = (j: TrainingJob, type: string) => j.status?.conditions?.find((c) => c.type === type);

describe("bad input on a worker", { timeout: 600_000 }, () => {
  // One replica: no Lease to lose on a loaded machine, which this suite is not about.
  const env = { CHECKPOINT_INTERVAL_MS: String(INTERVAL_MS), LEADER_ELECTION: "false" };
  const { tjs } = withOperator("bad-inputs", env, async (jobs) => {
    // Each test deletes its job; here all are waited for (their workloads removed) while the operator runs.
    const names = ["pull", "refused", "podsec", "quota", "nowhere", "elsewhere"];
    await Promise.all(names.map((name) => jobs.delete(name).catch(() => {})));
    const left = () =>
      Promise.all(
        names.map((n) =>
          jobs.get(n).then(
            () => [n],
            () => [],
          ),
        ),
      ).then((l) => l.flat());
    await eventually("the suite's jobs to be gone", left, (l) => l.length === 0, 60_000).catch(() => {});
    await aws.core.deleteNamespace({ name: jobs.namespace }).catch(() => {});
  });
  const ns = tjs.namespace;

  before(async () => {
    // The workload namespace exists on the worker first, so a test can label it; the operator's apply keeps the labels.
    await aws.core.createNamespace({ body: { metadata: { name: ns } } });
  });

  /** Waits until the job's WorkloadBlocked condition has `reason`, and returns the job. */
  const blocked = (name: string, reason: string, timeoutMs = 60_000) =>
    eventually(
      `${name} to be WorkloadBlocked/${reason}`,
      () => tjs.get(name),
      (j) => conditionOf(j, "WorkloadBlocked")?.reason === reason,
      timeoutMs,
    );

  /** Waits until the job runs with no WorkloadBlocked condition left. */
  const runsUnblocked = (name: string, timeoutMs = 120_000) =>
    eventually(
      `${name} to be Running with no WorkloadBlocked condition`,
      () => tjs.get(name),
      (j) => j.status?.phase === "Running" && conditionOf(j, "WorkloadBlocked") === undefined,
      timeoutMs,
    );

  const warnings = async (name: string, reason: string) =>
    (await tjs.events(name)).filter((e) => e.reason === reason && e.type === "Warning");

  /** Waits for the job's first `reason` Warning (events are sent after the status write), and returns how many there are. */
  const warned = async (name: string, reason: string) =>
    (
      await eventually(
        `a ${reason} event`,
        () => warnings(name, reason),
        (es) => es.length > 0,
        10_000,
      )
    ).length;

  it("an image that cannot be pulled: ImagePullFailed naming the image and the field, gone once fixed", async () => {
    await tjs.create(
      aJob("pull", (j) => {
        j.spec.template.spec = { containers: [{ name: "trainer", image: "sandbox.invalid/train:1" }] };
      }),
    );
    const job = await blocked("pull", "ImagePullFailed");
    const message = conditionOf(job, "WorkloadBlocked")?.message ?? "";
    assert.match(message, /image sandbox\.invalid\/train:1 of container trainer on aws-sim cannot be pulled/);
    assert.match(message, /ImagePullBackOff/);
    assert.match(message, /fix spec\.template\.spec\.containers\[name=trainer\]\.image/);
    assert.equal(conditionOf(job, "Running")?.reason, "ImagePullFailed", "Running=False says why");
    // Two more passes: the cause is the same, so no second event.
    await new Promise((r) => setTimeout(r, 2 * INTERVAL_MS));
    assert.equal(await warned("pull", "ImagePullFailed"), 1, "one event while the cause stays");

    await tjs.patch("pull", {
      spec: { template: { spec: { containers: [{ name: "trainer", image: "example.com/train:1" }] } } },
    });
    await runsUnblocked("pull");
    await tjs.delete("pull"); // waited for in the suite's cleanup
  });

  it("an admission webhook refusing the Job: JobRefused, retried at the job's interval, gone once allowed", async (t) => {
    const pki = ensurePki(join(STATE_DIR, "pki"));
    let allow = false;
    let reviews = 0;
    const server = createServer(
      { cert: readFileSync(pki.servingCert), key: readFileSync(pki.servingKey) },
      (req, res) => {
        let body = "";
        req.on("data", (d: Buffer) => {
          body += d.toString();
        });
        req.on("end", () => {
          reviews += 1;
          const review = JSON.parse(body) as { request: { uid: string } };
          res.setHeader("Content-Type", "application/json");
          res.end(
            JSON.stringify({
              apiVersion: "admission.k8s.io/v1",
              kind: "AdmissionReview",
              response: {
                uid: review.request.uid,
                allowed: allow,
                ...(allow ? {} : { status: { code: 403, message: "Jobs in this namespace need a cost-center label" } }),
              },
            }),
          );
        });
      },
    );
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as AddressInfo).port;
    const admission = aws.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
    const webhookName = `${ns}.bad-inputs.crosscloud.dev`;
    await admission.createValidatingWebhookConfiguration({
      body: {
        metadata: { name: ns },
        webhooks: [
          {
            name: webhookName,
            clientConfig: {
              url: `https://127.0.0.1:${port}/validate`,
              caBundle: readFileSync(pki.caCert).toString("base64"),
            },
            rules: [
              { apiGroups: ["batch"], apiVersions: ["v1"], operations: ["CREATE", "UPDATE"], resources: ["jobs"] },
            ],
            namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ns } },
            objectSelector: { matchLabels: { [LABEL_JOB_NAME]: "refused" } },
            sideEffects: "None",
            admissionReviewVersions: ["v1"],
            failurePolicy: "Fail",
            timeoutSeconds: 5,
          },
        ],
      },
    });
    try {
      await tjs.create(aJob("refused"));
      const job = await blocked("refused", "JobRefused");
      const message = conditionOf(job, "WorkloadBlocked")?.message ?? "";
      assert.match(
        message,
        new RegExp(`admission webhook ${webhookName.replaceAll(".", "\\.")} said: .*cost-center label`),
      );
      assert.match(message, /so that the webhook accepts it/);
      assert.equal(conditionOf(job, "Running")?.reason, "JobRefused");
      assert.equal(conditionOf(job, "ReconcileError"), undefined, "a refusal is not a failed pass");

      // No loop: over 5 intervals the operator asks the worker about once per interval.
      const from = reviews;
      await new Promise((r) => setTimeout(r, 5 * INTERVAL_MS));
      const tries = reviews - from;
      t.diagnostic(`the refused Job was applied ${tries} times in ${(5 * INTERVAL_MS) / 1000}s`);
      assert.ok(tries >= 2 && tries <= 9, `${tries} applies of the refused Job in ${(5 * INTERVAL_MS) / 1000}s`);
      assert.equal(await warned("refused", "JobRefused"), 1, "one event while the cause stays");

      allow = true;
      await runsUnblocked("refused");
    } finally {
      await admission.deleteValidatingWebhookConfiguration({ name: ns }).catch(() => {});
      server.close();
    }
    await tjs.delete("refused"); // waited for in the suite's cleanup
  });

  it("Pod Security refusing the pods: PodsRefused with the Job controller's FailedCreate, gone once allowed", async () => {
    const label = (value: string | null) =>
      aws.core.patchNamespace(
        { name: ns, body: { metadata: { labels: { "pod-security.kubernetes.io/enforce": value } } } },
        mergePatch,
      );
    await label("restricted");
    try {
      await tjs.create(aJob("podsec"));
      const job = await blocked("podsec", "PodsRefused");
      const message = conditionOf(job, "WorkloadBlocked")?.message ?? "";
      assert.match(message, /aws-sim refuses the Job's pods \(1 missing\)/);
      assert.match(message, /Pod Security admission said: .*violates PodSecurity "restricted/);
      assert.match(message, /pod-security\.kubernetes\.io\/enforce/);
      assert.equal(await warned("podsec", "PodsRefused"), 1);
    } finally {
      await label(null);
    }
    await runsUnblocked("podsec");
    await tjs.delete("podsec"); // waited for in the suite's cleanup
  });

  it("a ResourceQuota refusing the pods: PodsRefused naming the quota, gone once raised", async () => {
    const quota = (pods: string) => ({ metadata: { name: "pods-quota", namespace: ns }, spec: { hard: { pods } } });
    await aws.core.createNamespacedResourceQuota({ namespace: ns, body: quota("0") });
    try {
      await eventually(
        "the quota's usage to be counted",
        () => aws.core.readNamespacedResourceQuota({ name: "pods-quota", namespace: ns }),
        (q) => q.status?.hard?.pods === "0",
        30_000,
      );
      await tjs.create(aJob("quota"));
      const job = await blocked("quota", "PodsRefused");
      const message = conditionOf(job, "WorkloadBlocked")?.message ?? "";
      assert.match(message, /ResourceQuota pods-quota said: .*exceeded quota: pods-quota/);
      assert.match(message, new RegExp(`raise or free ResourceQuota pods-quota in namespace ${ns} on aws-sim`));
      await aws.core.replaceNamespacedResourceQuota({ name: "pods-quota", namespace: ns, body: quota("10") });
      await runsUnblocked("quota");
    } finally {
      await aws.core.deleteNamespacedResourceQuota({ name: "pods-quota", namespace: ns }).catch(() => {});
    }
    await tjs.delete("quota"); // waited for in the suite's cleanup
  });

  it("pods unschedulable although placement found room: Unschedulable with the scheduler's message", async () => {
    await tjs.create(
      aJob("nowhere", (j) => {
        j.spec.template.spec = {
          containers: [{ name: "trainer", image: "example.com/train:1" }],
          nodeSelector: { "sandbox.crosscloud.dev/no-such-label": "true" },
        };
      }),
    );
    const job = await blocked("nowhere", "Unschedulable");
    const message = conditionOf(job, "WorkloadBlocked")?.message ?? "";
    assert.match(
      message,
      /1 pod\(s\) cannot be scheduled on aws-sim, although placement found room on node group trn\d/,
    );
    assert.match(message, /nodes are available: .*didn't match Pod's node affinity\/selector/);
    assert.equal(await warned("nowhere", "Unschedulable"), 1);

    await tjs.patch("nowhere", { spec: { template: { spec: { nodeSelector: null } } } });
    await runsUnblocked("nowhere");
    await tjs.delete("nowhere"); // waited for in the suite's cleanup
  });

  it("a placement.clusters entry naming no ComputeCluster: Placed=False/ClusterNotFound, then placed on the entry that exists", async () => {
    await tjs.create(aJob("elsewhere", (j) => (j.spec.placement.clusters = ["aws-simm"])));
    const job = await eventually(
      "Placed=False/ClusterNotFound",
      () => tjs.get("elsewhere"),
      (j) => conditionOf(j, "Placed")?.reason === "ClusterNotFound",
      30_000,
    );
    const message = conditionOf(job, "Placed")?.message ?? "";
    assert.match(message, /spec\.placement\.clusters names no existing ComputeCluster \(aws-simm\)/);
    assert.match(message, /the ComputeClusters are: aws-sim, azure-sim/);
    assert.equal(job.status?.phase, "Pending");
    assert.equal(await warned("elsewhere", "NotPlaced"), 1);

    // One entry exists: the job is placed there, and the other entry is named in a Warning.
    await tjs.patch("elsewhere", { spec: { placement: { clusters: ["aws-simm", "aws-sim"] } } });
    const placed = await eventually(
      "placed",
      () => tjs.get("elsewhere"),
      (j) => conditionOf(j, "Placed")?.status === "True",
      30_000,
    );
    assert.equal(placed.status?.placement?.cluster, "aws-sim");
    assert.match(conditionOf(placed, "Placed")?.message ?? "", /name no ComputeCluster are ignored: aws-simm/);
    assert.equal(await warned("elsewhere", "ClusterNotFound"), 1);
    await tjs.delete("elsewhere"); // waited for in the suite's cleanup
  });
});
