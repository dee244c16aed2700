// The operator's Prometheus metrics, registered on a Registry the caller passes
// in (never prom-client's global one): reconcile duration and errors, work
// queue depth, TrainingJobs by phase and cloud, ComputeClusters reachable and
// ready, API requests, whether this replica leads, and the process defaults.

import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export interface RuntimeMetrics {
  readonly registry: Registry;
  /** crosscloud_reconcile_duration_seconds{controller,result}; result is the ReconcileResult kind. */
  readonly reconcileDuration: Histogram<"controller" | "result">;
  /** crosscloud_reconcile_errors_total{controller}: passes that ended in a retry or terminal error. */
  readonly reconcileErrors: Counter<"controller">;
  /** crosscloud_workqueue_depth{controller}: keys ready to be processed, read at scrape time. */
  readonly queueDepth: Gauge<"controller">;
  /** crosscloud_trainingjobs{phase,cloud}: TrainingJobs in each phase, read at scrape time (observePhases). */
  readonly jobsByPhase: Gauge<"phase" | "cloud">;
  /** crosscloud_api_requests_total{cluster,verb}: Kubernetes API requests the operator made. */
  readonly apiRequests: Counter<"cluster" | "verb">;
  /** crosscloud_leader: 1 while this replica leads (holds the Lease, or runs without election), else 0. */
  readonly leader: Gauge;
  /** crosscloud_computecluster_reachable{cluster,cloud}: 1 while its Reachable condition is True (observeClusters). */
  readonly clusterReachable: Gauge<"cluster" | "cloud">;
  /** crosscloud_computecluster_ready{cluster,cloud}: 1 while its Ready condition is True (observeClusters). */
  readonly clusterReady: Gauge<"cluster" | "cloud">;
  /** Reports `depth()` as the controller's queue depth at every scrape; returns the undo. */
  observeQueue(controller: string, depth: () => number): () => void;
  /** Reports `count()` as the TrainingJobs by phase and cloud at every scrape (and only those); returns the undo. */
  observePhases(count: () => Iterable<PhaseCount>): () => void;
  /** Reports `read()` as the ComputeClusters' reachability and readiness at every scrape (and only those); returns the undo. */
  observeClusters(read: () => Iterable<ClusterState>): () => void;
}

/** TrainingJobs in one phase on one cloud ("none": not placed). */
export interface PhaseCount {
  readonly phase: string;
  readonly cloud: string;
  readonly count: number;
}

/** A ComputeCluster's conditions as the gauges show them. */
export interface ClusterState {
  readonly cluster: string;
  readonly cloud: string;
  readonly reachable: boolean;
  readonly ready: boolean;
}

type Named = { readonly name: string };

/** Queue depth readers per registry, so a second makeRuntimeMetrics on one registry shares them. */
const queueReaders = new WeakMap<Registry, Map<string, () => number>>();
/** The phase counter per registry (one: the operator's TrainingJob informer). */
const phaseCounters = new WeakMap<Registry, Map<"reader", () => Iterable<PhaseCount>>>();
/** The ComputeCluster reader per registry (one: the operator's ComputeCluster informer). */
const clusterReaders = new WeakMap<Registry, Map<"reader", () => Iterable<ClusterState>>>();

function readersFor(registry: Registry): Map<string, () => number> {
  return readersIn(queueReaders, registry);
}

function phaseReaders(registry: Registry): Map<"reader", () => Iterable<PhaseCount>> {
  return readersIn(phaseCounters, registry);
}

function readersIn<K, V>(all: WeakMap<Registry, Map<K, V>>, registry: Registry): Map<K, V> {
  let readers = all.get(registry);
  if (!readers) {
    readers = new Map();
    all.set(registry, readers);
  }
  return readers;
}

function reuse<M>(registry: Registry, config: Named, make: () => M): M {
  return (registry.getSingleMetric(config.name) as M | undefined) ?? make();
}

