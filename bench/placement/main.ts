// bench/placement: how long the pure placement decision takes for 1,000
// pending jobs against 20 clusters of 10 node groups each (200 groups).
// Prints a table of per-job p50/p99/max and the total; results are recorded
// in docs/benchmarks.md ("Placement").
//
//   scripts/node24.sh node bench/placement/main.ts [-- --jobs 1000 --clusters 20 --groups 10 --rounds 5]

import { parseArgs } from "node:util";
import { placeJob } from "../../src/placement/place.ts";
import type { ClusterSnapshot, NodeGroupSnapshot, PlacementRequest } from "../../src/placement/types.ts";

const { values } = parseArgs({
  options: {
    jobs: { type: "string", default: "1000" },
    clusters: { type: "string", default: "20" },
    groups: { type: "string", default: "10" },
    rounds: { type: "string", default: "5" },
  },
});

/** A small deterministic PRNG (mulberry32), so every run decides the same inputs. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TYPES = [
  { instanceType: "trn1.32xlarge", accelerator: "trainium1", devicesPerNode: 16, price: 21.5 },
  { instanceType: "trn2.48xlarge", accelerator: "trainium2", devicesPerNode: 16, price: 35.76 },
  { instanceType: "p5.48xlarge", accelerator: "nvidia-h100", devicesPerNode: 8, price: 55.04 },
  { instanceType: "p4d.24xlarge", accelerator: "nvidia-a100", devicesPerNode: 8, price: 21.96 },
  { instanceType: "Standard_ND96isr_H100_v5", accelerator: "nvidia-h100", devicesPerNode: 8, price: 98.32 },
  { instanceType: "Standard_NC24ads_A100_v4", accelerator: "nvidia-a100", devicesPerNode: 1, price: 3.67 },
] as const;

function group(rnd: () => number, i: number): NodeGroupSnapshot {
  const t = TYPES[Math.floor(rnd() * TYPES.length)] ?? TYPES[0];
  const nodes = Math.floor(rnd() * 64);
  return {
    name: `g${i}`,
    instanceType: t.instanceType,
    accelerator: t.accelerator,
    devicesPerNode: t.devicesPerNode,
    capacityType: rnd() < 0.3 ? "Spot" : "OnDemand",
    nodes,
    readyNodes: nodes,
    freeNodes: Math.floor(rnd() * (nodes + 1)),
    minSize: 0,
    maxSize: nodes + Math.floor(rnd() * 64),
    desiredSize: nodes,
    pricePerHour: (t.price * (0.8 + rnd() * 0.4)).toFixed(2),
    autoscalerOwned: rnd() < 0.1,
  };
}

function snapshot(rnd: () => number, clusters: number, groups: number): ClusterSnapshot[] {
  return Array.from({ length: clusters }, (_, c) => ({
    name: `cluster-${c}`,
    cloud: c % 2 === 0 ? "aws" : "azure",
    ready: rnd() > 0.05,
    paused: rnd() < 0.05,
    nodeGroups: Array.from({ length: groups }, (_, g) => group(rnd, g)),
  }));
}

function job(rnd: () => number, clusters: number): PlacementRequest {
  const options = [...TYPES].sort(() => rnd() - 0.5).slice(0, 1 + Math.floor(rnd() * 3));
  return {
    replicas: 1 + Math.floor(rnd() * 32),
    accelerators: options.map((t) => ({ type: t.accelerator, perReplica: t.devicesPerNode })),
    capacityType: (["OnDemand", "Spot", "Any"] as const)[Math.floor(rnd() * 3)] ?? "Any",
    strategy: rnd() < 0.5 ? "LowestCost" : "Preference",
    checkpoint:
      rnd() < 0.5 ? { clusters: [`cluster-${Math.floor(rnd() * clusters)}`], sizeBytes: rnd() * 2 ** 40 } : undefined,
  };
}

const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
const us = (ms: number) => `${(ms * 1000).toFixed(1)}`;

const [jobs, clusters, groups, rounds] = [values.jobs, values.clusters, values.groups, values.rounds].map(Number) as [
  number,
  number,
  number,
  number,
];
const rnd = random(42);
const clusterSnapshot = snapshot(rnd, clusters, groups);
const requests = Array.from({ length: jobs }, () => job(rnd, clusters));
for (const r of requests.slice(0, 200)) placeJob(r, clusterSnapshot); // warm-up: let the JIT settle

const rows: string[][] = [
  ["round", "jobs", "groups", "p50/job (µs)", "p99/job (µs)", "max/job (µs)", "total (ms)", "placed"],
];
for (let round = 1; round <= rounds; round++) {
  const times: number[] = [];
  let placed = 0;
  const t0 = performance.now();
  for (const r of requests) {
    const start = performance.now();
    const d = placeJob(r, clusterSnapshot);
    times.push(performance.now() - start);
    if (d.winner) placed++;
  }
  const total = performance.now() - t0;
  times.sort((a, b) => a - b);
  const cells = [
    String(round),
    String(jobs),
    String(clusters * groups),
    us(quantile(times, 0.5)),
    us(quantile(times, 0.99)),
  ];
  rows.push([...cells, us(times.at(-1) ?? NaN), total.toFixed(1), String(placed)]);
}

const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
const line = (r: string[]) => `| ${r.map((c, i) => c.padStart(widths[i] ?? 0)).join(" | ")} |`;
console.log(line(rows[0] ?? []));
console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
for (const r of rows.slice(1)) console.log(line(r));
console.log(`\nNode ${process.version}, ${(await import("node:os")).cpus()[0]?.model ?? "unknown CPU"}`);
