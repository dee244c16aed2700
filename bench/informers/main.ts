// bench/informers: the heap that one worker's informers hold, by how they
// select and cut objects. Against the running sandbox's aws-sim (bring it up
// with many kwok nodes: SANDBOX_NODES=aws-sim/trn1=1000), the bench fills it
// with pods (Deployments of plain pods and Indexed Jobs labelled as the
// operator's, all Running on kwok nodes), then, for each configuration, in a
// fresh child process run with --expose-gc, syncs that configuration's
// informers and reports the heap they hold (heapUsed after a full GC, minus
// the same before they started):
//   before:  Jobs (managed), every pod whole, every node whole (the operator until this change)
//   one:     one pod informer for both uses (no field selector: job status needs failed pods), cut per
//            pod (managed: as job status reads it; others: as capacity does); Jobs and nodes cut as in after
//   after:   the ClusterRegistry's informers (managed Jobs and pods, unfinished pods, nodes; all cut)
// Usage: node bench/informers/main.ts [--plain 1500] [--managed 500] [--keep]

import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { AppsV1Api, type KubernetesObject, type V1Pod } from "@kubernetes/client-node";
import { ClusterRegistry } from "../../src/clusters/registry.ts";
import {
  CAPACITY_POD_FIELDS,
  cachedJob,
  cachedNode,
  capacityPod,
  managedPod,
} from "../../src/clusters/worker-cache.ts";
import { KubeClient } from "../../src/kube/client.ts";
import { Informer, type InformerOptions } from "../../src/runtime/informer.ts";
import { silentLogger } from "../../src/runtime/logger.ts";
import { LABEL_MANAGED_BY, MANAGED_SELECTOR, MANAGER } from "../../src/workload/names.ts";
import { clients, eventually } from "../../test/support/sandbox.ts";

const NAMESPACE = "bench-informers";
const CONFIGS = ["before", "one", "after"] as const;
type Config = (typeof CONFIGS)[number];

const { values } = parseArgs({
  options: {
    plain: { type: "string", default: "1500" },
    managed: { type: "string", default: "500" },
    keep: { type: "boolean", default: false },
    measure: { type: "string" },
  },
});

const aws = clients("aws-sim");

/** Pods as workloads on a real cluster have them: labels, an annotation, env, requests, tolerations. */
function podTemplate(labels: Record<string, string>) {
  return {
    metadata: { labels, annotations: { "example.com/team": "research", "prometheus.io/scrape": "true" } },
    spec: {
      tolerations: [{ operator: "Exists" }],
      nodeSelector: { "sandbox.crosscloud.dev/node-group": "trn1" },
      containers: [
        {
          name: "main",
          image: "registry.example.com/train:1.2.3",
          command: ["python", "-m", "train", "--config", "/etc/train/config.yaml"],
          env: Array.from({ length: 10 }, (_, i) => ({ name: `SETTING_${i}`, value: `value-${i}` })),
          resources: { requests: { cpu: "10m", memory: "16Mi" }, limits: { memory: "16Mi" } },
          volumeMounts: [{ name: "config", mountPath: "/etc/train" }],
        },
      ],
      volumes: [{ name: "config", emptyDir: {} }],
    },
  };
}

async function create(apps: AppsV1Api, per: number, plain: number, managed: number): Promise<void> {
  for (let i = 0; i * per < plain; i++) {
    const name = `plain-${i}`;
    const labels = { app: name };
    await apps.createNamespacedDeployment({
      namespace: NAMESPACE,
      body: {
        metadata: { name },
        spec: {
          replicas: Math.min(per, plain - i * per),
          selector: { matchLabels: labels },
          template: podTemplate(labels),
        },
      },
    });
  }
  for (let i = 0; i * 100 < managed; i++) {
    const n = Math.min(100, managed - i * 100);
    const labels = { [LABEL_MANAGED_BY]: MANAGER, "training.crosscloud.dev/job-uid": `bench-${i}` };
    const t = podTemplate({ ...labels, "training.crosscloud.dev/epoch": "1" });
    await aws.batch.createNamespacedJob({
      namespace: NAMESPACE,
      body: {
        metadata: { name: `managed-${i}`, labels },
        spec: {
          completionMode: "Indexed",
          completions: n,
          parallelism: n,
          template: { ...t, spec: { ...t.spec, restartPolicy: "Never" } },
        },
      },
    });
  }
}

