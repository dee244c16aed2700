// The EKS REST API for the calls the operator makes, as @aws-sdk/client-eks
// sends them (restJson1): ListNodegroups, DescribeNodegroup,
// UpdateNodegroupConfig (clientRequestToken), DescribeUpdate, DescribeCluster.

import { GPU_RESOURCE, instanceType } from "../../../src/catalog/instance-types.ts";
import type { ClusterSpec } from "../topology.ts";
import type { FaultInjector } from "./faults.ts";
import { json, type SimRequest, type SimResponse } from "./http.ts";
import type { CloudState, SimGroup, SimOperation } from "./state.ts";

/** What DescribeCluster reports besides the state: the sandbox API server. */
export interface EksClusterInfo {
  readonly endpoint: (cluster: ClusterSpec) => string;
  readonly caData: string;
  readonly version: string;
}

const ACCOUNT = "000000000000";
const epoch = (d: Date) => d.getTime() / 1000;

/** An EKS error: the SDK reads its name from the x-amzn-ErrorType header. */
export function eksError(status: number, type: string, message: string): SimResponse {
  return json(status, { message }, { "x-amzn-ErrorType": type });
}

function nodegroup(g: SimGroup, state: CloudState): object {
  const { cluster, spec } = g;
  const gpu = instanceType(spec.instanceType).deviceResource === GPU_RESOURCE;
  return {
    nodegroupName: spec.name,
    nodegroupArn: `arn:aws:eks:${cluster.region}:${ACCOUNT}:nodegroup/${cluster.name}/${spec.name}/sim`,
    clusterName: cluster.name,
    version: "1.36",
    createdAt: epoch(g.createdAt),
    modifiedAt: epoch(new Date()),
    status: state.busy(g) ? "UPDATING" : "ACTIVE",
    capacityType:
      spec.capacityType === "Spot" ? "SPOT" : spec.capacityType === "Reserved" ? "CAPACITY_BLOCK" : "ON_DEMAND",
    scalingConfig: { minSize: g.minSize, maxSize: g.maxSize, desiredSize: g.desiredSize },
    instanceTypes: [spec.instanceType],
    subnets: [],
    amiType: gpu ? "AL2023_x86_64_NVIDIA" : "AL2023_x86_64_NEURON",
    nodeRole: `arn:aws:iam::${ACCOUNT}:role/sandbox-node`,
    labels: {},
    taints: gpu
      ? [{ key: GPU_RESOURCE, value: "true", effect: "NO_SCHEDULE" }]
      : [{ key: "aws.amazon.com/neuron", effect: "NO_SCHEDULE" }],
    health: { issues: [] },
    tags: g.autoscalerOwned
      ? { "k8s.io/cluster-autoscaler/enabled": "true", [`k8s.io/cluster-autoscaler/${cluster.name}`]: "owned" }
      : {},
  };
}

function update(op: SimOperation): object {
  return {
    id: op.id,
    status: op.status,
    type: "ConfigUpdate",
    params: [{ type: "DesiredSize", value: String(op.desiredSize) }],
    createdAt: epoch(op.createdAt),
    errors: op.error ? [{ errorCode: "Unknown", errorMessage: op.error, resourceIds: [op.group.spec.name] }] : [],
  };
}

function updateConfig(
  state: CloudState,
  faults: FaultInjector,
  g: SimGroup,
  body: Record<string, unknown>,
): SimResponse {
  const sc = (body.scalingConfig ?? {}) as { minSize?: number; maxSize?: number; desiredSize?: number };
  const desired = sc.desiredSize ?? g.desiredSize;
  const max = sc.maxSize ?? g.maxSize;
  const min = sc.minSize ?? g.minSize;
  if (!Number.isInteger(desired) || desired < min || desired > max) {
    return eksError(
      400,
      "InvalidParameterException",
      `desiredSize ${desired} must be between minSize ${min} and maxSize ${max}`,
    );
  }
  g.minSize = min;
  g.maxSize = max;
  const op = state.scale(g, desired, typeof body.clientRequestToken === "string" ? body.clientRequestToken : undefined);
  if (faults.afterApply())
    return eksError(500, "ServerException", "internal error (injected after the update was applied)");
  return json(200, { update: update(op) });
}

const ROUTE = /^\/clusters\/([^/]+)(?:\/(node-groups|updates)(?:\/([^/]+)(?:\/(update-config))?)?)?$/;

/** Answers an EKS call, or undefined when the path is not EKS's. */
export function handleEks(
  state: CloudState,
  faults: FaultInjector,
  info: EksClusterInfo,
  req: SimRequest,
): SimResponse | undefined {
  const m = ROUTE.exec(req.path);
  if (!m) return undefined;
  const [, clusterName = "", kind, item, action] = m.map((s) => (s === undefined ? s : decodeURIComponent(s)));
  const groups = state.clusterGroups(clusterName);
  const cluster = groups[0]?.cluster;
  if (cluster?.cloud !== "aws")
    return eksError(404, "ResourceNotFoundException", `No cluster found for name: ${clusterName}.`);
  if (!kind && req.method === "GET") return describeCluster(cluster, info);
  if (kind === "updates" && item && req.method === "GET") {
    const op = state.operations.get(item);
    if (!op || op.group.cluster !== cluster)
      return eksError(404, "ResourceNotFoundException", `No update found for ID: ${item}.`);
    return json(200, { update: update(op) });
  }
  if (kind !== "node-groups") return eksError(404, "NotFoundException", `no route for ${req.method} ${req.path}`);
  if (!item && req.method === "GET") return listNodegroups(groups, req.query);
  const g = item ? state.group(clusterName, item) : undefined;
  if (!g) return eksError(404, "ResourceNotFoundException", `No node group found for name: ${item}.`);
  if (!action && req.method === "GET") return json(200, { nodegroup: nodegroup(g, state) });
  if (action === "update-config" && req.method === "POST")
    return updateConfig(state, faults, g, req.body as Record<string, unknown>);
  return eksError(404, "NotFoundException", `no route for ${req.method} ${req.path}`);
}

function listNodegroups(groups: SimGroup[], query: URLSearchParams): SimResponse {
  const start = Number(query.get("nextToken") ?? 0);
  const max = Number(query.get("maxResults") ?? 100);
  const page = groups.slice(start, start + max).map((g) => g.spec.name);
  const next = start + max < groups.length ? String(start + max) : undefined;
  return json(200, { nodegroups: page, ...(next ? { nextToken: next } : {}) });
}

function describeCluster(cluster: ClusterSpec, info: EksClusterInfo): SimResponse {
  return json(200, {
    cluster: {
      name: cluster.name,
      arn: `arn:aws:eks:${cluster.region}:${ACCOUNT}:cluster/${cluster.name}`,
      createdAt: epoch(new Date(0)),
      version: info.version,
      endpoint: info.endpoint(cluster),
      certificateAuthority: { data: info.caData },
      status: "ACTIVE",
      platformVersion: "eks.1",
      tags: {},
    },
  });
}
