// The README's "Install on a cluster" blocks, run as written with bash on a
// fresh sandbox (nothing of the operator's on its clusters yet, as on a new
// cluster): the Helm block with the hub as kubectl's current context and
// aws-sim as the context my-worker, the kustomize block with azure-sim as the
// hub and the hub as my-worker. helm and kubectl are the cached builds.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parse, stringify } from "yaml";
import { REPO_ROOT, resolveBinaries, STATE_DIR } from "../../scripts/sandbox/paths.ts";
import { down, kubeconfigPath, up } from "../../scripts/sandbox/sandbox.ts";
import { toolPath } from "../support/tools.ts";

/** The fenced sh blocks of the README's "Install on a cluster" section, in order. */
function installBlocks(): string[] {
  const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
  const section = readme.split(/^## /m).find((s) => s.startsWith("Install on a cluster"));
  assert.ok(section, 'README.md has a section "Install on a cluster"');
  return [...section.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1] ?? "");
}

interface Kubeconfig {
  clusters: { name: string }[];
  users: { name: string }[];
  contexts: { name: string; context: { cluster: string; user: string } }[];
  "current-context": string;
}

/** A kubeconfig whose current context is `hub`'s cluster and whose context my-worker is `worker`'s. */
function kubeconfigFor(hub: string, worker: string): string {
  const read = (c: string) => parse(readFileSync(kubeconfigPath(c), "utf8")) as Kubeconfig;
  const [h, w] = [read(hub), read(worker)];
  const user = (k: Kubeconfig, name: string) => ({ ...k.users[0], name });
  const config = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [...h.clusters, ...w.clusters],
    users: [user(h, `${hub}-admin`), user(w, `${worker}-admin`)],
    contexts: [
      { name: hub, context: { cluster: hub, user: `${hub}-admin` } },
      { name: "my-worker", context: { cluster: worker, user: `${worker}-admin` } },
    ],
    "current-context": hub,
  };
  const path = join(STATE_DIR, "readme", `${hub}-${worker}.kubeconfig`);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, stringify(config), { mode: 0o600 });
  return path;
}

function runBlock(block: string, kubeconfig: string): string {
  const bins = [dirname(toolPath("helm")), dirname(resolveBinaries(["kubectl"]).kubectl)];
  const r = spawnSync("bash", ["-euo", "pipefail", "-c", block], {
    cwd: REPO_ROOT,
    encoding: "utf8",
    env: { ...process.env, KUBECONFIG: kubeconfig, PATH: `${bins.join(":")}:${process.env.PATH}` },
    timeout: 300_000,
  });
  assert.equal(r.status, 0, `the block failed:\n${block}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

function kubectlJson(kubeconfig: string, context: string, args: string[]): Record<string, unknown> {
  const r = spawnSync(
    resolveBinaries(["kubectl"]).kubectl,
    ["--kubeconfig", kubeconfig, "--context", context, ...args, "-o", "json"],
    {
      encoding: "utf8",
    },
  );
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

/** What either block must leave: the CRDs, the operator's Deployment and the worker role's binding. */
function assertInstalled(kubeconfig: string, hub: string, image: RegExp): void {
  for (const crd of ["trainingjobs", "computeclusters"]) {
    const c = kubectlJson(kubeconfig, hub, ["get", "crd", `${crd}.training.crosscloud.dev`]) as {
      status: { conditions: { type: string; status: string }[] };
    };
    assert.ok(
      c.status.conditions.some((x) => x.type === "Established" && x.status === "True"),
      `${crd} Established`,
    );
  }
  const d = kubectlJson(kubeconfig, hub, ["-n", "crosscloud-system", "get", "deployment", "crosscloud-operator"]) as {
    spec: { replicas: number; template: { spec: { containers: { image: string }[] } } };
  };
  assert.equal(d.spec.replicas, 2);
  assert.match(d.spec.template.spec.containers[0]?.image ?? "", image);
  kubectlJson(kubeconfig, hub, ["-n", "crosscloud-system", "get", "pdb", "crosscloud-operator"]);
  const b = kubectlJson(kubeconfig, "my-worker", ["get", "clusterrolebinding", "crosscloud-operator-worker"]) as {
    subjects: { kind: string; name: string }[];
  };
  assert.deepEqual(
    b.subjects.map((s) => `${s.kind}/${s.name}`),
    ["Group/crosscloud:operators"],
  );
}

describe("the README's install blocks", { timeout: 900_000 }, () => {
  before(async () => {
    toolPath("helm");
    await up();
  });
  after(async () => {
    await down();
  });

  it("installs with Helm: the hub chart on the hub, the worker chart on my-worker", () => {
    const [helm = ""] = installBlocks();
    assert.ok(helm.includes("helm install"), "the first block installs with helm");
    const kubeconfig = kubeconfigFor("hub", "aws-sim");
    runBlock(helm, kubeconfig);
    assertInstalled(kubeconfig, "hub", /^ghcr\.io\/YOUR-ORG\/crosscloud-operator:/);
  });

  it("installs with kustomize: deploy/operator on the hub, deploy/worker on my-worker", () => {
    const [, kustomize = ""] = installBlocks();
    assert.ok(kustomize.includes("-k deploy/operator"), "the second block applies the kustomize bases");
    const kubeconfig = kubeconfigFor("azure-sim", "hub");
    runBlock(kustomize, kubeconfig);
    assertInstalled(kubeconfig, "azure-sim", /^ghcr\.io\/crosscloud-operator\/crosscloud-operator:/);
  });
});
