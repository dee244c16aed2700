// staleEpochs: which older epochs of a job a worker still holds, from its informer's Jobs; and
// durationMs, which the failover timeouts are read with (table tests, pure).

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1Job } from "@kubernetes/client-node";
import { durationMs } from "../../src/api/schema.ts";
import { staleEpochs } from "../../src/controller/trainingjob/fence.ts";
import { LABEL_EPOCH, LABEL_JOB_UID, workloadLabels, workloadName } from "../../src/workload/names.ts";

const llama = { namespace: "ml", name: "llama", uid: "uid-llama" };
const other = { namespace: "ml", name: "gpt", uid: "uid-gpt" };

/** A worker Job as the operator renders it: <job>-e<epoch>, with the workload labels. */
function workerJob(job: typeof llama, epoch: number, extra: { deleting?: boolean } = {}): V1Job {
  return {
    metadata: {
      name: workloadName(job, epoch, job.namespace),
      namespace: job.namespace,
      labels: workloadLabels(job, epoch),
      ...(extra.deleting ? { deletionTimestamp: new Date("2026-11-27T12:00:00Z") } : {}),
    },
  };
}

/** A Job with hand-written labels (for the odd ones). */
function labelled(labels: Record<string, string> | undefined): V1Job {
  return { metadata: { name: "x", ...(labels ? { labels } : {}) } };
}

describe("staleEpochs", () => {
  const cases: { name: string; jobs: V1Job[]; current: number; want: number[] }[] = [
    { name: "no Jobs on the worker", jobs: [], current: 3, want: [] },
    { name: "only the current epoch", jobs: [workerJob(llama, 3)], current: 3, want: [] },
    { name: "one older epoch", jobs: [workerJob(llama, 1), workerJob(llama, 2)], current: 2, want: [1] },
    {
      name: "several older epochs, sorted ascending, whatever the listing order",
      jobs: [workerJob(llama, 4), workerJob(llama, 2), workerJob(llama, 5), workerJob(llama, 1)],
      current: 5,
      want: [1, 2, 4],
    },
    {
      name: "an epoch listed twice appears once",
      jobs: [workerJob(llama, 1), workerJob(llama, 1), workerJob(llama, 2)],
      current: 3,
      want: [1, 2],
    },
    {
      name: "newer epochs than the current one are not stale",
      jobs: [workerJob(llama, 1), workerJob(llama, 4)],
      current: 3,
      want: [1],
    },
    {
      name: "another job's epochs are not this job's",
      jobs: [workerJob(other, 1), workerJob(other, 2), workerJob(llama, 3)],
      current: 3,
      want: [],
    },
    {
      name: "a Job already being deleted is still held (its pods may still run)",
      jobs: [workerJob(llama, 1, { deleting: true }), workerJob(llama, 2)],
      current: 2,
      want: [1],
    },
    {
      name: "Jobs without labels, or without an epoch label, are skipped",
      jobs: [labelled(undefined), labelled({ [LABEL_JOB_UID]: llama.uid }), workerJob(llama, 1)],
      current: 2,
      want: [1],
    },
    {
      name: "an epoch label that is not an integer is skipped",
      jobs: [
        labelled({ [LABEL_JOB_UID]: llama.uid, [LABEL_EPOCH]: "one" }),
        labelled({ [LABEL_JOB_UID]: llama.uid, [LABEL_EPOCH]: "1.5" }),
        workerJob(llama, 1),
      ],
      current: 2,
      want: [1],
    },
    { name: "epoch 0 counts below epoch 1", jobs: [workerJob(llama, 0)], current: 1, want: [0] },
  ];
  for (const tc of cases) {
    it(tc.name, () => assert.deepEqual(staleEpochs(tc.jobs, llama.uid, tc.current), tc.want));
  }

  it("the uid selects the job, so the other job sees its own epochs", () => {
    const jobs = [workerJob(other, 1), workerJob(other, 2), workerJob(llama, 1)];
    assert.deepEqual(staleEpochs(jobs, other.uid, 3), [1, 2]);
  });
});

describe("durationMs", () => {
  const cases: { text: string; want: number | undefined }[] = [
    { text: "90s", want: 90_000 },
    { text: "1h30m", want: 5_400_000 },
    { text: "250ms", want: 250 },
    { text: "5m", want: 300_000 },
    { text: "2h", want: 7_200_000 },
    { text: "1m30s", want: 90_000 },
    { text: "1s500ms", want: 1_500 },
    { text: "1h1m1s1ms", want: 3_661_001 },
    { text: "0s", want: 0 },
    { text: "600s", want: 600_000 },
    { text: "5 m", want: undefined },
    { text: "", want: undefined },
    { text: "1d", want: undefined },
    { text: "5", want: undefined },
    { text: "m", want: undefined },
    { text: "-5s", want: undefined },
    { text: "1.5h", want: undefined },
    { text: " 5m", want: undefined },
    { text: "5m ", want: undefined },
    { text: "5M", want: undefined },
    { text: "5min", want: undefined },
  ];
  for (const tc of cases) {
    it(`${JSON.stringify(tc.text)} is ${tc.want ?? "undefined"}`, () => assert.equal(durationMs(tc.text), tc.want));
  }
});
