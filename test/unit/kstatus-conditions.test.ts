// The conditions generic tools read (src/controller/trainingjob/kstatus.ts and
// the ComputeCluster's Stalled in src/controller/computecluster/reconciler.ts):
// what Ready, Reconciling and Stalled say for each phase and problem, that
// they move only with what they sum up (no write of their own, none for a
// Starting job's counts), and that they go away when they no longer hold.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { TrainingJob, TrainingJobStatus } from "../../src/api/trainingjob.ts";
import { withStalled } from "../../src/controller/computecluster/reconciler.ts";
import type { Condition, ConditionInput } from "../../src/controller/conditions.ts";
import { readinessOf, reportReadiness, STALLED_AFTER_MS } from "../../src/controller/trainingjob/kstatus.ts";
import { progressOnly } from "../../src/controller/trainingjob/progress.ts";
import { StatusBuilder } from "../../src/controller/trainingjob/status.ts";

const T = "2026-12-01T00:00:00.000Z";
const NOW = new Date("2026-12-01T00:01:00.000Z");

type C = [type: string, status: Condition["status"], reason: string, message?: string, since?: string];

function status(phase: TrainingJobStatus["phase"], ...conditions: C[]): TrainingJobStatus {
  return {
    phase,
    observedGeneration: 1,
    replicas: { desired: 4, running: 0, succeeded: 0, failed: 0 },
    placement: { cluster: "aws-sim" },
    conditions: conditions.map(([type, s, reason, message, since]) => ({
      type,
      status: s,
      reason,
      message: message ?? `${type} ${reason}`,
      lastTransitionTime: since ?? T,
      observedGeneration: 1,
    })),
  };
}

interface Want {
  ready: [Condition["status"], string];
  reconciling?: string;
  stalled?: string;
}

