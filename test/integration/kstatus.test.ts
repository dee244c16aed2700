// What generic tools make of the operator's conditions, computed by
// sigs.k8s.io/cli-utils' kstatus itself (test/harness/cmd/kstatus, built from
// the Go module proxy) over the objects the hub serves: every version of a job
// through its lifecycle (from a watch), a failed job, jobs that cannot be
// placed, the ComputeClusters; and `kubectl wait --for=condition=Ready` on a
// job that comes to run. First, the same over statuses built in memory by the
// operator's own code, one per case the docs name.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { describe, it } from "node:test";
import { Watch } from "@kubernetes/client-node";
import { resolveBinaries } from "../../scripts/sandbox/paths.ts";
import { kubeconfigPath } from "../../scripts/sandbox/sandbox.ts";
import { GROUP, VERSION } from "../../src/api/common.ts";
import type { TrainingJob, TrainingJobStatus } from "../../src/api/trainingjob.ts";
import { withStalled } from "../../src/controller/computecluster/reconciler.ts";
import type { Condition, ConditionInput } from "../../src/controller/conditions.ts";
import { reportReadiness, STALLED_AFTER_MS } from "../../src/controller/trainingjob/kstatus.ts";
import { StatusBuilder } from "../../src/controller/trainingjob/status.ts";
import { withOperator } from "../support/operator.ts";
import { clients, eventually, kubectl } from "../support/sandbox.ts";
import { runTool } from "../support/tools.ts";
import { aTrainingJob } from "../support/trainingjob.ts";

interface Computed {
  kind: string;
  name: string;
  status?: string;
  message?: string;
  conditions?: { type: string; status: string; reason?: string }[];
  error?: string;
}

/** kstatus's result for each object, in order. */
function kstatus(objects: readonly unknown[]): Computed[] {
  const r = runTool("kstatus", [], { input: objects.map((o) => JSON.stringify(o)).join("\n") });
  assert.equal(r.status, 0, `kstatus exited ${r.status}: ${r.stderr}`);
  return r.stdout
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Computed);
}

const NOW = new Date("2026-12-01T12:00:00.000Z");
const EARLIER = "2026-12-01T11:00:00.000Z";

/** A job whose server-held status has `conditions` in `phase`, after one pass's reportReadiness. */
function jobIn(phase: TrainingJobStatus["phase"], ...conditions: [string, Condition["status"], string][]): TrainingJob {
  const job: TrainingJob = {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: "TrainingJob",
    metadata: { name: `${phase}-${conditions.map((c) => c[2]).join("-")}`, namespace: "ns", generation: 2 },
    spec: {} as TrainingJob["spec"],
    status: {
      phase,
      observedGeneration: 2,
      replicas: { desired: 2, running: 0, succeeded: 0, failed: 0 },
      conditions: conditions.map(([type, status, reason]) => ({
        type,
        status,
        reason,
        message: `${type} ${reason}`,
        lastTransitionTime: type === "ReconcileError" ? EARLIER : NOW.toISOString(),
      })),
    },
  };
  const b = new StatusBuilder(job, NOW);
  reportReadiness(b);
  return { ...job, status: b.status };
}

