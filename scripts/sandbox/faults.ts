// The sandbox's faults, for people and tests: partition a worker cluster (its
// kube-apiserver is paused, so connections are accepted and never answered),
// heal it, and evict a node group's nodes as a cloud's spot reclaim does (the
// kubelet's node-shutdown status on their pods, then pods and nodes deleted
// and the cloud simulator's group shrunk by as many).

import { readFileSync } from "node:fs";
import { type RequestOptions, request } from "node:https";
import { CoreV1Api, setHeaderOptions, type V1Node, type V1Pod, type V1PodStatus } from "@kubernetes/client-node";
import { SANDBOX_GROUP_LABEL } from "./nodes.ts";
import { STATE_DIR } from "./paths.ts";
import { isStopped, Processes, type ProcessRecord, waitFor } from "./processes.ts";
import { cloudSimUrl, kubeConfigFor, sandboxCaPath } from "./sandbox.ts";
import { type ClusterSpec, defaultTopology, type NodeGroupSpec, workerClusters } from "./topology.ts";

/** A command named something the sandbox does not have: the CLI prints the message and exits 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/**
 * The DisruptionTarget reason the kubelet's node-shutdown manager sets when it
 * kills a node's pods before the machine goes (k8s.io/api/core/v1
 * PodReasonTerminationByKubelet), with its status reason and message.
 */
export const DISRUPTION_REASON = "TerminationByKubelet";
export const SHUTDOWN_REASON = "Terminated";
export const SHUTDOWN_MESSAGE = "Pod was terminated in response to imminent node shutdown.";

const apiServer = (cluster: string) => `${cluster}-kube-apiserver`;
const code = (err: unknown) => (err as { code?: number }).code;

/** The worker cluster `name`; a UsageError naming the workers for anything else. */
function workerCluster(name: string | undefined): ClusterSpec {
  const workers = workerClusters(defaultTopology());
  const known = workers.map((c) => c.name).join(", ");
  const found = workers.find((c) => c.name === name);
  if (found) return found;
  if (name === "hub") {
    throw new UsageError(
      `the hub cannot be partitioned (the operator and its clients live there); name a worker: ${known}`,
    );
  }
  throw new UsageError(
    name ? `no worker cluster "${name}"; the sandbox has ${known}` : `name a worker cluster: ${known}`,
  );
}

/** The registry of a running sandbox; throws telling how to start one when nothing runs. */
function sandboxProcesses(): Processes {
  const processes = new Processes(STATE_DIR);
  if (processes.alive().length === 0) {
    throw new Error(`the sandbox is not up (nothing of it runs from ${STATE_DIR}); start it: npm run sandbox:up`);
  }
  return processes;
}

/** Pauses the worker's kube-apiserver (SIGSTOP): a network partition as its clients see it. */
export async function partition(name: string | undefined): Promise<void> {
  const cluster = workerCluster(name);
  const record = await sandboxProcesses().pause(apiServer(cluster.name));
  console.log(
    `partitioned ${cluster.name}: its kube-apiserver (pid ${record.pid}, 127.0.0.1:${cluster.apiPort}) ` +
      `accepts connections and answers none; undo: npm run sandbox:heal -- ${cluster.name}`,
  );
}

/** Resumes the worker's kube-apiserver (SIGCONT) and waits until it answers again. */
export async function heal(name: string | undefined): Promise<void> {
  const cluster = workerCluster(name);
  const processes = sandboxProcesses();
  const since = processes.running(apiServer(cluster.name)).pausedAt;
  processes.resume(apiServer(cluster.name));
  await waitFor(`${cluster.name}'s kube-apiserver to answer GET /version`, 30_000, async () =>
    (await versionStatus(cluster, 2_000)) === 200 ? true : undefined,
  );
  console.log(
    since
      ? `healed ${cluster.name} (partitioned since ${since}): its kube-apiserver answers again`
      : `${cluster.name} was not partitioned; its kube-apiserver answers`,
  );
}

