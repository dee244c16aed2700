// The TrainingJob status a reconcile pass builds in memory, written once at
// the end, and the events it will send after that write succeeds.

import type { TrainingJob, TrainingJobPhase, TrainingJobStatus } from "../../api/trainingjob.ts";
import { type Condition, type ConditionInput, setCondition } from "../conditions.ts";
import type { PendingEvent } from "../events.ts";

export { CONDITION } from "../../api/conditions.ts";

export class StatusBuilder {
  readonly #job: TrainingJob;
  readonly #now: Date;
  status: TrainingJobStatus;
  readonly events: PendingEvent[] = [];

  constructor(job: TrainingJob, now: Date) {
    this.#job = job;
    this.#now = now;
    this.status = structuredClone(job.status ?? {});
    this.status.observedGeneration = job.metadata.generation;
  }

  get now(): Date {
    return this.#now;
  }

  get phase(): TrainingJobPhase {
    return this.status.phase ?? "Pending";
  }

  /** Sets the phase, with an event when it changes. */
  setPhase(phase: TrainingJobPhase, event?: PendingEvent): void {
    if (this.status.phase !== phase && event) this.events.push(event);
    this.status.phase = phase;
  }

  /**
   * Sets a condition. Its transition time is judged against the status the server holds, not a
   * value set earlier in this pass, so a pass that sets a condition twice does not move it.
   */
  condition(input: ConditionInput): void {
    const held = (this.#job.status?.conditions as Condition[] | undefined)?.find((c) => c.type === input.type);
    const base = (this.status.conditions as Condition[] | undefined)?.map((c) =>
      c.type === input.type && held ? held : c,
    );
    this.status.conditions = setCondition(base, input, this.#job.metadata.generation, this.#now);
  }

  event(e: PendingEvent): void {
    this.events.push(e);
  }

  /**
   * True when the status differs by value from what the API server holds. Key order does not count:
   * the server returns objects with sorted keys, while a pass builds them in its own order.
   */
  changed(): boolean {
    return canonical(this.status) !== canonical(this.#job.status ?? {});
  }
}

/** JSON with every object's keys sorted and undefined members dropped, for comparing by value. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}
