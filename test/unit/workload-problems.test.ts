// workload-problems: why a placed workload cannot start, from the worker's
// API errors, Job, pods and FailedCreate messages (table tests).

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { CoreV1Event, V1Job, V1Pod } from "@kubernetes/client-node";
import {
  FAILED_CREATE_FRESH_MS,
  PROBLEM_GRACE_MS,
  podsMissing,
  recentFailedCreate,
  refusalOf,
  type WorkloadView,
  workloadProblem,
} from "../../src/controller/trainingjob/workload-problems.ts";

const NOW = new Date("2026-11-30T12:00:00Z");
const ago = (ms: number) => new Date(NOW.getTime() - ms);
const WHERE = { cluster: "aws-sim", namespace: "ml", nodeGroup: "trn1" };

/** An error as @kubernetes/client-node's ApiException carries a Status. */
function apiError(code: number, reason: string, message: string) {
  return Object.assign(new Error(`HTTP-Code: ${code}`), {
    code,
    body: JSON.stringify({ kind: "Status", reason, message }),
  });
}

describe("refusalOf", () => {
  const cases = [
    {
      name: "an admission webhook",
      err: apiError(
        403,
        "Forbidden",
        'admission webhook "jobs.policy.example.com" denied the request: jobs need a cost-center label',
      ),
      want: [
        /admission webhook jobs\.policy\.example\.com said: .*cost-center label/,
        /so that the webhook accepts it/,
      ],
    },
    {
      name: "a ValidatingAdmissionPolicy",
      err: apiError(
        422,
        "Invalid",
        "jobs.batch \"x-e1\" is forbidden: ValidatingAdmissionPolicy 'no-gpu-jobs' with binding 'no-gpu-jobs-ml' denied request: no GPU jobs here",
      ),
      want: [/ValidatingAdmissionPolicy no-gpu-jobs said/, /so that the policy accepts it/],
    },
    {
      name: "a ResourceQuota on jobs",
      err: apiError(
        403,
        "Forbidden",
        'jobs.batch "x-e1" is forbidden: exceeded quota: team-quota, requested: count/jobs.batch=1, used: count/jobs.batch=5, limited: count/jobs.batch=5',
      ),
      want: [/ResourceQuota team-quota said/, /raise or free ResourceQuota team-quota in namespace ml on aws-sim/],
    },
    {
      name: "an invalid object",
      err: apiError(
        422,
        "Invalid",
        'Job.batch "x-e1" is invalid: spec.template.spec.containers[0].name: Invalid value: "Trainer"',
      ),
      want: [/found it invalid: .*containers\[0\]\.name/, /fix the field it names in spec\.template/],
    },
  ];
  for (const tc of cases) {
    it(`names ${tc.name} and what to do`, () => {
      const p = refusalOf(tc.err, WHERE);
      assert.equal(p?.reason, "JobRefused");
      assert.match(p?.message ?? "", /^aws-sim refused the workload in namespace ml/);
      for (const re of tc.want) assert.match(p?.message ?? "", re);
    });
  }

  const notRefusals = [
    {
      name: "RBAC",
      err: apiError(403, "Forbidden", 'jobs.batch "x" is forbidden: User "op" cannot patch resource "jobs"'),
    },
    { name: "a server error", err: apiError(500, "InternalError", "etcdserver: request timed out") },
    { name: "a conflict", err: apiError(409, "Conflict", "Apply failed with 1 conflict") },
    { name: "no answer", err: new Error('worker cluster "aws-sim" did not answer within 10000 ms') },
  ];
  for (const tc of notRefusals) {
    it(`leaves ${tc.name} to the reconcile error`, () => {
      assert.equal(refusalOf(tc.err, WHERE), undefined);
    });
  }

  it("reads a Status body that is already an object", () => {
    const err = { code: 403, body: { message: 'admission webhook "w" denied the request: no' } };
    assert.equal(refusalOf(err, WHERE)?.reason, "JobRefused");
  });
});

function job(extra: { created?: Date; suspend?: boolean; succeeded?: number; complete?: boolean } = {}): V1Job {
  return {
    metadata: { name: "x-e1", namespace: "ml", uid: "u1", creationTimestamp: extra.created ?? ago(60_000) },
    spec: { suspend: extra.suspend ?? false, template: {} },
    status: {
      succeeded: extra.succeeded ?? 0,
      ...(extra.complete ? { conditions: [{ type: "Complete", status: "True" }] } : {}),
    },
  };
}

