// The cloud simulator's state: the sandbox's node groups as EKS node groups
// and AKS agent pools (size, bounds, autoscaler ownership), the scale
// operations in flight, and the client tokens already seen. Resizing a
// group changes the sandbox cluster's kwok nodes after a delay.

import { randomUUID } from "node:crypto";
import type { ClusterSpec, NodeGroupSpec } from "../topology.ts";

export type OperationStatus = "InProgress" | "Successful" | "Failed";

/** One scale request: an EKS update or an ARM async operation. */
export interface SimOperation {
  readonly id: string;
  readonly group: SimGroup;
  readonly desiredSize: number;
  readonly createdAt: Date;
  status: OperationStatus;
  endedAt?: Date;
  error?: string;
}

export interface SimGroup {
  readonly cluster: ClusterSpec;
  readonly spec: NodeGroupSpec;
  minSize: number;
  maxSize: number;
  desiredSize: number;
  /** Nodes the sandbox cluster has for the group (after the last resize finished). */
  nodes: number;
  autoscalerOwned: boolean;
  /** Scale changes applied (a repeated client token is not one): what tests count. */
  changes: number;
  readonly createdAt: Date;
}

/** Changes a group's nodes in the sandbox cluster to `size`. */
export type Resize = (group: SimGroup, size: number) => Promise<void>;

export class CloudState {
  readonly groups: SimGroup[];
  readonly operations = new Map<string, SimOperation>();
  readonly #tokens = new Map<string, SimOperation>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #resize: Resize;
  #delayMs: number;

  constructor(groups: SimGroup[], resize: Resize, delayMs: number) {
    this.groups = groups;
    this.#resize = resize;
    this.#delayMs = delayMs;
  }

  set delayMs(ms: number) {
    this.#delayMs = ms;
  }

  group(cluster: string, name: string): SimGroup | undefined {
    return this.groups.find((g) => g.cluster.name === cluster && g.spec.name === name);
  }

  clusterGroups(cluster: string): SimGroup[] {
    return this.groups.filter((g) => g.cluster.name === cluster);
  }

  /** The group is resizing: an operation on it is still in progress. */
  busy(group: SimGroup): boolean {
    return [...this.operations.values()].some((o) => o.group === group && o.status === "InProgress");
  }

  /**
   * Starts resizing `group` to `desiredSize`. With a `token` seen before (for
   * this cluster), returns that operation and changes nothing.
   */
  scale(group: SimGroup, desiredSize: number, token?: string): SimOperation {
    const key = token && `${group.cluster.name}/${token}`;
    const seen = key ? this.#tokens.get(key) : undefined;
    if (seen) return seen;
    const op: SimOperation = { id: randomUUID(), group, desiredSize, createdAt: new Date(), status: "InProgress" };
    this.operations.set(op.id, op);
    if (key) this.#tokens.set(key, op);
    group.desiredSize = desiredSize;
    group.changes++;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      void this.#finish(op);
    }, this.#delayMs);
    this.#timers.add(timer);
    return op;
  }

  /**
   * The cloud took `count` of the group's machines back (a spot reclaim): the
   * group shrinks by that many without a resize, so the nodes, already gone
   * from the cluster, are not made again. maxSize stays, so it can grow back;
   * minSize drops if it must, as the group cannot be below it.
   */
  reclaim(group: SimGroup, count: number): void {
    group.desiredSize = Math.max(0, group.desiredSize - count);
    group.nodes = Math.max(0, group.nodes - count);
    group.minSize = Math.min(group.minSize, group.desiredSize);
  }

  async #finish(op: SimOperation): Promise<void> {
    try {
      if (op.group.desiredSize === op.desiredSize) {
        await this.#resize(op.group, op.desiredSize);
        op.group.nodes = op.desiredSize;
      }
      op.status = "Successful";
    } catch (err) {
      op.status = "Failed";
      op.error = (err as Error).message;
    }
    op.endedAt = new Date();
  }

  /** Stops the pending resizes (the simulator is shutting down). */
  stop(): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }
}
