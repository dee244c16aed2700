// The checkpoint agent's env: defaults, and every bad or missing variable
// refused with a message naming it; the `agent` command exits 2 on it.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AgentEnvError, agentConfigFromEnv } from "../../src/checkpoint/agent/env.ts";
import { agentCommand } from "../../src/checkpoint/agent/main.ts";
import { main } from "../../src/checkpoint/cli.ts";

const base = {
  CROSSCLOUD_CHECKPOINT_DIR: "/checkpoints",
  CROSSCLOUD_CHECKPOINT_URI: "s3://bucket/ns/job",
  CROSSCLOUD_EPOCH: "2",
  CROSSCLOUD_REPLICAS: "4",
  CROSSCLOUD_REPLICA_INDEX: "3",
};

describe("agentConfigFromEnv", () => {
  it("reads the sidecar's env with its defaults", () => {
    const config = agentConfigFromEnv(base);
    assert.deepEqual(config, {
      dir: "/checkpoints",
      uri: "s3://bucket/ns/job",
      epoch: 2,
      replicas: 4,
      index: 3,
      resume: undefined,
      keepLocal: 2,
      port: 8089,
      pollMs: 2000,
      partSize: 16 * 2 ** 20,
      fileConcurrency: 4,
    });
  });
  it("reads the resume step from the step's URI, as the trainer gets it, and opens its line", () => {
    const env = { ...base, CROSSCLOUD_RESUME_STEP: "120", CROSSCLOUD_RESUME_URI: "s3://bucket/ns/job/step-120" };
    assert.deepEqual(agentConfigFromEnv(env).resume, { step: 120, uri: "s3://bucket/ns/job" });
  });
  const bad: { name: string; env: Record<string, string | undefined>; want: RegExp }[] = [
    { name: "no dir", env: { CROSSCLOUD_CHECKPOINT_DIR: undefined }, want: /CROSSCLOUD_CHECKPOINT_DIR is not set/ },
    { name: "a relative dir", env: { CROSSCLOUD_CHECKPOINT_DIR: "ckpt" }, want: /must be an absolute path/ },
    { name: "a bad URI", env: { CROSSCLOUD_CHECKPOINT_URI: "ftp://x/y" }, want: /CROSSCLOUD_CHECKPOINT_URI: .*scheme/ },
    { name: "epoch 0", env: { CROSSCLOUD_EPOCH: "0" }, want: /CROSSCLOUD_EPOCH must be an integer >= 1/ },
    { name: "no replicas", env: { CROSSCLOUD_REPLICAS: "" }, want: /CROSSCLOUD_REPLICAS is not set/ },
    { name: "index past replicas", env: { CROSSCLOUD_REPLICA_INDEX: "4" }, want: /must be below CROSSCLOUD_REPLICAS/ },
    { name: "resume step alone", env: { CROSSCLOUD_RESUME_STEP: "3" }, want: /go together/ },
    {
      name: "a resume URI of another step",
      env: { CROSSCLOUD_RESUME_STEP: "3", CROSSCLOUD_RESUME_URI: "s3://bucket/ns/job/step-4" },
      want: /CROSSCLOUD_RESUME_URI must be the URI of step 3 \(ending in \/step-3\), got s3:\/\/bucket\/ns\/job\/step-4/,
    },
    {
      name: "a resume URI of the line",
      env: { CROSSCLOUD_RESUME_STEP: "3", CROSSCLOUD_RESUME_URI: "s3://bucket/ns/job" },
      want: /must be the URI of step 3/,
    },
    { name: "keep 0", env: { CROSSCLOUD_KEEP_LOCAL: "0" }, want: /CROSSCLOUD_KEEP_LOCAL must be an integer >= 1/ },
    { name: "a port in words", env: { CROSSCLOUD_AGENT_PORT: "http" }, want: /CROSSCLOUD_AGENT_PORT must be/ },
  ];
  for (const c of bad) {
    it(`refuses ${c.name}`, () => {
      assert.throws(
        () => agentConfigFromEnv({ ...base, ...c.env }),
        (err: unknown) => err instanceof AgentEnvError && c.want.test(err.message),
      );
    });
  }
});

describe("the agent command", () => {
  it("exits 2 on a bad env, before it opens any store or port", async () => {
    const signal = new AbortController().signal;
    assert.equal(await agentCommand(signal, { ...base, CROSSCLOUD_EPOCH: "zero" }), 2);
    const saved = process.env.CROSSCLOUD_CHECKPOINT_DIR;
    delete process.env.CROSSCLOUD_CHECKPOINT_DIR;
    try {
      assert.equal(await main(["agent"], signal), 2, "the CLI dispatches `agent` and passes its exit code on");
    } finally {
      if (saved !== undefined) process.env.CROSSCLOUD_CHECKPOINT_DIR = saved;
    }
  });
});
