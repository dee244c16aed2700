// The two checkpoint conditions of a running job, pure: CheckpointReplicated
// (does every other store hold the newest step of the placement's store) from
// a replication pass's result, and CheckpointUploaded (are the checkpoint
// agents' local steps reaching the store) from the agents' reports, with the
// per-pod rows of status.checkpoint.agents and their upload lag.

import { CONDITION } from "../../api/conditions.ts";
import type { AgentReport } from "../../checkpoint/agent/report.ts";
import { redactText } from "../../runtime/logger.ts";
import type { ConditionInput } from "../conditions.ts";
import type { SyncResult } from "./checkpoints.ts";
import { wholeNumber } from "./replication-jobs.ts";

/** Reasons of the CheckpointReplicated condition. */
export const REPLICATED = {
  Replicated: "Replicated",
  Replicating: "Replicating",
  NoCheckpoint: "NoCheckpoint",
  /** Steps failed to copy, or the whole pass failed. */
  ReplicationFailed: "ReplicationFailed",
  /** A store's credentials cannot be had: that store is left out (or, for the job's own, no pass runs). */
  StoreUnavailable: "StoreUnavailable",
} as const;

/**
 * CheckpointReplicated: whether every other store holds the newest step of the placement's store.
 * `unavailable` names the stores left out of the pass ("<cluster>: why").
 */
export function replicatedCondition(
  result: SyncResult,
  sourceCluster: string,
  unavailable: readonly string[] = [],
): ConditionInput {
  if (result.error !== undefined) {
    return {
      type: "CheckpointReplicated",
      status: "False",
      reason: REPLICATED.ReplicationFailed,
      message: `the last replication pass failed: ${result.error}`,
    };
  }
  if (unavailable.length > 0) {
    return {
      type: "CheckpointReplicated",
      status: "False",
      reason: REPLICATED.StoreUnavailable,
      message: `left out of replication until its store can be reached: ${unavailable.join("; ")}`,
    };
  }
  const stores = result.status.stores;
  const source = stores.find((s) => s.cluster === sourceCluster)?.latestStep;
  if (source === undefined) {
    return {
      type: "CheckpointReplicated",
      status: "Unknown",
      reason: "NoCheckpoint",
      message: `no committed step in ${sourceCluster}'s store yet`,
    };
  }
  const behind = stores.filter((s) => s.cluster !== sourceCluster && (s.latestStep ?? -1) < source);
  if (result.failures.length > 0) {
    return {
      type: "CheckpointReplicated",
      status: "False",
      reason: "ReplicationFailed",
      message: result.failures.slice(0, 3).join("; "),
    };
  }
  if (behind.length > 0) {
    const where = behind.map((s) => `${s.cluster} has ${s.latestStep ?? "none"}`).join(", ");
    return {
      type: "CheckpointReplicated",
      status: "False",
      reason: "Replicating",
      message: `step ${source} is being replicated: ${where}`,
    };
  }
  return {
    type: "CheckpointReplicated",
    status: "True",
    reason: "Replicated",
    message: `step ${source} is in every store`,
  };
}

/** Reasons of the CheckpointUploaded condition (jobs with spec.checkpoint.localDir). */
export const UPLOADED = {
  /** Every reporting pod's newest local step is committed. */
  UpToDate: "UpToDate",
  /** Some pod has a finished step not committed yet, for less than the limit. */
  Uploading: "Uploading",
  /** A finished step has not been committed for longer than the limit; the message says why. */
  UploadStuck: "UploadStuck",
  /** No checkpoint agent of this placement has reported yet. */
  NoReport: "NoReport",
} as const;

/** Reads CHECKPOINT_UPLOAD_STUCK_SECONDS (default 1800): how long a finished local step may stay uncommitted. */
export function uploadStuckMs(env: Readonly<Record<string, string | undefined>>): number {
  return (wholeNumber(env, "CHECKPOINT_UPLOAD_STUCK_SECONDS", 1) ?? 1800) * 1000;
}

let fromProcess: number | undefined;
/** uploadStuckMs(process.env), read once; main.ts calls it at start so a bad value stops the start. */
export function processUploadStuckMs(): number {
  fromProcess ??= uploadStuckMs(process.env);
  return fromProcess;
}

/** One row of status.checkpoint.agents. */
export interface AgentStatus {
  readonly replica: number;
  readonly newestLocalStep?: number;
  readonly newestUploadedStep?: number;
  readonly lagSteps?: number;
  readonly pendingStep?: number;
  readonly pendingSince?: string;
  readonly lastError?: string;
  readonly reportedAt?: string;
}

/** A pod's upload lag in steps: its newest local step minus the newest committed one (never below 0). */
export function uploadLag(report: AgentReport, committedStep: number | undefined): number {
  const committed = Math.max(committedStep ?? -1, report.newestCommittedStep ?? -1);
  const local = report.newestLocalStep;
  return local === undefined || local <= committed ? 0 : local - Math.max(committed, 0);
}

