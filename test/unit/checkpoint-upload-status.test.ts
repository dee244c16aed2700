// The checkpoint agents' reports as the operator reads them: the report format
// (parseAgentReport), each pod's upload lag, the rows of
// status.checkpoint.agents and the CheckpointUploaded condition, and the
// CHECKPOINT_UPLOAD_STUCK_SECONDS setting.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type AgentReport, parseAgentReport } from "../../src/checkpoint/agent/report.ts";
import {
  UPLOADED,
  type UploadInput,
  uploadLag,
  uploadStatus,
  uploadStuckMs,
} from "../../src/controller/trainingjob/checkpoint-conditions.ts";

const T0 = "2026-12-01T10:00:00.000Z";
const MIN = 60_000;
const at = (minutes: number) => new Date(Date.parse(T0) + minutes * MIN);
const report = (index: number, r: Partial<AgentReport> = {}): AgentReport => ({
  epoch: 1,
  index,
  updatedAt: T0,
  ...r,
});
const input = (reports: AgentReport[], over: Partial<UploadInput> = {}): UploadInput => ({
  reports,
  replicas: 2,
  committedStep: 100,
  now: at(5),
  stuckAfterMs: 30 * MIN,
  ...over,
});

describe("parseAgentReport", () => {
  const rows: { name: string; text: string; ok: boolean }[] = [
    {
      name: "a full report",
      text: JSON.stringify(report(0, { newestLocalStep: 3, pending: { step: 3, since: T0 } })),
      ok: true,
    },
    { name: "the least report", text: JSON.stringify(report(1)), ok: true },
    { name: "torn JSON", text: '{"epoch":1,"ind', ok: false },
    { name: "not an object", text: "[1,2]", ok: false },
    { name: "no epoch", text: JSON.stringify({ index: 0, updatedAt: T0 }), ok: false },
    { name: "a negative step", text: JSON.stringify(report(0, { newestLocalStep: -1 })), ok: false },
    { name: "a pending without since", text: JSON.stringify({ ...report(0), pending: { step: 3 } }), ok: false },
    { name: "an error without message", text: JSON.stringify({ ...report(0), lastError: { at: T0 } }), ok: false },
  ];
  for (const r of rows) it(r.name, () => assert.equal(parseAgentReport(r.text) !== undefined, r.ok));
});

describe("uploadLag", () => {
  const rows: { name: string; r: AgentReport; committed?: number; want: number }[] = [
    { name: "nothing saved yet", r: report(0), committed: undefined, want: 0 },
    { name: "newest local step committed", r: report(0, { newestLocalStep: 100 }), committed: 100, want: 0 },
    { name: "one save ahead", r: report(0, { newestLocalStep: 200 }), committed: 100, want: 100 },
    {
      name: "nothing committed yet: the whole step",
      r: report(0, { newestLocalStep: 50 }),
      committed: undefined,
      want: 50,
    },
    {
      name: "the agent knows a newer commit than the last listing",
      r: report(0, { newestLocalStep: 200, newestCommittedStep: 200 }),
      committed: 100,
      want: 0,
    },
    { name: "restored step older than committed", r: report(0, { newestLocalStep: 90 }), committed: 100, want: 0 },
  ];
  for (const r of rows) it(r.name, () => assert.equal(uploadLag(r.r, r.committed), r.want));
});