describe("readinessOf: Ready, Reconciling and Stalled per phase", () => {
  const cases: { name: string; status: TrainingJobStatus; want: Want }[] = [
    {
      name: "Pending, no room yet: Reconciling (kstatus InProgress)",
      status: status("Pending", ["Placed", "False", "InsufficientCapacity"]),
      want: { ready: ["False", "Pending"], reconciling: "Pending" },
    },
    {
      name: "Pending, no cluster allowed: Stalled (kstatus Failed)",
      status: status("Pending", ["Placed", "False", "NoClusterAllowed"]),
      want: { ready: ["False", "Pending"], stalled: "NoClusterAllowed" },
    },
    {
      name: "Pending, the request is invalid: Stalled",
      status: status("Pending", ["Placed", "False", "InvalidRequest"]),
      want: { ready: ["False", "Pending"], stalled: "InvalidRequest" },
    },
    {
      name: "Pending, no ComputeCluster by the names given: Stalled",
      status: status("Pending", ["Placed", "False", "ClusterNotFound"]),
      want: { ready: ["False", "Pending"], stalled: "ClusterNotFound" },
    },
    {
      name: "Pending, every allowed cluster not Ready: Reconciling (it may come back)",
      status: status("Pending", ["Placed", "False", "AllClustersUnavailable"]),
      want: { ready: ["False", "Pending"], reconciling: "Pending" },
    },
    {
      name: "Placing while the last epoch's workload goes",
      status: status("Placing", ["Placed", "False", "PreviousEpochStopping"], ["Running", "False", "NotPlaced"]),
      want: { ready: ["False", "Placing"], reconciling: "Placing" },
    },
    {
      name: "Scaling a node group",
      status: status("Scaling", ["Placed", "False", "ScalingUp"]),
      want: { ready: ["False", "Scaling"], reconciling: "Scaling" },
    },
    {
      name: "Starting",
      status: status("Starting", ["Placed", "True", "Placed"], ["Running", "False", "Starting"]),
      want: { ready: ["False", "Starting"], reconciling: "Starting" },
    },
    {
      name: "Starting with pods unschedulable: Reconciling (a CapacityLost move resolves it)",
      status: status("Starting", ["Running", "False", "Unschedulable"], ["WorkloadBlocked", "True", "Unschedulable"]),
      want: { ready: ["False", "Starting"], reconciling: "Starting" },
    },
    {
      name: "Starting with an image that cannot be pulled: Stalled",
      status: status(
        "Starting",
        ["Running", "False", "ImagePullFailed"],
        ["WorkloadBlocked", "True", "ImagePullFailed"],
      ),
      want: { ready: ["False", "Starting"], stalled: "ImagePullFailed" },
    },
    {
      name: "Starting, refused by the worker's admission: Stalled",
      status: status("Starting", ["Running", "False", "JobRefused"], ["WorkloadBlocked", "True", "JobRefused"]),
      want: { ready: ["False", "Starting"], stalled: "JobRefused" },
    },
    {
      name: "Running with every replica ready: Ready (kstatus Current)",
      status: status("Running", ["Placed", "True", "Placed"], ["Running", "True", "AllReplicasRunning"]),
      want: { ready: ["True", "Running"] },
    },
    {
      name: "Running, its cluster not answering yet: Ready False with Running's reason, Reconciling",
      status: status("Running", ["Running", "Unknown", "ClusterLost"]),
      want: { ready: ["False", "ClusterLost"], reconciling: "ClusterLost" },
    },
    {
      name: "Running, waiting for the connection to its cluster",
      status: status("Running", ["Running", "False", "ClusterNotConnected"]),
      want: { ready: ["False", "ClusterNotConnected"], reconciling: "ClusterNotConnected" },
    },
    {
      name: "Running, its cluster lost and failover off: Stalled",
      status: status("Running", ["Running", "False", "ClusterLost"], ["FailedOver", "False", "FailoverDisabled"]),
      want: { ready: ["False", "ClusterLost"], stalled: "FailoverDisabled" },
    },
    {
      name: "Running on a drained cluster with failover off: still Ready",
      status: status("Running", ["Running", "True", "AllReplicasRunning"], ["FailedOver", "False", "FailoverDisabled"]),
      want: { ready: ["True", "Running"] },
    },
    {
      name: "FailingOver",
      status: status("FailingOver", ["Running", "False", "FailingOver"], ["FailedOver", "False", "FailingOver"]),
      want: { ready: ["False", "FailingOver"], reconciling: "FailingOver" },
    },
    {
      name: "Suspended: Ready False, neither Reconciling nor Stalled (kstatus InProgress from Ready)",
      status: status("Suspended", ["Suspended", "True", "JobSuspended"], ["Running", "False", "Suspended"]),
      want: { ready: ["False", "Suspended"] },
    },
    {
      name: "Succeeded: Ready (kstatus Current)",
      status: status("Succeeded", ["Succeeded", "True", "JobSucceeded"], ["Running", "False", "JobSucceeded"]),
      want: { ready: ["True", "Succeeded"] },
    },
    {
      name: "Failed: Stalled with the Failed condition's reason (kstatus Failed)",
      status: status(
        "Failed",
        ["Failed", "True", "BackoffLimitExceeded"],
        ["Running", "False", "BackoffLimitExceeded"],
      ),
      want: { ready: ["False", "Failed"], stalled: "BackoffLimitExceeded" },
    },
    {
      name: "Failed at its deadline",
      status: status("Failed", ["Failed", "True", "DeadlineExceeded"]),
      want: { ready: ["False", "Failed"], stalled: "DeadlineExceeded" },
    },
    {
      name: "a ReconcileError younger than STALLED_AFTER_MS changes nothing",
      status: status(
        "Running",
        ["Running", "True", "AllReplicasRunning"],
        ["ReconcileError", "True", "ReconcileFailed"],
      ),
      want: { ready: ["True", "Running"] },
    },
    {
      name: "a ReconcileError held for STALLED_AFTER_MS: Stalled",
      status: status(
        "Starting",
        ["Running", "False", "Starting"],
        ["ReconcileError", "True", "ReconcileFailed", "boom", new Date(NOW.getTime() - STALLED_AFTER_MS).toISOString()],
      ),
      want: { ready: ["False", "Starting"], stalled: "ReconcileErrorPersists" },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = readinessOf(c.status, NOW);
      assert.deepEqual([r.ready.type, r.ready.status, r.ready.reason], ["Ready", ...c.want.ready]);
      assert.equal(r.reconciling?.reason, c.want.reconciling, "Reconciling's reason");
      assert.equal(r.stalled?.reason, c.want.stalled, "Stalled's reason");
      if (r.reconciling) assert.equal(r.reconciling.status, "True");
      if (r.stalled) assert.equal(r.stalled.status, "True");
    });
  }

  it("takes the messages of the conditions it sums up", () => {
    const running = readinessOf(
      status("Running", ["Running", "True", "AllReplicasRunning", "4/4 replicas running on aws-sim"]),
      NOW,
    );
    assert.equal(running.ready.message, "4/4 replicas running on aws-sim");
    const failed = readinessOf(status("Failed", ["Failed", "True", "BackoffLimitExceeded", "pod x failed"]), NOW);
    assert.equal(failed.stalled?.message, "pod x failed");
    const error = readinessOf(
      status("Pending", ["ReconcileError", "True", "ReconcileFailed", "store down", "2026-11-30T00:00:00.000Z"]),
      NOW,
    );
    assert.equal(error.stalled?.message, "every pass since 2026-11-30T00:00:00.000Z failed: store down");
  });

  it("a Starting job's message does not carry its replica counts", () => {
    const at = (n: number) =>
      readinessOf(status("Starting", ["Running", "False", "Starting", `${n}/4 replicas running on aws-sim`]), NOW);
    assert.equal(at(1).ready.message, "waiting for all 4 replicas to run on aws-sim");
    assert.deepEqual(at(1), at(3));
  });
});

