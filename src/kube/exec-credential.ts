// Runs a kubeconfig's exec credential plugin (users[].user.exec: aws eks
// get-token, kubelogin, gke-gcloud-auth-plugin ...) as kubectl does: no shell,
// KUBERNETES_EXEC_INFO set, an ExecCredential JSON read from stdout. Results
// are cached until their expirationTimestamp. Tokens and stdout never go into
// errors or logs.

import { spawn } from "node:child_process";
import { isAbsolute, join, sep } from "node:path";

/** users[].user.exec of a kubeconfig (client-node keeps it as the raw object). */
export interface ExecConfig {
  readonly apiVersion: string;
  readonly command: string;
  readonly args?: readonly string[] | null;
  readonly env?: readonly { readonly name: string; readonly value: string }[] | null;
}

/** status of an ExecCredential: a bearer token and/or a PEM client certificate and key. */
export interface ExecCredentialStatus {
  readonly token?: string;
  readonly clientCertificateData?: string;
  readonly clientKeyData?: string;
  readonly expirationTimestamp?: string;
}

/**
 * Checks a kubeconfig's users[].user.exec (`where` names it in messages, `fail` throws). As kubectl,
 * a relative command with a path separator is relative to the kubeconfig's directory `baseDir`.
 */
export function parseExecConfig(
  v: unknown,
  fail: (message: string) => never,
  where: string,
  baseDir: string | undefined,
): ExecConfig {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return fail(`${where} is not a mapping`);
  const exec = v as Record<string, unknown>;
  const { apiVersion, args, env } = exec;
  const cmd = exec.command;
  if (typeof cmd !== "string" || !cmd) return fail(`${where} has no command; set the plugin's executable`);
  const command = baseDir && cmd.includes(sep) && !isAbsolute(cmd) ? join(baseDir, cmd) : cmd;
  if (typeof apiVersion !== "string" || !apiVersion) {
    return fail(`${where} has no apiVersion; set client.authentication.k8s.io/v1 (or v1beta1)`);
  }
  if (args != null && (!Array.isArray(args) || !args.every((a) => typeof a === "string"))) {
    return fail(`${where}.args must be a list of strings; quote each argument`);
  }
  const pair = (p: unknown) =>
    typeof p === "object" &&
    p !== null &&
    typeof Reflect.get(p, "name") === "string" &&
    typeof Reflect.get(p, "value") === "string";
  if (env != null && (!Array.isArray(env) || !env.every(pair))) {
    return fail(`${where}.env must be a list of {name, value} with string values; quote the values`);
  }
  return { ...exec, apiVersion, command } as ExecConfig;
}

/** A credential is run again this long before its expirationTimestamp. */
export const EXPIRY_MARGIN_MS = 10_000;
/** A plugin still running after this is killed and the call fails. */
export const EXEC_TIMEOUT_MS = 60_000;
const MAX_STDOUT = 1 << 20;
const MAX_STDERR = 64 << 10;

/** Runs the plugin once and returns the status of the ExecCredential it printed. */
export function runExecPlugin(exec: ExecConfig, timeoutMs = EXEC_TIMEOUT_MS): Promise<ExecCredentialStatus> {
  const what = `exec credential plugin "${exec.command}"`;
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const { name, value } of exec.env ?? []) env[name] = value;
  env.KUBERNETES_EXEC_INFO = JSON.stringify({
    apiVersion: exec.apiVersion,
    kind: "ExecCredential",
    spec: { interactive: false },
  });
  return new Promise((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    let failure: Error | undefined;
    const child = spawn(exec.command, [...(exec.args ?? [])], { env, stdio: ["ignore", "pipe", "pipe"], shell: false });
    const timer = setTimeout(() => {
      failure ??= new Error(`${what} did not finish within ${timeoutMs / 1000} s; it was killed`);
      child.kill("SIGKILL");
    }, timeoutMs);
    child.stdout.setEncoding("utf8");
    child.stderr.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      stdout += chunk;
      if (stdout.length > MAX_STDOUT) {
        failure ??= new Error(`${what} printed more than ${MAX_STDOUT} bytes on stdout; it was killed`);
        child.kill("SIGKILL");
      }
    });
    child.stderr.on("data", (chunk: string) => {
      if (stderr.length < MAX_STDERR) stderr += chunk;
    });
    child.on("error", (err: NodeJS.ErrnoException) => {
      failure ??= new Error(
        err.code === "ENOENT"
          ? `${what} was not found: install it or fix users[].user.exec.command (PATH is searched)`
          : `${what} could not be started: ${err.message}`,
      );
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (failure) return reject(failure);
      if (code !== 0) {
        const detail = stderr.trim().slice(0, 500);
        const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        return reject(new Error(`${what} ${how}${detail ? `: ${detail}` : " and printed nothing on stderr"}`));
      }
      try {
        resolve(credentialStatus(stdout, exec.apiVersion));
      } catch (err) {
        reject(new Error(`${what}: ${(err as Error).message}`));
      }
    });
  });
}

