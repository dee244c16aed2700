// The clusters a deleted TrainingJob's cleanup calls (clustersUsed in
// src/controller/trainingjob/finalizer.ts): those its status names (its
// placement, its moves) and those whose informer holds a Job with its uid,
// never the other connected clusters. The informers are read, not asked.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1Job } from "@kubernetes/client-node";
import type { PassContext } from "../../src/controller/trainingjob/context.ts";
import { clustersUsed } from "../../src/controller/trainingjob/finalizer.ts";
import { aTrainingJob } from "../support/trainingjob.ts";

/** A registry of `clusters`, each holding Jobs of the uids listed (its informer's cache). */
function contextWith(clusters: Record<string, string[]>): PassContext {
  const registry = {
    names: () => Object.keys(clusters),
    get: (name: string) =>
      name in clusters
        ? { name, jobsOf: (uid: string) => (clusters[name]?.includes(uid) ? [{} as V1Job] : []) }
        : undefined,
  };
  return { o: { registry } } as unknown as PassContext;
}

describe("clustersUsed", () => {
  const connected = { "aws-sim": [], "azure-sim": [], "gcp-sim": [] };

  it("is the placement's cluster only for a job that never moved, whatever else is connected", () => {
    const job = aTrainingJob("a").with((j) => {
      j.status = { placement: { cluster: "aws-sim", nodeGroup: "trn1" } };
    });
    assert.deepEqual(clustersUsed(contextWith(connected), job.obj()), ["aws-sim"]);
  });

  it("adds the clusters of its moves, from and to", () => {
    const job = aTrainingJob("a").with((j) => {
      j.status = {
        placement: { cluster: "azure-sim", nodeGroup: "ndh100" },
        failovers: [{ from: "aws-sim/trn1", to: "azure-sim/ndh100", reason: "ClusterLost" }],
      };
    });
    assert.deepEqual(clustersUsed(contextWith(connected), job.obj()), ["azure-sim", "aws-sim"]);
  });

  it("adds a cluster whose informer holds a Job of it (an epoch replaced for an edit, a replicate Job)", () => {
    const job = aTrainingJob("a").obj(); // no placement: between two epochs
    const uid = job.metadata.uid ?? "";
    assert.deepEqual(clustersUsed(contextWith({ ...connected, "gcp-sim": [uid] }), job), ["gcp-sim"]);
    assert.deepEqual(clustersUsed(contextWith({ ...connected, "gcp-sim": ["someone-else"] }), job), []);
  });

  it("names a cluster once, and keeps one that is no longer connected (its cleanup is skipped later)", () => {
    const job = aTrainingJob("a").with((j) => {
      j.status = {
        placement: { cluster: "gone-sim", nodeGroup: "g" },
        failovers: [{ from: "gone-sim/g", to: "gone-sim/h", reason: "Drained" }],
      };
    });
    const uid = job.obj().metadata.uid ?? "";
    assert.deepEqual(clustersUsed(contextWith({ "aws-sim": [uid] }), job.obj()), ["gone-sim", "aws-sim"]);
  });
});
