// Checkpoint agents as processes (`node src/checkpoint/cli.ts agent`) against
// the sandbox's stores: the store env a sidecar gets, a free probe port, and
// the process with its JSON log lines collected. Used by the agent tests
// (test/integration/checkpoint-agent-*.ts) and bench/checkpoint/agent.ts.

import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";
import { REPO_ROOT } from "../../scripts/sandbox/paths.ts";
import { AZURITE_KEY, S3_ACCESS_KEY, S3_SECRET_KEY } from "../../scripts/sandbox/sandbox.ts";
import { defaultTopology } from "../../scripts/sandbox/topology.ts";

const CLI = join(REPO_ROOT, "src/checkpoint/cli.ts");

/** The sandbox stores' endpoint and keys, as a sidecar gets them from its cluster's store Secret. */
export function sandboxStoreEnv(): Record<string, string> {
  return {
    CROSSCLOUD_S3_ENDPOINT: `http://127.0.0.1:${defaultTopology().s3Port}`,
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: S3_ACCESS_KEY,
    AWS_SECRET_ACCESS_KEY: S3_SECRET_KEY,
    AZURE_STORAGE_ACCOUNT_KEY: AZURITE_KEY,
  };
}

export async function freePort(): Promise<number> {
  const server = createServer().listen(0);
  await new Promise((resolve) => server.once("listening", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface AgentProcess {
  readonly child: ChildProcess;
  readonly port: number;
  /** Every JSON log line so far. */
  readonly lines: Record<string, unknown>[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Log lines of `type`. */
  of(type: string): Record<string, unknown>[];
  /** GET `path` on the probe port: its status, or 0 when nothing answers. */
  probe(path: string): Promise<number>;
}

/** Starts `cli.ts agent` with exactly `env` (plus PATH); `port` is its CROSSCLOUD_AGENT_PORT. */
export function spawnAgent(env: Record<string, string | undefined>, index: number, port: number): AgentProcess {
  const child = spawn(process.execPath, [CLI, "agent"], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const lines: Record<string, unknown>[] = [];
  let rest = "";
  child.stderr?.on("data", (d: Buffer) => {
    rest += d.toString();
    const parts = rest.split("\n");
    rest = parts.pop() ?? "";
    for (const line of parts) {
      if (process.env.AGENT_TEST_LOG) process.stderr.write(`[agent ${index}] ${line}\n`);
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        lines.push({ type: "text", text: line });
      }
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  const probe = (path: string) =>
    fetch(`http://127.0.0.1:${port}${path}`).then(
      (r) => r.status,
      () => 0,
    );
  return { child, port, lines, exited, of: (type) => lines.filter((l) => l.type === type), probe };
}
