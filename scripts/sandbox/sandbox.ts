// Starts and stops the local sandbox: one etcd (a key prefix per cluster),
// three real control planes (hub, aws-sim, azure-sim: kube-apiserver,
// kube-controller-manager, kube-scheduler on the workers), kwok playing the
// workers' fake nodes and pods, a real S3-protocol server (versitygw),
// Azurite, the cloud simulator (EKS and ARM over HTTPS, scripts/sandbox/cloudsim),
// and dra-sim, the NVIDIA DRA driver's ComputeDomain side (scripts/sandbox/dra.ts);
// Kueue on the hub too with SANDBOX_KUEUE=1 (scripts/sandbox/kueue.ts).
// Writes .sandbox/<cluster>.kubeconfig and .sandbox/env.

import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob";
import { CoreV1Api, KubeConfig, type V1Node } from "@kubernetes/client-node";
import { stringify } from "yaml";
import { cloudSimPort } from "./cloudsim/main.ts";
import { installDra } from "./dra.ts";
import { kueuePorts, startKueue } from "./kueue.ts";
import { renderClusterNodes } from "./nodes.ts";
import { REPO_ROOT, resolveBinaries, STATE_DIR } from "./paths.ts";
import { base64File, ensurePki, type Pki } from "./pki.ts";
import { listeningPorts, Processes, waitFor } from "./processes.ts";
import { type ClusterSpec, defaultTopology, type Topology, workerClusters } from "./topology.ts";

/** Credentials of the sandbox's stores: local test values, not secrets. */
export const S3_ACCESS_KEY = "sandbox-access-key";
export const S3_SECRET_KEY = "sandbox-secret-key-0123456789";
/** Azurite's well-known development account (documented by Azure). */
export const AZURITE_ACCOUNT = "devstoreaccount1";
export const AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

const log = (msg: string) => process.stderr.write(`[sandbox ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

export function kubeconfigPath(cluster: string): string {
  return join(STATE_DIR, `${cluster}.kubeconfig`);
}

/** Every port the sandbox listens on. */
export function sandboxPorts(topology: Topology): number[] {
  return [
    topology.etcdPort,
    topology.etcdPeerPort,
    topology.s3Port,
    topology.blobPort,
    cloudSimPort(),
    ...topology.clusters.map((c) => c.apiPort),
    ...Object.values(kueuePorts()), // closed unless Kueue runs (SANDBOX_KUEUE=1, sandbox:kueue)
  ];
}

/** The cloud simulator's URL (EKS and ARM endpoint alike) in this sandbox. */
export function cloudSimUrl(): string {
  return `https://127.0.0.1:${cloudSimPort()}`;
}

/** The sandbox CA's certificate (PEM path): what NODE_EXTRA_CA_CERTS points at to trust the simulator. */
export function sandboxCaPath(): string {
  return join(STATE_DIR, "pki", "ca.crt");
}

export async function down(): Promise<void> {
  const processes = new Processes(STATE_DIR);
  const alive = processes.alive();
  if (alive.length > 0) log(`stopping ${alive.map((r) => r.name).join(", ")}`);
  await processes.stopAll();
  const topology = defaultTopology();
  const ports = sandboxPorts(topology);
  // A loaded machine (CI runs five sandboxes at once) can take its API servers past 15 s to exit.
  await waitFor("the sandbox's ports to close", 60_000, async () => {
    const open = listeningPorts();
    return ports.every((p) => !open.has(p)) ? true : undefined;
  });
}

export interface UpOptions {
  /** Start Kueue on the hub too (scripts/sandbox/kueue.ts); default: SANDBOX_KUEUE=1. */
  readonly kueue?: boolean;
}