/** Registers the runtime metrics on `registry` (a new one by default); safe to call twice on one registry. */
export function makeRuntimeMetrics(registry: Registry = new Registry()): RuntimeMetrics {
  const registers = [registry];
  const queues = readersFor(registry);
  const phases = phaseReaders(registry);
  const clusters = readersIn(clusterReaders, registry);
  if (!registry.getSingleMetric("process_cpu_seconds_total")) collectDefaultMetrics({ register: registry });
  const depth = { name: "crosscloud_workqueue_depth" };
  const metrics: RuntimeMetrics = {
    registry,
    reconcileDuration: reuse(registry, { name: "crosscloud_reconcile_duration_seconds" }, () => {
      return new Histogram({
        name: "crosscloud_reconcile_duration_seconds",
        help: "Time of one reconcile pass, by controller and result (done, requeueAfter, retry, terminal).",
        labelNames: ["controller", "result"],
        buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
        registers,
      });
    }),
    reconcileErrors: reuse(registry, { name: "crosscloud_reconcile_errors_total" }, () => {
      return new Counter({
        name: "crosscloud_reconcile_errors_total",
        help: "Reconcile passes that ended in an error (retried or terminal).",
        labelNames: ["controller"],
        registers,
      });
    }),
    queueDepth: reuse(registry, depth, () => {
      return new Gauge({
        name: depth.name,
        help: "Keys ready in a controller's work queue.",
        labelNames: ["controller"],
        registers,
        collect() {
          for (const [controller, read] of queues) this.set({ controller }, read());
        },
      });
    }),
    jobsByPhase: reuse(registry, { name: "crosscloud_trainingjobs" }, () => {
      return new Gauge({
        name: "crosscloud_trainingjobs",
        help: "TrainingJobs by phase and by the cloud of their placement (none: not placed).",
        labelNames: ["phase", "cloud"],
        registers,
        collect() {
          // Counted when scraped, not after every reconcile: the count costs O(jobs).
          const read = phases.get("reader");
          if (!read) return;
          this.reset(); // a phase and cloud no job is in any more has no series
          for (const { phase, cloud, count } of read()) this.set({ phase, cloud }, count);
        },
      });
    }),
    apiRequests: reuse(registry, { name: "crosscloud_api_requests_total" }, () => {
      return new Counter({
        name: "crosscloud_api_requests_total",
        help: "Kubernetes API requests made by the operator, by cluster and verb.",
        labelNames: ["cluster", "verb"],
        registers,
      });
    }),
    leader: reuse(registry, { name: "crosscloud_leader" }, () => {
      return new Gauge({
        name: "crosscloud_leader",
        help: "1 while this replica leads (holds the leader Lease, or runs without leader election), else 0.",
        registers,
      });
    }),
    clusterReachable: clusterGauge(registry, "reachable", clusters, (s) => s.reachable),
    clusterReady: clusterGauge(registry, "ready", clusters, (s) => s.ready),
    observeClusters(read) {
      clusters.set("reader", read);
      return () => {
        if (clusters.get("reader") === read) clusters.delete("reader");
        metrics.clusterReachable.reset();
        metrics.clusterReady.reset();
      };
    },
    observePhases(read) {
      phases.set("reader", read);
      return () => {
        if (phases.get("reader") === read) phases.delete("reader");
      };
    },
    observeQueue(controller, read) {
      queues.set(controller, read);
      return () => {
        if (queues.get(controller) === read) queues.delete(controller);
        metrics.queueDepth.remove({ controller });
      };
    },
  };
  return metrics;
}

/** crosscloud_computecluster_<condition>{cluster,cloud}: 1 or 0 per ComputeCluster, read at scrape time. */
function clusterGauge(
  registry: Registry,
  condition: "reachable" | "ready",
  readers: ReadonlyMap<"reader", () => Iterable<ClusterState>>,
  value: (s: ClusterState) => boolean,
): Gauge<"cluster" | "cloud"> {
  const name = `crosscloud_computecluster_${condition}`;
  const title = condition === "ready" ? "Ready" : "Reachable";
  return reuse(registry, { name }, () => {
    return new Gauge({
      name,
      help: `1 while the ComputeCluster's ${title} condition is True, else 0; by cluster and cloud.`,
      labelNames: ["cluster", "cloud"],
      registers: [registry],
      collect() {
        // Read when scraped (a list of the informer's ComputeClusters, a few per hub).
        const read = readers.get("reader");
        if (!read) return;
        this.reset(); // a deleted ComputeCluster has no series
        for (const s of read()) this.set({ cluster: s.cluster, cloud: s.cloud }, value(s) ? 1 : 0);
      },
    });
  });
}