/** GET /version on the cluster's API server: the HTTP status, or undefined when none came within `timeoutMs`. */
async function versionStatus(cluster: ClusterSpec, timeoutMs: number): Promise<number | undefined> {
  const options: RequestOptions = { agent: false, timeout: timeoutMs };
  await kubeConfigFor(cluster.name).applyToHTTPSOptions(options);
  return new Promise((resolve) => {
    const req = request(`https://127.0.0.1:${cluster.apiPort}/version`, options, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", () => resolve(undefined));
    req.end();
  });
}

/** One line per partitioned cluster, for `sandbox:status`. */
export function describePartitions(records: readonly ProcessRecord[]): string[] {
  return records
    .filter((r) => r.pausedAt && r.name.endsWith("-kube-apiserver"))
    .map((r) => {
      const cluster = r.name.slice(0, -"-kube-apiserver".length);
      const note = isStopped(r) ? "" : " (yet the process runs: something sent it SIGCONT)";
      return `partitioned  ${cluster}: kube-apiserver (pid ${r.pid}) paused since ${r.pausedAt}${note}; heal: npm run sandbox:heal -- ${cluster}`;
    });
}

interface EvictTarget {
  readonly cluster: ClusterSpec;
  readonly group: NodeGroupSpec;
  /** Nodes to take; undefined: all of the group's. */
  readonly count: number | undefined;
}

/** Reads `<cluster>/<group> [count]`; a UsageError listing the node groups for anything unknown. */
function evictTarget(target: string | undefined, count: string | undefined): EvictTarget {
  const workers = workerClusters(defaultTopology());
  const known = workers.flatMap((c) => c.nodeGroups.map((g) => `${c.name}/${g.name}`)).join(", ");
  const [clusterName, groupName, ...rest] = (target ?? "").split("/");
  const cluster = workers.find((c) => c.name === clusterName);
  const group = cluster?.nodeGroups.find((g) => g.name === groupName);
  if (!target) throw new UsageError(`name a node group as <cluster>/<group>: ${known}`);
  if (!cluster || !group || rest.length > 0) {
    throw new UsageError(`no node group "${target}"; the sandbox's node groups are ${known}`);
  }
  if (count !== undefined && !/^[1-9]\d*$/.test(count)) {
    throw new UsageError(`count "${count}" is not a whole number of nodes >= 1 (leave it out to evict them all)`);
  }
  return { cluster, group, count: count === undefined ? undefined : Number(count) };
}

/**
 * Reclaims nodes of a group as a spot eviction does: cordons them; marks each
 * pod on them Failed with DisruptionTarget (the kubelet's node-shutdown
 * status); deletes the pods, then the nodes; shrinks the simulator's group.
 */
export async function evict(targetArg: string | undefined, countArg: string | undefined): Promise<void> {
  const target = evictTarget(targetArg, countArg);
  await assertCanEvict(sandboxProcesses(), target);
  const core = kubeConfigFor(target.cluster.name).makeApiClient(CoreV1Api);
  const nodes = await chooseNodes(core, target);
  await Promise.all(nodes.map((n) => cordon(core, n)));
  const pods = await podsOn(core, nodes);
  const failed = await Promise.all(pods.map((p) => failPod(core, p)));
  await deletePods(core, pods);
  await Promise.all(nodes.map((n) => core.deleteNode({ name: n }).catch(ignore404)));
  const sim = await reclaim(target, nodes.length);
  report(target, nodes, failed, sim);
}

/** The cluster answers (not partitioned), the simulator runs and is not resizing the group. */
async function assertCanEvict(processes: Processes, t: EvictTarget): Promise<void> {
  const name = t.cluster.name;
  if (processes.running(apiServer(name)).pausedAt) {
    throw new Error(
      `${name} is partitioned, so nothing can evict there; heal it first: npm run sandbox:heal -- ${name}`,
    );
  }
  processes.running("cloudsim");
  await assertNotResizing(t);
}

const ignore404 = (err: unknown) => {
  if (code(err) !== 404) throw err;
};

/** The nodes to take: those running pods first (what an eviction test wants hit), then the newest. */
async function chooseNodes(core: CoreV1Api, t: EvictTarget): Promise<string[]> {
  const nodes = (await core.listNode({ labelSelector: `${SANDBOX_GROUP_LABEL}=${t.group.name}` })).items;
  const name = `${t.cluster.name}/${t.group.name}`;
  if (nodes.length === 0) throw new UsageError(`${name} has no nodes to evict`);
  const count = t.count ?? nodes.length;
  if (count > nodes.length) throw new UsageError(`${name} has ${nodes.length} nodes; cannot evict ${count}`);
  const busy = new Set((await core.listPodForAllNamespaces()).items.filter(isActive).map((p) => p.spec?.nodeName));
  const rank = (n: V1Node) => (busy.has(n.metadata?.name) ? 0 : 1);
  const byName = (a: V1Node, b: V1Node) =>
    (b.metadata?.name ?? "").localeCompare(a.metadata?.name ?? "", "en", { numeric: true });
  return nodes
    .sort((a, b) => rank(a) - rank(b) || byName(a, b))
    .slice(0, count)
    .map((n) => n.metadata?.name ?? "");
}

/** Marks the node unschedulable, as a spot interruption handler does first, so nothing new lands there. */
async function cordon(core: CoreV1Api, name: string): Promise<void> {
  await core.patchNode(
    { name, body: { spec: { unschedulable: true } } },
    setHeaderOptions("Content-Type", "application/merge-patch+json"),
  );
}

const isActive = (p: V1Pod) => !["Failed", "Succeeded"].includes(p.status?.phase ?? "");

async function podsOn(core: CoreV1Api, nodes: readonly string[]): Promise<V1Pod[]> {
  const on = new Set(nodes);
  return (await core.listPodForAllNamespaces()).items.filter((p) => on.has(p.spec?.nodeName ?? ""));
}

/** The status the kubelet's node-shutdown manager gives a pod it kills: Failed, DisruptionTarget, containers ended. */
function shutdownStatus(status: V1PodStatus, now: Date): V1PodStatus {
  const conditions = [
    { type: "DisruptionTarget", status: "True", reason: DISRUPTION_REASON, message: SHUTDOWN_MESSAGE },
    { type: "Ready", status: "False", reason: "PodFailed" },
    { type: "ContainersReady", status: "False", reason: "PodFailed" },
  ].map((c) => ({ ...c, lastTransitionTime: now }));
  const replaced = new Set(conditions.map((c) => c.type));
  return {
    ...status,
    phase: "Failed",
    reason: SHUTDOWN_REASON,
    message: SHUTDOWN_MESSAGE,
    conditions: [...(status.conditions ?? []).filter((c) => !replaced.has(c.type)), ...conditions],
    containerStatuses: (status.containerStatuses ?? []).map((c) => ({
      ...c,
      ready: false,
      started: false,
      state: {
        terminated: { exitCode: 137, reason: "Error", startedAt: c.state?.running?.startedAt ?? now, finishedAt: now },
      },
    })),
  };
}

/** Gives a running pod the shutdown status (retrying when kwok wrote it meanwhile); a finished pod keeps its own. */
async function failPod(core: CoreV1Api, pod: V1Pod): Promise<V1Pod | undefined> {
  const ref = { name: pod.metadata?.name ?? "", namespace: pod.metadata?.namespace ?? "" };
  for (let attempt = 1; ; attempt++) {
    const current = await core.readNamespacedPodStatus(ref).catch((err) => ignore404(err));
    if (!current || !isActive(current)) return current ?? undefined;
    const body = { ...current, status: shutdownStatus(current.status ?? {}, new Date()) };
    try {
      return await core.replaceNamespacedPodStatus({ ...ref, body });
    } catch (err) {
      if (code(err) !== 409 || attempt >= 5) throw err;
    }
  }
}

/** Deletes the pods (kwok lets them go while their nodes still exist) and waits until they are gone. */
async function deletePods(core: CoreV1Api, pods: readonly V1Pod[]): Promise<void> {
  const uids = new Set(pods.map((p) => p.metadata?.uid));
  const refs = pods.map((p) => ({ name: p.metadata?.name ?? "", namespace: p.metadata?.namespace ?? "" }));
  await Promise.all(refs.map((ref) => core.deleteNamespacedPod(ref).catch(ignore404)));
  await waitFor(`the ${pods.length} evicted pods to be deleted`, 60_000, async () => {
    const left = (await core.listPodForAllNamespaces()).items.filter((p) => uids.has(p.metadata?.uid));
    return left.length === 0 ? true : undefined;
  });
}

interface SimAnswer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/** One call to the running cloud simulator's admin API. */
async function cloudSim(method: string, path: string, body?: unknown): Promise<SimAnswer> {
  const ca = readFileSync(sandboxCaPath());
  return new Promise((resolve, reject) => {
    const req = request(`${cloudSimUrl()}${path}`, { method, ca, headers: { "content-type": "application/json" } });
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString() || "{}") }),
      );
    });
    req.on("error", (err) => reject(new Error(`the cloud simulator at ${cloudSimUrl()}: ${err.message}`)));
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** Refuses to evict from a group the simulator is resizing: its resize would make the nodes again. */
async function assertNotResizing(t: EvictTarget): Promise<void> {
  const state = await cloudSim("GET", "/_admin/state");
  const groups = (state.body.groups ?? []) as { cluster: string; group: string; busy: boolean }[];
  const g = groups.find((x) => x.cluster === t.cluster.name && x.group === t.group.name);
  if (g?.busy) {
    throw new Error(
      `${t.cluster.name}/${t.group.name} is resizing in the cloud simulator; evict once the resize is done`,
    );
  }
}

