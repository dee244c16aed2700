// Prometheus metrics of checkpoint replication, registered on a Registry the
// caller passes in (never prom-client's global one): bytes moved, how long a
// step took to replicate, and replication lag.

import { Counter, Gauge, Histogram, type Registry } from "prom-client";

/** The hooks the replicator calls; `destination` is the destination store's URI. */
export interface ReplicationMetrics {
  /** Bytes written to a destination (parts and small files; skipped ones not counted). */
  bytesWritten(source: string, destination: string, bytes: number): void;
  /** Bytes read from the source, including re-reads that only feed checksums. */
  bytesRead(source: string, destination: string, bytes: number): void;
  /** One step replicated to a destination, in `seconds`. */
  stepReplicated(source: string, destination: string, seconds: number): void;
  /** Seconds from the step's commit at the source to its commit at the destination. */
  lag(source: string, destination: string, seconds: number): void;
  /** A step that failed to replicate, by error code. */
  stepFailed(source: string, destination: string, code: string): void;
}

const LABELS = ["source", "destination"] as const;

/** Registers (or reuses, when already registered on `registry`) the replication metrics. */
export function replicationMetrics(registry: Registry): ReplicationMetrics {
  const counter = (name: string, help: string, labelNames: readonly string[] = LABELS) =>
    (registry.getSingleMetric(name) as Counter | undefined) ??
    new Counter({ name, help, labelNames: [...labelNames], registers: [registry] });
  const written = counter(
    "crosscloud_checkpoint_bytes_written_total",
    "Bytes of checkpoint data written to a destination store.",
  );
  const read = counter(
    "crosscloud_checkpoint_bytes_read_total",
    "Bytes of checkpoint data read from the source store.",
  );
  const failed = counter(
    "crosscloud_checkpoint_step_failures_total",
    "Steps that failed to replicate, by error code.",
    [...LABELS, "code"],
  );
  const duration =
    (registry.getSingleMetric("crosscloud_checkpoint_step_replication_seconds") as Histogram | undefined) ??
    new Histogram({
      name: "crosscloud_checkpoint_step_replication_seconds",
      help: "Time to replicate one checkpoint step to one destination store.",
      labelNames: [...LABELS],
      buckets: [1, 5, 15, 60, 300, 900, 3600, 14400],
      registers: [registry],
    });
  const lag =
    (registry.getSingleMetric("crosscloud_checkpoint_replication_lag_seconds") as Gauge | undefined) ??
    new Gauge({
      name: "crosscloud_checkpoint_replication_lag_seconds",
      help: "Seconds between a step's commit at the source and its commit at the destination, for the last step replicated.",
      labelNames: [...LABELS],
      registers: [registry],
    });
  return {
    bytesWritten: (source, destination, bytes) => written.inc({ source, destination }, bytes),
    bytesRead: (source, destination, bytes) => read.inc({ source, destination }, bytes),
    stepReplicated: (source, destination, seconds) => duration.observe({ source, destination }, seconds),
    lag: (source, destination, seconds) => lag.set({ source, destination }, seconds),
    stepFailed: (source, destination, code) => failed.inc({ source, destination, code }),
  };
}