export async function up(topology: Topology = defaultTopology(), options: UpOptions = {}): Promise<void> {
  const withKueue = options.kueue ?? process.env.SANDBOX_KUEUE === "1";
  const started = Date.now();
  await down(); // whatever an earlier run (or a crash) left behind
  const busy = sandboxPorts(topology).filter((p) => listeningPorts().has(p));
  if (busy.length > 0) {
    throw new Error(
      `ports ${busy.join(", ")} are taken by processes the sandbox did not start; stop them or set SANDBOX_PORT_BASE`,
    );
  }
  const bin = resolveBinaries([
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "kwok",
    "versitygw",
  ]);
  for (const dir of ["etcd", "s3-data", "s3-sidecar", "azurite"])
    rmSync(join(STATE_DIR, dir), { recursive: true, force: true });
  mkdirSync(STATE_DIR, { recursive: true });
  const pki = ensurePki(join(STATE_DIR, "pki"));
  const processes = new Processes(STATE_DIR);

  log("starting etcd, the S3 server (versitygw) and Azurite");
  startEtcd(processes, bin.etcd, topology);
  startStores(processes, bin.versitygw, topology);
  await waitHttp(processes, "etcd", `http://127.0.0.1:${topology.etcdPort}/health`);

  log(`starting kube-apiserver for ${topology.clusters.map((c) => c.name).join(", ")}`);
  for (const cluster of topology.clusters) {
    startApiServer(processes, bin["kube-apiserver"], pki, topology, cluster);
    writeKubeconfig(pki, cluster);
  }
  await Promise.all(topology.clusters.map((c) => waitApiServer(processes, c)));

  log("starting controller managers, schedulers and kwok; registering fake nodes");
  for (const cluster of topology.clusters) startControllers(processes, bin, pki, cluster);
  await Promise.all([
    ...workerClusters(topology).map((c) => registerNodes(processes, c)),
    ...workerClusters(topology).map((c) => installDra(kubeConfigFor(c.name), c)),
    ...topology.clusters.map((c) => waitDefaultServiceAccount(processes, c)),
    createBuckets(processes, topology),
    ...(withKueue ? [startKueue()] : []),
  ]);
  log(`starting the cloud simulator at ${cloudSimUrl()}, and dra-sim (ComputeDomain channels)`);
  processes.start("dra-sim", process.execPath, [join(REPO_ROOT, "scripts/sandbox/dra.ts")]);
  await startCloudSimProcess(processes, pki);
  writeEnv(topology);
  log(`ready in ${((Date.now() - started) / 1000).toFixed(1)}s; kubeconfigs and env in ${STATE_DIR}`);
}

function startEtcd(processes: Processes, binary: string, t: Topology): void {
  const client = `http://127.0.0.1:${t.etcdPort}`;
  const peer = `http://127.0.0.1:${t.etcdPeerPort}`;
  processes.start("etcd", binary, [
    "--name=sandbox",
    `--data-dir=${join(STATE_DIR, "etcd")}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=sandbox=${peer}`,
    "--unsafe-no-fsync=true",
    "--quota-backend-bytes=8589934592",
    "--log-level=warn",
  ]);
}

function startStores(processes: Processes, versitygw: string, t: Topology): void {
  const data = join(STATE_DIR, "s3-data");
  const meta = join(STATE_DIR, "s3-sidecar");
  mkdirSync(data, { recursive: true });
  mkdirSync(meta, { recursive: true });
  processes.start("s3", versitygw, [
    "--access",
    S3_ACCESS_KEY,
    "--secret",
    S3_SECRET_KEY,
    "--port",
    `127.0.0.1:${t.s3Port}`,
    "--quiet",
    "posix",
    "--sidecar",
    meta,
    data,
  ]);
  const azurite = join(REPO_ROOT, "node_modules/azurite/dist/src/blob/main.js");
  const location = join(STATE_DIR, "azurite");
  mkdirSync(location, { recursive: true });
  processes.start("azurite", process.execPath, [
    azurite,
    "--blobHost",
    "127.0.0.1",
    "--blobPort",
    String(t.blobPort),
    "--location",
    location,
    "--silent",
    "--loose",
    "--skipApiVersionCheck",
    "--disableProductStyleUrl",
    // Azurite collects telemetry by default: a sandbox sends nothing out.
    "--disableTelemetry",
  ]);
}

function startApiServer(processes: Processes, binary: string, pki: Pki, t: Topology, c: ClusterSpec): void {
  processes.start(`${c.name}-kube-apiserver`, binary, [
    `--etcd-servers=http://127.0.0.1:${t.etcdPort}`,
    `--etcd-prefix=/${c.name}`,
    "--bind-address=127.0.0.1",
    "--advertise-address=127.0.0.1",
    `--secure-port=${c.apiPort}`,
    `--cert-dir=${join(STATE_DIR, c.name)}`,
    `--tls-cert-file=${pki.servingCert}`,
    `--tls-private-key-file=${pki.servingKey}`,
    `--client-ca-file=${pki.caCert}`,
    "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
    `--service-account-key-file=${pki.serviceAccountPub}`,
    `--service-account-signing-key-file=${pki.serviceAccountKey}`,
    "--service-cluster-ip-range=10.96.0.0/16",
    "--authorization-mode=RBAC",
    "--allow-privileged=true",
    "--endpoint-reconciler-type=none",
    "--profiling=false",
    "--max-requests-inflight=800",
    "--max-mutating-requests-inflight=400",
    // The hub serves ConfigMap watches from etcd, not the watch cache, so a test can make a watch
    // outlive an etcd compaction and see the 410 Gone a real outage brings.
    ...(c.cloud ? [] : ["--watch-cache-sizes=configmaps#0"]),
  ]);
}

