// The operator's entry point: wiring only. Reads its settings from the
// environment, connects to the hub (KUBECONFIG, or in-cluster), serves health
// and metrics, and runs the controllers while it holds the leader Lease.
//
// Env: KUBECONFIG; HEALTH_PORT (8081; 0 = any); LEADER_ELECTION (true);
// POD_NAMESPACE (crosscloud-system: the only namespace whose Secrets a
// ComputeCluster may name); LEADER_ELECTION_NAMESPACE (POD_NAMESPACE);
// POD_NAME (identity; default host-pid); LOG_LEVEL (info); WORKERS (8);
// CATALOG_FILE (optional instance-type overrides); LEASE_DURATION_MS (15000),
// RENEW_DEADLINE_MS (10000), RETRY_PERIOD_MS (2000) for the leader Lease;
// SCALE_UP_TIMEOUT_MS (600000); CLOUD_API (true; false: no EKS/AKS calls);
// CHECKPOINT_BUFFER_MIB (256), CHECKPOINT_PART_COPIES (16): the process-wide copy budget;
// OPERATOR_IMAGE (the operator's own image, run by the checkpoint-agent sidecar of
// jobs with spec.checkpoint.localDir; unset: those jobs are not launched);
// STALL_TIMEOUT_MS (300000: /healthz fails when a controller has a reconcile
// running and none finished for this long);
// the clouds' own credential env (AWS_*, AZURE_*), and for the sandbox's
// simulator only CROSSCLOUD_AZURE_STATIC_TOKEN.

import { hostname } from "node:os";
import { Catalog, loadCatalogFile } from "./catalog/index.ts";
import { processCopyBudget } from "./checkpoint/copy-budget.ts";
import { CloudTokens, defaultCloudTokenSources } from "./clusters/cloud-auth.ts";
import { azureCredentialFromEnv, cloudProviderFactory, ProviderRegistry } from "./clusters/providers.ts";
import { DEFAULT_OPERATOR_NAMESPACE } from "./clusters/secret-refs.ts";
import { processUploadStuckMs } from "./controller/trainingjob/checkpoint-conditions.ts";
import { processReplicationJobSettings } from "./controller/trainingjob/replication-jobs.ts";
import { KubeConfig } from "./kube/config.ts";
import { Operator } from "./operator.ts";
import { startHealthServer } from "./runtime/health.ts";
import { LeaderElector } from "./runtime/leader.ts";
import { makeLogger } from "./runtime/logger.ts";
import { makeRuntimeMetrics } from "./runtime/metrics.ts";
import { onShutdown } from "./runtime/shutdown.ts";

const env = process.env;
const logger = makeLogger({ level: env.LOG_LEVEL ?? "info" });
const identity = env.POD_NAME ?? `${hostname()}-${process.pid}`;