describe("kstatus over the conditions the operator's code writes", () => {
  const cases: { job: TrainingJob; want: string }[] = [
    { job: jobIn("Pending", ["Placed", "False", "InsufficientCapacity"]), want: "InProgress" },
    { job: jobIn("Scaling", ["Placed", "False", "ScalingUp"]), want: "InProgress" },
    { job: jobIn("Starting", ["Running", "False", "Starting"]), want: "InProgress" },
    { job: jobIn("Running", ["Running", "True", "AllReplicasRunning"]), want: "Current" },
    { job: jobIn("Running", ["Running", "Unknown", "ClusterLost"]), want: "InProgress" },
    { job: jobIn("FailingOver", ["FailedOver", "False", "FailingOver"]), want: "InProgress" },
    { job: jobIn("Suspended", ["Suspended", "True", "JobSuspended"]), want: "InProgress" },
    { job: jobIn("Succeeded", ["Succeeded", "True", "JobSucceeded"]), want: "Current" },
    { job: jobIn("Failed", ["Failed", "True", "BackoffLimitExceeded"]), want: "Failed" },
    { job: jobIn("Pending", ["Placed", "False", "NoClusterAllowed"]), want: "Failed" },
    { job: jobIn("Starting", ["WorkloadBlocked", "True", "ImagePullFailed"]), want: "Failed" },
    {
      job: jobIn("Running", ["Running", "False", "ClusterLost"], ["FailedOver", "False", "FailoverDisabled"]),
      want: "Failed",
    },
    { job: jobIn("Pending", ["ReconcileError", "True", "ReconcileFailed"]), want: "Failed" },
  ];

  it("gives each case the status the docs say", () => {
    assert.ok(Date.parse(EARLIER) <= NOW.getTime() - STALLED_AFTER_MS, "the ReconcileError case is old enough");
    const got = kstatus(cases.map((c) => c.job));
    assert.deepEqual(
      got.map((g) => `${g.name}: ${g.status}`),
      cases.map((c) => `${c.job.metadata.name}: ${c.want}`),
    );
  });

  it("takes a newer generation than observed as InProgress, whatever the conditions say", () => {
    const running = jobIn("Running", ["Running", "True", "AllReplicasRunning"]);
    const [got] = kstatus([{ ...running, metadata: { ...running.metadata, generation: 3 } }]);
    assert.equal(got?.status, "InProgress");
    assert.match(got?.message ?? "", /generation is 3, but latest observed generation is 2/);
  });

  it("gives a ComputeCluster Current when Ready, InProgress when unreachable, Failed for an invalid spec", () => {
    const cc = (name: string, ready: ConditionInput) => ({
      apiVersion: `${GROUP}/${VERSION}`,
      kind: "ComputeCluster",
      metadata: { name, generation: 1 },
      status: {
        observedGeneration: 1,
        conditions: withStalled(
          [{ ...ready, lastTransitionTime: NOW.toISOString(), observedGeneration: 1 }],
          ready,
          1,
          NOW,
        ),
      },
    });
    const ready = (status: Condition["status"], reason: string): ConditionInput => ({
      type: "Ready",
      status,
      reason,
      message: reason,
    });
    const got = kstatus([
      cc("ready", ready("True", "Ready")),
      cc("unreachable", ready("False", "Unreachable")),
      cc("prices", ready("False", "InvalidPrices")),
    ]);
    assert.deepEqual(
      got.map((g) => g.status),
      ["Current", "InProgress", "Failed"],
    );
  });
});

/** `kubectl wait` against the hub, run without blocking the test's event loop. */
function kubectlWait(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const bin = resolveBinaries(["kubectl"]).kubectl;
  const child = spawn(bin, ["--kubeconfig", kubeconfigPath("hub"), "wait", ...args]);
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => {
    stdout += d;
  });
  child.stderr.on("data", (d) => {
    stderr += d;
  });
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
}

function runningJob(name: string, runFor: string, annotations: Record<string, string> = {}) {
  return aTrainingJob(name)
    .replicas(2)
    .accelerator("trainium1", 16)
    .with((j) => {
      j.spec.template.metadata = { annotations: { "sandbox.crosscloud.dev/run-for": runFor, ...annotations } };
    });
}

