// Summaries of a V8 heap snapshot and a CPU profile (the files Node writes
// with --heapsnapshot-signal and --cpu-prof), as small markdown tables: where
// the memory and the time of a benchmark's operator go.

import { readFileSync } from "node:fs";

export interface Share {
  readonly what: string;
  readonly amount: number;
  readonly count?: number;
}

interface HeapSnapshot {
  readonly snapshot: { readonly meta: { readonly node_fields: string[]; readonly node_types: unknown[] } };
  readonly nodes: number[];
  readonly strings: string[];
}

/** Node types whose name is not a constructor: summed under one label each. */
const KIND_LABELS: Record<string, string> = {
  string: "(strings)",
  "concatenated string": "(strings)",
  "sliced string": "(strings)",
  number: "(heap numbers)",
  code: "(compiled code)",
  closure: "(closures)",
  array: "(internal arrays)",
  hidden: "(V8 internals)",
  "object shape": "(V8 internals)",
  regexp: "(regexps)",
  bigint: "(bigints)",
  symbol: "(symbols)",
  native: "(native)",
  synthetic: "(V8 internals)",
};

/** Self size of every object in the snapshot, by constructor (objects) or kind (the rest), largest first. */
export function heapByType(path: string): { total: number; shares: Share[] } {
  const snap = JSON.parse(readFileSync(path, "utf8")) as HeapSnapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0] as string[];
  const width = fields.length;
  const [typeAt, nameAt, sizeAt] = ["type", "name", "self_size"].map((f) => fields.indexOf(f)) as [
    number,
    number,
    number,
  ];
  const by = new Map<string, { amount: number; count: number }>();
  let total = 0;
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + typeAt] ?? 0] ?? "?";
    const size = snap.nodes[i + sizeAt] ?? 0;
    const what = type === "object" ? (snap.strings[snap.nodes[i + nameAt] ?? 0] ?? "?") : (KIND_LABELS[type] ?? type);
    const entry = by.get(what) ?? { amount: 0, count: 0 };
    entry.amount += size;
    entry.count += 1;
    by.set(what, entry);
    total += size;
  }
  const shares = [...by].map(([what, e]) => ({ what, ...e })).sort((a, b) => b.amount - a.amount);
  return { total, shares };
}

interface CpuProfile {
  readonly nodes: readonly {
    readonly id: number;
    readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  }[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** Where a source file belongs: a package under node_modules, the project's own file, or Node itself. */
function ownerOf(url: string): string {
  if (!url) return "(V8: garbage collection, idle, program)";
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1] ?? url;
  const own = /\/((?:src|bench|test|scripts)\/.*)$/.exec(url);
  if (own) return own[1] ?? url;
  if (url.startsWith("node:")) return "(Node.js built-ins)";
  return url;
}

/** Self time (ms) of a CPU profile by function and by the package or file it is in, largest first. */
export function cpuByFunction(path: string): { totalMs: number; functions: Share[]; owners: Share[] } {
  const profile = JSON.parse(readFileSync(path, "utf8")) as CpuProfile;
  const frameOf = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const fns = new Map<string, number>();
  const owners = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    const frame = frameOf.get(id);
    const owner = ownerOf(frame?.url ?? "");
    const fn = frame?.url
      ? `${frame.functionName || "(anonymous)"} (${owner}:${(frame.lineNumber ?? 0) + 1})`
      : frame?.functionName || "(unknown)";
    fns.set(fn, (fns.get(fn) ?? 0) + ms);
    owners.set(owner, (owners.get(owner) ?? 0) + ms);
    total += ms;
  });
  const sorted = (m: Map<string, number>) =>
    [...m].map(([what, amount]) => ({ what, amount })).sort((a, b) => b.amount - a.amount);
  return { totalMs: total, functions: sorted(fns), owners: sorted(owners) };
}

/** A markdown table of the first `top` shares with their part of `total`. */
export function shareTable(header: [string, string], shares: readonly Share[], total: number, top = 12): string {
  const rows = shares
    .slice(0, top)
    .map((s) => `| ${s.what} | ${s.amount.toFixed(1)} | ${((100 * s.amount) / total).toFixed(1)} % |`);
  return [`| ${header[0]} | ${header[1]} | share |`, "| --- | ---: | ---: |", ...rows].join("\n");
}
