// Prometheus metrics of failover: moves by reason, from and to; how long a
// move took from its trigger to the new epoch running; and the training time
// it lost (trigger minus the commit time of the step it resumed from).

import { Counter, Histogram, type Registry } from "prom-client";

export interface FailoverMetrics {
  moved(reason: string, from: string, to: string): void;
  /** Seconds from the trigger to the new epoch running. */
  duration(reason: string, seconds: number): void;
  lostWork(reason: string, seconds: number): void;
}

const BUCKETS = [5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1800, 3600];

/** Registers (or reuses, when already registered on `registry`) the failover metrics. */
export function failoverMetrics(registry: Registry): FailoverMetrics {
  const moves =
    (registry.getSingleMetric("crosscloud_failovers_total") as Counter<"reason" | "from" | "to"> | undefined) ??
    new Counter({
      name: "crosscloud_failovers_total",
      help: "TrainingJob moves to another cluster or node group, by reason, from and to (cluster names).",
      labelNames: ["reason", "from", "to"],
      registers: [registry],
    });
  const histogram = (name: string, help: string) =>
    (registry.getSingleMetric(name) as Histogram<"reason"> | undefined) ??
    new Histogram({ name, help, labelNames: ["reason"], buckets: BUCKETS, registers: [registry] });
  const duration = histogram(
    "crosscloud_failover_duration_seconds",
    "Seconds from a failover's trigger to the new epoch having all replicas running.",
  );
  const lost = histogram(
    "crosscloud_failover_lost_work_seconds",
    "Training seconds a failover lost: the trigger time minus the commit time of the step resumed from.",
  );
  return {
    moved: (reason, from, to) => moves.inc({ reason, from, to }),
    duration: (reason, s) => duration.observe({ reason }, s),
    lostWork: (reason, s) => lost.observe({ reason }, s),
  };
}