function job(s: TrainingJobStatus): TrainingJob {
  return {
    apiVersion: "training.crosscloud.dev/v1alpha1",
    kind: "TrainingJob",
    metadata: { name: "j", namespace: "ns", generation: 1 },
    spec: {} as TrainingJob["spec"],
    status: s,
  };
}

/** A pass over a job whose status the server holds as `held`: `change` edits it, then reportReadiness. */
function pass(held: TrainingJobStatus, change: (b: StatusBuilder) => void, now = NOW): StatusBuilder {
  const b = new StatusBuilder(job(held), now);
  change(b);
  reportReadiness(b);
  return b;
}

const types = (s: TrainingJobStatus) => (s.conditions ?? []).map((c) => `${c.type}=${c.status}`).sort();

describe("reportReadiness on a pass's status", () => {
  const starting = status("Starting", ["Running", "False", "Starting", "0/4 replicas running on aws-sim"]);

  it("adds Ready and Reconciling, then a second pass over the written status changes nothing", () => {
    const first = pass(starting, () => {});
    assert.ok(first.changed());
    assert.deepEqual(types(first.status), ["Ready=False", "Reconciling=True", "Running=False"]);
    const second = pass(first.status, () => {});
    assert.equal(second.changed(), false, "no write when nothing it sums up changed");
  });

  it("a Starting job's counts alone stay a progress-only change", () => {
    const held = pass(starting, () => {}).status;
    const next = pass(held, (b) => {
      b.status.replicas = { desired: 4, running: 2, succeeded: 0, failed: 0 };
      b.condition({ type: "Running", status: "False", reason: "Starting", message: "2/4 replicas running on aws-sim" });
    });
    assert.ok(next.changed());
    assert.equal(progressOnly(held, next.status), true);
  });

  it("Running removes Reconciling and flips Ready with a new transition time", () => {
    const held = pass(starting, () => {}).status;
    const later = new Date(NOW.getTime() + 30_000);
    const running = pass(
      held,
      (b) => {
        b.setPhase("Running");
        b.condition({ type: "Running", status: "True", reason: "AllReplicasRunning", message: "4/4" });
      },
      later,
    );
    assert.deepEqual(types(running.status), ["Ready=True", "Running=True"]);
    const ready = running.status.conditions?.find((c) => c.type === "Ready");
    assert.equal(ready?.lastTransitionTime, later.toISOString());
    assert.equal(ready?.observedGeneration, 1);
  });

  it("Failed replaces Reconciling with Stalled", () => {
    const held = pass(starting, () => {}).status;
    const failed = pass(held, (b) => {
      b.setPhase("Failed");
      b.condition({ type: "Failed", status: "True", reason: "BackoffLimitExceeded", message: "m" });
    });
    assert.deepEqual(types(failed.status), ["Failed=True", "Ready=False", "Running=False", "Stalled=True"]);
  });
});

describe("withStalled: a ComputeCluster's Stalled", () => {
  const ready = (status: Condition["status"], reason: string): ConditionInput => ({
    type: "Ready",
    status,
    reason,
    message: `Ready ${reason}`,
  });
  const cases: { name: string; ready: ConditionInput; want: string | undefined }[] = [
    { name: "Ready", ready: ready("True", "Ready"), want: undefined },
    { name: "unreachable: InProgress, not Stalled", ready: ready("False", "Unreachable"), want: undefined },
    { name: "no accelerator node groups yet", ready: ready("False", "NoAcceleratorNodeGroups"), want: undefined },
    { name: "invalid spec.prices", ready: ready("False", "InvalidPrices"), want: "InvalidPrices" },
    {
      name: "a store Secret outside the operator's namespace",
      ready: ready("False", "SecretOutsideOperatorNamespace"),
      want: "SecretOutsideOperatorNamespace",
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = withStalled([], c.ready, 3, NOW).find((x) => x.type === "Stalled");
      assert.equal(got?.reason, c.want);
      if (got) assert.deepEqual([got.status, got.message, got.observedGeneration], ["True", c.ready.message, 3]);
    });
  }

  it("goes when Ready no longer needs a spec change", () => {
    const stalled = withStalled([], ready("False", "InvalidPrices"), 1, NOW);
    assert.deepEqual(
      withStalled(stalled, ready("True", "Ready"), 2, NOW).map((c) => c.type),
      [],
    );
  });
});
