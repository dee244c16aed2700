// Prometheus metrics of checkpoint replication, registered on a Registry the
// caller passes in (never prom-client's global one): bytes moved, how long a
// step took to replicate, and replication lag. Stores are labelled by their
// root (the bucket, or the Blob account and container), never by the key
// prefix, which holds the job's namespace and name: the number of series
// grows with the stores, not with the jobs. The per-job series (a job's
// current lag per destination store, and the interval between its steps) are
// removed by forgetJob. Requests sent to each store are counted by operation
// (crosscloud_store_requests_total).

import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { formatStoreUri, parseStoreUri } from "./uri.ts";

/** The hooks the replicator calls; `source` and `destination` are store URIs (labelled by their root). */
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

/** The replication metrics of a process that replicates for many jobs. */
export interface JobReplicationMetrics extends ReplicationMetrics {
  /**
   * One request sent to a store (`store` its root URI, `operation` what store-deadline.ts names it,
   * part numbers dropped): crosscloud_store_requests_total{store, op}.
   */
  storeRequest(store: string, operation: string): void;
  /** The hooks for one job's passes (`job` is "<namespace>/<name>"): the same, plus the job's own series. */
  forJob(job: string): JobHooks;
  /** Removes every series of the job; call it when the job is deleted. */
  forgetJob(job: string): void;
}

/** The hooks of one job: replication, with its lag series, and its checkpoint interval. */
export interface JobHooks extends ReplicationMetrics {
  /** Seconds between the job's two newest steps (checkpointIntervalSeconds); undefined leaves the last value. */
  checkpointInterval(seconds: number | undefined): void;
  /** The checkpoint agents' upload lag in steps, by replica index (those reporting); others' series are removed. */
  uploadLag(byReplica: ReadonlyMap<number, number>): void;
}

const LABELS = ["source", "destination"] as const;
const JOB_LAG = "crosscloud_checkpoint_job_replication_lag_seconds";
const JOB_INTERVAL = "crosscloud_checkpoint_job_interval_seconds";
const UPLOAD_LAG = "crosscloud_checkpoint_upload_lag_steps";

/**
 * How often the job commits a step: the seconds between the commit times (manifest createdAt) of the
 * two newest steps of the newest epoch among `steps`; undefined with fewer than two such steps. Steps
 * of one epoch only, so a move's downtime is never taken for an interval.
 */
export function checkpointIntervalSeconds(
  steps: readonly { readonly step: number; readonly epoch: number; readonly createdAt: string }[],
): number | undefined {
  const epoch = Math.max(...steps.map((s) => s.epoch));
  const [newest, previous] = steps.filter((s) => s.epoch === epoch).sort((a, b) => b.step - a.step);
  if (!newest || !previous) return undefined;
  const seconds = (Date.parse(newest.createdAt) - Date.parse(previous.createdAt)) / 1000;
  return Number.isFinite(seconds) && seconds > 0 ? seconds : undefined;
}

/** The label of a store: its URI without the key prefix (`s3://bucket`, `https://acct.blob.core.windows.net/container`). */
export function storeLabel(uri: string): string {
  const parsed = parseStoreUri(uri);
  return parsed.ok ? formatStoreUri({ ...parsed.uri, prefix: "" }) : "invalid";
}

/** Per registry: each job's lag series (their destination labels), so forgetJob finds them. */
const jobSeries = new WeakMap<Registry, Map<string, Set<string>>>();
/** Per registry: each job's upload-lag series (their replica labels). */
const uploadSeries = new WeakMap<Registry, Map<string, Set<string>>>();