describe("kstatus over the lifecycle on the sandbox", { timeout: 600_000 }, () => {
  const suite = withOperator("kstatus");
  const tjs = suite.tjs;

  it("is InProgress while placed and starting, Current once Running and Succeeded; kubectl wait returns at Ready", async () => {
    const versions: TrainingJob[] = [];
    const watch = await new Watch(clients("hub").kubeConfig).watch(
      `/apis/${GROUP}/${VERSION}/namespaces/${tjs.namespace}/trainingjobs`,
      {},
      (type, job: TrainingJob) => {
        if (type !== "DELETED" && job.metadata.name === "happy") versions.push(job);
      },
      () => {},
    );
    try {
      await tjs.create(runningJob("happy", "20s").obj());
      const waited = await kubectlWait(["--for=condition=Ready", `tj/happy`, "-n", tjs.namespace, "--timeout=90s"]);
      assert.equal(waited.code, 0, `kubectl wait: ${waited.stderr}`);
      assert.match(waited.stdout, /condition met/);
      const atReady = await tjs.get("happy");
      assert.equal(atReady.status?.phase, "Running", "Ready is True while the job runs (its pods run for 20 s)");
      const [running] = kstatus([atReady]);
      assert.equal(running?.status, "Current", JSON.stringify(running));
      assert.match(running?.message ?? "", /Resource is Ready/);
      await tjs.waitForPhase("happy", "Succeeded");
      await eventually(
        "the watch to deliver Succeeded",
        async () => versions.at(-1)?.status?.phase,
        (p) => p === "Succeeded",
        10_000,
      );
    } finally {
      watch.abort();
    }
    const computed = kstatus(versions);
    const seen = versions.map((v, i) => `${v.status?.phase ?? "(no status)"}: ${computed[i]?.status}`);
    // Until the operator's first write, the job has no status: kstatus takes an object without
    // conditions or observedGeneration as Current (its rule for unknown kinds).
    const written = seen.filter((s) => !s.startsWith("(no status)"));
    const want: Record<string, string> = {
      Pending: "InProgress",
      Placing: "InProgress",
      Scaling: "InProgress",
      Starting: "InProgress",
      Running: "Current",
      Succeeded: "Current",
    };
    for (const s of written) {
      const phase = s.split(":")[0] ?? "";
      assert.ok(phase in want, `a phase this job should not pass through: ${seen.join(", ")}`);
      assert.equal(s, `${phase}: ${want[phase]}`, `every version: ${seen.join(", ")}`);
    }
    assert.ok(
      written.some((s) => s.startsWith("Starting")),
      `placed and starting seen: ${seen.join(", ")}`,
    );
    const starting = computed[versions.findIndex((v) => v.status?.phase === "Starting")];
    assert.deepEqual(
      starting?.conditions?.map((c) => `${c.type}=${c.status}/${c.reason}`),
      ["Reconciling=True/Starting"],
    );
  });

  it("is Failed once the job failed", async () => {
    await tjs.create(
      runningJob("crashy", "60s", {
        "sandbox.crosscloud.dev/fail-after": "1s",
        "sandbox.crosscloud.dev/exit-code": "3",
      })
        .replicas(1)
        .with((j) => {
          j.spec.runPolicy.backoffLimit = 0;
        })
        .obj(),
    );
    const failed = await tjs.waitForPhase("crashy", "Failed");
    const [got] = kstatus([failed]);
    assert.equal(got?.status, "Failed", JSON.stringify(got));
    assert.match(got?.message ?? "", /exit code 3/);
    const stalled = failed.status?.conditions?.find((c) => c.type === "Stalled");
    assert.equal(stalled?.reason, failed.status?.conditions?.find((c) => c.type === "Failed")?.reason);
    const ready = failed.status?.conditions?.find((c) => c.type === "Ready");
    assert.deepEqual([ready?.status, ready?.reason], ["False", "Failed"]);
  });

  it("is InProgress while a job waits for room, Failed while it names no ComputeCluster", async () => {
    // 32 nodes of trn1: more than any trn1 group may grow to (16), so it waits in Pending.
    await tjs.create(runningJob("huge", "60s").replicas(32).obj());
    await tjs.create(
      runningJob("nowhere", "60s")
        .with((j) => {
          j.spec.placement.clusters = ["no-such-cluster"];
        })
        .obj(),
    );
    const [huge, nowhere] = await eventually(
      "both jobs Pending with a Placed reason",
      () => Promise.all([tjs.get("huge"), tjs.get("nowhere")]),
      (js) => js.every((j) => j.status?.phase === "Pending" && j.status.conditions?.some((c) => c.type === "Ready")),
    );
    const got = kstatus([huge, nowhere]);
    assert.equal(got[0]?.status, "InProgress", JSON.stringify(got[0]));
    assert.deepEqual(
      got[0]?.conditions?.map((c) => `${c.type}=${c.status}/${c.reason}`),
      ["Reconciling=True/Pending"],
    );
    assert.equal(got[1]?.status, "Failed", JSON.stringify(got[1]));
    assert.deepEqual(
      got[1]?.conditions?.map((c) => `${c.type}=${c.status}/${c.reason}`),
      ["Stalled=True/ClusterNotFound"],
    );
    await tjs.deleteAndWait("huge");
    await tjs.deleteAndWait("nowhere");
  });

  it("takes the ComputeClusters as Current", () => {
    const list = kubectl("hub", ["get", "computeclusters", "-o", "json"]);
    assert.equal(list.status, 0, list.stderr);
    const got = kstatus([JSON.parse(list.stdout)]).filter((g) => ["aws-sim", "azure-sim"].includes(g.name));
    assert.deepEqual(
      got.map((g) => `${g.name}: ${g.status}`),
      ["aws-sim: Current", "azure-sim: Current"],
    );
  });
});