function startControllers(processes: Processes, bin: Record<string, string>, pki: Pki, c: ClusterSpec): void {
  const kubeconfig = kubeconfigPath(c.name);
  processes.start(`${c.name}-kube-controller-manager`, bin["kube-controller-manager"] as string, [
    `--kubeconfig=${kubeconfig}`,
    "--leader-elect=false",
    "--secure-port=0",
    `--cluster-name=${c.name}`,
    `--service-account-private-key-file=${pki.serviceAccountKey}`,
    `--root-ca-file=${pki.caCert}`,
    "--use-service-account-credentials=false",
    "--kube-api-qps=200",
    "--kube-api-burst=400",
    "--concurrent-job-syncs=20",
    // kwok renews every fake node's Lease; with a thousand nodes on a loaded 2-core machine a renewal
    // can come late, and the node lifecycle controller would then mark the node's pods NotReady,
    // which nothing undoes (kwok is no kubelet: it sets a pod's status only at its own stages).
    "--node-monitor-grace-period=5m",
  ]);
  if (!c.cloud) return; // the hub runs no pods
  processes.start(`${c.name}-kube-scheduler`, bin["kube-scheduler"] as string, [
    `--kubeconfig=${kubeconfig}`,
    "--leader-elect=false",
    "--secure-port=0",
  ]);
  processes.start(`${c.name}-kwok`, bin.kwok as string, [
    `--kubeconfig=${kubeconfig}`,
    "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
    `--config=${join(REPO_ROOT, "scripts/sandbox/kwok/stages.yaml")}`,
    // kwok renews each Lease every quarter of this (60 s): under the controller manager's 5-minute
    // grace period, and, with 40 s, 76 nodes' renewals were 7.6 writes a second on an idle sandbox.
    "--node-lease-duration-seconds=240",
    "--cidr=10.128.0.0/12",
  ]);
}

function writeKubeconfig(pki: Pki, c: ClusterSpec): void {
  const config = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      {
        name: c.name,
        cluster: { server: `https://127.0.0.1:${c.apiPort}`, "certificate-authority-data": base64File(pki.caCert) },
      },
    ],
    users: [
      {
        name: "crosscloud-admin",
        user: { "client-certificate-data": base64File(pki.adminCert), "client-key-data": base64File(pki.adminKey) },
      },
    ],
    contexts: [{ name: c.name, context: { cluster: c.name, user: "crosscloud-admin" } }],
    "current-context": c.name,
  };
  writeFileSync(kubeconfigPath(c.name), stringify(config), { mode: 0o600 });
}

export function kubeConfigFor(cluster: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath(cluster));
  return kc;
}

async function waitHttp(processes: Processes, name: string, url: string): Promise<void> {
  await waitFor(`${name} at ${url}`, 30_000, async () => {
    processes.assertRunning(name);
    const res = await fetch(url).catch(() => undefined);
    return res?.ok ? true : undefined;
  });
}

/** The simulator reads the registered nodes at start, so it starts after them; ready once its admin API answers. */
async function startCloudSimProcess(processes: Processes, pki: Pki): Promise<void> {
  const main = join(REPO_ROOT, "scripts/sandbox/cloudsim/main.ts");
  processes.start("cloudsim", process.execPath, [main, "--port", String(cloudSimPort()), "--verbose"]);
  const ca = readFileSync(pki.caCert);
  await waitFor(`the cloud simulator at ${cloudSimUrl()}`, 30_000, async () => {
    processes.assertRunning("cloudsim");
    const status = await new Promise<number>((resolve) => {
      const req = request(`${cloudSimUrl()}/_admin/state`, { ca }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", () => resolve(0));
      req.end();
    });
    return status === 200 ? true : undefined;
  });
}

async function waitApiServer(processes: Processes, c: ClusterSpec): Promise<void> {
  const pki = ensurePki(join(STATE_DIR, "pki"));
  const agentOptions = {
    ca: readFileSync(pki.caCert),
    cert: readFileSync(pki.adminCert),
    key: readFileSync(pki.adminKey),
  };
  await waitFor(`${c.name}'s kube-apiserver to be ready`, 60_000, async () => {
    processes.assertRunning(`${c.name}-kube-apiserver`);
    const status = await new Promise<number>((resolve) => {
      const req = request(`https://127.0.0.1:${c.apiPort}/readyz`, agentOptions, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", () => resolve(0));
      req.end();
    });
    return status === 200 ? true : undefined;
  });
}

async function registerNodes(processes: Processes, c: ClusterSpec): Promise<void> {
  const core = kubeConfigFor(c.name).makeApiClient(CoreV1Api);
  const nodes = renderClusterNodes(c);
  await inBatches(nodes, 50, (node: V1Node) =>
    core.createNode({ body: node }).catch((err: { code?: number }) => {
      if (err.code !== 409) throw err;
    }),
  );
  // kwok readies a few hundred nodes a second on 2 cores: allow for large benchmark topologies.
  await waitFor(`${nodes.length} nodes of ${c.name} to be Ready (kwok)`, 60_000 + nodes.length * 100, async () => {
    processes.assertRunning(`${c.name}-kwok`);
    const list = await core.listNode();
    const ready = list.items.filter((n) =>
      n.status?.conditions?.some((x) => x.type === "Ready" && x.status === "True"),
    );
    return ready.length >= nodes.length ? true : undefined;
  });
}

async function waitDefaultServiceAccount(processes: Processes, c: ClusterSpec): Promise<void> {
  const core = kubeConfigFor(c.name).makeApiClient(CoreV1Api);
  await waitFor(`the default ServiceAccount in ${c.name}`, 60_000, async () => {
    processes.assertRunning(`${c.name}-kube-controller-manager`);
    await core.readNamespacedServiceAccount({ name: "default", namespace: "default" });
    return true;
  });
}

/** The checkpoint stores of the sandbox's workers: an S3 bucket and a Blob container. */
export const SANDBOX_BUCKET = "ckpt-aws-sim";
export const SANDBOX_CONTAINER = "ckpt-azure-sim";

export function s3Client(topology: Topology = defaultTopology()): S3Client {
  return new S3Client({
    endpoint: `http://127.0.0.1:${topology.s3Port}`,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: S3_ACCESS_KEY, secretAccessKey: S3_SECRET_KEY },
  });
}

export function blobServiceClient(topology: Topology = defaultTopology()): BlobServiceClient {
  return new BlobServiceClient(
    `http://127.0.0.1:${topology.blobPort}/${AZURITE_ACCOUNT}`,
    new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY),
  );
}

