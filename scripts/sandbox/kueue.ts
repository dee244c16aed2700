// Kueue (sigs.k8s.io/kueue, KUEUE_VERSION in scripts/tools/versions.sh) on the
// sandbox's hub: the controller built from the Go module proxy by
// scripts/tools/build-tools.sh, run as the sandbox process `kueue` against the
// hub's admin kubeconfig, with its objects installed on the hub from the
// module's own config/components:
// - the CRDs of crd/bases; those upstream's kustomization patches to a
//   conversion webhook (localqueues, clusterqueues, cohorts, workloads,
//   multikueueclusters) point it at https://127.0.0.1:<webhook port>/convert;
// - the webhooks of webhook/manifests.yaml for kueue.x-k8s.io resources only
//   (not those for Jobs, Pods, Deployments, JobSets...), each pointed at
//   https://127.0.0.1:<webhook port><path>;
// - the namespace kueue-system (Kueue's default namespace outside a pod).
// Its webhook server serves a certificate from the sandbox CA (pki.ts). Kueue
// v0.17 reads its metrics certificate from the fixed path /etc/kueue/metrics/certs
// when its internal cert management is off, so that is written too.
// Started by `sandbox:up` with SANDBOX_KUEUE=1 (or `cli.ts up --kueue`), by
// `cli.ts kueue` on a running sandbox, and by tests (test/support/kueue.ts);
// `sandbox:down` stops it with the other processes.

import { execFileSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parse, parseAllDocuments, stringify } from "yaml";
import { REPO_ROOT, STATE_DIR } from "./paths.ts";
import { base64File, ensurePki, ensureServingCert, type Pki } from "./pki.ts";
import { listeningPorts, Processes, waitFor } from "./processes.ts";
import { kubeconfigPath } from "./sandbox.ts";
import { defaultTopology } from "./topology.ts";

export const KUEUE_PROCESS = "kueue";
export const KUEUE_NAMESPACE = "kueue-system";
/** The frameworks Kueue integrates: its default (it replaces an empty list by it), and the operator's TrainingJob. */
const FRAMEWORKS = ["batch/job"];
const EXTERNAL_FRAMEWORKS = ["TrainingJob.v1alpha1.training.crosscloud.dev"];
/** The CRDs upstream's config/components/crd/kustomization.yaml patches to a conversion webhook. */
const CONVERTED_CRDS = new Set(["localqueues", "clusterqueues", "cohorts", "workloads", "multikueueclusters"]);
/** Where Kueue v0.17 reads its metrics serving certificate when internal cert management is off (fixed in cmd/kueue). */
const METRICS_CERT_DIR = "/etc/kueue/metrics/certs";
const FIELD_MANAGER = "crosscloud-sandbox";

