// Processes per Trainium node (CLOUD-FACTS.md, "Trainium2 processes per node"):
// Trainium2 runs 2 physical NeuronCores as one logical core unless the trainer's
// env sets NEURON_LOGICAL_NC_CONFIG=1, so a trn2.48xlarge runs 64 processes by
// default and 128 at LNC 1; Trainium1 has no such setting.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1EnvVar } from "@kubernetes/client-node";
import { instanceType } from "../../src/catalog/instance-types.ts";
import { logicalCoreConfig, processesPerNode, trainerEnv } from "../../src/workload/env.ts";
import { renderWorkload } from "../../src/workload/render.ts";
import { aTrainingJob } from "../support/trainingjob.ts";

const lnc = (value: string): V1EnvVar => ({ name: "NEURON_LOGICAL_NC_CONFIG", value });

const cases: { name: string; type: string; perReplica: number; env: V1EnvVar[]; lnc: number; want: number }[] = [
  { name: "trn2 default (LNC 2)", type: "trn2.48xlarge", perReplica: 16, env: [], lnc: 2, want: 64 },
  { name: "trn2u default (LNC 2)", type: "trn2u.48xlarge", perReplica: 16, env: [], lnc: 2, want: 64 },
  { name: "trn2 LNC 2 set", type: "trn2.48xlarge", perReplica: 16, env: [lnc("2")], lnc: 2, want: 64 },
  { name: "trn2 LNC 1", type: "trn2.48xlarge", perReplica: 16, env: [lnc("1")], lnc: 1, want: 128 },
  { name: "trn2u LNC 1", type: "trn2u.48xlarge", perReplica: 16, env: [lnc("1")], lnc: 1, want: 128 },
  { name: "trn2 half a node, LNC 2", type: "trn2.48xlarge", perReplica: 8, env: [], lnc: 2, want: 32 },
  { name: "trn2 half a node, LNC 1", type: "trn2.48xlarge", perReplica: 8, env: [lnc("1")], lnc: 1, want: 64 },
  { name: "trn2 one device, LNC 2", type: "trn2.48xlarge", perReplica: 1, env: [], lnc: 2, want: 4 },
  {
    name: "trn2 last setting wins",
    type: "trn2.48xlarge",
    perReplica: 16,
    env: [lnc("2"), lnc("1")],
    lnc: 1,
    want: 128,
  },
  { name: "trn2 unknown value: default", type: "trn2.48xlarge", perReplica: 16, env: [lnc("4")], lnc: 2, want: 64 },
  {
    name: "trn2 valueFrom: default",
    type: "trn2.48xlarge",
    perReplica: 16,
    env: [{ name: "NEURON_LOGICAL_NC_CONFIG", valueFrom: { configMapKeyRef: { name: "m", key: "k" } } }],
    lnc: 2,
    want: 64,
  },
  { name: "trn1 stays 32", type: "trn1.32xlarge", perReplica: 16, env: [], lnc: 1, want: 32 },
  { name: "trn1 ignores LNC", type: "trn1.32xlarge", perReplica: 16, env: [lnc("2")], lnc: 1, want: 32 },
  { name: "trn1 half a node", type: "trn1.32xlarge", perReplica: 8, env: [], lnc: 1, want: 16 },
  { name: "trn1.2xlarge", type: "trn1.2xlarge", perReplica: 1, env: [], lnc: 1, want: 2 },
  { name: "GPUs: one per GPU", type: "p6-b200.48xlarge", perReplica: 8, env: [lnc("2")], lnc: 1, want: 8 },
];

describe("processesPerNode", () => {
  for (const tc of cases) {
    it(`${tc.name}: ${tc.want} processes with ${tc.perReplica} devices on ${tc.type}`, () => {
      const type = instanceType(tc.type);
      assert.equal(logicalCoreConfig(type, tc.env), tc.lnc);
      assert.equal(processesPerNode(type, tc.perReplica, tc.env), tc.want);
    });
  }
});