/** Registers (or reuses, when already registered on `registry`) the replication metrics. */
export function replicationMetrics(registry: Registry): JobReplicationMetrics {
  const m = register(registry);
  let series = jobSeries.get(registry);
  if (!series) {
    series = new Map();
    jobSeries.set(registry, series);
  }
  const seriesOf = series;
  const uploads = uploadSeries.get(registry) ?? new Map<string, Set<string>>();
  uploadSeries.set(registry, uploads);
  const stores = (source: string, destination: string) => ({
    source: storeLabel(source),
    destination: storeLabel(destination),
  });
  const hooks: ReplicationMetrics = {
    bytesWritten: (source, destination, bytes) => m.written.inc(stores(source, destination), bytes),
    bytesRead: (source, destination, bytes) => m.read.inc(stores(source, destination), bytes),
    stepReplicated: (source, destination, seconds) => m.duration.observe(stores(source, destination), seconds),
    lag: (source, destination, seconds) => m.lag.observe(stores(source, destination), seconds),
    stepFailed: (source, destination, code) => m.failed.inc({ ...stores(source, destination), code }),
  };
  return {
    ...hooks,
    storeRequest: (store, operation) => m.requests.inc({ store: storeLabel(store), op: operationLabel(operation) }),
    forJob: (job) => {
      const [namespace = "", name = ""] = job.split("/");
      return {
        ...hooks,
        lag: (source, destination, seconds) => {
          hooks.lag(source, destination, seconds);
          const label = storeLabel(destination);
          m.jobLag.set({ namespace, name, destination: label }, seconds);
          const mine = seriesOf.get(job) ?? new Set();
          mine.add(label);
          seriesOf.set(job, mine);
        },
        checkpointInterval: (seconds) => {
          if (seconds !== undefined) m.jobInterval.set({ namespace, name }, seconds);
        },
        uploadLag: (byReplica) => {
          const now = new Set([...byReplica.keys()].map(String));
          for (const replica of uploads.get(job) ?? [])
            if (!now.has(replica)) m.uploadLag.remove({ namespace, name, replica });
          for (const [replica, steps] of byReplica)
            m.uploadLag.set({ namespace, name, replica: String(replica) }, steps);
          uploads.set(job, now);
        },
      };
    },
    forgetJob: (job) => {
      const [namespace = "", name = ""] = job.split("/");
      for (const destination of seriesOf.get(job) ?? []) m.jobLag.remove({ namespace, name, destination });
      m.jobInterval.remove({ namespace, name });
      seriesOf.delete(job);
      for (const replica of uploads.get(job) ?? []) m.uploadLag.remove({ namespace, name, replica });
      uploads.delete(job);
    },
  };
}

/** An operation as a label: without the part or block number ("upload of part 7" is "upload of part"). */
export function operationLabel(operation: string): string {
  return operation.replace(/\s*\d+/g, "");
}

function register(registry: Registry) {
  const existing = <M>(name: string) => registry.getSingleMetric(name) as M | undefined;
  const counter = (name: string, help: string, labelNames: readonly string[] = LABELS) =>
    existing<Counter>(name) ?? new Counter({ name, help, labelNames: [...labelNames], registers: [registry] });
  const histogram = (name: string, help: string, buckets: number[]) =>
    existing<Histogram>(name) ?? new Histogram({ name, help, labelNames: [...LABELS], buckets, registers: [registry] });
  return {
    written: counter(
      "crosscloud_checkpoint_bytes_written_total",
      "Bytes of checkpoint data written to a destination store.",
    ),
    read: counter("crosscloud_checkpoint_bytes_read_total", "Bytes of checkpoint data read from the source store."),
    failed: counter("crosscloud_checkpoint_step_failures_total", "Steps that failed to replicate, by error code.", [
      ...LABELS,
      "code",
    ]),
    duration: histogram(
      "crosscloud_checkpoint_step_replication_seconds",
      "Time to replicate one checkpoint step to one destination store.",
      [1, 5, 15, 60, 300, 900, 3600, 14400],
    ),
    lag: histogram(
      "crosscloud_checkpoint_replication_lag_seconds",
      "Seconds between a step's commit at the source store and its commit at the destination store.",
      [5, 15, 30, 60, 120, 300, 900, 1800, 3600, 14400],
    ),
    requests: counter(
      "crosscloud_store_requests_total",
      "Requests sent to a checkpoint store (bucket or container), by operation.",
      ["store", "op"],
    ),
    jobLag:
      existing<Gauge>(JOB_LAG) ??
      new Gauge({
        name: JOB_LAG,
        help: "A TrainingJob's replication lag to a destination store, for the last step replicated there; removed when the job is deleted.",
        labelNames: ["namespace", "name", "destination"],
        registers: [registry],
      }),
    jobInterval:
      existing<Gauge>(JOB_INTERVAL) ??
      new Gauge({
        name: JOB_INTERVAL,
        help: "A TrainingJob's checkpoint interval: seconds between the commits of its two newest steps (of its newest epoch) at its source store; removed when the job is deleted.",
        labelNames: ["namespace", "name"],
        registers: [registry],
      }),
    uploadLag:
      existing<Gauge>(UPLOAD_LAG) ??
      new Gauge({
        name: UPLOAD_LAG,
        help: "A TrainingJob pod's checkpoint upload lag: its newest step on local disk minus the newest committed step, as its checkpoint agent reports; removed when the job is deleted.",
        labelNames: ["namespace", "name", "replica"],
        registers: [registry],
      }),
  };
}
