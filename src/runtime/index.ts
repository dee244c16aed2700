// The controller runtime in one import: results, the work queue, controllers,
// informers, leader election, metrics, health endpoints, logs and shutdown.

export { type Clock, FakeClock, realClock } from "./clock.ts";
export { Controller, type ControllerOptions } from "./controller.ts";
export { type HealthServer, type HealthServerOptions, startHealthServer } from "./health.ts";
export { Informer, type InformerOptions } from "./informer.ts";
export { type LeaderCallbacks, type LeaderElectionOptions, LeaderElector } from "./leader.ts";
export { type Logger, type LoggerOptions, makeLogger, redact, silentLogger } from "./logger.ts";
export { makeRuntimeMetrics, type RuntimeMetrics } from "./metrics.ts";
export { WorkQueue, type WorkQueueOptions } from "./queue.ts";
export { type ReconcileResult, Result, resultFromThrown, TerminalError, toError } from "./result.ts";
export { onShutdown, type ShutdownOptions } from "./shutdown.ts";
