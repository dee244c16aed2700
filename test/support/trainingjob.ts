// A fluent builder for TrainingJobs as the API server returns them (defaults
// filled in), for table tests: aTrainingJob("llama").replicas(4).accelerator("trainium1", 16).obj()

import { API_VERSION } from "../../src/api/common.ts";
import type { AcceleratorOption, TrainingJob } from "../../src/api/trainingjob.ts";

export class TrainingJobBuilder {
  #job: TrainingJob;

  constructor(name: string, namespace = "ml") {
    this.#job = {
      apiVersion: API_VERSION,
      kind: "TrainingJob",
      metadata: { name, namespace, uid: `uid-${name}`, generation: 1 },
      spec: {
        replicas: 2,
        suspend: false,
        accelerators: [],
        template: { spec: { containers: [{ name: "trainer", image: "example.com/train:cuda" }] } },
        placement: { clouds: ["aws", "azure"], capacityType: "OnDemand", strategy: "LowestCost", topology: "None" },
        checkpoint: { keep: 3, keepLocal: 2 },
        failover: {
          enabled: true,
          maxFailovers: 3,
          clusterLostTimeout: "60s",
          unschedulableTimeout: "5m",
          drainCheckpointTimeout: "10m",
        },
        terminationGracePeriod: "300s",
        runPolicy: { backoffLimit: 3 },
      },
    };
  }

  replicas(n: number): this {
    this.#job.spec.replicas = n;
    return this;
  }

  accelerator(type: AcceleratorOption["type"], perReplica: number, extra: Partial<AcceleratorOption> = {}): this {
    this.#job.spec.accelerators.push({ type, perReplica, ...extra });
    return this;
  }

  suspend(value = true): this {
    this.#job.spec.suspend = value;
    return this;
  }

  containers(...containers: { name: string; image: string }[]): this {
    this.#job.spec.template = { spec: { containers } };
    return this;
  }

  /** Only on aws-sim, with pods that run until deleted (sandbox run-for 900s): a job that stays Running. */
  onAwsUntilDeleted(): this {
    this.#job.spec.placement.clouds = ["aws"];
    this.#job.spec.template.metadata = { annotations: { "sandbox.crosscloud.dev/run-for": "900s" } };
    return this;
  }

  with(mutate: (job: TrainingJob) => void): this {
    mutate(this.#job);
    return this;
  }

  obj(): TrainingJob {
    return structuredClone(this.#job);
  }
}

export const aTrainingJob = (name: string, namespace?: string) => new TrainingJobBuilder(name, namespace);
