// Prometheus metrics of TrainingJobs queued through Kueue: jobs per LocalQueue
// and admission state (read from the jobs when scraped), and the evictions the
// operator carried out, per ClusterQueue, LocalQueue and Kueue's reason.

import { Counter, Gauge, type Registry } from "prom-client";
import type { TrainingJob } from "../api/trainingjob.ts";
import { QUEUE_NAME_LABEL } from "./workload.ts";

export interface KueueMetrics {
  evicted(clusterQueue: string, queue: string, reason: string): void;
}

/** Registers (or reuses) the Kueue metrics; `jobs` is read at scrape time. */
export function kueueMetrics(registry: Registry, jobs: () => readonly TrainingJob[]): KueueMetrics {
  const evictions =
    (registry.getSingleMetric("crosscloud_kueue_evictions_total") as Counter<string> | undefined) ??
    new Counter({
      name: "crosscloud_kueue_evictions_total",
      help: "Kueue evictions of TrainingJobs the operator carried out (pods stopped, quota given back), by ClusterQueue, LocalQueue and Kueue's reason.",
      labelNames: ["cluster_queue", "queue", "reason"],
      registers: [registry],
    });
  if (!registry.getSingleMetric("crosscloud_kueue_trainingjobs"))
    new Gauge({
      name: "crosscloud_kueue_trainingjobs",
      help: "TrainingJobs queued through Kueue, by namespace, LocalQueue and admission (the Admitted condition's reason: Admitted, Pending, Preempted, ...).",
      labelNames: ["namespace", "queue", "admission"],
      registers: [registry],
      collect() {
        this.reset();
        const counts = new Map<string, { namespace: string; queue: string; admission: string; n: number }>();
        for (const j of jobs()) {
          const queue = j.metadata.labels?.[QUEUE_NAME_LABEL];
          if (!queue) continue;
          const admission = j.status?.conditions?.find((c) => c.type === "Admitted")?.reason ?? "Unknown";
          const namespace = j.metadata.namespace ?? "";
          const key = `${namespace}\0${queue}\0${admission}`;
          const c = counts.get(key) ?? { namespace, queue, admission, n: 0 };
          c.n++;
          counts.set(key, c);
        }
        for (const c of counts.values())
          this.set({ namespace: c.namespace, queue: c.queue, admission: c.admission }, c.n);
      },
    });
  return { evicted: (cluster_queue, queue, reason) => evictions.inc({ cluster_queue, queue, reason }) };
}
