// Where the sandbox keeps its state (.sandbox/ in the repo root, git-ignored)
// and where its binaries come from: KUBEBUILDER_ASSETS and the *_BINARY
// variables when the user supplies them, else the version cache that
// build-binaries.sh fills from the Go module proxy.

import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
/** The sandbox's state; SANDBOX_STATE_DIR (with SANDBOX_PORT_BASE) runs a second sandbox beside the first. */
export const STATE_DIR = process.env.SANDBOX_STATE_DIR ?? join(REPO_ROOT, ".sandbox");
export const CACHE_DIR = process.env.CROSSCLOUD_CACHE ?? join(homedir(), ".cache", "crosscloud-operator");

/** Versions built when no binary is supplied; build-binaries.sh reads the same variables. */
export const VERSIONS = {
  kubernetes: process.env.K8S_VERSION ?? "v1.36.3",
  etcd: process.env.ETCD_VERSION ?? "v3.6.8",
  kwok: process.env.KWOK_VERSION ?? "v0.8.0",
  versitygw: process.env.VERSITYGW_VERSION ?? "v1.8.0",
} as const;

export type Component =
  | "etcd"
  | "kube-apiserver"
  | "kube-controller-manager"
  | "kube-scheduler"
  | "kubectl"
  | "kwok"
  | "versitygw";

function cached(component: Component): string {
  switch (component) {
    case "etcd":
      return join(CACHE_DIR, "bin", `etcd-${VERSIONS.etcd}`, "etcd");
    case "kwok":
      return join(CACHE_DIR, "bin", `kwok-${VERSIONS.kwok}`, "kwok");
    case "versitygw":
      return join(CACHE_DIR, "bin", `versitygw-${VERSIONS.versitygw}`, "versitygw");
    default:
      return join(CACHE_DIR, "bin", `kubernetes-${VERSIONS.kubernetes}`, component);
  }
}

/** A binary the user supplied, if any. */
function supplied(component: Component): string | undefined {
  if (component === "kwok" && process.env.KWOK_BINARY) return process.env.KWOK_BINARY;
  if (component === "versitygw" && process.env.VERSITYGW_BINARY) return process.env.VERSITYGW_BINARY;
  const assets = process.env.KUBEBUILDER_ASSETS;
  if (assets && existsSync(join(assets, component))) return join(assets, component);
  return undefined;
}

/**
 * The path of each binary, building the missing ones first (with progress on
 * stderr). kubectl is built too, at the sandbox's version: a machine's own
 * kubectl may be far outside the supported skew of one minor version.
 */
export function resolveBinaries(components: readonly Component[]): Record<Component, string> {
  const paths = {} as Record<Component, string>;
  const missing: Component[] = [];
  for (const c of components) {
    const path = supplied(c) ?? cached(c);
    if (!existsSync(path)) missing.push(c);
    paths[c] = path;
  }
  if (missing.length > 0) {
    process.stderr.write(`[sandbox] building ${missing.join(", ")} (first run only; cached in ${CACHE_DIR}/bin)\n`);
    execFileSync(join(REPO_ROOT, "scripts/sandbox/build-binaries.sh"), missing, {
      stdio: ["ignore", "inherit", "inherit"],
      env: { ...process.env, CROSSCLOUD_CACHE: CACHE_DIR },
    });
    for (const c of missing) paths[c] = cached(c);
  }
  return paths;
}
