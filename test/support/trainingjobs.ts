// Creating, reading and watching TrainingJobs on the hub, and finding their
// workloads on the workers, for integration tests.

import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { GROUP, VERSION } from "../../src/api/common.ts";
import type { TrainingJob, TrainingJobPhase } from "../../src/api/trainingjob.ts";
import { LABEL_JOB_UID } from "../../src/workload/names.ts";
import { clients, eventually, type SandboxCluster } from "./sandbox.ts";

const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

export class TrainingJobs {
  readonly namespace: string;
  readonly #custom = clients("hub").kubeConfig.makeApiClient(CustomObjectsApi);
  readonly #core = clients("hub").kubeConfig.makeApiClient(CoreV1Api);

  constructor(namespace: string) {
    this.namespace = namespace;
  }

  async createNamespace(): Promise<void> {
    await this.#core.createNamespace({ body: { metadata: { name: this.namespace } } });
  }

  async deleteNamespace(): Promise<void> {
    await this.#core.deleteNamespace({ name: this.namespace }).catch(() => {});
  }

  #ref(name: string) {
    return { group: GROUP, version: VERSION, plural: "trainingjobs", namespace: this.namespace, name };
  }

  async create(job: TrainingJob): Promise<TrainingJob> {
    const body = {
      ...job,
      metadata: { ...job.metadata, namespace: this.namespace, uid: undefined, generation: undefined },
    };
    return (await this.#custom.createNamespacedCustomObject({ ...this.#ref(""), body })) as TrainingJob;
  }

  async get(name: string): Promise<TrainingJob> {
    return (await this.#custom.getNamespacedCustomObject(this.#ref(name))) as TrainingJob;
  }

  /** Every TrainingJob of the namespace. */
  async list(): Promise<TrainingJob[]> {
    const { namespace, ...ref } = this.#ref("");
    const list = (await this.#custom.listNamespacedCustomObject({ ...ref, namespace })) as { items: TrainingJob[] };
    return list.items;
  }

  async patch(name: string, body: object): Promise<void> {
    await this.#custom.patchNamespacedCustomObject({ ...this.#ref(name), body }, mergePatch);
  }

  async delete(name: string): Promise<void> {
    await this.#custom.deleteNamespacedCustomObject(this.#ref(name));
  }

  /** Deletes the job and waits until the operator has removed it (its workloads gone from reachable workers). */
  async deleteAndWait(name: string, timeoutMs = 60_000): Promise<void> {
    await this.delete(name);
    await eventually(
      `TrainingJob ${this.namespace}/${name} to be gone`,
      () =>
        this.get(name).then(
          () => false,
          (err: { code?: number }) => err.code === 404,
        ),
      (gone) => gone,
      timeoutMs,
    );
  }

  /** Waits for `phase`, recording every phase seen on the way. */
  async waitForPhase(
    name: string,
    phase: TrainingJobPhase,
    seen: TrainingJobPhase[] = [],
    timeoutMs = 90_000,
  ): Promise<TrainingJob> {
    return eventually(
      `TrainingJob ${this.namespace}/${name} to reach ${phase}`,
      async () => {
        const job = await this.get(name);
        const p = job.status?.phase;
        if (p && seen.at(-1) !== p) seen.push(p);
        return job;
      },
      (job) => job.status?.phase === phase,
      timeoutMs,
    );
  }

  /**
   * The job's events once one of them passes `test`: events are sent after the status write they
   * describe, so one may follow the status a test waited for by a moment.
   */
  async eventMatching(
    name: string,
    what: string,
    test: (e: { reason: string; type: string; message: string }) => boolean,
    timeoutMs = 10_000,
  ): Promise<{ reason: string; type: string; message: string }[]> {
    return eventually(
      `TrainingJob ${this.namespace}/${name}: ${what}`,
      () => this.events(name),
      (es) => es.some(test),
      timeoutMs,
    );
  }

  async events(name: string): Promise<{ reason: string; type: string; message: string }[]> {
    const list = await this.#core.listNamespacedEvent({
      namespace: this.namespace,
      fieldSelector: `involvedObject.name=${name}`,
    });
    return list.items.map((e) => ({ reason: e.reason ?? "", type: e.type ?? "", message: e.message ?? "" }));
  }
}

/** Everything on a worker that belongs to a TrainingJob (by uid): Jobs, Services, pods. */
export async function workloadOf(cluster: SandboxCluster, uid: string) {
  const c = clients(cluster);
  const labelSelector = `${LABEL_JOB_UID}=${uid}`;
  const [jobs, services, pods] = await Promise.all([
    c.batch.listJobForAllNamespaces({ labelSelector }),
    c.core.listServiceForAllNamespaces({ labelSelector }),
    c.core.listPodForAllNamespaces({ labelSelector }),
  ]);
  return { jobs: jobs.items, services: services.items, pods: pods.items };
}
