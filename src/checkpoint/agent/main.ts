// The `agent` command: reads the sidecar's env, opens the stores, serves
// /started (200 once any restore is complete, 503 before) and /healthz (200
// while the loop runs) on CROSSCLOUD_AGENT_PORT, and runs the agent until
// `stop` fires (SIGTERM), then exits 0 once the step in flight is finished.

import { once } from "node:events";
import { createServer, type Server } from "node:http";
import { openStore } from "../open-store.ts";
import { CheckpointAgent } from "./agent.ts";
import { type AgentConfig, AgentEnvError, agentConfigFromEnv } from "./env.ts";

const log = (entry: Record<string, unknown>) =>
  process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), ...entry })}\n`);

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** The probes' server: /started and /healthz, 200 or 503 from the agent's state. */
export function serveProbes(agent: CheckpointAgent, port: number): Server {
  return createServer((req, res) => {
    const ok = req.url === "/started" ? agent.started : req.url === "/healthz" ? agent.healthy : undefined;
    res.writeHead(ok === undefined ? 404 : ok ? 200 : 503, { "content-type": "text/plain" });
    res.end(ok === undefined ? "not found: use /started or /healthz\n" : ok ? "ok\n" : "not yet\n");
  }).listen(port);
}

/** Runs the agent from the environment; resolves with the exit code (2: bad env). */
export async function agentCommand(stop: AbortSignal, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let config: AgentConfig;
  try {
    config = agentConfigFromEnv(env);
  } catch (err) {
    if (!(err instanceof AgentEnvError)) throw err;
    process.stderr.write(`usage: ${err.message}\n`);
    return 2;
  }
  const store = openStore(config.uri, { env });
  const resumeStore = config.resume ? openStore(config.resume.uri, { env }) : undefined;
  const agent = new CheckpointAgent(config, { store, resumeStore, now: () => new Date(), sleep, log });
  const server = serveProbes(agent, config.port);
  await once(server, "listening");
  log({
    type: "agent-started",
    index: config.index,
    replicas: config.replicas,
    epoch: config.epoch,
    port: config.port,
  });
  try {
    await agent.run(stop);
  } finally {
    server.close();
  }
  log({ type: "agent-stopped", index: config.index });
  return 0;
}