async function fill(plain: number, managed: number): Promise<void> {
  await aws.core.createNamespace({ body: { metadata: { name: NAMESPACE } } }).catch(() => {});
  const apps = aws.kubeConfig.makeApiClient(AppsV1Api);
  const per = 250;
  // A namespace left by a run with --keep is measured as it is.
  const filled = (await aws.core.listNamespacedPod({ namespace: NAMESPACE, limit: 1 })).items.length > 0;
  if (!filled) await create(apps, per, plain, managed);
  await eventually(
    `${plain + managed} pods started (kwok completes the pods of Jobs)`,
    async () =>
      (await aws.core.listNamespacedPod({ namespace: NAMESPACE })).items.filter((p) => p.status?.phase !== "Pending")
        .length,
    (n) => n >= plain + managed,
    20 * 60_000,
  );
}

function informersFor(config: Config, signal: AbortSignal): { synced: () => boolean; count: () => number } {
  const all: Informer<KubernetesObject>[] = [];
  if (config === "after") {
    const registry = new ClusterRegistry({ logger: silentLogger(), onChange: () => {} });
    signal.addEventListener("abort", () => registry.disconnectAll());
    const w = registry.connect("aws-sim", aws.kubeConfig, "1");
    all.push(w.jobs, w.managedPods, w.pods, w.nodes);
  } else {
    const client = new KubeClient(aws.kubeConfig, { target: "aws-sim", timeoutMs: 30_000 });
    const make = (o: Omit<InformerOptions<KubernetesObject>, "client">) => {
      const inf = new Informer<KubernetesObject>({ ...o, client });
      void inf.start(signal);
      all.push(inf);
    };
    const one = config === "one";
    const oneCut = (pod: V1Pod) =>
      pod.metadata?.labels?.[LABEL_MANAGED_BY] === MANAGER ? managedPod(pod) : capacityPod(pod);
    make({
      name: "jobs",
      path: "/apis/batch/v1/jobs",
      labelSelector: MANAGED_SELECTOR,
      ...(one ? { transform: cachedJob as (o: KubernetesObject) => KubernetesObject } : {}),
    });
    make({
      name: "nodes",
      path: "/api/v1/nodes",
      ...(one ? { transform: cachedNode as (o: KubernetesObject) => KubernetesObject } : {}),
    });
    make({
      name: "pods",
      path: "/api/v1/pods",
      ...(one ? { transform: oneCut as (o: KubernetesObject) => KubernetesObject } : {}),
    });
  }
  return { synced: () => all.every((i) => i.synced), count: () => all.reduce((n, i) => n + i.list().length, 0) };
}

const gc = () => (globalThis as { gc?: () => void }).gc?.();

async function measure(config: Config): Promise<void> {
  gc();
  const base = process.memoryUsage().heapUsed;
  const stop = new AbortController();
  const inf = informersFor(config, stop.signal);
  await eventually(`${config} informers to sync`, () => Promise.resolve(inf.synced()), Boolean, 120_000);
  await new Promise((r) => setTimeout(r, 2_000));
  gc();
  const held = process.memoryUsage().heapUsed - base;
  console.log(JSON.stringify({ config, objects: inf.count(), heldBytes: held }));
  stop.abort();
  process.exit(0);
}

if (values.measure) {
  await measure(values.measure as Config);
} else {
  const plain = Number(values.plain);
  const managed = Number(values.managed);
  await fill(plain, managed);
  const nodes = (await aws.core.listNode()).items.length;
  const pods = (await aws.core.listPodForAllNamespaces()).items.length;
  console.log(
    `aws-sim: ${nodes} nodes, ${pods} pods (${plain} plain, ${managed} in managed Jobs, the rest the system's)\n`,
  );
  console.log("| informers | objects cached | heap held (MiB) |");
  console.log("| --- | ---: | ---: |");
  for (const config of CONFIGS) {
    const runs = [0, 1].map(() => {
      const r = spawnSync(process.execPath, ["--expose-gc", fileURLToPath(import.meta.url), "--measure", config], {
        encoding: "utf8",
        env: process.env,
        timeout: 300_000,
      });
      const line = r.stdout.split("\n").find((l) => l.startsWith("{"));
      if (!line) throw new Error(`measuring ${config} failed: ${r.stderr}`);
      return JSON.parse(line) as { objects: number; heldBytes: number };
    });
    const mib = runs.map((r) => (r.heldBytes / 2 ** 20).toFixed(1)).join(", ");
    console.log(`| ${config} | ${runs[0]?.objects} | ${mib} |`);
  }
  console.log(`\nfield selector of the capacity pods: ${CAPACITY_POD_FIELDS}`);
  if (!values.keep) await aws.core.deleteNamespace({ name: NAMESPACE });
}
