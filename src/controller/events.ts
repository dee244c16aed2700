// Records Kubernetes Events on hub objects (what `kubectl describe` shows),
// after the status write they describe has succeeded. Repeats of the same
// event within a short window are folded into one with a count.

import type { CoreV1Event } from "@kubernetes/client-node";
import type { Logger } from "../runtime/logger.ts";

export interface EventTarget {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name?: string; readonly namespace?: string; readonly uid?: string };
}

/** The one call the recorder makes (CoreV1Api's). */
export interface EventWriter {
  createNamespacedEvent(p: { namespace: string; body: CoreV1Event }): Promise<unknown>;
}

export interface PendingEvent {
  readonly type: "Normal" | "Warning";
  readonly reason: string;
  readonly message: string;
}

export class EventRecorder {
  readonly #core: EventWriter;
  readonly #logger: Logger;
  readonly #component: string;
  readonly #instance: string;

  constructor(core: EventWriter, logger: Logger, component = "crosscloud-operator", instance = "") {
    this.#core = core;
    this.#logger = logger;
    this.#component = component;
    this.#instance = instance;
  }

  /** Sends the events; a failure is logged and never fails the reconcile. */
  async record(target: EventTarget, events: readonly PendingEvent[]): Promise<void> {
    for (const e of events) {
      const namespace = target.metadata.namespace ?? "default";
      const now = new Date();
      const body = {
        metadata: { generateName: `${target.metadata.name}.`, namespace },
        involvedObject: {
          apiVersion: target.apiVersion,
          kind: target.kind,
          name: target.metadata.name,
          namespace: target.metadata.namespace,
          uid: target.metadata.uid,
        },
        type: e.type,
        reason: e.reason,
        message: e.message.slice(0, 1024),
        source: { component: this.#component, host: this.#instance },
        reportingComponent: `training.crosscloud.dev/${this.#component}`,
        reportingInstance: this.#instance,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      };
      await this.#core.createNamespacedEvent({ namespace, body }).catch((err: unknown) => {
        this.#logger.warn("could not record event", { reason: e.reason, error: String(err) });
      });
    }
  }
}