export interface UploadInput {
  /** The reports of the placement's epoch, by replica. */
  readonly reports: readonly AgentReport[];
  readonly replicas: number;
  /** The newest committed step of the placement's store. */
  readonly committedStep?: number;
  readonly now: Date;
  /** A finished step not committed for longer than this is stuck. */
  readonly stuckAfterMs: number;
}

/** The agents' rows and the CheckpointUploaded condition. Every text is stable while nothing changes (no ages). */
export function uploadStatus(input: UploadInput): { agents: AgentStatus[]; condition: ConditionInput } {
  const { reports, committedStep } = input;
  const agents = reports.map((r) => agentRow(r, committedStep));
  const condition = (status: ConditionInput["status"], reason: string, message: string): ConditionInput => ({
    type: CONDITION.CheckpointUploaded,
    status,
    reason,
    message,
  });
  if (reports.length === 0)
    return { agents, condition: condition("Unknown", UPLOADED.NoReport, "no checkpoint agent has reported yet") };
  const silent = range(input.replicas).filter((i) => !reports.some((r) => r.index === i));
  const unheard = silent.length > 0 ? `; no report yet from replica ${silent.join(", ")}` : "";
  // The oldest step still pending on some pod: whether it is stuck, and why.
  const pending = reports
    .filter((r) => r.pending && (committedStep === undefined || r.pending.step > committedStep))
    .sort((a, b) => (a.pending?.step ?? 0) - (b.pending?.step ?? 0) || earlier(a.pending?.since, b.pending?.since));
  const first = pending[0]?.pending;
  if (!first) {
    const newest = committedStep !== undefined ? ` (step ${committedStep})` : "";
    return {
      agents,
      condition: condition("True", UPLOADED.UpToDate, `every pod's newest local step is committed${newest}${unheard}`),
    };
  }
  const step = first.step;
  const holders = pending.filter((r) => r.pending?.step === step).map((r) => r.index);
  const since = Date.parse(first.since);
  const limit = formatMinutes(input.stuckAfterMs);
  if (!(Number.isFinite(since) && input.now.getTime() - since > input.stuckAfterMs)) {
    return {
      agents,
      condition: condition(
        "True",
        UPLOADED.Uploading,
        `step ${step} is being uploaded (finished on replica ${holders.join(", ")} at ${first.since})${unheard}`,
      ),
    };
  }
  const message = `step ${step} finished on replica ${holders.join(", ")} at ${first.since} and is not committed after ${limit}: ${stuckCause(input, step, silent)}`;
  return { agents, condition: condition("False", UPLOADED.UploadStuck, message.slice(0, 1000)) };
}

/** Why `step` is not committed: the agents' errors, the replicas whose part is missing, or replica 0. */
function stuckCause(input: UploadInput, step: number, silent: readonly number[]): string {
  const errors = input.reports
    .filter((r) => r.lastError && (r.lastError.step === undefined || r.lastError.step <= step))
    .map((r) => `replica ${r.index}: ${cleanError(r.lastError?.message ?? "")}`);
  if (errors.length > 0) return errors.slice(0, 3).join("; ");
  const missing = new Set([
    ...silent,
    ...input.reports.filter((r) => (r.newestUploadedStep ?? -1) < step).map((r) => r.index),
    ...input.reports.flatMap((r) => (r.pending?.step === step ? (r.pending.missingReplicas ?? []) : [])),
  ]);
  const silentText = silent.length > 0 ? ` (replica ${silent.join(", ")} never reported: is its agent running?)` : "";
  if (missing.size > 0)
    return `waiting for the part of replica ${[...missing].sort((a, b) => a - b).join(", ")}${silentText}`;
  return "every replica's part is uploaded and replica 0 has not committed it";
}

function agentRow(r: AgentReport, committedStep: number | undefined): AgentStatus {
  const pending = r.pending && (committedStep === undefined || r.pending.step > committedStep) ? r.pending : undefined;
  return {
    replica: r.index,
    ...(r.newestLocalStep !== undefined ? { newestLocalStep: r.newestLocalStep } : {}),
    ...(r.newestUploadedStep !== undefined ? { newestUploadedStep: r.newestUploadedStep } : {}),
    lagSteps: uploadLag(r, committedStep),
    ...(pending ? { pendingStep: pending.step, pendingSince: pending.since } : {}),
    ...(r.lastError ? { lastError: cleanError(r.lastError.message) } : {}),
    reportedAt: r.updatedAt,
  };
}

/** An agent's error as status shows it: one line, bounded, credentials masked. */
function cleanError(message: string): string {
  return redactText(message).replace(/\s+/g, " ").slice(0, 300);
}

function earlier(a = "", b = ""): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

function formatMinutes(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000}m` : `${Math.round(ms / 1000)}s`;
}
