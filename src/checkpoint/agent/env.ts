// The agent's settings, read from the env the operator renders into the
// checkpoint-agent sidecar; a bad or missing variable is an AgentEnvError
// naming it and saying what to set (the command exits 2 on it).

import { isAbsolute } from "node:path";
import { stepDir } from "../manifest.ts";
import { parseStoreUri } from "../uri.ts";

const MiB = 2 ** 20;

export interface AgentConfig {
  /** CROSSCLOUD_CHECKPOINT_DIR: the local dir shared with the trainer. */
  readonly dir: string;
  /** CROSSCLOUD_CHECKPOINT_URI: the job's line in the store of this cluster. */
  readonly uri: string;
  /** CROSSCLOUD_EPOCH: the placement's epoch, written into part records and manifests. */
  readonly epoch: number;
  /** CROSSCLOUD_REPLICAS: how many part records a step needs before it is committed. */
  readonly replicas: number;
  /** CROSSCLOUD_REPLICA_INDEX: this pod's index, 0..replicas-1; index 0 commits. */
  readonly index: number;
  /**
   * CROSSCLOUD_RESUME_STEP and CROSSCLOUD_RESUME_URI (the step's URI, `<line>/step-<N>`): the step
   * restored before the trainer starts; `uri` here is the line it is in.
   */
  readonly resume?: { readonly step: number; readonly uri: string };
  /** CROSSCLOUD_KEEP_LOCAL (default 2): committed steps kept on local disk. */
  readonly keepLocal: number;
  /** CROSSCLOUD_AGENT_PORT (default 8089): /started and /healthz. */
  readonly port: number;
  /** CROSSCLOUD_AGENT_POLL_MS (default 2000): how often the local dir is scanned. */
  readonly pollMs: number;
  /** CROSSCLOUD_AGENT_PART_MIB (default 16): part size of uploads. */
  readonly partSize: number;
  /** CROSSCLOUD_AGENT_FILE_CONCURRENCY (default 4): files uploaded or restored at once. */
  readonly fileConcurrency: number;
}

export class AgentEnvError extends Error {}

function text(env: NodeJS.ProcessEnv, name: string, what: string): string {
  const value = env[name];
  if (value === undefined || value === "") throw new AgentEnvError(`${name} is not set: set it to ${what}`);
  return value;
}

function int(env: NodeJS.ProcessEnv, name: string, min: number, what: string, fallback?: number): number {
  const raw = env[name];
  if ((raw === undefined || raw === "") && fallback !== undefined) return fallback;
  const n = Number(text(env, name, what));
  if (!Number.isSafeInteger(n) || n < min)
    throw new AgentEnvError(`${name} must be an integer >= ${min} (${what}), got ${JSON.stringify(raw)}`);
  return n;
}

function storeUriText(env: NodeJS.ProcessEnv, name: string): string {
  const uri = text(env, name, "a checkpoint store URI like s3://bucket/namespace/job");
  const parsed = parseStoreUri(uri);
  if (!parsed.ok) throw new AgentEnvError(`${name}: ${parsed.reason}`);
  return uri;
}

function resumeOf(env: NodeJS.ProcessEnv): AgentConfig["resume"] {
  const hasStep = (env.CROSSCLOUD_RESUME_STEP ?? "") !== "";
  const hasUri = (env.CROSSCLOUD_RESUME_URI ?? "") !== "";
  if (!hasStep && !hasUri) return undefined;
  if (hasStep !== hasUri)
    throw new AgentEnvError("CROSSCLOUD_RESUME_STEP and CROSSCLOUD_RESUME_URI go together: set both, or neither");
  const step = int(env, "CROSSCLOUD_RESUME_STEP", 0, "the committed step to restore");
  // The step's URI, as the trainer gets it (<line>/step-<N>); the agent opens the line it is in.
  const uri = storeUriText(env, "CROSSCLOUD_RESUME_URI").replace(/\/+$/, "");
  const suffix = `/${stepDir(step)}`;
  if (!uri.endsWith(suffix))
    throw new AgentEnvError(`CROSSCLOUD_RESUME_URI must be the URI of step ${step} (ending in ${suffix}), got ${uri}`);
  return { step, uri: uri.slice(0, -suffix.length) };
}

/** The agent's settings from `env`; AgentEnvError names the first bad variable. */
export function agentConfigFromEnv(env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const dir = text(env, "CROSSCLOUD_CHECKPOINT_DIR", "the absolute path of the local checkpoint dir");
  if (!isAbsolute(dir)) throw new AgentEnvError(`CROSSCLOUD_CHECKPOINT_DIR must be an absolute path, got ${dir}`);
  const uri = storeUriText(env, "CROSSCLOUD_CHECKPOINT_URI");
  const epoch = int(env, "CROSSCLOUD_EPOCH", 1, "the placement's epoch");
  const replicas = int(env, "CROSSCLOUD_REPLICAS", 1, "the job's replica count");
  const index = int(env, "CROSSCLOUD_REPLICA_INDEX", 0, "this pod's replica index");
  if (index >= replicas)
    throw new AgentEnvError(`CROSSCLOUD_REPLICA_INDEX is ${index}: it must be below CROSSCLOUD_REPLICAS (${replicas})`);
  return {
    dir,
    uri,
    epoch,
    replicas,
    index,
    resume: resumeOf(env),
    keepLocal: int(env, "CROSSCLOUD_KEEP_LOCAL", 1, "committed steps kept on local disk", 2),
    port: int(env, "CROSSCLOUD_AGENT_PORT", 0, "the port of /started and /healthz", 8089),
    pollMs: int(env, "CROSSCLOUD_AGENT_POLL_MS", 1, "milliseconds between scans of the local dir", 2000),
    partSize: int(env, "CROSSCLOUD_AGENT_PART_MIB", 5, "the upload part size in MiB", 16) * MiB,
    fileConcurrency: int(env, "CROSSCLOUD_AGENT_FILE_CONCURRENCY", 1, "files uploaded at once", 4),
  };
}
