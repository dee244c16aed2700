// npm run demo: starts the sandbox, registers its two workers as
// ComputeClusters, runs the operator, applies the first example TrainingJob
// (Trainium first, H100 fallback) and follows it to Succeeded, printing each
// phase, the placement's reason and the events. The sandbox stays up.

import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { CoreV1Api, CustomObjectsApi, KubernetesObjectApi, PatchStrategy } from "@kubernetes/client-node";
import { parse } from "yaml";
import { GROUP, VERSION } from "../src/api/common.ts";
import type { TrainingJob } from "../src/api/trainingjob.ts";
import { prepareHub, sandboxCloudEnv, waitClustersReady } from "../test/support/operator.ts";
import { REPO_ROOT } from "./sandbox/paths.ts";
import { kubeConfigFor, kubeconfigPath, up } from "./sandbox/sandbox.ts";

const NAMESPACE = "demo";
const say = (msg: string) => console.log(`[demo ${new Date().toISOString().slice(11, 19)}] ${msg}`);

async function main(): Promise<void> {
  await up();
  say("installing the CRDs and registering aws-sim and azure-sim as ComputeClusters");
  await prepareHub();
  const operator = spawn(process.execPath, [join(REPO_ROOT, "src/main.ts")], {
    env: {
      ...process.env,
      ...sandboxCloudEnv(),
      KUBECONFIG: kubeconfigPath("hub"),
      HEALTH_PORT: "0",
      LEADER_ELECTION: "false",
      LOG_LEVEL: "error",
    },
    stdio: ["ignore", "inherit", "inherit"],
  });
  try {
    await waitClustersReady();
    say("both ComputeClusters are Ready");
    const hub = kubeConfigFor("hub");
    const core = hub.makeApiClient(CoreV1Api);
    const custom = hub.makeApiClient(CustomObjectsApi);
    await core.createNamespace({ body: { metadata: { name: NAMESPACE } } }).catch(() => {});
    const job = parse(readFileSync(join(REPO_ROOT, "examples/trainingjob-trainium-first.yaml"), "utf8")) as TrainingJob;
    const ref = {
      group: GROUP,
      version: VERSION,
      plural: "trainingjobs",
      namespace: NAMESPACE,
      name: job.metadata.name ?? "",
    };
    await custom.deleteNamespacedCustomObject(ref).catch(() => {});
    await waitGone(custom, ref);
    await KubernetesObjectApi.makeApiClient(hub).patch(
      { ...job, metadata: { ...job.metadata, namespace: NAMESPACE } },
      undefined,
      undefined,
      "demo",
      true,
      PatchStrategy.ServerSideApply,
    );
    say(`applied examples/trainingjob-trainium-first.yaml as ${NAMESPACE}/${ref.name}`);
    await follow(custom, ref);
    await sleep(1_000); // events are sent after the status write they describe
    const events = await core.listNamespacedEvent({
      namespace: NAMESPACE,
      fieldSelector: `involvedObject.name=${ref.name}`,
    });
    console.log("\nevents:");
    const byTime = events.items.sort((a, b) => String(a.firstTimestamp).localeCompare(String(b.firstTimestamp)));
    for (const e of byTime) console.log(`  ${e.type?.padEnd(7)} ${e.reason?.padEnd(10)} ${e.message}`);
    console.log(
      `\nexplore: kubectl --kubeconfig ${kubeconfigPath("hub")} get tj -A; kubectl --kubeconfig ${kubeconfigPath("aws-sim")} get jobs,pods -n ${NAMESPACE}`,
    );
    console.log("stop the sandbox with: npm run sandbox:down");
  } finally {
    operator.kill("SIGTERM");
  }
}

type Ref = { group: string; version: string; plural: string; namespace: string; name: string };

async function waitGone(custom: CustomObjectsApi, ref: Ref): Promise<void> {
  for (let i = 0; i < 120; i++) {
    if (
      !(await custom.getNamespacedCustomObject(ref).then(
        () => true,
        () => false,
      ))
    )
      return;
    await sleep(500);
  }
}

async function follow(custom: CustomObjectsApi, ref: Ref): Promise<void> {
  let last = "";
  let explained = false;
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    const job = (await custom.getNamespacedCustomObject(ref)) as TrainingJob;
    const s = job.status ?? {};
    const line = `${s.phase ?? "Pending"} ${s.readyReplicas ?? ""}`.trim();
    if (line !== last) {
      last = line;
      const where = s.placement
        ? ` on ${s.placement.cluster}/${s.placement.nodeGroup} (${s.placement.accelerator}, ${s.placement.instanceType}, $${s.placement.pricePerHour}/h)`
        : "";
      say(`phase ${line}${where}`);
      if (s.placement?.reason && !explained) {
        explained = true;
        say(`  why: ${s.placement.reason}`);
      }
    }
    if (s.phase === "Succeeded") return;
    if (s.phase === "Failed")
      throw new Error(`the job failed: ${s.conditions?.find((c) => c.type === "Failed")?.message}`);
    await sleep(500);
  }
  throw new Error("the job did not finish within 3 minutes");
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`demo: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
