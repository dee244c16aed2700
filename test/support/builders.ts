// Fluent builders for placement's inputs, in the style of Kueue's test
// wrappers: aCluster("aws-sim").cloud("aws").group(aGroup("trn1")...).obj().

import type { ComputeCluster } from "../../src/api/computecluster.ts";
import type { Cloud } from "../../src/catalog/instance-types.ts";
import type {
  AcceleratorOption,
  CapacityType,
  CapacityTypeRequest,
  ClusterSnapshot,
  NodeGroupSnapshot,
  PlacementRequest,
  Strategy,
} from "../../src/placement/types.ts";

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export class GroupBuilder {
  readonly #g: Mutable<NodeGroupSnapshot>;
  constructor(name: string) {
    this.#g = {
      name,
      instanceType: "trn1.32xlarge",
      accelerator: "trainium1",
      devicesPerNode: 16,
      capacityType: "OnDemand",
      nodes: 4,
      readyNodes: 4,
      freeNodes: 4,
      minSize: 0,
      maxSize: 16,
      desiredSize: 4,
      pricePerHour: "21.50",
      autoscalerOwned: false,
    };
  }
  /** Instance type, accelerator and devices per node together. */
  instance(instanceType: string, accelerator: string, devicesPerNode: number): this {
    Object.assign(this.#g, { instanceType, accelerator, devicesPerNode });
    return this;
  }
  price(pricePerHour: string | undefined): this {
    this.#g.pricePerHour = pricePerHour;
    return this;
  }
  spot(): this {
    return this.capacity("Spot");
  }
  capacity(capacityType: CapacityType): this {
    this.#g.capacityType = capacityType;
    return this;
  }
  /** `nodes` nodes (all ready), `free` of them free; desiredSize follows nodes. */
  nodes(nodes: number, free = nodes): this {
    Object.assign(this.#g, { nodes, readyNodes: nodes, freeNodes: free, desiredSize: nodes });
    return this;
  }
  max(maxSize: number): this {
    this.#g.maxSize = maxSize;
    return this;
  }
  desired(desiredSize: number): this {
    this.#g.desiredSize = desiredSize;
    return this;
  }
  autoscalerOwned(owned = true): this {
    this.#g.autoscalerOwned = owned;
    return this;
  }
  obj(): NodeGroupSnapshot {
    return { ...this.#g };
  }
}

export const aGroup = (name: string) => new GroupBuilder(name);
/** Shorthands for the sandbox's instance types. */
export const trn1 = (name = "trn1") => aGroup(name).instance("trn1.32xlarge", "trainium1", 16).price("21.50");
export const trn2 = (name = "trn2") => aGroup(name).instance("trn2.48xlarge", "trainium2", 16).price("35.76");
export const p5 = (name = "p5") => aGroup(name).instance("p5.48xlarge", "nvidia-h100", 8).price("55.04");
export const ndh100 = (name = "ndh100") =>
  aGroup(name).instance("Standard_ND96isr_H100_v5", "nvidia-h100", 8).price("98.32");

export class ClusterBuilder {
  readonly #c: Mutable<ClusterSnapshot> & { nodeGroups: NodeGroupSnapshot[] };
  constructor(name: string) {
    this.#c = { name, cloud: name.startsWith("azure") ? "azure" : "aws", ready: true, paused: false, nodeGroups: [] };
  }
  cloud(cloud: Cloud): this {
    this.#c.cloud = cloud;
    return this;
  }
  notReady(): this {
    this.#c.ready = false;
    return this;
  }
  paused(): this {
    this.#c.paused = true;
    return this;
  }
  group(...groups: (GroupBuilder | NodeGroupSnapshot)[]): this {
    for (const g of groups) this.#c.nodeGroups.push(g instanceof GroupBuilder ? g.obj() : g);
    return this;
  }
  obj(): ClusterSnapshot {
    return { ...this.#c, nodeGroups: [...this.#c.nodeGroups] };
  }
}

export const aCluster = (name: string) => new ClusterBuilder(name);

export class RequestBuilder {
  readonly #r: Mutable<PlacementRequest> & { accelerators: AcceleratorOption[] };
  constructor(replicas: number) {
    this.#r = { replicas, accelerators: [], capacityType: "OnDemand", strategy: "LowestCost" };
  }
  /** Adds an accelerator option after those already given (less preferred). */
  accelerator(type: string, perReplica: number): this {
    this.#r.accelerators.push({ type, perReplica });
    return this;
  }
  clouds(...clouds: Cloud[]): this {
    this.#r.clouds = clouds;
    return this;
  }
  clusters(...clusters: string[]): this {
    this.#r.clusters = clusters;
    return this;
  }
  capacity(capacityType: CapacityTypeRequest): this {
    this.#r.capacityType = capacityType;
    return this;
  }
  strategy(strategy: Strategy): this {
    this.#r.strategy = strategy;
    return this;
  }
  checkpointIn(sizeBytes: number, ...clusters: string[]): this {
    this.#r.checkpoint = { clusters, sizeBytes };
    return this;
  }
  exclude(cluster: string, nodeGroup: string): this {
    this.#r.exclude = [...(this.#r.exclude ?? []), { cluster, nodeGroup }];
    return this;
  }
  obj(): PlacementRequest {
    return { ...this.#r, accelerators: [...this.#r.accelerators] };
  }
}

/** A job of `replicas` pods; add accelerator options with `.accelerator(type, perReplica)`. */
export const aJob = (replicas: number) => new RequestBuilder(replicas);

/** The sandbox's shape: aws-sim with trn1, trn2 and p5; azure-sim with ndh100 and its spot pool. */
export function sandboxSnapshot(): ClusterSnapshot[] {
  return [
    aCluster("aws-sim").cloud("aws").group(trn1(), trn2().nodes(2), p5().nodes(2)).obj(),
    aCluster("azure-sim").cloud("azure").group(ndh100(), ndh100("ndh100spot").spot().price("39.33")).obj(),
  ];
}

/** An aws ComputeCluster object as the hub holds it, with `spec` and `status` laid over the defaults. */
export function anAwsComputeCluster(
  name: string,
  spec: Partial<ComputeCluster["spec"]> = {},
  status?: ComputeCluster["status"],
): ComputeCluster {
  return {
    apiVersion: "training.crosscloud.dev/v1alpha1",
    kind: "ComputeCluster",
    metadata: { name },
    spec: {
      cloud: "aws",
      aws: { region: "us-east-1", clusterName: name },
      checkpointStore: { s3: { bucket: "b" } },
      paused: false,
      drain: false,
      workloadNamespace: "",
      ...spec,
    },
    ...(status ? { status } : {}),
  };
}