describe("trainerEnv on Trainium2", () => {
  const env = (replicas: number, ownEnv?: V1EnvVar[]) =>
    Object.fromEntries(
      trainerEnv({
        replicas,
        perReplica: 16,
        instanceType: instanceType("trn2.48xlarge"),
        masterAddr: "llama-e1-0.llama-e1",
        epoch: 1,
        cloud: "aws",
        cluster: "aws-use1",
        accelerator: "trainium2",
        checkpointUri: "s3://b/ml/llama",
        resumeConfigMap: "llama-e1-resume",
        ...(ownEnv ? { ownEnv } : {}),
      }).map((e) => [e.name, e.value]),
    );

  const rows: { replicas: number; ownEnv?: V1EnvVar[]; nproc: string; world: string }[] = [
    { replicas: 4, nproc: "64", world: "256" },
    { replicas: 1, nproc: "64", world: "64" },
    { replicas: 4, ownEnv: [lnc("1")], nproc: "128", world: "512" },
    { replicas: 16, ownEnv: [{ name: "NEURON_CC_FLAGS", value: "--O1" }], nproc: "64", world: "1024" },
  ];
  for (const r of rows) {
    const label = r.ownEnv ? r.ownEnv.map((e) => `${e.name}=${e.value}`).join(",") : "no own env";
    it(`${r.replicas} replicas, ${label}: PET_NPROC_PER_NODE=${r.nproc}, WORLD_SIZE=${r.world}`, () => {
      const e = env(r.replicas, r.ownEnv);
      assert.equal(e.PET_NPROC_PER_NODE, r.nproc);
      assert.equal(e.WORLD_SIZE, r.world);
      assert.equal(e.PET_NNODES, String(r.replicas));
    });
  }

  it("does not set NEURON_LOGICAL_NC_CONFIG itself: the trainer's own setting stays in force", () => {
    assert.equal(env(2).NEURON_LOGICAL_NC_CONFIG, undefined);
  });
});

describe("renderWorkload on Trainium2: the processes follow the option's env", () => {
  const target = {
    cluster: "aws-sim",
    namespace: "ml",
    cloud: "aws",
    nodeGroup: "trn2",
    instanceType: instanceType("trn2.48xlarge"),
    capacityType: "OnDemand",
  } as const;
  const rows: { name: string; optionEnv?: V1EnvVar[]; templateEnv?: V1EnvVar[]; nproc: string; world: string }[] = [
    { name: "no setting", nproc: "64", world: "192" },
    { name: "the option sets LNC 1", optionEnv: [lnc("1")], nproc: "128", world: "384" },
    { name: "the template sets LNC 1", templateEnv: [lnc("1")], nproc: "128", world: "384" },
    {
      name: "the option's LNC 2 wins over the template's 1",
      templateEnv: [lnc("1")],
      optionEnv: [lnc("2")],
      nproc: "64",
      world: "192",
    },
  ];
  for (const r of rows) {
    it(`${r.name}: PET_NPROC_PER_NODE=${r.nproc}, WORLD_SIZE=${r.world} for 3 replicas`, () => {
      const job = aTrainingJob("llama")
        .replicas(3)
        .accelerator("trainium2", 16, r.optionEnv ? { env: r.optionEnv } : {})
        .with((j) => {
          const c = j.spec.template.spec?.containers[0];
          if (c && r.templateEnv) c.env = r.templateEnv;
        })
        .obj();
      const option = job.spec.accelerators[0];
      assert.ok(option);
      const pod = renderWorkload({ job, epoch: 1, option, target, checkpointUri: "s3://b/ml/llama" }).job.spec?.template
        .spec;
      const env = Object.fromEntries((pod?.containers[0]?.env ?? []).map((e) => [e.name, e.value]));
      assert.equal(env.PET_NPROC_PER_NODE, r.nproc);
      assert.equal(env.WORLD_SIZE, r.world);
    });
  }
});
