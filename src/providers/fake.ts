// A fake NodeGroupProvider for controller tests (after Karpenter's fake
// cloud provider): node groups in memory, every call recorded, errors queued
// per method, and scale operations that finish when the test says so.

import type { Cloud } from "../catalog/instance-types.ts";
import { ProviderError } from "./errors.ts";
import { guardScale, NOOP_PREFIX, noopStatus } from "./guard.ts";
import type {
  CallOptions,
  ClusterEndpoint,
  NodeGroup,
  NodeGroupProvider,
  ScaleOperation,
  WaitOptions,
} from "./types.ts";
import { pollScale } from "./wait.ts";

type Method = "describeCluster" | "listNodeGroups" | "getNodeGroup" | "scaleNodeGroup" | "describeScaleOperation";

export interface FakeCall {
  readonly method: Method;
  readonly args: readonly unknown[];
}

export class FakeProvider implements NodeGroupProvider {
  readonly cloud: Cloud;
  readonly calls: FakeCall[] = [];
  readonly groups = new Map<string, NodeGroup>();
  readonly #errors = new Map<Method, Error[]>();
  readonly #operations = new Map<string, ScaleOperation>();
  readonly #tokens = new Map<string, ScaleOperation>();

  constructor(cloud: Cloud, groups: readonly NodeGroup[] = []) {
    this.cloud = cloud;
    for (const g of groups) this.groups.set(g.name, g);
  }

  /** The next call of `method` throws `error` (queued, first in first out). */
  queueError(method: Method, error: Error): void {
    this.#errors.set(method, [...(this.#errors.get(method) ?? []), error]);
  }

  /** Ends a pending operation (as the cloud would once nodes arrive). */
  complete(id: string, status: "Succeeded" | "Failed" = "Succeeded", message?: string): void {
    const op = this.#operations.get(id);
    if (!op) throw new Error(`FakeProvider: no operation ${id}`);
    this.#operations.set(id, { ...op, status, ...(message ? { message } : {}) });
    const g = this.groups.get(op.nodeGroup);
    if (g) this.groups.set(g.name, { ...g, status: status === "Succeeded" ? "Active" : "Failed" });
  }

  #record(method: Method, ...args: unknown[]): void {
    this.calls.push({ method, args });
    const err = this.#errors.get(method)?.shift();
    if (err) throw err;
  }

  #group(name: string): NodeGroup {
    const g = this.groups.get(name);
    if (!g) throw new ProviderError("NotFound", `no node group ${name}`);
    return g;
  }

  async describeCluster(_o?: CallOptions): Promise<ClusterEndpoint> {
    this.#record("describeCluster");
    return {
      name: "fake",
      endpoint: "https://127.0.0.1:6443",
      certificateAuthorityData: "",
      kubernetesVersion: "1.36.3",
      status: "ACTIVE",
    };
  }

  async listNodeGroups(_o?: CallOptions): Promise<NodeGroup[]> {
    this.#record("listNodeGroups");
    return [...this.groups.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  async getNodeGroup(name: string, _o?: CallOptions): Promise<NodeGroup> {
    this.#record("getNodeGroup", name);
    return this.#group(name);
  }

  async scaleNodeGroup(name: string, desiredSize: number, clientToken: string, _o?: CallOptions) {
    this.#record("scaleNodeGroup", name, desiredSize, clientToken);
    const seen = this.#tokens.get(clientToken);
    if (seen) return this.#operations.get(seen.id) ?? seen;
    const group = this.#group(name);
    const noop = guardScale("fake", group, desiredSize);
    if (noop) return noop;
    const op: ScaleOperation = {
      id: `op-${this.#operations.size + 1}`,
      nodeGroup: name,
      desiredSize,
      status: "InProgress",
    };
    this.#operations.set(op.id, op);
    this.#tokens.set(clientToken, op);
    this.groups.set(name, { ...group, desiredSize, status: "Updating" });
    return op;
  }

  async describeScaleOperation(op: ScaleOperation, _o?: CallOptions): Promise<ScaleOperation> {
    this.#record("describeScaleOperation", op.id);
    if (op.id.startsWith(NOOP_PREFIX)) return noopStatus(op, this.#group(op.nodeGroup));
    const found = this.#operations.get(op.id);
    if (!found) throw new ProviderError("NotFound", `no operation ${op.id}`);
    return found;
  }

  waitForScale(op: ScaleOperation, options: WaitOptions = {}): Promise<ScaleOperation> {
    return pollScale(op, (o) => this.describeScaleOperation(o), { ...options, sleep: async () => undefined });
  }
}