interface PodOptions {
  phase?: string;
  waiting?: { reason: string; message?: string };
  image?: string;
  init?: boolean;
  unschedulableFor?: number;
  deleted?: boolean;
}

function pod(name: string, o: PodOptions = {}): V1Pod {
  const status = {
    name: "trainer",
    image: o.image ?? "example.com/train:1",
    imageID: "",
    ready: false,
    restartCount: 0,
    ...(o.waiting ? { state: { waiting: o.waiting } } : {}),
  };
  return {
    metadata: { name, ...(o.deleted ? { deletionTimestamp: NOW } : {}) },
    status: {
      phase: o.phase ?? "Pending",
      ...(o.init ? { initContainerStatuses: [status] } : { containerStatuses: [status] }),
      ...(o.unschedulableFor !== undefined
        ? {
            conditions: [
              {
                type: "PodScheduled",
                status: "False",
                reason: "Unschedulable",
                message: "0/8 nodes are available: 8 node(s) didn't match Pod's node affinity/selector.",
                lastTransitionTime: ago(o.unschedulableFor),
              },
            ],
          }
        : {}),
    },
  };
}

const imageField = (c: string) => `spec.template.spec.containers[name=${c}].image`;
const view = (v: Partial<WorkloadView>): WorkloadView => ({
  job: job(),
  pods: [],
  desired: 2,
  imageField,
  now: NOW,
  ...v,
});

const QUOTA =
  'Error creating: pods "x-e1-0-abcde" is forbidden: exceeded quota: pods-quota, requested: pods=1, used: pods=0, limited: pods=0';
const POD_SECURITY =
  'Error creating: pods "x-e1-0-abcde" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "trainer" must set securityContext.allowPrivilegeEscalation=false)';

describe("workloadProblem", () => {
  const running = pod("a", { phase: "Running" });
  const cases: { name: string; view: WorkloadView; reason?: string; message?: RegExp[] }[] = [
    { name: "pods running", view: view({ pods: [running, pod("b", { phase: "Running" })] }) },
    { name: "pods pending, just created", view: view({ pods: [pod("a"), pod("b")] }) },
    {
      name: "pods refused by a quota",
      view: view({ failedCreate: QUOTA }),
      reason: "PodsRefused",
      message: [
        /refuses the Job's pods \(2 missing\)/,
        /ResourceQuota pods-quota said: pods "x-e1-0-abcde"/,
        /raise or free/,
      ],
    },
    {
      name: "pods refused by Pod Security",
      view: view({ pods: [running], failedCreate: POD_SECURITY }),
      reason: "PodsRefused",
      message: [
        /\(1 missing\)/,
        /Pod Security admission said: .*allowPrivilegeEscalation/,
        /pod-security\.kubernetes\.io\/enforce/,
      ],
    },
    {
      name: "a FailedCreate of another cause",
      view: view({ failedCreate: 'Error creating: pods "x" is forbidden: error looking up service account ml/train' }),
      reason: "PodsRefused",
      message: [/error looking up service account ml\/train; fix what it names in spec\.template, or on aws-sim/],
    },
    {
      name: "an old FailedCreate while every pod exists",
      view: view({ pods: [running, pod("b", { phase: "Running" })], failedCreate: QUOTA }),
    },
    {
      name: "a FailedCreate on a Job younger than the grace",
      view: view({ job: job({ created: ago(PROBLEM_GRACE_MS - 1) }), failedCreate: QUOTA }),
    },
    {
      name: "a FailedCreate on a suspended Job",
      view: view({ job: job({ suspend: true }), failedCreate: QUOTA }),
    },
    {
      name: "an image that cannot be pulled",
      view: view({
        pods: [
          pod("a", {
            waiting: { reason: "ImagePullBackOff", message: 'Back-off pulling image "sandbox.invalid/x:1"' },
            image: "sandbox.invalid/x:1",
          }),
          pod("b", { waiting: { reason: "ErrImagePull" }, image: "sandbox.invalid/x:1" }),
        ],
      }),
      reason: "ImagePullFailed",
      message: [
        /^image sandbox\.invalid\/x:1 of container trainer on aws-sim cannot be pulled \(2 pod\(s\)\): ImagePullBackOff: Back-off/,
        /fix spec\.template\.spec\.containers\[name=trainer\]\.image/,
      ],
    },
    {
      name: "an init container's image that cannot be pulled",
      view: view({ pods: [pod("a", { init: true, waiting: { reason: "InvalidImageName" }, image: "BAD" })] }),
      reason: "ImagePullFailed",
      message: [/image BAD .*InvalidImageName/],
    },
    {
      name: "a container config that cannot be built",
      view: view({
        pods: [pod("a", { waiting: { reason: "CreateContainerConfigError", message: 'secret "hf-token" not found' } })],
      }),
      reason: "ContainerConfigError",
      message: [/secret "hf-token" not found/, /must exist in namespace ml/],
    },
    {
      name: "a container still being created",
      view: view({ pods: [pod("a", { waiting: { reason: "ContainerCreating" } })] }),
    },
    {
      name: "a deleted pod's pull error",
      view: view({ pods: [pod("a", { deleted: true, waiting: { reason: "ImagePullBackOff" } })] }),
    },
    {
      name: "pods unschedulable past the grace",
      view: view({ pods: [pod("a", { unschedulableFor: PROBLEM_GRACE_MS }), running] }),
      reason: "Unschedulable",
      message: [
        /^1 pod\(s\) cannot be scheduled on aws-sim, although placement found room on node group trn1: 0\/8 nodes are available/,
        /spec\.failover\.unschedulableTimeout/,
      ],
    },
    {
      name: "pods unschedulable within the grace",
      view: view({ pods: [pod("a", { unschedulableFor: PROBLEM_GRACE_MS - 1 }), running] }),
    },
    {
      name: "refused pods and a pull error at once: the refusal first",
      view: view({ pods: [pod("a", { waiting: { reason: "ErrImagePull" } })], failedCreate: QUOTA }),
      reason: "PodsRefused",
    },
    {
      name: "a pull error and an unschedulable pod at once: the pull error first",
      view: view({ pods: [pod("a", { waiting: { reason: "ErrImagePull" } }), pod("b", { unschedulableFor: 60_000 })] }),
      reason: "ImagePullFailed",
    },
  ];
  for (const tc of cases) {
    it(`${tc.reason ?? "nothing"} when ${tc.name}`, () => {
      const p = workloadProblem(tc.view, WHERE);
      assert.equal(p?.reason, tc.reason);
      for (const re of tc.message ?? []) assert.match(p?.message ?? "", re);
    });
  }
});

