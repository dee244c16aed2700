// The checkpoint command line, shipped in the operator image:
//   commit-step <uri> <step> --epoch E [--sha256] [--replace]   commit a written step (manifest last)
//   commit-dcp <uri> --epoch E [--not-before T]                  commit PyTorch DCP steps (.metadata present)
//   list <uri> [--epoch E] [--resumed-from-step N]               committed steps, as JSON
//   replicate --from <uri> --to <uri> [--to <uri> ...] --epoch E [--step N] [options]   (see docs/checkpoints.md)
//   agent                                                        the checkpoint-agent sidecar (env: see agent/env.ts)
// Stores are opened with openStore (credentials from the environment).
// Exit codes: 0 done, 1 a step failed to replicate or commit, 2 bad usage.

import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { Registry } from "prom-client";
import { agentCommand } from "./agent/main.ts";
import { isAbort, isCheckpointError } from "./errors.ts";
import type { EpochFence } from "./fence.ts";
import { replicationMetrics } from "./metrics.ts";
import { openStore } from "./open-store.ts";
import { newestCommitted } from "./placement.ts";
import { type ReplicateOptions, replicateCheckpoints } from "./replicate.ts";
import { commitDcpSteps, commitStep, readSteps } from "./steps.ts";

const MiB = 2 ** 20;

class UsageError extends Error {}

const OPTIONS = {
  epoch: { type: "string" },
  sha256: { type: "boolean" },
  replace: { type: "boolean" },
  "not-before": { type: "string" },
  "resumed-from-step": { type: "string" },
  from: { type: "string" },
  to: { type: "string", multiple: true },
  keep: { type: "string" },
  step: { type: "string" },
  "commit-dcp": { type: "boolean" },
  "placed-at": { type: "string" },
  concurrency: { type: "string" },
  "file-concurrency": { type: "string" },
  "part-size-mib": { type: "string" },
  "copy-mode": { type: "string" },
  interval: { type: "string" },
  "metrics-port": { type: "string" },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>["values"];

function int(values: Values, name: keyof Values, min: number): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}, got ${raw}`);
  return n;
}

function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new UsageError(`${what} is required`);
  return value;
}

function time(values: Values, name: "not-before" | "placed-at"): Date | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const t = new Date(raw);
  if (Number.isNaN(t.getTime())) throw new UsageError(`--${name} must be an ISO 8601 time, got ${raw}`);
  return t;
}

function fenceOf(values: Values): EpochFence {
  const activeEpoch = required(int(values, "epoch", 1), "--epoch");
  const resumedFromStep = int(values, "resumed-from-step", 0);
  return resumedFromStep === undefined ? { activeEpoch } : { activeEpoch, resumedFromStep };
}

const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
const log = (value: unknown) =>
  process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), ...(value as object) })}\n`);

async function commitStepCommand(values: Values, args: string[], signal: AbortSignal): Promise<number> {
  const [uri, stepText] = args;
  const step = Number(required(stepText, "<step>"));
  if (!Number.isSafeInteger(step) || step < 0) throw new UsageError(`<step> must be an integer >= 0, got ${stepText}`);
  const epoch = required(int(values, "epoch", 1), "--epoch");
  const store = openStore(required(uri, "<uri>"));
  const result = await commitStep(store, step, {
    epoch,
    computeSha256: values.sha256,
    replace: values.replace,
    signal,
  });
  print({ committed: result.committed, manifest: result.manifest });
  return result.committed || result.manifest.epoch === epoch ? 0 : 1;
}

async function commitDcpCommand(values: Values, args: string[], signal: AbortSignal): Promise<number> {
  const store = openStore(required(args[0], "<uri>"));
  const epoch = required(int(values, "epoch", 1), "--epoch");
  print({ committed: await commitDcpSteps(store, { epoch, notBefore: time(values, "not-before"), signal }) });
  return 0;
}

