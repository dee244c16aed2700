// What the controller gets from src/checkpoint: the trainer's CROSSCLOUD_*
// env for a placement, and status.checkpoint's per-store summary.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Manifest } from "../../src/checkpoint/manifest.ts";
import { checkpointEnv, summariseCheckpoints } from "../../src/checkpoint/placement.ts";

describe("checkpointEnv", () => {
  const base = {
    checkpointUri: "s3://ckpt-use1/ml/llama-8b/",
    epoch: 2,
    cloud: "aws",
    cluster: "aws-use1",
    accelerator: "trainium1",
  };
  it("names the store and no resume point on a fresh start", () => {
    assert.deepEqual(checkpointEnv(base), [
      { name: "CROSSCLOUD_CHECKPOINT_URI", value: "s3://ckpt-use1/ml/llama-8b" },
      { name: "CROSSCLOUD_EPOCH", value: "2" },
      { name: "CROSSCLOUD_CLOUD", value: "aws" },
      { name: "CROSSCLOUD_CLUSTER", value: "aws-use1" },
      { name: "CROSSCLOUD_ACCELERATOR", value: "trainium1" },
    ]);
  });
  it("adds the resume step and its directory", () => {
    const env = checkpointEnv({ ...base, resumeStep: 11000 });
    assert.deepEqual(
      env.filter((e) => e.name.startsWith("CROSSCLOUD_RESUME")),
      [
        { name: "CROSSCLOUD_RESUME_STEP", value: "11000" },
        { name: "CROSSCLOUD_RESUME_URI", value: "s3://ckpt-use1/ml/llama-8b/step-11000" },
      ],
    );
  });
  it("resumes from step 0 too", () => {
    assert.ok(
      checkpointEnv({ ...base, resumeStep: 0 }).some((e) => e.name === "CROSSCLOUD_RESUME_STEP" && e.value === "0"),
    );
  });
});

describe("summariseCheckpoints", () => {
  const m = (step: number, epoch: number): Manifest => ({ step, epoch, createdAt: "2026-11-27T10:00:00Z", files: [] });
  const at = (iso: string) => new Date(iso);
  const stores = [
    {
      cluster: "aws-use1",
      uri: "s3://ckpt-use1/ml/llama-8b",
      committed: [
        { manifest: m(11000, 1), committedAt: at("2026-11-27T10:00:00Z") },
        { manifest: m(12000, 1), committedAt: at("2026-11-27T11:00:00Z") },
      ],
    },
    {
      cluster: "azure-westus3",
      uri: "https://acct.blob.core.windows.net/ckpt/ml/llama-8b",
      committed: [{ manifest: m(11000, 1), committedAt: at("2026-11-27T10:05:00Z") }],
    },
    { cluster: "aws-usw2", uri: "s3://ckpt-usw2/ml/llama-8b", committed: [] },
  ];
  it("shows per store the newest step and when it arrived", () => {
    assert.deepEqual(summariseCheckpoints(stores), {
      latestStep: 12000,
      stores: [
        { cluster: "aws-use1", uri: stores[0]?.uri, latestStep: 12000, committedAt: "2026-11-27T11:00:00.000Z" },
        { cluster: "azure-westus3", uri: stores[1]?.uri, latestStep: 11000, committedAt: "2026-11-27T10:05:00.000Z" },
        { cluster: "aws-usw2", uri: stores[2]?.uri },
      ],
    });
  });
  it("does not count a fenced epoch's steps", () => {
    const s = summariseCheckpoints(stores, { activeEpoch: 2, resumedFromStep: 11000 });
    assert.equal(s.latestStep, 11000);
    assert.equal(s.stores[0]?.latestStep, 11000);
  });
  it("has no latestStep when nothing is committed", () => {
    assert.deepEqual(summariseCheckpoints([{ cluster: "c", uri: "s3://bkt/x", committed: [] }]), {
      stores: [{ cluster: "c", uri: "s3://bkt/x" }],
    });
  });
});
