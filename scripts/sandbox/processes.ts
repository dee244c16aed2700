// Starts the sandbox's long-running processes detached (so they outlive
// `sandbox:up`), records each in .sandbox/pids, and stops them again: also
// what a crashed earlier run left behind. Nothing here kills a process the
// sandbox did not start: a recorded pid is only signalled while its
// /proc/<pid>/cmdline still names the recorded binary. A recorded process can
// also be paused (SIGSTOP) and resumed: how `sandbox:partition` makes an API
// server hang, noted in its record so `sandbox:status` shows it.

import { spawn } from "node:child_process";
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

export interface ProcessRecord {
  readonly name: string;
  readonly pid: number;
  readonly binary: string;
  /** When the process was paused (SIGSTOP); absent while it runs. */
  readonly pausedAt?: string;
}

export interface StartOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

export class Processes {
  readonly #pidDir: string;
  readonly #logDir: string;

  constructor(stateDir: string) {
    this.#pidDir = join(stateDir, "pids");
    this.#logDir = join(stateDir, "logs");
  }

  logPath(name: string): string {
    return join(this.#logDir, `${name}.log`);
  }

  /** Starts `binary args` in its own process group, output to .sandbox/logs/<name>.log. */
  start(name: string, binary: string, args: readonly string[], options: StartOptions = {}): ProcessRecord {
    mkdirSync(this.#pidDir, { recursive: true });
    mkdirSync(this.#logDir, { recursive: true });
    const out = openSync(this.logPath(name), "w");
    const child = spawn(binary, args, {
      detached: true,
      stdio: ["ignore", out, out],
      env: options.env ?? process.env,
      cwd: options.cwd,
    });
    if (child.pid === undefined) throw new Error(`could not start ${name} (${binary})`);
    child.unref();
    return this.#write({ name, pid: child.pid, binary });
  }

  #write(record: ProcessRecord): ProcessRecord {
    writeFileSync(join(this.#pidDir, `${record.name}.json`), JSON.stringify(record));
    return record;
  }

  /** Every process recorded, alive or not. */
  records(): ProcessRecord[] {
    if (!existsSync(this.#pidDir)) return [];
    return readdirSync(this.#pidDir)
      .filter((f) => f.endsWith(".json"))
      .map((f) => JSON.parse(readFileSync(join(this.#pidDir, f), "utf8")) as ProcessRecord);
  }

  /** Recorded processes still running as the binary they were started as. */
  alive(): ProcessRecord[] {
    return this.records().filter(isRunning);
  }

  /** Throws with the log's tail when a recorded process has exited. */
  assertRunning(name: string): void {
    const record = this.records().find((r) => r.name === name);
    if (record && !isRunning(record)) {
      throw new Error(`${name} exited; the end of ${this.logPath(name)}:\n${tail(this.logPath(name), 20)}`);
    }
  }

  /** The recorded process `name`, still running; throws naming what runs otherwise. */
  running(name: string): ProcessRecord {
    const alive = this.alive();
    const record = alive.find((r) => r.name === name);
    if (record) return record;
    const others = alive.map((r) => r.name).join(", ") || "nothing";
    throw new Error(`${name} is not running (the sandbox runs ${others}); start the sandbox: npm run sandbox:up`);
  }

  /**
   * Pauses `name` with SIGSTOP: its sockets stay open and the kernel still
   * accepts connections into their backlog, but nothing answers them.
   */
  async pause(name: string): Promise<ProcessRecord> {
    const record = this.running(name);
    process.kill(record.pid, "SIGSTOP");
    await waitFor(`${name} (pid ${record.pid}) to stop`, 5_000, async () => (isStopped(record) ? true : undefined));
    return this.#write({ ...record, pausedAt: record.pausedAt ?? new Date().toISOString() });
  }

  /** Lets a paused `name` run on (SIGCONT); a no-op for a running one. */
  resume(name: string): ProcessRecord {
    const { pausedAt: _, ...record } = this.running(name);
    process.kill(record.pid, "SIGCONT");
    return this.#write(record);
  }

  /**
   * SIGTERM to every recorded process group, SIGKILL after `graceMs`, then
   * forget them. The grace is short: the sandbox's state is thrown away at the
   * next up, and kube-apiserver and Azurite take many seconds to drain. A
   * paused process gets SIGCONT after its SIGTERM, so it handles it at once.
   */
  async stopAll(graceMs = 3_000): Promise<void> {
    const running = this.alive();
    for (const r of running) {
      signal(r, "SIGTERM");
      signal(r, "SIGCONT");
    }
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline && running.some(isRunning)) await sleep(100);
    for (const r of running.filter(isRunning)) signal(r, "SIGKILL");
    while (running.some(isRunning)) await sleep(50);
    rmSync(this.#pidDir, { recursive: true, force: true });
  }
}

/** The process's state letter in /proc/<pid>/stat (R, S, T for stopped, Z for a zombie...), or undefined when it is gone. */
function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  } catch {
    return undefined;
  }
}

function isRunning(record: ProcessRecord): boolean {
  try {
    const cmdline = readFileSync(`/proc/${record.pid}/cmdline`, "utf8");
    const state = procState(record.pid);
    return state !== undefined && state !== "Z" && cmdline.split("\0").includes(record.binary);
  } catch {
    return false;
  }
}

/** The recorded process runs but is stopped (SIGSTOP). */
export function isStopped(record: ProcessRecord): boolean {
  return isRunning(record) && procState(record.pid) === "T";
}

function signal(record: ProcessRecord, sig: NodeJS.Signals): void {
  for (const target of [-record.pid, record.pid]) {
    try {
      process.kill(target, sig);
    } catch {
      // already gone, or not a group leader
    }
  }
}

export function tail(path: string, lines: number): string {
  try {
    return readFileSync(path, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/** TCP ports some process on this machine listens on (IPv4 and IPv6). */
export function listeningPorts(): Set<number> {
  const ports = new Set<number>();
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, "utf8").split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[3] === "0A") ports.add(Number.parseInt(cols[1]?.split(":").pop() ?? "0", 16));
    }
  }
  return ports;
}

/** Polls `check` until it returns a value, or throws `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? `: ${lastError.message}` : "";
      throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}${why}`);
    }
    await sleep(200);
  }
}
