// The checkpoint agent's loop: restore the resume step (then /started passes),
// then every poll scan the local dir, upload each step finished for this
// replica and record its part, commit (replica 0) the steps whose parts are
// all in the store, and delete local steps beyond retention. A stop request
// (SIGTERM) ends the loop after the step in flight; one last scan takes the
// steps the trainer finished before it exited, and replica 0 waits for their
// parts to commit them before it returns.

import { readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { failpoint } from "../../runtime/failpoints.ts";
import { budgetFromEnv, CopyBudget } from "../copy-budget.ts";
import type { ReplicationEvent } from "../events.ts";
import { DCP_METADATA_NAME, parseStepDir, stepDir } from "../manifest.ts";
import { Slots } from "../slots.ts";
import type { ObjectStore } from "../store.ts";
import { commitFromParts, finishedByRank0, hasOwnPart, isCommitted } from "./commit.ts";
import type { AgentConfig } from "./env.ts";
import { type LocalStep, type LocalStepState, localStepState, localStepsToDelete } from "./plan.ts";
import { type AgentReport, AgentReporter } from "./report.ts";
import { restoreStep } from "./restore.ts";
import { DONE_NAME, uploadStep } from "./upload-step.ts";

export interface AgentDeps {
  readonly store: ObjectStore;
  /** The store of CROSSCLOUD_RESUME_URI, when resuming. */
  readonly resumeStore?: ObjectStore;
  readonly now: () => Date;
  /** Waits `ms`, or less when `signal` fires. */
  readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** One structured log line (no secrets are ever passed). */
  readonly log: (entry: Record<string, unknown>) => void;
}

export class CheckpointAgent {
  readonly #config: AgentConfig;
  readonly #deps: AgentDeps;
  readonly #budget: CopyBudget;
  /** Steps this agent is through with: its part record is in the store, or the step is committed or was restored. */
  readonly #uploaded = new Set<number>();
  readonly #committed = new Set<number>();
  /** Replica 0: uploaded steps not committed yet. */
  readonly #pending = new Set<number>();
  readonly #waitingLogged = new Map<number, string>();
  /** Local steps the last scan found not finished for this replica. */
  #waiting = new Set<number>();
  /** Finished local steps not committed yet, with when this agent first found each finished. */
  readonly #finishedAt = new Map<number, Date>();
  /** Replica 0: the replicas each uncommitted step still waits for. */
  readonly #missing = new Map<number, readonly number[]>();
  #newestLocal: number | undefined;
  #lastError: AgentReport["lastError"];
  readonly #reporter: AgentReporter;
  #started = false;
  #looping = false;

  constructor(config: AgentConfig, deps: AgentDeps) {
    this.#config = config;
    this.#deps = deps;
    this.#budget = new CopyBudget(budgetFromEnv());
    this.#reporter = new AgentReporter(deps.store, config.index, deps.log);
  }

  /** True once any restore is complete: the sidecar's startup probe. */
  get started(): boolean {
    return this.#started;
  }

  /** True while the loop runs: the liveness probe. */
  get healthy(): boolean {
    return this.#looping;
  }

  /** Restores, then runs until `stop` fires and the step in flight is finished. */
  async run(stop: AbortSignal): Promise<void> {
    if (!(await this.#restore(stop))) return;
    this.#started = true;
    this.#looping = true;
    try {
      while (!stop.aborted) {
        await this.#pass(stop);
        await this.#deps.sleep(this.#config.pollMs, stop);
      }
      this.#deps.log({ type: "draining", pending: [...this.#pending], waiting: [...this.#waiting] });
      await this.#pass(undefined);
      while (this.#drainLeft()) {
        await this.#deps.sleep(this.#config.pollMs);
        await this.#pass(undefined);
      }
    } finally {
      this.#looping = false;
    }
  }

  /** Restores the resume step, retrying each poll; false when stopped first. */
  async #restore(stop: AbortSignal): Promise<boolean> {
    const { resume } = this.#config;
    const store = this.#deps.resumeStore;
    if (!resume || !store) return true;
    const { dir, fileConcurrency, partSize } = this.#config;
    const slots = new Slots(partSlots(fileConcurrency));
    const ctx = { store, dir, fileConcurrency, partSize, slots, budget: this.#budget.holder() };
    while (!stop.aborted) {
      try {
        const outcome = await restoreStep(ctx, resume.step);
        this.#uploaded.add(resume.step);
        this.#committed.add(resume.step);
        this.#newestLocal = resume.step;
        this.#lastError = undefined;
        this.#deps.log({ type: "restored", step: resume.step, outcome });
        await this.#report();
        return true;
      } catch (err) {
        this.#deps.log({ type: "restore-failed", step: resume.step, error: (err as Error).message });
        this.#failed(resume.step, `restore of step ${resume.step}: ${(err as Error).message}`);
        await this.#report();
        await this.#deps.sleep(this.#config.pollMs, stop);
      }
    }
    return false;
  }

  /** One scan: upload what is ready (until `stop` fires), commit, apply retention. Failures are logged and retried next pass. */
  async #pass(stop: AbortSignal | undefined): Promise<void> {
    try {
      const local = await scanLocal(this.#config.dir);
      const waiting = new Set<number>();
      for (const s of local) {
        if (stop?.aborted) break;
        const state = await this.#advance(s).catch((err) => {
          this.#deps.log({ type: "step-failed", step: s.step, error: (err as Error).message });
          this.#failed(s.step, `upload of step ${s.step}: ${(err as Error).message}`);
          return "waiting" as const;
        });
        if (state === "waiting") waiting.add(s.step);
      }
      this.#waiting = waiting;
      await this.#commitPending();
      await this.#applyRetention(local.map((s) => s.step));
    } catch (err) {
      this.#deps.log({ type: "pass-failed", error: (err as Error).message });
      this.#failed(undefined, (err as Error).message);
    }
    await this.#report();
  }

  #failed(step: number | undefined, message: string): void {
    this.#lastError = { ...(step !== undefined ? { step } : {}), message, at: this.#deps.now().toISOString() };
  }

  /** Writes the report when what it says changed (report.ts). */
  async #report(): Promise<void> {
    const newest = (steps: Iterable<number>) => {
      const all = [...steps];
      return all.length > 0 ? Math.max(...all) : undefined;
    };
    const oldest = [...this.#finishedAt.entries()].sort(([a], [b]) => a - b)[0];
    const missing = oldest ? this.#missing.get(oldest[0]) : undefined;
    const facts = {
      newestLocalStep: this.#newestLocal,
      newestUploadedStep: newest(this.#uploaded),
      newestCommittedStep: newest(this.#committed),
      pending: oldest
        ? { step: oldest[0], since: oldest[1].toISOString(), ...(missing ? { missingReplicas: missing } : {}) }
        : undefined,
      lastError: this.#lastError,
    };
    const defined = Object.fromEntries(Object.entries(facts).filter(([, v]) => v !== undefined));
    await this.#reporter.update({ epoch: this.#config.epoch, index: this.#config.index, ...defined }, this.#deps.now());
  }

  /** A local step found finished (or already uploaded): it counts as this pod's newest until committed. */
  #finished(step: number): void {
    this.#newestLocal = Math.max(this.#newestLocal ?? step, step);
    if (!this.#committed.has(step) && !this.#finishedAt.has(step)) this.#finishedAt.set(step, this.#deps.now());
  }

  /**
   * While stopping, there is work left as long as replica 0 has uploaded steps to commit, or another
   * replica has a step newer than all it uploaded still waiting for rank 0 (which is uploading it).
   * The kubelet's termination grace period bounds the wait.
   */
  #drainLeft(): boolean {
    if (this.#config.index === 0) return this.#pending.size > 0;
    const newest = Math.max(-1, ...this.#uploaded);
    return [...this.#waiting].some((s) => s > newest);
  }

  /** Moves one local step on (uploads it when it is ready) and says where it stands. */
  async #advance(local: LocalStep): Promise<LocalStepState> {
    const { store } = this.#deps;
    const { index, epoch } = this.#config;
    if (this.#uploaded.has(local.step)) return "uploaded";
    if (await isCommitted(store, local.step)) {
      this.#newestLocal = Math.max(this.#newestLocal ?? local.step, local.step);
      this.#markCommitted(local.step);
      return "uploaded";
    }
    if (await hasOwnPart(store, local.step, index, epoch)) {
      this.#finished(local.step);
      this.#markUploaded(local.step);
      return "uploaded";
    }
    const needsRank0 = index !== 0 && !local.done && !local.metadata;
    const finishedByRank0Steps = needsRank0 && (await finishedByRank0(store, local.step)) ? [local.step] : [];
    const facts = { index, uploaded: this.#uploaded, finishedByRank0: new Set(finishedByRank0Steps) };
    if (localStepState(local, facts) !== "ready") return "waiting";
    this.#finished(local.step);
    await this.#report();
    this.#deps.log({ type: "upload-started", step: local.step, index });
    const record = await uploadStep(this.#uploadContext(), local.step);
    const bytes = record.files.reduce((n, f) => n + f.size, 0);
    this.#deps.log({ type: "part-recorded", step: local.step, index, files: record.files.length, bytes });
    this.#markUploaded(local.step);
    return "uploaded";
  }

  #uploadContext() {
    const { partSize, fileConcurrency } = this.#config;
    return {
      store: this.#deps.store,
      slots: new Slots(partSlots(fileConcurrency)),
      budget: this.#budget.holder(),
      partSize,
      multipartThreshold: partSize,
      onEvent: (e: ReplicationEvent) => this.#onEvent(e),
      dir: this.#config.dir,
      epoch: this.#config.epoch,
      index: this.#config.index,
      fileConcurrency,
    };
  }

  #onEvent(e: ReplicationEvent): void {
    if (e.type === "part-written") failpoint("agent.after-part");
    else this.#deps.log(e);
  }

  #markUploaded(step: number): void {
    this.#uploaded.add(step);
    if (this.#lastError?.step === step) this.#lastError = undefined;
    if (this.#config.index === 0 && !this.#committed.has(step)) this.#pending.add(step);
  }

  #markCommitted(step: number): void {
    this.#uploaded.add(step);
    this.#committed.add(step);
    this.#pending.delete(step);
    this.#finishedAt.delete(step);
    this.#missing.delete(step);
    if (this.#lastError?.step === step) this.#lastError = undefined;
  }

  /** Replica 0 commits the steps whose parts are all there; the others learn which of their steps got committed. */
  async #commitPending(): Promise<void> {
    const { store, now } = this.#deps;
    const { epoch, replicas } = this.#config;
    const waiting =
      this.#config.index === 0 ? [...this.#pending] : [...this.#uploaded].filter((s) => !this.#committed.has(s));
    for (const step of waiting.sort((a, b) => a - b)) {
      if (this.#config.index !== 0) {
        if (await isCommitted(store, step)) this.#markCommitted(step);
        continue;
      }
      const outcome = await commitFromParts({ store, epoch, replicas, now }, step).catch((err) => {
        this.#deps.log({ type: "commit-failed", step, error: (err as Error).message });
        this.#failed(step, `commit of step ${step}: ${(err as Error).message}`);
        return undefined;
      });
      if (outcome?.state === "waiting") {
        this.#missing.set(step, outcome.missing);
        this.#logWaiting(step, outcome.missing);
      } else if (outcome) {
        this.#markCommitted(step);
        if (outcome.state === "committed") this.#deps.log({ type: "step-committed", step, epoch, replicas });
      }
    }
  }

  #logWaiting(step: number, missing: readonly number[]): void {
    const text = missing.join(",");
    if (this.#waitingLogged.get(step) === text) return;
    this.#waitingLogged.set(step, text);
    this.#deps.log({ type: "commit-waiting", step, missingReplicas: missing });
  }

  async #applyRetention(local: readonly number[]): Promise<void> {
    for (const step of localStepsToDelete(local, this.#committed, this.#config.keepLocal)) {
      await rm(join(this.#config.dir, stepDir(step)), { recursive: true, force: true });
      this.#deps.log({ type: "local-step-deleted", step });
    }
  }
}

/** The `step-<N>/` dirs of the local checkpoint dir, with their `.done` and `.metadata` flags. */
export async function scanLocal(dir: string): Promise<LocalStep[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const steps: LocalStep[] = [];
  for (const e of entries) {
    const step = e.isDirectory() ? parseStepDir(e.name) : undefined;
    if (step === undefined) continue;
    const done = await present(join(dir, e.name, DONE_NAME));
    const metadata = await present(join(dir, e.name, DCP_METADATA_NAME));
    steps.push({ step, done, metadata });
  }
  return steps.sort((a, b) => a.step - b.step);
}

async function present(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Parts in memory at once for an upload or a restore: two per file in flight, at least 4. */
function partSlots(fileConcurrency: number): number {
  return Math.max(4, fileConcurrency * 2);
}