async function reclaim(t: EvictTarget, count: number): Promise<SimAnswer["body"]> {
  const answer = await cloudSim("POST", `/_admin/node-groups/${t.cluster.name}/${t.group.name}/reclaim`, { count });
  if (answer.status !== 200) {
    throw new Error(`the cloud simulator refused the reclaim (${answer.status}): ${String(answer.body.message)}`);
  }
  return answer.body;
}

function report(
  t: EvictTarget,
  nodes: readonly string[],
  pods: readonly (V1Pod | undefined)[],
  sim: SimAnswer["body"],
): void {
  console.log(`evicted ${nodes.length} node(s) of ${t.cluster.name}/${t.group.name}, as a spot reclaim:`);
  for (const n of nodes) console.log(`  node ${n}: cordoned, deleted`);
  for (const p of pods.filter((x) => x !== undefined)) {
    const marked = p.status?.conditions?.some((c) => c.type === "DisruptionTarget" && c.reason === DISRUPTION_REASON);
    const how = marked ? `Failed, DisruptionTarget ${DISRUPTION_REASON}` : `already ${p.status?.phase}`;
    console.log(`  pod ${p.metadata?.namespace}/${p.metadata?.name} on ${p.spec?.nodeName}: ${how}, deleted`);
  }
  console.log(
    `  cloud simulator: desiredSize ${sim.before} -> ${sim.desiredSize} (maxSize ${sim.maxSize} kept; scale up to grow it back)`,
  );
}
