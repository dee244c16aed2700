// What every phase of a TrainingJob reconcile pass works with: the
// reconciler's options (informers, clients, registry, catalog) and the state
// shared across passes (store credentials, scale-ups, the placer).

import type { ComputeCluster } from "../../api/computecluster.ts";
import type { TrainingJob } from "../../api/trainingjob.ts";
import type { Catalog } from "../../catalog/index.ts";
import type { ProviderRegistry } from "../../clusters/providers.ts";
import type { ClusterRegistry } from "../../clusters/registry.ts";
import type { SecretReader } from "../../clusters/secrets.ts";
import type { StoreSecrets } from "../../clusters/stores.ts";
import type { CustomObjectsApi } from "../../kube/apis.ts";
import type { KueueMetrics } from "../../kueue/metrics.ts";
import type { KueueWorkloads } from "../../kueue/workloads.ts";
import type { Informer } from "../../runtime/informer.ts";
import type { Logger } from "../../runtime/logger.ts";
import type { EventRecorder } from "../events.ts";
import type { CheckpointSync } from "./checkpoints.ts";
import type { FailoverMetrics, JobMetrics } from "./failover-metrics.ts";
import type { Placer } from "./placer.ts";
import type { ScaleUps } from "./scale.ts";

export interface TrainingJobReconcilerOptions {
  readonly custom: CustomObjectsApi;
  readonly jobs: Informer<TrainingJob>;
  readonly clusters: Informer<ComputeCluster>;
  readonly registry: ClusterRegistry;
  readonly catalog: Catalog;
  readonly events: EventRecorder;
  readonly logger: Logger;
  /** Re-place a job whose placement never got going after this long. Default 15 s between placement attempts. */
  readonly placeRetryMs?: number;
  /** Cloud APIs that grow node groups. Absent: a job that fits only after a scale-up waits. */
  readonly providers?: ProviderRegistry;
  /** Nodes not there this long after a scale-up request: the next option is tried. Default 10 min. */
  readonly scaleUpTimeoutMs?: number;
  /** Aborts when this replica stops leading: cloud calls in flight (scale-ups, give-backs) are cancelled. */
  readonly signal?: AbortSignal;
  /** Reads the ComputeClusters' store credential Secrets on the hub (the operator's Secret informer). */
  readonly secretReader: SecretReader;
  /** The only namespace whose Secrets a ComputeCluster may name (the operator's). Absent: any. */
  readonly secretNamespace?: string;
  /** The operator's own image (env OPERATOR_IMAGE): the checkpoint-agent sidecar's. Absent: jobs with spec.checkpoint.localDir are not launched. */
  readonly operatorImage?: string;
  /** Background checkpoint replication. */
  readonly checkpoints: CheckpointSync;
  /** Called after a node group was asked to grow (e.g. to refresh that cluster's cloud listing). */
  readonly onScaleRequested?: (cluster: string) => void;
  /** How often an active job is looked at (its stores get new steps without any event). Default 10 s. */
  readonly checkpointIntervalMs?: number;
  /** Moves by reason, their duration and the work they lost. */
  readonly failoverMetrics?: FailoverMetrics;
  /** First placement latency, scale-ups by outcome and finished jobs, from each pass's events. */
  readonly jobMetrics?: JobMetrics;
  /** The hub's Kueue Workloads (jobs labelled kueue.x-k8s.io/queue-name). Absent: such jobs are held with a condition saying so. */
  readonly kueue?: KueueWorkloads;
  /** How long an admitted job may stay without a placement before its quota is given back. Default 2 min. */
  readonly kueueUnplacedMs?: number;
  readonly kueueMetrics?: KueueMetrics;
  readonly now?: () => Date;
}

export interface PassContext {
  readonly o: TrainingJobReconcilerOptions;
  readonly secrets: StoreSecrets;
  readonly scale: ScaleUps;
  readonly placer: Placer;
  /** Worker namespaces known to exist, by cluster. */
  readonly namespaces: Map<string, Set<string>>;
  /** The step each resume ConfigMap holds, by "<cluster>/<namespace>/<name>" ("" for none). */
  readonly resumeSteps: Map<string, string>;
  /**
   * Placements ("<job uid>/<epoch>") whose status write this pass made: the epoch is new, so no Job of
   * it can be on the worker yet, and the launch that follows does not ask the worker for one.
   */
  readonly placedThisPass: Set<string>;
}

export function placementKeyOf(job: TrainingJob, epoch: number): string {
  return `${job.metadata.uid}/${epoch}`;
}

/** "namespace/name" of a TrainingJob: its work-queue key. */
export function keyOf(job: TrainingJob): string {
  return `${job.metadata.namespace}/${job.metadata.name}`;
}