async function listCommand(values: Values, args: string[], signal: AbortSignal): Promise<number> {
  const store = openStore(required(args[0], "<uri>"));
  const fence = values.epoch === undefined ? undefined : fenceOf(values);
  const { committed, invalid, all } = await readSteps(store, signal);
  const newest = newestCommitted(committed, fence);
  print({
    newestCommittedStep: newest?.manifest.step,
    committed: committed.map((c) => ({ step: c.manifest.step, epoch: c.manifest.epoch, committedAt: c.committedAt })),
    uncommitted: all.filter((s) => !s.manifest).map((s) => s.step),
    invalid,
  });
  return 0;
}

function replicateOptions(values: Values, signal: AbortSignal, registry: Registry): ReplicateOptions {
  const copyMode = values["copy-mode"] ?? "stream";
  if (copyMode !== "stream" && copyMode !== "prefer-server-side") {
    throw new UsageError(`--copy-mode must be stream or prefer-server-side, got ${copyMode}`);
  }
  const partMiB = int(values, "part-size-mib", 1);
  const to = required(values.to, "--to");
  const step = int(values, "step", 0);
  return {
    source: openStore(required(values.from, "--from")),
    destinations: to.map((uri) => openStore(uri)),
    fence: fenceOf(values),
    keep: int(values, "keep", 1),
    ...(step !== undefined ? { only: (m: { step: number }) => m.step === step } : {}),
    commitDcp: values["commit-dcp"] ? { notBefore: time(values, "placed-at") } : undefined,
    concurrency: int(values, "concurrency", 1),
    fileConcurrency: int(values, "file-concurrency", 1),
    partSize: partMiB === undefined ? undefined : partMiB * MiB,
    copyMode,
    metrics: replicationMetrics(registry),
    onEvent: (e) => {
      if (e.type !== "part-written" && e.type !== "part-skipped") log(e);
    },
    signal,
  };
}

async function replicateCommand(values: Values, signal: AbortSignal): Promise<number> {
  const registry = new Registry();
  const port = int(values, "metrics-port", 1);
  const server = port === undefined ? undefined : serveMetrics(registry, port);
  const interval = int(values, "interval", 1);
  const options = replicateOptions(values, signal, registry);
  let failed = 0;
  try {
    do {
      const report = await replicateCheckpoints(options);
      failed = report.results.filter((r) => r.outcome === "failed").length;
      log({
        type: "pass",
        bytesRead: report.bytesRead,
        bytesWritten: report.bytesWritten,
        failed,
        deleted: report.deleted,
      });
      if (interval !== undefined) await sleep(interval * 1000, signal);
    } while (interval !== undefined && !signal.aborted);
  } finally {
    server?.close();
  }
  return failed > 0 ? 1 : 0;
}

function serveMetrics(registry: Registry, port: number) {
  return createServer((_req, res) => {
    registry.metrics().then((text) => {
      res.writeHead(200, { "content-type": registry.contentType });
      res.end(text);
    });
  }).listen(port);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}

/** Runs one command; resolves with its exit code. */
export async function main(argv: string[], signal: AbortSignal): Promise<number> {
  try {
    const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true });
    const [command, ...args] = positionals;
    switch (command) {
      case "commit-step":
        return await commitStepCommand(values, args, signal);
      case "commit-dcp":
        return await commitDcpCommand(values, args, signal);
      case "list":
        return await listCommand(values, args, signal);
      case "replicate":
        return await replicateCommand(values, signal);
      case "agent":
        return await agentCommand(signal);
      default:
        throw new UsageError(
          `unknown command ${JSON.stringify(command)}: use commit-step, commit-dcp, list, replicate or agent`,
        );
    }
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      process.stderr.write(`usage: ${(err as Error).message}\n`);
      return 2;
    }
    if (isAbort(err)) return 130;
    process.stderr.write(`${isCheckpointError(err) ? err.detail.code : "error"}: ${(err as Error).message}\n`);
    return 1;
  }
}

if (import.meta.main) {
  const controller = new AbortController();
  for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => controller.abort());
  process.exitCode = await main(process.argv.slice(2), controller.signal);
}
