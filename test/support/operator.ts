// Runs the operator as users do (`node src/main.ts` against the hub) in a child
// process for integration tests, and prepares the hub: CRDs, the sandbox's
// ComputeClusters with their kubeconfig Secrets and the endpoints of this
// sandbox (its stores and cloud simulator, whatever SANDBOX_PORT_BASE is). The
// operator runs as its ServiceAccount with the shipped RBAC (test/support/rbac.ts):
// its hub kubeconfig and the workers' kubeconfig Secrets carry its tokens.

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, afterEach, before } from "node:test";
import { CustomObjectsApi, KubernetesObjectApi, PatchStrategy } from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import { REPO_ROOT } from "../../scripts/sandbox/paths.ts";
import { cloudSimUrl, sandboxCaPath } from "../../scripts/sandbox/sandbox.ts";
import { defaultTopology } from "../../scripts/sandbox/topology.ts";
import { GROUP, VERSION } from "../../src/api/common.ts";
import type { ComputeCluster } from "../../src/api/computecluster.ts";
import {
  OPERATOR_NAMESPACE,
  operatorHubKubeconfigPath,
  operatorKubeconfig,
  writeOperatorHubKubeconfig,
} from "./rbac.ts";
import { clients, eventually, installCrds, uniqueName } from "./sandbox.ts";
import { TrainingJobs } from "./trainingjobs.ts";

