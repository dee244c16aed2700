// The ARM API for AKS as @azure/arm-containerservice 25.x sends it: agent
// pools list/get/createOrUpdate (a long-running operation polled through
// its Azure-AsyncOperation URL, provisioningState on the pool) and managed
// cluster get. Paths are matched case-insensitively, as ARM does.

import type { ClusterSpec } from "../topology.ts";
import type { FaultInjector } from "./faults.ts";
import { json, type SimRequest, type SimResponse } from "./http.ts";
import type { CloudState, SimGroup, SimOperation } from "./state.ts";

/** The tags the AKS provider reads a manual pool's bounds from. */
const MIN_TAG = "crosscloud.dev/min-count";
const MAX_TAG = "crosscloud.dev/max-count";
const PROVIDER = "providers/Microsoft.ContainerService";

export function armError(
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): SimResponse {
  return json(status, { error: { code, message } }, headers);
}

interface ArmPath {
  readonly subscription: string;
  readonly resourceGroup: string;
  readonly cluster: string;
  readonly pool?: string;
}

const CLUSTER_PATH = new RegExp(
  `^/subscriptions/([^/]+)/resourceGroups/([^/]+)/${PROVIDER}/managedClusters/([^/]+)(?:/agentPools(?:/([^/]+))?)?$`,
  "i",
);
const OPERATION_PATH = new RegExp(`^/subscriptions/([^/]+)/${PROVIDER}/locations/([^/]+)/operations/([^/]+)$`, "i");

function poolId(p: ArmPath, name: string): string {
  return `/subscriptions/${p.subscription}/resourceGroups/${p.resourceGroup}/${PROVIDER}/managedClusters/${p.cluster}/agentPools/${name}`;
}

function agentPool(g: SimGroup, p: ArmPath, state: CloudState): object {
  const { spec } = g;
  const spot = spec.capacityType === "Spot";
  return {
    id: poolId(p, spec.name),
    name: spec.name,
    type: "Microsoft.ContainerService/managedClusters/agentPools",
    properties: {
      count: g.desiredSize,
      vmSize: spec.instanceType,
      osType: "Linux",
      mode: "User",
      type: "VirtualMachineScaleSets",
      orchestratorVersion: "1.36.3",
      enableAutoScaling: g.autoscalerOwned,
      ...(g.autoscalerOwned ? { minCount: g.minSize, maxCount: g.maxSize } : {}),
      scaleSetPriority: spot ? "Spot" : "Regular",
      ...(spot ? { scaleSetEvictionPolicy: "Delete", spotMaxPrice: -1 } : {}),
      provisioningState: state.busy(g) ? "Scaling" : "Succeeded",
      powerState: { code: "Running" },
      nodeLabels: {},
      nodeTaints: ["sku=gpu:NoSchedule", ...(spot ? ["kubernetes.azure.com/scalesetpriority=spot:NoSchedule"] : [])],
      tags: { [MIN_TAG]: String(g.minSize), [MAX_TAG]: String(g.maxSize) },
    },
  };
}

function managedCluster(cluster: ClusterSpec, groups: SimGroup[], p: ArmPath, state: CloudState, fqdn: string): object {
  return {
    id: `/subscriptions/${p.subscription}/resourceGroups/${p.resourceGroup}/${PROVIDER}/managedClusters/${cluster.name}`,
    name: cluster.name,
    type: "Microsoft.ContainerService/ManagedClusters",
    location: cluster.region,
    properties: {
      provisioningState: "Succeeded",
      powerState: { code: "Running" },
      kubernetesVersion: "1.36.3",
      currentKubernetesVersion: "1.36.3",
      fqdn,
      agentPoolProfiles: groups.map((g) => ({
        name: g.spec.name,
        ...(agentPool(g, p, state) as { properties: object }).properties,
      })),
    },
  };
}

function operation(op: SimOperation): SimResponse {
  const status = op.status === "Successful" ? "Succeeded" : op.status;
  return json(200, {
    id: op.id,
    name: op.id,
    status,
    startTime: op.createdAt.toISOString(),
    ...(op.endedAt ? { endTime: op.endedAt.toISOString() } : {}),
    ...(op.error ? { error: { code: "ScaleFailed", message: op.error } } : {}),
  });
}