/** Checks the plugin's stdout; messages never quote it, it holds the credential. */
function credentialStatus(stdout: string, apiVersion: string): ExecCredentialStatus {
  let doc: unknown;
  try {
    doc = JSON.parse(stdout);
  } catch {
    throw new Error("stdout is not JSON; the plugin must print an ExecCredential object");
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw new Error("stdout is not a JSON object; the plugin must print an ExecCredential object");
  }
  const cred = doc as Record<string, unknown>;
  if (cred.kind !== "ExecCredential") throw new Error("stdout's kind is not ExecCredential");
  if (cred.apiVersion !== apiVersion) {
    throw new Error(`stdout's apiVersion is not ${apiVersion} (users[].user.exec.apiVersion); make them match`);
  }
  const status = cred.status;
  if (typeof status !== "object" || status === null || Array.isArray(status)) {
    throw new Error("the ExecCredential has no status");
  }
  const s = status as Record<string, unknown>;
  const out: { -readonly [K in keyof ExecCredentialStatus]: ExecCredentialStatus[K] } = {};
  for (const key of ["token", "clientCertificateData", "clientKeyData", "expirationTimestamp"] as const) {
    const v = s[key];
    if (v === undefined || v === null || v === "") continue;
    if (typeof v !== "string") throw new Error(`the ExecCredential's status.${key} is not a string`);
    out[key] = v;
  }
  if (Boolean(out.clientCertificateData) !== Boolean(out.clientKeyData)) {
    throw new Error("the ExecCredential has only one of status.clientCertificateData and status.clientKeyData");
  }
  if (!out.token && !out.clientCertificateData) {
    throw new Error("the ExecCredential's status has neither token nor clientCertificateData/clientKeyData");
  }
  if (out.expirationTimestamp !== undefined && Number.isNaN(Date.parse(out.expirationTimestamp))) {
    throw new Error("the ExecCredential's status.expirationTimestamp is not an RFC 3339 time");
  }
  return out;
}

interface Entry {
  readonly pending?: Promise<ExecCredentialStatus>;
  readonly status?: ExecCredentialStatus;
  /** ms since the epoch; Infinity: no expirationTimestamp. */
  readonly expiresAt: number;
}

/** Exec credentials by user; concurrent calls for one user share one run of the plugin. */
export class ExecCredentialCache {
  readonly #entries = new Map<string, Entry>();
  readonly #now: () => number;
  readonly #run: (exec: ExecConfig) => Promise<ExecCredentialStatus>;

  constructor(now: () => number = Date.now, run: (exec: ExecConfig) => Promise<ExecCredentialStatus> = runExecPlugin) {
    this.#now = now;
    this.#run = run;
  }

  /** The cached credential of `key` (a user's name) while it is valid, else the plugin's new one. */
  get(key: string, exec: ExecConfig): Promise<ExecCredentialStatus> {
    // The exec config is part of the key: another kubeconfig may reuse a user's name.
    const k = `${key}\u0000${JSON.stringify(exec)}`;
    const entry = this.#entries.get(k);
    if (entry?.pending) return entry.pending;
    if (entry?.status && entry.expiresAt > this.#now()) return Promise.resolve(entry.status);
    const pending = this.#run(exec).then(
      (status) => {
        const exp = status.expirationTimestamp;
        const expiresAt = exp === undefined ? Number.POSITIVE_INFINITY : Date.parse(exp) - EXPIRY_MARGIN_MS;
        this.#entries.set(k, { status, expiresAt });
        return status;
      },
      (err: unknown) => {
        this.#entries.delete(k);
        throw err;
      },
    );
    this.#entries.set(k, { pending, expiresAt: 0 });
    return pending;
  }

  /** Forgets every credential, e.g. after the API server answered 401. */
  clear(): void {
    this.#entries.clear();
  }
}