async function main(): Promise<void> {
  const hub = new KubeConfig();
  hub.loadFromDefault();
  const catalog = env.CATALOG_FILE ? await loadCatalogFile(env.CATALOG_FILE) : Catalog.builtIn();
  const metrics = makeRuntimeMetrics();
  processCopyBudget(); // sized from CHECKPOINT_BUFFER_MIB and CHECKPOINT_PART_COPIES: a bad value stops the start
  processReplicationJobSettings(); // REPLICATION_JOB_THRESHOLD_BYTES, REPLICATION_JOBS_PER_CLUSTER: a bad value stops the start
  processUploadStuckMs(); // CHECKPOINT_UPLOAD_STUCK_SECONDS
  const operator = new Operator({
    hub,
    catalog,
    logger,
    metrics,
    identity,
    namespace: env.POD_NAMESPACE ?? DEFAULT_OPERATOR_NAMESPACE,
    workers: Number(env.WORKERS ?? 8),
    scaleUpTimeoutMs: Number(env.SCALE_UP_TIMEOUT_MS ?? 600_000),
    ...(env.HEARTBEAT_MS ? { heartbeatMs: Number(env.HEARTBEAT_MS) } : {}),
    ...(env.CHECKPOINT_INTERVAL_MS ? { checkpointIntervalMs: Number(env.CHECKPOINT_INTERVAL_MS) } : {}),
    ...(env.KUEUE_UNPLACED_MS ? { kueueUnplacedMs: positiveMs("KUEUE_UNPLACED_MS", 120_000) } : {}),
    ...(env.WORKER_REQUEST_TIMEOUT_MS ? { workerRequestTimeoutMs: Number(env.WORKER_REQUEST_TIMEOUT_MS) } : {}),
    ...(env.HUB_REQUEST_TIMEOUT_MS ? { hubRequestTimeoutMs: Number(env.HUB_REQUEST_TIMEOUT_MS) } : {}),
    ...(env.OPERATOR_IMAGE ? { operatorImage: env.OPERATOR_IMAGE } : {}),
    ...cloudWiring(),
  });
  let leading = false;
  let elector: LeaderElector | undefined;
  const stallMs = positiveMs("STALL_TIMEOUT_MS", 300_000);
  const health = await startHealthServer({
    port: Number(env.HEALTH_PORT ?? 8081),
    registry: metrics.registry,
    ready: () => !leading || operator.synced,
    notReadyReason: () => "leading, but the hub's informers have not synced",
    // A standby is healthy; a leader whose controllers or election loop stopped moving is not.
    unhealthy: () => elector?.stalled() ?? (leading ? operator.stalled(stallMs) : undefined),
  });
  logger.info("crosscloud-operator starting", {
    identity,
    healthPort: health.port,
    healthHost: health.host,
    server: hub.getCurrentCluster()?.server,
  });
  const running: Promise<void>[] = [];
  const shutdown = onShutdown(async () => {
    logger.info("shutting down");
    // The election's end included: a leader releases its Lease after its work returned, so the next
    // replica takes over at once instead of when the Lease expires.
    await Promise.allSettled(running);
    await health.close();
  });
  const lead = (signal: AbortSignal) => {
    leading = true;
    metrics.leader.set(1);
    logger.info("leading");
    const run = operator.run(signal);
    running.push(run);
    return run;
  };
  if (env.LEADER_ELECTION === "false") {
    await lead(shutdown.signal);
    return;
  }
  elector = new LeaderElector({
    kubeConfig: hub,
    namespace: env.LEADER_ELECTION_NAMESPACE ?? env.POD_NAMESPACE ?? DEFAULT_OPERATOR_NAMESPACE,
    name: "crosscloud-operator-leader",
    identity,
    logger,
    leaseDurationMs: Number(env.LEASE_DURATION_MS ?? 15_000),
    renewDeadlineMs: Number(env.RENEW_DEADLINE_MS ?? 10_000),
    retryPeriodMs: Number(env.RETRY_PERIOD_MS ?? 2_000),
  });
  const electing = elector.run(
    {
      onStartedLeading: lead,
      onStoppedLeading: () => {
        metrics.leader.set(0);
        if (shutdown.signal.aborted) return;
        // Lost the Lease while running: exit so that a fresh start cannot act on stale state.
        logger.error("lost leadership; exiting");
        process.exit(1);
      },
    },
    shutdown.signal,
  );
  running.push(electing);
  await electing;
}

/** A duration from the environment, or `fallback` when unset; anything but a positive number stops the start with the variable named. */
function positiveMs(name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const ms = Number(raw);
  if (!Number.isFinite(ms) || ms <= 0)
    throw new Error(`${name} must be a positive number of milliseconds, got "${raw}"`);
  return ms;
}

/** The clouds' node-group APIs and identities; one Azure credential, made when first needed. */
function cloudWiring() {
  if (env.CLOUD_API === "false") return {};
  let azure: ReturnType<typeof azureCredentialFromEnv> | undefined;
  const azureCredential = () => {
    azure ??= azureCredentialFromEnv(env);
    return azure;
  };
  return {
    providers: new ProviderRegistry(cloudProviderFactory({ azureCredential })),
    cloudIdentity: new CloudTokens(defaultCloudTokenSources(azureCredential)),
  };
}

main().catch((err: unknown) => {
  logger.error("crosscloud-operator failed", { error: err instanceof Error ? err.message : String(err) });
  process.exit(1);
});