function putPool(state: CloudState, faults: FaultInjector, g: SimGroup, p: ArmPath, req: SimRequest): SimResponse {
  const props = ((req.body as { properties?: Record<string, unknown> })?.properties ?? {}) as {
    count?: unknown;
    enableAutoScaling?: unknown;
  };
  const count = props.count ?? g.desiredSize;
  if (typeof count !== "number" || !Number.isInteger(count) || count < 0 || count > 1000) {
    return armError(
      400,
      "InvalidParameter",
      `properties.count must be a whole number from 0 to 1000, got ${JSON.stringify(count)}`,
    );
  }
  if (g.autoscalerOwned && props.enableAutoScaling !== false && count !== g.desiredSize) {
    return armError(
      400,
      "OperationNotAllowed",
      `agent pool ${g.spec.name} has enableAutoScaling: its count is set by the cluster autoscaler`,
    );
  }
  const inFlight = [...state.operations.values()].find((o) => o.group === g && o.status === "InProgress");
  if (count === g.desiredSize) {
    // Nothing to change (a repeated PUT): answer with the operation still running, if any.
    return json(
      200,
      agentPool(g, p, state),
      inFlight ? { "Azure-AsyncOperation": operationUrl(req, p, g, inFlight) } : {},
    );
  }
  const op = state.scale(g, count);
  if (faults.afterApply())
    return armError(500, "InternalServerError", "internal error (injected after the change was applied)");
  return json(200, agentPool(g, p, state), { "Azure-AsyncOperation": operationUrl(req, p, g, op) });
}

function operationUrl(req: SimRequest, p: ArmPath, g: SimGroup, op: SimOperation): string {
  const path = `/subscriptions/${p.subscription}/${PROVIDER}/locations/${g.cluster.region}/operations/${op.id}`;
  return `${req.baseUrl}${path}?api-version=${req.query.get("api-version")}`;
}

/** Answers an ARM call, or undefined when the path is not ARM's. */
export function handleArm(
  state: CloudState,
  faults: FaultInjector,
  fqdn: (c: ClusterSpec) => string,
  req: SimRequest,
): SimResponse | undefined {
  if (!/^\/subscriptions\//i.test(req.path)) return undefined;
  if (!req.query.get("api-version")) {
    return armError(
      400,
      "MissingApiVersionParameter",
      "The api-version query parameter (?api-version=) is required for all requests.",
    );
  }
  const opMatch = OPERATION_PATH.exec(req.path);
  if (opMatch && req.method === "GET") {
    const op = state.operations.get(decodeURIComponent(opMatch[3] ?? ""));
    return op ? operation(op) : armError(404, "NotFound", `operation ${opMatch[3]} not found`);
  }
  const m = CLUSTER_PATH.exec(req.path);
  if (!m) return armError(404, "InvalidResourceType", `no ARM route for ${req.method} ${req.path}`);
  const [, subscription = "", resourceGroup = "", cluster = "", pool] = m.map((s) =>
    s === undefined ? s : decodeURIComponent(s),
  );
  const p: ArmPath = { subscription, resourceGroup, cluster, ...(pool ? { pool } : {}) };
  const groups = state.clusterGroups(cluster);
  const spec = groups[0]?.cluster;
  if (spec?.cloud !== "azure") {
    return armError(
      404,
      "ResourceNotFound",
      `The Resource 'Microsoft.ContainerService/managedClusters/${cluster}' under resource group '${resourceGroup}' was not found.`,
    );
  }
  const isPools = /\/agentPools(\/|$)/i.test(req.path);
  if (!isPools && req.method === "GET") return json(200, managedCluster(spec, groups, p, state, fqdn(spec)));
  if (isPools && !pool && req.method === "GET") return json(200, { value: groups.map((g) => agentPool(g, p, state)) });
  const g = pool ? state.group(cluster, pool) : undefined;
  if (!g) return armError(404, "NotFound", `agent pool ${pool} not found in managed cluster ${cluster}`);
  if (req.method === "GET") return json(200, agentPool(g, p, state));
  if (req.method === "PUT") return putPool(state, faults, g, p, req);
  return armError(405, "MethodNotAllowed", `${req.method} is not supported on agent pools by the simulator`);
}