const log = (msg: string) => process.stderr.write(`[sandbox ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

/** Kueue's ports, from SANDBOX_PORT_BASE like the sandbox's others (offsets 460-462 are free). */
export function kueuePorts(env: NodeJS.ProcessEnv = process.env): { webhook: number; metrics: number; health: number } {
  const base = Number(env.SANDBOX_PORT_BASE ?? 17000);
  return { webhook: base + 460, metrics: base + 461, health: base + 462 };
}

/** KUEUE_VERSION as scripts/tools/versions.sh sets it. */
export function kueueVersion(): string {
  return execFileSync("bash", ["-c", 'source scripts/tools/versions.sh && echo "$KUEUE_VERSION"'], {
    cwd: REPO_ROOT,
    encoding: "utf8",
  }).trim();
}

/** The cached kueue binary, built by scripts/tools/build-tools.sh when missing. */
export function kueueBinary(): string {
  const tools = join(REPO_ROOT, "scripts", "tools");
  const path = execFileSync(join(tools, "tool-path.sh"), ["kueue"], { encoding: "utf8" }).trim();
  if (existsSync(path)) return path;
  log("building kueue (first run only; several minutes on 2 cores)");
  execFileSync(join(tools, "build-tools.sh"), ["kueue"], { stdio: ["ignore", "inherit", "inherit"] });
  if (!existsSync(path)) throw new Error(`scripts/tools/build-tools.sh kueue did not produce ${path}`);
  return path;
}

/** The Kueue module's source in the Go module cache (downloaded by `go mod download` when missing). */
function kueueModuleDir(version: string): string {
  const out = execFileSync("go", ["mod", "download", "-json", `sigs.k8s.io/kueue@${version}`], {
    cwd: tmpdir(),
    encoding: "utf8",
    env: { ...process.env, GOTOOLCHAIN: "local" },
  });
  const dir = (JSON.parse(out) as { Dir?: string }).Dir;
  if (!dir || !existsSync(join(dir, "config/components/crd/bases"))) {
    throw new Error(`go mod download sigs.k8s.io/kueue@${version} gave no module source: ${out}`);
  }
  return dir;
}

interface HubResponse {
  readonly status: number;
  readonly body: string;
}

/** One request to the hub's API server as the sandbox admin (client certificate). */
function hubRequest(pki: Pki, method: string, path: string, body?: string, contentType?: string): Promise<HubResponse> {
  const port = defaultTopology().clusters.find((c) => c.name === "hub")?.apiPort;
  return new Promise((resolve, reject) => {
    const req = request(
      `https://127.0.0.1:${port}${path}`,
      {
        method,
        ca: readFileSync(pki.caCert),
        cert: readFileSync(pki.adminCert),
        key: readFileSync(pki.adminKey),
        headers: { Accept: "application/json", ...(contentType ? { "Content-Type": contentType } : {}) },
        timeout: 60_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${method} ${path}: timed out`)));
    req.on("error", reject);
    req.end(body);
  });
}

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; [key: string]: unknown };
  [key: string]: unknown;
}

const RESOURCE_PATHS: Record<string, string> = {
  Namespace: "/api/v1/namespaces",
  CustomResourceDefinition: "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
  MutatingWebhookConfiguration: "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
  ValidatingWebhookConfiguration: "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations",
};

/** Server-side apply of a cluster-scoped object (as `kubectl apply --server-side --force-conflicts`). */
async function apply(pki: Pki, obj: Obj): Promise<void> {
  const base = RESOURCE_PATHS[obj.kind];
  if (!base) throw new Error(`no path known for ${obj.kind}`);
  const path = `${base}/${obj.metadata.name}?fieldManager=${FIELD_MANAGER}&force=true`;
  const res = await hubRequest(pki, "PATCH", path, JSON.stringify(obj), "application/apply-patch+yaml");
  if (res.status >= 300) throw new Error(`applying ${obj.kind} ${obj.metadata.name}: ${res.status} ${res.body}`);
}

interface ClientConfig {
  service?: { path?: string };
  url?: string;
  caBundle?: string;
}
interface Webhook {
  name: string;
  clientConfig: ClientConfig;
  rules?: { apiGroups?: string[] }[];
}

/** The objects installed on the hub: the namespace, the CRDs, the webhook configurations. */
export function kueueHubObjects(moduleDir: string, webhookPort: number, caBundle: string): Obj[] {
  const url = (path: string) => `https://127.0.0.1:${webhookPort}${path}`;
  const bases = join(moduleDir, "config/components/crd/bases");
  const crds = readdirSync(bases)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((f) => parse(readFileSync(join(bases, f), "utf8")) as Obj & { spec: { names: { plural: string } } })
    .map((crd) => {
      if (!CONVERTED_CRDS.has(crd.spec.names.plural)) return crd;
      const conversion = {
        strategy: "Webhook",
        webhook: { clientConfig: { url: url("/convert"), caBundle }, conversionReviewVersions: ["v1"] },
      };
      return { ...crd, spec: { ...crd.spec, conversion } };
    });
  const manifests = readFileSync(join(moduleDir, "config/components/webhook/manifests.yaml"), "utf8");
  const webhookConfigs = parseAllDocuments(manifests)
    .map((d) => d.toJS() as (Obj & { webhooks?: Webhook[] }) | null)
    .filter((o): o is Obj & { webhooks?: Webhook[] } => o !== null)
    .map((o) => {
      // Only Kueue's own resources: the others would intercept Jobs, Pods... on the hub.
      const webhooks = (o.webhooks ?? [])
        .filter((w) => (w.rules ?? []).every((r) => (r.apiGroups ?? []).every((g) => g === "kueue.x-k8s.io")))
        .map((w) => ({ ...w, clientConfig: { url: url(w.clientConfig.service?.path ?? "/"), caBundle } }));
      // Upstream's kustomization prefixes its names with `kueue-`.
      return { ...o, metadata: { ...o.metadata, name: `kueue-${o.metadata.name}` }, webhooks };
    });
  const namespace = { apiVersion: "v1", kind: "Namespace", metadata: { name: KUEUE_NAMESPACE } };
  return [namespace, ...crds, ...webhookConfigs];
}

/** Kueue's Configuration (config.kueue.x-k8s.io/v1beta2) for the sandbox. */
export function kueueConfiguration(certDir: string, ports = kueuePorts()): Record<string, unknown> {
  return {
    apiVersion: "config.kueue.x-k8s.io/v1beta2",
    kind: "Configuration",
    namespace: KUEUE_NAMESPACE,
    health: { healthProbeBindAddress: `127.0.0.1:${ports.health}` },
    metrics: { bindAddress: `127.0.0.1:${ports.metrics}` },
    webhook: { host: "127.0.0.1", port: ports.webhook, certDir },
    leaderElection: { leaderElect: false },
    internalCertManagement: { enable: false },
    integrations: { frameworks: FRAMEWORKS, externalFrameworks: EXTERNAL_FRAMEWORKS },
    // The visibility API server would listen on :8082 on every interface (one port for all
    // sandboxes on the machine) and register with the hub's aggregator: not needed here.
    featureGates: { VisibilityOnDemand: false },
  };
}

function healthStatus(port: number, path: string): Promise<number> {
  return fetch(`http://127.0.0.1:${port}${path}`).then(
    (r) => r.status,
    () => 0,
  );
}

/** Whether Kueue's webhooks answer: a dry-run create of a ResourceFlavor passes its mutating and validating webhooks. */
async function webhooksAnswer(pki: Pki): Promise<boolean> {
  const probe = {
    apiVersion: "kueue.x-k8s.io/v1beta2",
    kind: "ResourceFlavor",
    metadata: { name: "sandbox-webhook-probe" },
  };
  const res = await hubRequest(
    pki,
    "POST",
    "/apis/kueue.x-k8s.io/v1beta2/resourceflavors?dryRun=All",
    JSON.stringify(probe),
    "application/json",
  );
  if (res.status === 201 || res.status === 409) return true;
  throw new Error(`a dry-run ResourceFlavor got ${res.status}: ${res.body.slice(0, 400)}`);
}

/** Kueue runs as this sandbox's process, its readyz answers, and its webhooks answer. */
export async function kueueHealthy(): Promise<boolean> {
  const processes = new Processes(STATE_DIR);
  if (!processes.alive().some((r) => r.name === KUEUE_PROCESS)) return false;
  if ((await healthStatus(kueuePorts().health, "/readyz")) !== 200) return false;
  return webhooksAnswer(ensurePki(join(STATE_DIR, "pki"))).catch(() => false);
}

export interface KueueStart {
  /** False when Kueue already ran healthy (nothing was done). */
  readonly started: boolean;
  readonly pid: number;
  /** From spawning the process to its webhooks answering. */
  readonly startMs: number;
}

/**
 * Starts Kueue on the running sandbox's hub and returns once its readyz and its
 * webhooks answer; nothing to do when it already runs healthy.
 */
export async function startKueue(timeoutMs = 120_000): Promise<KueueStart> {
  const processes = new Processes(STATE_DIR);
  processes.running("hub-kube-apiserver"); // throws, naming `sandbox:up`, when the sandbox is down
  const existing = processes.alive().find((r) => r.name === KUEUE_PROCESS);
  if (existing && (await kueueHealthy())) return { started: false, pid: existing.pid, startMs: 0 };
  if (existing) {
    log(`kueue (pid ${existing.pid}) is not healthy: restarting it`);
    await stopKueue();
  }
  const ports = kueuePorts();
  const busy = Object.values(ports).filter((p) => listeningPorts().has(p));
  if (busy.length > 0)
    throw new Error(`ports ${busy.join(", ")} (Kueue's) are taken by processes the sandbox did not start`);

  const version = kueueVersion();
  const binary = kueueBinary();
  const moduleDir = kueueModuleDir(version);
  const pki = ensurePki(join(STATE_DIR, "pki"));
  const serving = ensureServingCert(pki, "kueue-webhook", "IP:127.0.0.1,DNS:localhost");
  const dir = join(STATE_DIR, "kueue");
  const certDir = join(dir, "certs");
  mkdirSync(certDir, { recursive: true });
  copyFileSync(serving.cert, join(certDir, "tls.crt"));
  copyFileSync(serving.key, join(certDir, "tls.key"));
  ensureMetricsCert(serving);
  const configPath = join(dir, "config.yaml");
  writeFileSync(configPath, stringify(kueueConfiguration(certDir, ports)));

  log(`installing Kueue ${version}'s CRDs and webhook configurations on the hub`);
  const objects = kueueHubObjects(moduleDir, ports.webhook, base64File(pki.caCert));
  for (const o of objects) await apply(pki, o);
  const crds = objects.filter((o) => o.kind === "CustomResourceDefinition").map((o) => o.metadata.name);
  await waitFor("Kueue's CRDs to be Established", 60_000, async () => {
    for (const name of crds) {
      const res = await hubRequest(pki, "GET", `${RESOURCE_PATHS.CustomResourceDefinition}/${name}`);
      const crd = JSON.parse(res.body) as { status?: { conditions?: { type: string; status: string }[] } };
      if (!crd.status?.conditions?.some((c) => c.type === "Established" && c.status === "True")) return undefined;
    }
    return true;
  });

  log(`starting kueue ${version} (webhooks at https://127.0.0.1:${ports.webhook})`);
  const started = Date.now();
  const record = processes.start(KUEUE_PROCESS, binary, [
    `--config=${configPath}`,
    `--kubeconfig=${kubeconfigPath("hub")}`,
  ]);
  await waitFor("Kueue's readyz and webhooks to answer", timeoutMs, async () => {
    processes.assertRunning(KUEUE_PROCESS);
    if ((await healthStatus(ports.health, "/readyz")) !== 200) return undefined;
    return (await webhooksAnswer(pki)) ? true : undefined;
  });
  const startMs = Date.now() - started;
  log(`kueue (pid ${record.pid}) ready in ${(startMs / 1000).toFixed(1)}s; log ${processes.logPath(KUEUE_PROCESS)}`);
  return { started: true, pid: record.pid, startMs };
}

/**
 * Kueue v0.17 refuses to start without a certificate in /etc/kueue/metrics/certs when its internal
 * cert management is off (the path is fixed in cmd/kueue). The metrics endpoint's certificate is
 * checked by no sandbox client, so one written by any sandbox on the machine serves them all: it
 * is written only when missing, and left in place (other sandboxes' Kueue may be reading it).
 */
function ensureMetricsCert(serving: { cert: string; key: string }): void {
  const cert = join(METRICS_CERT_DIR, "tls.crt");
  const key = join(METRICS_CERT_DIR, "tls.key");
  if (existsSync(cert) && existsSync(key)) return;
  try {
    mkdirSync(METRICS_CERT_DIR, { recursive: true });
    copyFileSync(serving.key, `${key}.tmp`);
    copyFileSync(serving.cert, `${cert}.tmp`);
    renameSync(`${key}.tmp`, key);
    renameSync(`${cert}.tmp`, cert);
  } catch (err) {
    throw new Error(
      `Kueue needs a metrics certificate in ${METRICS_CERT_DIR} (tls.crt, tls.key), which could not be written: ${
        err instanceof Error ? err.message : String(err)
      }`,
    );
  }
}

/** Stops the sandbox's Kueue (SIGTERM, SIGKILL after `graceMs`) and forgets its record; its hub objects stay. */
export async function stopKueue(graceMs = 5_000): Promise<void> {
  const record = new Processes(STATE_DIR).alive().find((r) => r.name === KUEUE_PROCESS);
  const pidFile = join(STATE_DIR, "pids", `${KUEUE_PROCESS}.json`);
  if (!record) {
    rmSync(pidFile, { force: true });
    return;
  }
  const gone = () => !new Processes(STATE_DIR).alive().some((r) => r.pid === record.pid);
  const kill = (sig: NodeJS.Signals) => {
    try {
      process.kill(-record.pid, sig); // its process group: it was started detached
    } catch {
      // already gone
    }
  };
  kill("SIGTERM");
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && !gone()) await sleep(100);
  if (!gone()) kill("SIGKILL");
  while (!gone()) await sleep(50);
  rmSync(pidFile, { force: true });
}
