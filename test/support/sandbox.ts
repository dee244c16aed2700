// What integration tests use to reach the running sandbox (npm run sandbox:up):
// API clients for each cluster and polling that fails with what it last saw.

import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { BatchV1Api, CoreV1Api, type KubeConfig, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { REPO_ROOT, resolveBinaries } from "../../scripts/sandbox/paths.ts";
import { kubeConfigFor, kubeconfigPath } from "../../scripts/sandbox/sandbox.ts";

export type SandboxCluster = "hub" | "aws-sim" | "azure-sim";

export interface ClusterClients {
  readonly kubeConfig: KubeConfig;
  readonly core: CoreV1Api;
  readonly batch: BatchV1Api;
}

export function clients(cluster: SandboxCluster): ClusterClients {
  if (!existsSync(kubeconfigPath(cluster))) {
    throw new Error(`${kubeconfigPath(cluster)} is missing: start the sandbox first (npm run sandbox:up)`);
  }
  const kubeConfig = kubeConfigFor(cluster);
  return { kubeConfig, core: kubeConfig.makeApiClient(CoreV1Api), batch: kubeConfig.makeApiClient(BatchV1Api) };
}

/**
 * Polls `probe` until `done(value)` holds; on timeout fails with the last value
 * seen, so a failure says what state things were stuck in.
 */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      last = await probe();
      if (done(last)) return last;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  // managedFields say nothing about the state and would crowd out the status.
  const dropManaged = (key: string, v: unknown) => (key === "managedFields" ? undefined : v);
  const seen = last === undefined ? String(lastError) : JSON.stringify(last, dropManaged, 1).slice(0, 6000);
  throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}; last seen: ${seen}`);
}

/** A namespace name unique to one test run. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e4)}`;
}

/** The sandbox's kubectl (the version the sandbox runs), against one cluster. */
export function kubectl(cluster: SandboxCluster, args: readonly string[], input?: string) {
  const bin = resolveBinaries(["kubectl"]).kubectl;
  const result = spawnSync(bin, ["--kubeconfig", kubeconfigPath(cluster), ...args], {
    encoding: "utf8",
    input,
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Installs the CRDs of crds/ on the hub with kubectl and waits until they are Established. */
export function installCrds(): void {
  for (const args of [
    ["apply", "--server-side", "--force-conflicts", "-k", join(REPO_ROOT, "crds")],
    ["wait", "--for", "condition=Established", "crd", "--all", "--timeout=60s"],
  ]) {
    const r = kubectl("hub", args);
    if (r.status !== 0) throw new Error(`kubectl ${args.join(" ")} failed: ${r.stderr}`);
  }
}

/**
 * Cordons one node of `cluster` (a capacity change: its ComputeCluster's status is written again);
 * returns the undo. For suites that need the operator to send a hub request.
 */
export async function cordonOneNode(cluster: SandboxCluster): Promise<() => Promise<void>> {
  const { core } = clients(cluster);
  const node = (await core.listNode({ labelSelector: "node.kubernetes.io/instance-type" })).items.find(
    (n) => !n.spec?.unschedulable,
  );
  const name = node?.metadata?.name;
  if (!name) throw new Error(`no schedulable node with an instance type on ${cluster}`);
  const set = (unschedulable: boolean) =>
    core.patchNode(
      { name, body: { spec: { unschedulable } } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
  await set(true);
  return async () => {
    await set(false);
  };
}