export interface OperatorProcess {
  readonly identity: string;
  readonly child: ChildProcess;
  /** Everything it logged so far. */
  logs(): string;
  /** Resolves with the exit code or signal once it has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * What an operator process needs for the sandbox's cloud simulator: trust of the sandbox CA
 * (its certificate), and credentials, which it accepts whatever they are.
 */
export function sandboxCloudEnv(): NodeJS.ProcessEnv {
  return {
    NODE_EXTRA_CA_CERTS: sandboxCaPath(),
    AWS_ACCESS_KEY_ID: "sandbox-access-key",
    AWS_SECRET_ACCESS_KEY: "sandbox-secret-key",
    AWS_EC2_METADATA_DISABLED: "true",
    CROSSCLOUD_AZURE_STATIC_TOKEN: "sandbox-token",
  };
}

/**
 * Starts `node src/main.ts` (or `node <nodeFlags> <script>`: the compiled operator with the image's flags,
 * as benches run it) as the operator's ServiceAccount on the hub (prepareHub writes its kubeconfig first).
 */
export function startOperator(
  identity: string,
  env: NodeJS.ProcessEnv = {},
  script = join(REPO_ROOT, "src/main.ts"),
  nodeFlags: readonly string[] = [],
): OperatorProcess {
  const kubeconfig = operatorHubKubeconfigPath();
  if (!existsSync(kubeconfig)) throw new Error(`${kubeconfig} is missing: call prepareHub() before startOperator()`);
  const child = spawn(process.execPath, [...nodeFlags, script], {
    env: {
      ...process.env,
      KUBECONFIG: kubeconfig,
      HEALTH_PORT: "0",
      POD_NAME: identity,
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "info",
      // Long enough that a loaded machine (two test shards on 2 cores) does not make a lone leader
      // miss its renew deadline; suites about leadership set their own.
      LEASE_DURATION_MS: "10000",
      RENEW_DEADLINE_MS: "7000",
      RETRY_PERIOD_MS: "1000",
      ...sandboxCloudEnv(),
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  return superviseOperator(identity, child);
}

/** An operator process started some other way (from its image, say): its logs, its exit, a stop. */
export function superviseOperator(identity: string, child: ChildProcess): OperatorProcess {
  let output = "";
  child.stdout?.on("data", (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    output += d.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal })),
  );
  return {
    identity,
    child,
    logs: () => output,
    exited,
    async stop(signal: NodeJS.Signals = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

/**
 * CRDs, the operator's namespace and RBAC, its hub kubeconfig (a ServiceAccount token), and both
 * sandbox workers as ComputeClusters whose kubeconfig Secrets hold the operator's worker tokens.
 */
export async function prepareHub(): Promise<void> {
  installCrds();
  await writeOperatorHubKubeconfig();
  const hub = clients("hub");
  const objects = KubernetesObjectApi.makeApiClient(hub.kubeConfig);
  const apply = (o: object) =>
    objects.patch(o as never, undefined, undefined, "crosscloud-tests", true, PatchStrategy.ServerSideApply);
  for (const cluster of ["aws-sim", "azure-sim"] as const) {
    const docs = parseAllDocuments(readFileSync(join(REPO_ROOT, "examples", `computecluster-${cluster}.yaml`), "utf8"));
    for (const doc of docs.map((d) => d.toJS() as { kind: string; metadata: { name: string } })) {
      if (doc.kind === "Secret" && doc.metadata.name === `${cluster}-kubeconfig`) {
        await apply({ ...doc, stringData: { kubeconfig: await operatorKubeconfig(cluster) } });
      } else {
        await apply(withSandboxEndpoints(doc));
      }
    }
  }
}

/** The example's endpoints (written for the default sandbox) pointed at this sandbox's ports. */
function withSandboxEndpoints<T extends { kind: string }>(doc: T): T {
  if (doc.kind !== "ComputeCluster") return doc;
  const t = defaultTopology();
  const cc = structuredClone(doc) as unknown as ComputeCluster;
  if (cc.spec.aws) cc.spec.aws.endpoint = cloudSimUrl();
  if (cc.spec.azure) cc.spec.azure.endpoint = cloudSimUrl();
  const store = cc.spec.checkpointStore;
  if (store.s3) store.s3.endpoint = `http://127.0.0.1:${t.s3Port}`;
  if (store.azureBlob) store.azureBlob.accountURL = store.azureBlob.accountURL.replace(/:\d+\//, `:${t.blobPort}/`);
  return cc as unknown as T;
}

/** Waits until both ComputeClusters report Ready (an operator must be running). */
/**
 * Waits until both ComputeClusters report Ready from a heartbeat taken after `since` (default now),
 * so their status is this operator's view of the workers, not one an earlier operator left.
 */
export async function waitClustersReady(since = new Date()): Promise<void> {
  const custom = clients("hub").kubeConfig.makeApiClient(CustomObjectsApi);
  // lastHeartbeatTime has second precision.
  const after = Math.floor(since.getTime() / 1000) * 1000;
  for (const name of ["aws-sim", "azure-sim"]) {
    await eventually(
      `ComputeCluster ${name} to be Ready`,
      () =>
        custom.getClusterCustomObject({
          group: GROUP,
          version: VERSION,
          plural: "computeclusters",
          name,
        }) as Promise<ComputeCluster>,
      (cc) =>
        cc.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true &&
        Date.parse(cc.status?.lastHeartbeatTime ?? "") >= after,
      60_000,
    );
  }
}

export { OPERATOR_NAMESPACE };

/** What withOperator gives a suite: its namespace's TrainingJobs and the running operator. */
export interface OperatorSuite {
  readonly tjs: TrainingJobs;
  operator(): OperatorProcess;
}

/**
 * Registers a suite's hooks (call inside describe): before, the hub prepared, a namespace of its own
 * and an operator process (with `env`) whose heartbeat shows both clusters Ready; after, `cleanup`,
 * then the operator stopped and the namespace deleted.
 */
export function withOperator(
  name: string,
  env: NodeJS.ProcessEnv = {},
  cleanup: (tjs: TrainingJobs) => Promise<void> = async () => {},
): OperatorSuite {
  const tjs = new TrainingJobs(uniqueName(name));
  let operator: OperatorProcess | undefined;
  before(async () => {
    await prepareHub();
    await tjs.createNamespace();
    operator = startOperator(`${name}-operator`, env);
    await waitClustersReady();
  });
  reportFailures(tjs, () => operator);
  after(async () => {
    await cleanup(tjs);
    await operator?.stop();
    await tjs.deleteNamespace();
  });
  return {
    tjs,
    operator: () => {
      if (!operator) throw new Error("the operator starts in the suite's before hook");
      return operator;
    },
  };
}

/** Where a failed test's operator log is written (gitignored): one file per suite namespace. */
export const TEST_LOG_DIR = join(REPO_ROOT, "test-logs");

/** Registers an afterEach (call inside describe) that reports a failed test with the suite's current operator. */
export function reportFailures(tjs: TrainingJobs, operator: () => OperatorProcess | undefined): void {
  afterEach(async (t) => {
    // TestContext.passed (Node >= 21.7) is not in @types/node yet.
    const { name: test, passed } = t as { name: string; passed?: boolean };
    const running = operator();
    if (passed === false && running) await reportFailure(test, tjs, running);
  });
}

/**
 * After a failed test: the operator's whole log to test-logs/<namespace>.log, and on stderr (so a CI
 * log shows it) each TrainingJob of the suite's namespace with its phase and conditions, and the
 * operator's last warnings and errors.
 */
async function reportFailure(test: string, tjs: TrainingJobs, operator: OperatorProcess): Promise<void> {
  mkdirSync(TEST_LOG_DIR, { recursive: true });
  const file = join(TEST_LOG_DIR, `${tjs.namespace}.log`);
  writeFileSync(file, operator.logs());
  const lines = [`--- "${test}" failed; the operator's log is in ${file}`];
  try {
    for (const j of await tjs.list()) {
      const conditions = (j.status?.conditions ?? []).map((c) => `${c.type}=${c.status} ${c.reason}: ${c.message}`);
      lines.push(`TrainingJob ${j.metadata.name}: ${j.status?.phase ?? "-"} epoch ${j.status?.epoch ?? "-"}`);
      for (const c of conditions) lines.push(`  ${c}`);
    }
  } catch (err) {
    lines.push(`(the TrainingJobs could not be listed: ${String(err)})`);
  }
  const noisy = operator
    .logs()
    .split("\n")
    .filter((l) => /"level":"(warn|error)"/.test(l));
  lines.push(`the operator's last ${Math.min(30, noisy.length)} warnings and errors:`, ...noisy.slice(-30));
  console.error(lines.join("\n"));
}

/** The operator's /metrics as "name{labels}" to value (labels as the exposition prints them). */
export async function scrapeMetrics(operator: OperatorProcess): Promise<Map<string, number>> {
  const port = /"healthPort":(\d+)/.exec(operator.logs())?.[1];
  assert.ok(port, "the operator logged its health port");
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const series = new Map<string, number>();
  for (const m of text.matchAll(/^(crosscloud_\w+(?:\{[^}]*\})?) (\S+)$/gm)) series.set(m[1] ?? "", Number(m[2]));
  return series;
}
