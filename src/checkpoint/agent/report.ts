// What a checkpoint agent tells the operator about its pod: one small JSON
// object per replica at `<line>/.crosscloud/agents/<index>.json`, in the same
// store it uploads to (the agent has no Kubernetes credentials, and the
// operator already lists that line). It is rewritten only when what it says
// changes: a step finished on local disk, uploaded, committed, or an error.
// The operator reads it for status.checkpoint.agents, the upload-lag metric
// and the CheckpointUploaded condition (src/controller/trainingjob/checkpoint-conditions.ts).

import { isCheckpointError } from "../errors.ts";
import { sameObject } from "../line-scan.ts";
import { RESERVED_DIR } from "../manifest.ts";
import { type ObjectInfo, type ObjectStore, readAll } from "../store.ts";

/** The key prefix of the reports, relative to the job's line. */
export const AGENT_REPORTS_DIR = `${RESERVED_DIR}/agents/`;

export function agentReportKey(index: number): string {
  return `${AGENT_REPORTS_DIR}${index}.json`;
}

/** A step this replica finished on local disk that is not committed yet, and since when the agent knows it. */
export interface PendingUpload {
  readonly step: number;
  /** When the agent first found the step finished (RFC 3339). */
  readonly since: string;
  /** Replica 0 only: the replicas whose part of this step is not in the store yet. */
  readonly missingReplicas?: readonly number[];
}

export interface AgentReport {
  readonly epoch: number;
  readonly index: number;
  /** The newest step finished on this pod's local disk (or restored into it). */
  readonly newestLocalStep?: number;
  /** The newest step whose part this replica recorded in the store. */
  readonly newestUploadedStep?: number;
  /** The newest step the agent knows committed. */
  readonly newestCommittedStep?: number;
  /** The oldest finished step not committed yet. */
  readonly pending?: PendingUpload;
  /** The last error of an upload, commit or restore, until that step moves on. */
  readonly lastError?: { readonly step?: number; readonly message: string; readonly at: string };
  /** When the content last changed (RFC 3339). */
  readonly updatedAt: string;
}

/** A report read from the store, or undefined when it is not one (a torn or foreign object is ignored). */
export function parseAgentReport(text: string): AgentReport | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!v || typeof v !== "object") return undefined;
  const r = v as Record<string, unknown>;
  const step = (x: unknown) => x === undefined || (Number.isSafeInteger(x) && (x as number) >= 0);
  if (!Number.isSafeInteger(r.epoch) || !Number.isSafeInteger(r.index) || typeof r.updatedAt !== "string")
    return undefined;
  if (![r.newestLocalStep, r.newestUploadedStep, r.newestCommittedStep].every(step)) return undefined;
  const p = r.pending as Record<string, unknown> | undefined;
  if (p !== undefined && (typeof p !== "object" || !step(p.step) || typeof p.since !== "string")) return undefined;
  const e = r.lastError as Record<string, unknown> | undefined;
  if (e !== undefined && (typeof e !== "object" || typeof e.message !== "string" || typeof e.at !== "string"))
    return undefined;
  return v as AgentReport;
}

/** What a report says, without its time: two reports with the same content are not written twice. */
function content(report: Omit<AgentReport, "updatedAt">): string {
  const { updatedAt: _t, ...rest } = report as AgentReport;
  return JSON.stringify(rest);
}

/**
 * Writes the agent's report when its content changed since the last write that succeeded; one write at
 * a time, and a failed write is tried again at the next update. Never throws: the upload goes on when
 * the store refuses a report.
 */
export class AgentReporter {
  readonly #store: ObjectStore;
  readonly #index: number;
  readonly #log: (entry: Record<string, unknown>) => void;
  #written = "";
  #writing: Promise<void> | undefined;
  #lastFailure = "";

  constructor(store: ObjectStore, index: number, log: (entry: Record<string, unknown>) => void) {
    this.#store = store;
    this.#index = index;
    this.#log = log;
  }

  /** Writes `report` (with `now` as updatedAt) unless the store already holds the same content. */
  async update(report: Omit<AgentReport, "updatedAt">, now: Date): Promise<void> {
    while (this.#writing) await this.#writing;
    const text = content(report);
    if (text === this.#written) return;
    this.#writing = this.#store
      .put(agentReportKey(this.#index), Buffer.from(`${JSON.stringify({ ...report, updatedAt: now.toISOString() })}\n`))
      .then(
        () => {
          this.#written = text;
          this.#lastFailure = "";
        },
        (err: unknown) => {
          const message = err instanceof Error ? err.message : String(err);
          if (message !== this.#lastFailure) this.#log({ type: "report-failed", error: message });
          this.#lastFailure = message;
        },
      )
      .finally(() => {
        this.#writing = undefined;
      });
    await this.#writing;
  }
}

/** Reports read, by key, as listed when read: one is read again only when listed differently. */
export type ReportCache = ReadonlyMap<string, { readonly info: ObjectInfo; readonly report?: AgentReport }>;

/**
 * The reports among `listed` (keys relative to `store`), by replica index; only those new or listed
 * differently from `cache` are read. A report deleted since the listing is left out.
 */
export async function readAgentReports(
  store: ObjectStore,
  listed: readonly ObjectInfo[],
  cache: ReportCache,
  signal?: AbortSignal,
): Promise<{ reports: AgentReport[]; cache: ReportCache }> {
  const next = new Map<string, { readonly info: ObjectInfo; readonly report?: AgentReport }>();
  await Promise.all(
    listed.map(async (info) => {
      const known = cache.get(info.key);
      if (known && sameObject(known.info, info)) return next.set(info.key, known);
      const text = await readAll(store, info.key, signal).then(
        (b) => b.toString("utf8"),
        (err: unknown) => {
          if (isCheckpointError(err, "NotFound")) return undefined;
          throw err;
        },
      );
      if (text === undefined) return;
      const report = parseAgentReport(text);
      next.set(info.key, { info, ...(report ? { report } : {}) });
    }),
  );
  const reports = [...next.entries()]
    .flatMap(([key, v]) => (v.report && key === agentReportKey(v.report.index) ? [v.report] : []))
    .sort((a, b) => a.index - b.index);
  return { reports, cache: next };
}
