// A process's CPU time and memory from /proc (Linux), for benches that measure
// the operator's process from outside.

import { readFileSync } from "node:fs";

/** User + system CPU seconds the process has used (utime + stime, in clock ticks of 1/100 s). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** A memory figure of /proc/<pid>/status in MiB: VmHWM (peak RSS), VmRSS (RSS now), RssAnon or RssFile (its parts). */
export function procStatusMiB(pid: number, field: "VmHWM" | "VmRSS" | "RssAnon" | "RssFile"): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${field}:`));
  return Number(line?.split(/\s+/)[1] ?? 0) / 1024;
}