describe("podsMissing", () => {
  const cases = [
    { name: "no Job", job: undefined, pods: [], want: false },
    { name: "no pod after the grace", job: job(), pods: [], want: true },
    { name: "a failed pod not replaced", job: job(), pods: [pod("a", { phase: "Failed" }), pod("b")], want: true },
    {
      name: "one pod succeeded, one running",
      job: job({ succeeded: 1 }),
      pods: [pod("b", { phase: "Running" })],
      want: false,
    },
    { name: "a Complete Job", job: job({ complete: true }), pods: [], want: false },
    { name: "a suspended Job", job: job({ suspend: true }), pods: [], want: false },
    { name: "a Job within the grace", job: job({ created: ago(1_000) }), pods: [], want: false },
  ];
  for (const tc of cases) {
    it(`is ${tc.want} for ${tc.name}`, () => {
      assert.equal(podsMissing(tc.job, tc.pods, 2, NOW), tc.want);
    });
  }
});

describe("recentFailedCreate", () => {
  const event = (message: string, seen: Partial<CoreV1Event>): CoreV1Event => ({
    metadata: { name: message },
    involvedObject: {},
    message,
    ...seen,
  });
  const cases = [
    { name: "no event", events: [], want: undefined },
    {
      name: "the newest by last time seen",
      events: [event("old", { lastTimestamp: ago(60_000) }), event("new", { lastTimestamp: ago(1_000) })],
      want: "new",
    },
    {
      name: "a series' last observation counts",
      events: [
        event("series", { lastTimestamp: ago(300_000), series: { count: 3, lastObservedTime: ago(500) } }),
        event("single", { lastTimestamp: ago(1_000) }),
      ],
      want: "series",
    },
    {
      name: "only events older than the window",
      events: [event("stale", { lastTimestamp: ago(FAILED_CREATE_FRESH_MS + 1) })],
      want: undefined,
    },
    { name: "an event with only an eventTime", events: [event("new-api", { eventTime: ago(2_000) })], want: "new-api" },
  ];
  for (const tc of cases) {
    it(`is ${tc.want ?? "nothing"} for ${tc.name}`, () => {
      assert.equal(recentFailedCreate(tc.events, NOW), tc.want);
    });
  }
});
