// npm run demo: starts the sandbox and shows what it holds (its clusters, their
// fake accelerator nodes and the checkpoint stores). The sandbox stays up for
// exploring with kubectl; `npm run sandbox:down` stops it.

import { CoreV1Api, type V1Node, VersionApi } from "@kubernetes/client-node";
import { SANDBOX_GROUP_LABEL } from "./sandbox/nodes.ts";
import { STATE_DIR } from "./sandbox/paths.ts";
import { kubeConfigFor, kubeconfigPath, SANDBOX_BUCKET, SANDBOX_CONTAINER, up } from "./sandbox/sandbox.ts";
import { defaultTopology } from "./sandbox/topology.ts";

const ACCELERATOR_RESOURCES = ["aws.amazon.com/neuron", "nvidia.com/gpu"];

function describeNode(n: V1Node): string[] {
  const labels = n.metadata?.labels ?? {};
  const alloc = n.status?.allocatable ?? {};
  const devices = ACCELERATOR_RESOURCES.filter((r) => alloc[r]).map((r) => `${alloc[r]} x ${r}`);
  const ready = n.status?.conditions?.find((c) => c.type === "Ready")?.status === "True";
  const capacity = labels["eks.amazonaws.com/capacityType"] ?? labels["kubernetes.azure.com/scalesetpriority"] ?? "";
  return [
    n.metadata?.name ?? "",
    labels[SANDBOX_GROUP_LABEL] ?? "",
    labels["node.kubernetes.io/instance-type"] ?? "",
    capacity,
    devices.join(", "),
    ready ? "Ready" : "NotReady",
  ];
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

async function main(): Promise<void> {
  const topology = defaultTopology();
  await up(topology);
  for (const cluster of topology.clusters) {
    const kc = kubeConfigFor(cluster.name);
    const version = await kc.makeApiClient(VersionApi).getCode();
    const nodes = (await kc.makeApiClient(CoreV1Api).listNode()).items;
    console.log(`\n${cluster.name} (${cluster.cloud ?? "hub"}, ${cluster.region}) Kubernetes ${version.gitVersion}`);
    console.log(`  KUBECONFIG=${kubeconfigPath(cluster.name)}`);
    if (nodes.length === 0) {
      console.log("  no nodes: the hub holds TrainingJobs and ComputeClusters only");
      continue;
    }
    const header = ["NODE", "GROUP", "INSTANCE TYPE", "CAPACITY", "ACCELERATORS", "STATUS"];
    console.log(table([header, ...nodes.map(describeNode)]).replace(/^/gm, "  "));
  }
  console.log(`\ncheckpoint stores: s3://${SANDBOX_BUCKET} (aws-sim), blob container ${SANDBOX_CONTAINER} (azure-sim)`);
  console.log(`endpoints and credentials: . ${STATE_DIR}/env`);
  console.log("stop the sandbox with: npm run sandbox:down");
}

main().catch((err: unknown) => {
  console.error(`demo: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
