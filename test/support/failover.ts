// Helpers of the failover integration tests: a trainer simulated by the test
// (steps written to a cluster's store through the commit protocol), the
// ComputeCluster knobs a test flips (drain, pause), and the worker pods of one
// epoch of a job.

import { randomBytes } from "node:crypto";
import { CustomObjectsApi, PatchStrategy, setHeaderOptions, type V1Pod } from "@kubernetes/client-node";
import { AZURITE_ACCOUNT, AZURITE_KEY, S3_ACCESS_KEY, S3_SECRET_KEY } from "../../scripts/sandbox/sandbox.ts";
import { defaultTopology } from "../../scripts/sandbox/topology.ts";
import { GROUP, VERSION } from "../../src/api/common.ts";
import type { ComputeCluster } from "../../src/api/computecluster.ts";
import type { TrainingJob } from "../../src/api/trainingjob.ts";
import { openStore } from "../../src/checkpoint/open-store.ts";
import { commitStep, readSteps } from "../../src/checkpoint/steps.ts";
import type { ObjectStore } from "../../src/checkpoint/store.ts";
import { LABEL_EPOCH, LABEL_JOB_UID } from "../../src/workload/names.ts";
import { clients, eventually } from "./sandbox.ts";

const topology = defaultTopology();
const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
const hubCustom = () => clients("hub").kubeConfig.makeApiClient(CustomObjectsApi);

/** The store a job with checkpoint prefix `prefix` writes to on `cluster`. */
export function storeOf(cluster: "aws-sim" | "azure-sim", prefix: string): ObjectStore {
  if (cluster === "aws-sim") {
    return openStore(`s3://ckpt-aws-sim/${prefix}`, {
      s3Endpoint: `http://127.0.0.1:${topology.s3Port}`,
      s3Credentials: { accessKeyId: S3_ACCESS_KEY, secretAccessKey: S3_SECRET_KEY },
      env: {},
    });
  }
  const uri = `http://127.0.0.1:${topology.blobPort}/${AZURITE_ACCOUNT}/ckpt-azure-sim/${prefix}`;
  return openStore(uri, { azureAccountKey: AZURITE_KEY, env: {} });
}

/** Writes step-N as a trainer of `epoch` does (its files, then the manifest) in the cluster's store. */
export async function trainStep(cluster: "aws-sim" | "azure-sim", prefix: string, step: number, epoch: number) {
  const store = storeOf(cluster, prefix);
  await store.put(`step-${step}/model.bin`, randomBytes(64 * 1024));
  await commitStep(store, step, { epoch });
}

/** The committed steps of a store. */
export async function committedSteps(cluster: "aws-sim" | "azure-sim", prefix: string): Promise<number[]> {
  const { committed } = await readSteps(storeOf(cluster, prefix));
  return committed.map((c) => c.manifest.step);
}

/** Merge-patches a ComputeCluster's spec (drain, paused). */
export async function patchCluster(name: string, spec: Partial<ComputeCluster["spec"]>): Promise<void> {
  await hubCustom().patchClusterCustomObject(
    { group: GROUP, version: VERSION, plural: "computeclusters", name, body: { spec } },
    mergePatch,
  );
}

export async function getCluster(name: string): Promise<ComputeCluster> {
  return (await hubCustom().getClusterCustomObject({
    group: GROUP,
    version: VERSION,
    plural: "computeclusters",
    name,
  })) as ComputeCluster;
}

/** Waits until the operator reports the cluster's Reachable condition with `status`. */
export async function waitReachable(name: string, status: "True" | "False", timeoutMs = 60_000): Promise<void> {
  await eventually(
    `ComputeCluster ${name} Reachable=${status}`,
    () => getCluster(name),
    (cc) => cc.status?.conditions?.some((c) => c.type === "Reachable" && c.status === status) === true,
    timeoutMs,
  );
}

/** The pods of one epoch of a job on a worker. */
export async function podsOf(cluster: "aws-sim" | "azure-sim", job: TrainingJob, epoch: number): Promise<V1Pod[]> {
  const list = await clients(cluster).core.listPodForAllNamespaces({
    labelSelector: `${LABEL_JOB_UID}=${job.metadata.uid},${LABEL_EPOCH}=${epoch}`,
  });
  return list.items;
}

/** The trainer container's env of a pod, as a map. */
export function trainerEnv(pod: V1Pod | undefined): Record<string, string | undefined> {
  const trainer = pod?.spec?.containers.find((c) => c.name === "trainer") ?? pod?.spec?.containers[0];
  return Object.fromEntries((trainer?.env ?? []).map((e) => [e.name, e.value]));
}

/** The job after a move to epoch `epoch` is recorded as Running. */
export function movedAndRunning(epoch: number) {
  return (j: TrainingJob) =>
    j.status?.phase === "Running" &&
    j.status.epoch === epoch &&
    j.status.failovers?.find((f) => f.epoch === epoch)?.runningAt !== undefined;
}

/** What the resume ConfigMap of a job's epoch holds (the trainer's CROSSCLOUD_RESUME_STEP and _URI). */
export async function resumeOf(
  cluster: "aws-sim" | "azure-sim",
  namespace: string,
  job: string,
  epoch: number,
): Promise<Record<string, string>> {
  const map = await clients(cluster).core.readNamespacedConfigMap({ namespace, name: `${job}-e${epoch}-resume` });
  return map.data ?? {};
}