describe("uploadStatus", () => {
  const pending = (step: number, minutesAfterT0 = 0, missingReplicas?: number[]) => ({
    step,
    since: at(minutesAfterT0).toISOString(),
    ...(missingReplicas ? { missingReplicas } : {}),
  });
  const rows: {
    name: string;
    in: UploadInput;
    status: string;
    reason: string;
    message: RegExp;
  }[] = [
    {
      name: "no report yet",
      in: input([]),
      status: "Unknown",
      reason: UPLOADED.NoReport,
      message: /no checkpoint agent/,
    },
    {
      name: "every pod caught up",
      in: input([report(0, { newestLocalStep: 100 }), report(1, { newestLocalStep: 100 })]),
      status: "True",
      reason: UPLOADED.UpToDate,
      message: /^every pod's newest local step is committed \(step 100\)$/,
    },
    {
      name: "a replica that never reported is named",
      in: input([report(0, { newestLocalStep: 100 })]),
      status: "True",
      reason: UPLOADED.UpToDate,
      message: /no report yet from replica 1/,
    },
    {
      name: "a step uploading within the limit",
      in: input([
        report(0, { newestLocalStep: 200, pending: pending(200, 1) }),
        report(1, { newestLocalStep: 200, pending: pending(200, 2) }),
      ]),
      status: "True",
      reason: UPLOADED.Uploading,
      message: /^step 200 is being uploaded \(finished on replica 0, 1 at 2026-12-01T10:01:00.000Z\)$/,
    },
    {
      name: "a report's pending step that the store already holds committed is not pending",
      in: input([report(0, { newestLocalStep: 100, pending: pending(100) }), report(1)]),
      status: "True",
      reason: UPLOADED.UpToDate,
      message: /committed/,
    },
    {
      name: "stuck with the agent's error as the cause (credentials masked)",
      in: input(
        [
          report(0, { newestLocalStep: 200, pending: pending(200) }),
          report(1, {
            newestLocalStep: 200,
            pending: pending(200),
            lastError: {
              step: 200,
              message: "upload of step 200: 403 AccessDenied at https://x/?sig=SECRETSIG&se=1",
              at: T0,
            },
          }),
        ],
        { now: at(31) },
      ),
      status: "False",
      reason: UPLOADED.UploadStuck,
      message:
        /^step 200 finished on replica 0, 1 at 2026-12-01T10:00:00.000Z and is not committed after 30m: replica 1: upload of step 200: 403 AccessDenied .*sig=\[REDACTED\]&se=1$/,
    },
    {
      name: "stuck waiting for a replica whose agent never reported",
      in: input([report(0, { newestLocalStep: 200, newestUploadedStep: 200, pending: pending(200, 0, [1]) })], {
        now: at(45),
      }),
      status: "False",
      reason: UPLOADED.UploadStuck,
      message: /waiting for the part of replica 1 \(replica 1 never reported: is its agent running\?\)$/,
    },
    {
      name: "stuck with every part uploaded: replica 0 has not committed",
      in: input(
        [
          report(0, { newestLocalStep: 200, newestUploadedStep: 200 }),
          report(1, { newestLocalStep: 200, newestUploadedStep: 200, pending: pending(200) }),
        ],
        { now: at(31) },
      ),
      status: "False",
      reason: UPLOADED.UploadStuck,
      message: /replica 0 has not committed it$/,
    },
    {
      name: "the oldest pending step is the one judged",
      in: input(
        [
          report(0, { newestLocalStep: 300, pending: pending(200) }),
          report(1, { newestLocalStep: 300, pending: pending(300, 30) }),
        ],
        { now: at(31) },
      ),
      status: "False",
      reason: UPLOADED.UploadStuck,
      message: /^step 200 finished on replica 0 at/,
    },
  ];
  for (const r of rows) {
    it(r.name, () => {
      const { condition } = uploadStatus(r.in);
      assert.equal(condition.type, "CheckpointUploaded");
      assert.equal(condition.status, r.status);
      assert.equal(condition.reason, r.reason);
      assert.match(condition.message, r.message);
      assert.doesNotMatch(condition.message, /SECRETSIG/);
    });
  }

  it("rows: lag, pending and error per replica; the same text at any later time (no ages, no extra writes)", () => {
    const reports = [
      report(0, { newestLocalStep: 300, newestUploadedStep: 200, pending: pending(300) }),
      report(1, { newestLocalStep: 100, lastError: { message: "secret=abc\n boom", at: T0 } }),
    ];
    const first = uploadStatus(input(reports, { now: at(40) }));
    assert.deepEqual(first.agents, [
      {
        replica: 0,
        newestLocalStep: 300,
        newestUploadedStep: 200,
        lagSteps: 200,
        pendingStep: 300,
        pendingSince: T0,
        reportedAt: T0,
      },
      { replica: 1, newestLocalStep: 100, lagSteps: 0, lastError: "secret=[REDACTED] boom", reportedAt: T0 },
    ]);
    assert.deepEqual(uploadStatus(input(reports, { now: at(400) })), first);
  });
});

describe("uploadStuckMs", () => {
  it("defaults to 30 minutes", () => assert.equal(uploadStuckMs({}), 30 * MIN));
  it("reads whole seconds", () => assert.equal(uploadStuckMs({ CHECKPOINT_UPLOAD_STUCK_SECONDS: "90" }), 90_000));
  for (const bad of ["0", "30m", "-5", "1.5"]) {
    it(`refuses ${JSON.stringify(bad)}, naming the variable`, () =>
      assert.throws(() => uploadStuckMs({ CHECKPOINT_UPLOAD_STUCK_SECONDS: bad }), /CHECKPOINT_UPLOAD_STUCK_SECONDS/));
  }
});
