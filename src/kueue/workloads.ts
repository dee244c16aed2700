// The hub's Kueue Workloads as the operator sees them: an informer over the
// Workloads it owns (label app.kubernetes.io/managed-by=crosscloud-operator),
// started only once a queued TrainingJob is seen and the hub serves
// kueue.x-k8s.io/v1beta2 (a hub without Kueue costs no request until a job
// asks for a queue, then one check per KUEUE_CHECK_MS while it still lacks
// Kueue), and the writes the operator makes to them as their owner.

import type { TrainingJob } from "../api/trainingjob.ts";
import { type CustomObjectsApi, MERGE_PATCH } from "../kube/apis.ts";
import type { KubeClient } from "../kube/client.ts";
import { isNotFound } from "../runtime/api-errors.ts";
import { Informer } from "../runtime/informer.ts";
import type { Logger } from "../runtime/logger.ts";
import { PRIORITY_CLASSES, WORKLOADS, type Workload, workloadNameOf } from "./workload.ts";

/** How long a hub found without Kueue is not asked again. */
export const KUEUE_CHECK_MS = 30_000;

export interface KueueWorkloadsOptions {
  readonly client: KubeClient;
  readonly custom: CustomObjectsApi;
  readonly logger: Logger;
  readonly signal: AbortSignal;
  /** A Workload changed: its owner's key ("namespace/name"). */
  readonly onChange: (ownerKey: string) => void;
  readonly now?: () => number;
}

export class KueueWorkloads {
  readonly #o: KueueWorkloadsOptions;
  #informer: Informer<Workload> | undefined;
  #checkedAt: number | undefined;

  constructor(o: KueueWorkloadsOptions) {
    this.#o = o;
  }

  /**
   * True once the hub serves Kueue's Workloads and their informer has synced. The first call (and one
   * every KUEUE_CHECK_MS after the hub was found without them) asks the hub; the informer starts then.
   */
  async ready(): Promise<boolean> {
    if (this.#informer) return this.#informer.synced || this.#informer.start(this.#o.signal).then(() => true);
    const now = this.#o.now?.() ?? Date.now();
    if (this.#checkedAt !== undefined && now - this.#checkedAt < KUEUE_CHECK_MS) return false;
    this.#checkedAt = now;
    try {
      await this.#o.custom.listClusterCustomObject({ ...WORKLOADS, limit: 1 });
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
    const inf = new Informer<Workload>({
      client: this.#o.client,
      name: "hub/kueue-workloads",
      path: `/apis/${WORKLOADS.group}/${WORKLOADS.version}/${WORKLOADS.plural}`,
      labelSelector: "app.kubernetes.io/managed-by=crosscloud-operator",
      logger: this.#o.logger,
    });
    for (const event of ["add", "update", "delete"] as const)
      inf.on(event, (wl) => {
        const owner = wl.metadata.ownerReferences?.find((r) => r.kind === "TrainingJob");
        if (owner) this.#o.onChange(`${wl.metadata.namespace}/${owner.name}`);
      });
    this.#informer = inf;
    this.#o.logger.info("the hub serves Kueue Workloads: watching those of queued TrainingJobs");
    await inf.start(this.#o.signal);
    return true;
  }

  /** The job's Workload as the informer shows it (call ready() first). */
  of(job: TrainingJob): Workload | undefined {
    return this.#informer?.get(job.metadata.namespace, workloadNameOf(job));
  }

  /** All cached Workloads (for metrics). */
  list(): Workload[] {
    return this.#informer?.list() ?? [];
  }

  async create(wl: Workload): Promise<void> {
    await this.#o.custom.createNamespacedCustomObject({ ...WORKLOADS, namespace: wl.metadata.namespace, body: wl });
  }

  async delete(wl: Workload): Promise<void> {
    await this.#o.custom
      .deleteNamespacedCustomObject({ ...WORKLOADS, namespace: wl.metadata.namespace, name: wl.metadata.name })
      .catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
  }

  /** A merge patch of the Workload (metadata or spec), checked by its resourceVersion. */
  async patch(wl: Workload, body: object): Promise<void> {
    await this.#o.custom.patchNamespacedCustomObject(
      { ...WORKLOADS, namespace: wl.metadata.namespace, name: wl.metadata.name, body },
      MERGE_PATCH,
    );
  }

  /** Writes the Workload's status (merge patch, checked by the resourceVersion the operator read). */
  async writeStatus(wl: Workload, status: NonNullable<Workload["status"]>): Promise<void> {
    const body = {
      metadata: { resourceVersion: wl.metadata.resourceVersion },
      status: { ...status, admission: status.admission ?? null },
    };
    await this.#o.custom.patchNamespacedCustomObjectStatus(
      { ...WORKLOADS, namespace: wl.metadata.namespace, name: wl.metadata.name, body },
      MERGE_PATCH,
    );
  }

  /** A WorkloadPriorityClass's value, or undefined when there is none of that name. */
  async priorityValue(name: string): Promise<number | undefined> {
    try {
      const pc = (await this.#o.custom.getClusterCustomObject({ ...PRIORITY_CLASSES, name })) as { value?: number };
      return pc.value ?? 0;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }
}