async function createBuckets(processes: Processes, t: Topology): Promise<void> {
  const s3 = s3Client(t);
  await waitFor("the S3 server to create the sandbox bucket", 30_000, async () => {
    processes.assertRunning("s3");
    await s3.send(new CreateBucketCommand({ Bucket: SANDBOX_BUCKET })).catch((err: { name?: string }) => {
      if (err.name !== "BucketAlreadyOwnedByYou" && err.name !== "BucketAlreadyExists") throw err;
    });
    return true;
  });
  s3.destroy();
  await waitFor("Azurite to create the sandbox container", 30_000, async () => {
    processes.assertRunning("azurite");
    await blobServiceClient(t).getContainerClient(SANDBOX_CONTAINER).createIfNotExists();
    return true;
  });
}

function writeEnv(t: Topology): void {
  const blobUrl = `http://127.0.0.1:${t.blobPort}/${AZURITE_ACCOUNT}`;
  const lines = [
    "# The sandbox's endpoints and (local, throwaway) store credentials. Source it: . .sandbox/env",
    ...t.clusters.map(
      (c) => `export SANDBOX_KUBECONFIG_${c.name.replace("-", "_").toUpperCase()}=${kubeconfigPath(c.name)}`,
    ),
    `export SANDBOX_S3_ENDPOINT=http://127.0.0.1:${t.s3Port}`,
    `export SANDBOX_S3_BUCKET=${SANDBOX_BUCKET}`,
    "export SANDBOX_S3_REGION=us-east-1",
    `export SANDBOX_S3_ACCESS_KEY_ID=${S3_ACCESS_KEY}`,
    `export SANDBOX_S3_SECRET_ACCESS_KEY=${S3_SECRET_KEY}`,
    `export SANDBOX_BLOB_ACCOUNT_URL=${blobUrl}`,
    `export SANDBOX_BLOB_CONTAINER=${SANDBOX_CONTAINER}`,
    `export SANDBOX_BLOB_ACCOUNT=${AZURITE_ACCOUNT}`,
    `export SANDBOX_BLOB_ACCOUNT_KEY=${AZURITE_KEY}`,
    `export SANDBOX_CLOUDSIM_URL=${cloudSimUrl()}`,
    `export NODE_EXTRA_CA_CERTS=${sandboxCaPath()}`,
    "# The simulator takes any AWS credentials and bearer token; the static Azure token is a sandbox-only knob.",
    '[ -n "$AWS_ACCESS_KEY_ID" ] || export AWS_ACCESS_KEY_ID=sandbox AWS_SECRET_ACCESS_KEY=sandbox',
    "export CROSSCLOUD_AZURE_STATIC_TOKEN=sandbox-token",
    `export SANDBOX_BLOB_CONNECTION_STRING='DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${blobUrl};'`,
  ];
  writeFileSync(join(STATE_DIR, "env"), `${lines.join("\n")}\n`, { mode: 0o600 });
}

async function inBatches<T>(items: readonly T[], size: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}
