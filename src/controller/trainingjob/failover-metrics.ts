// Prometheus metrics of where a TrainingJob runs and how it got there. Of
// failover: moves by reason, from and to; how long a move took from its
// trigger to the new epoch running; and the training time it lost (trigger
// minus the commit time of the step it resumed from). Of a pass's outcome,
// read from the events it sent after its status write (jobMetrics): how long
// the first placement took, scale-ups by outcome, and jobs finished.

import { Counter, Histogram, type Registry } from "prom-client";
import type { TrainingJob } from "../../api/trainingjob.ts";
import type { PendingEvent } from "../events.ts";

export interface FailoverMetrics {
  moved(reason: string, from: string, to: string): void;
  /** Seconds from the trigger to the new epoch running. */
  duration(reason: string, seconds: number): void;
  lostWork(reason: string, seconds: number): void;
}

const BUCKETS = [5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1800, 3600];
/**
 * Lost work is training time: minutes to hours. The alert on lost work compares with one of these
 * bounds (the chart's metrics.prometheusRule.failoverLostWorkSeconds must be one of them).
 */
export const LOST_WORK_BUCKETS = [
  5, 15, 30, 60, 120, 300, 600, 900, 1200, 1800, 2700, 3600, 5400, 7200, 10800, 14400, 21600, 43200, 86400,
];

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
  const histogram = (name: string, help: string, buckets: number[]) =>
    (registry.getSingleMetric(name) as Histogram<"reason"> | undefined) ??
    new Histogram({ name, help, labelNames: ["reason"], buckets, registers: [registry] });
  const duration = histogram(
    "crosscloud_failover_duration_seconds",
    "Seconds from a failover's trigger to the new epoch having all replicas running.",
    BUCKETS,
  );
  const lost = histogram(
    "crosscloud_failover_lost_work_seconds",
    "Training seconds a failover lost: the trigger time minus the commit time of the step resumed from.",
    LOST_WORK_BUCKETS,
  );
  return {
    moved: (reason, from, to) => moves.inc({ reason, from, to }),
    duration: (reason, s) => duration.observe({ reason }, s),
    lostWork: (reason, s) => lost.observe({ reason }, s),
  };
}

/** What one pass of a job tells the metrics (jobObservations). */
export type JobObservation =
  | { readonly kind: "placed"; readonly cloud: string; readonly seconds: number }
  | { readonly kind: "scaleUp"; readonly cluster: string; readonly outcome: ScaleUpOutcome }
  | { readonly kind: "finished"; readonly phase: "Succeeded" | "Failed"; readonly reason: string };

export type ScaleUpOutcome = "requested" | "succeeded" | "timed_out" | "refused";

/** The scale-up events (scale.ts) and their outcome label. */
const SCALE_EVENTS: Readonly<Record<string, ScaleUpOutcome>> = {
  ScalingUp: "requested",
  ScaledUp: "succeeded",
  ScaleUpTimedOut: "timed_out",
  ScaleUpFailed: "refused",
};

/**
 * What a pass that turned `before` into `after` (its status written) and sent `events` observed
 * (pure). Events are sent only after the status write that they describe succeeded, so a pass whose
 * write failed observes nothing, and its retry observes once.
 */
export function jobObservations(
  before: TrainingJob,
  after: TrainingJob,
  events: readonly PendingEvent[],
): JobObservation[] {
  const out: JobObservation[] = [];
  for (const e of events) {
    const outcome = SCALE_EVENTS[e.reason];
    if (outcome) out.push({ kind: "scaleUp", cluster: scaleUpCluster(before, after, outcome), outcome });
    else if (e.reason === "Placed") {
      // The first placement only (epoch 1): a later epoch's is a move, timed by the failover metrics.
      const p = after.status?.placement;
      const seconds = (Date.parse(p?.placedAt ?? "") - Date.parse(String(after.metadata.creationTimestamp))) / 1000;
      if (after.status?.epoch === 1 && p && Number.isFinite(seconds))
        out.push({ kind: "placed", cloud: p.cloud ?? "none", seconds: Math.max(0, seconds) });
    } else if (e.reason === "Succeeded" || e.reason === "Failed") {
      const reason = after.status?.conditions?.find((c) => c.type === e.reason)?.reason ?? e.reason;
      out.push({ kind: "finished", phase: e.reason, reason });
    }
  }
  return out;
}

/** The cluster of the scale-up an event is about: the one asked for, the one waited on, or the one refused. */
function scaleUpCluster(before: TrainingJob, after: TrainingJob, outcome: ScaleUpOutcome): string {
  if (outcome === "requested") return after.status?.scaleUp?.cluster ?? "";
  if (outcome === "refused") return after.status?.excludedNodeGroups?.at(-1)?.cluster ?? "";
  return before.status?.scaleUp?.cluster ?? "";
}

export interface JobMetrics {
  /** Records what a pass observed (jobObservations), after its events were sent. */
  recorded(before: TrainingJob, after: TrainingJob, events: readonly PendingEvent[]): void;
}

/** Registers (or reuses) crosscloud_placement_duration_seconds, crosscloud_scaleups_total and crosscloud_trainingjobs_finished_total. */
export function jobMetrics(registry: Registry): JobMetrics {
  const existing = <M>(name: string) => registry.getSingleMetric(name) as M | undefined;
  const placement =
    existing<Histogram<"cloud">>("crosscloud_placement_duration_seconds") ??
    new Histogram({
      name: "crosscloud_placement_duration_seconds",
      help: "Seconds from a TrainingJob's creation to its first placement (waiting for capacity and scale-ups included), by the cloud placed on.",
      labelNames: ["cloud"],
      buckets: [1, 2, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 21600, 86400],
      registers: [registry],
    });
  const scaleUps =
    existing<Counter<"cluster" | "outcome">>("crosscloud_scaleups_total") ??
    new Counter({
      name: "crosscloud_scaleups_total",
      help: "Node-group scale-ups for TrainingJobs, by cluster and outcome: requested, succeeded (the job was placed), timed_out (the nodes did not come in time), refused (by the cloud).",
      labelNames: ["cluster", "outcome"],
      registers: [registry],
    });
  const finished =
    existing<Counter<"phase" | "reason">>("crosscloud_trainingjobs_finished_total") ??
    new Counter({
      name: "crosscloud_trainingjobs_finished_total",
      help: "TrainingJobs that finished, by phase (Succeeded, Failed) and the reason of that condition.",
      labelNames: ["phase", "reason"],
      registers: [registry],
    });
  return {
    recorded(before, after, events) {
      for (const o of jobObservations(before, after, events)) {
        if (o.kind === "placed") placement.observe({ cloud: o.cloud }, o.seconds);
        else if (o.kind === "scaleUp") scaleUps.inc({ cluster: o.cluster, outcome: o.outcome });
        else finished.inc({ phase: o.phase, reason: o.reason });
      }
    },
  };
}
