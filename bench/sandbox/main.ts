// bench/sandbox: how long `sandbox:up` takes with cached binaries, and how the
// number of fake nodes changes it, and how long `sandbox:down` takes.
// Prints a table; results are recorded in docs/benchmarks.md.
//
//   npm run bench:sandbox [-- --rounds 3 --nodes 8,200,800]
// (--nodes is the total number of worker nodes, spread over aws-sim/trn1 and azure-sim/ndh100)

import { parseArgs } from "node:util";
import { down, up } from "../../scripts/sandbox/sandbox.ts";
import { defaultTopology } from "../../scripts/sandbox/topology.ts";

const { values } = parseArgs({
  options: { rounds: { type: "string", default: "3" }, nodes: { type: "string", default: "16,200,800" } },
});
const rounds = Number(values.rounds);
const totals = (values.nodes ?? "").split(",").map(Number);

function topologyWith(total: number) {
  if (total <= 16) return defaultTopology({ ...process.env, SANDBOX_NODES: "" });
  // trn2, p5 and ndh100spot keep their 8 nodes; trn1 and ndh100 share the rest.
  const extra = total - 8;
  const trn1 = Math.ceil(extra / 2);
  return defaultTopology({ ...process.env, SANDBOX_NODES: `aws-sim/trn1=${trn1},azure-sim/ndh100=${extra - trn1}` });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

const rows: string[][] = [["worker nodes", "rounds", "up p50 (s)", "up max (s)", "down p50 (s)"]];
for (const total of totals) {
  const ups: number[] = [];
  const downs: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now();
    await up(topologyWith(total));
    ups.push((performance.now() - t0) / 1000);
    const t1 = performance.now();
    await down();
    downs.push((performance.now() - t1) / 1000);
  }
  rows.push([
    String(total),
    String(rounds),
    median(ups).toFixed(1),
    Math.max(...ups).toFixed(1),
    median(downs).toFixed(1),
  ]);
}
const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => r[i]?.length ?? 0))) ?? [];
console.log(rows.map((r) => `| ${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join(" | ")} |`).join("\n"));
