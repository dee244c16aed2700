// Many jobs' checkpoints in the sandbox and one process replicating them all
// at once (replicate-many.ts, started here as a child with a heap cap and a
// copy budget): shared by the memory test and bench/checkpoint --jobs.

import { spawn } from "node:child_process";
import { join } from "node:path";
import { REPO_ROOT } from "../../scripts/sandbox/paths.ts";
import type { Manifest } from "../../src/checkpoint/manifest.ts";
import { sandboxStore, writeStep } from "../integration/checkpoint-support.ts";

export type Written = { manifest: Manifest; contents: Map<string, Buffer> };

/** Writes and commits step 1 with files of `sizes` in S3 under `<prefix>/src` for every prefix, a few jobs at a time. */
export async function seedJobs(prefixes: readonly string[], sizes: readonly number[]): Promise<Map<string, Written>> {
  const written = new Map<string, Written>();
  for (let i = 0; i < prefixes.length; i += 5) {
    const batch = prefixes.slice(i, i + 5);
    const steps = await Promise.all(batch.map((p) => writeStep(sandboxStore("s3", `${p}/src`), 1, sizes)));
    batch.forEach((p, j) => {
      written.set(p, steps[j] as Written);
    });
  }
  return written;
}

/** Deletes everything seedJobs and the passes wrote. */
export async function removeJobs(prefixes: readonly string[]): Promise<void> {
  await Promise.all(
    prefixes.flatMap((p) =>
      [sandboxStore("s3", `${p}/src`), sandboxStore("azure-blob", `${p}/dst`)].map(async (s) => {
        for await (const o of s.list("")) await s.delete(o.key);
      }),
    ),
  );
}

type Memory = Record<"rss" | "heapUsed" | "heapTotal" | "external" | "arrayBuffers", number>;

/** What replicate-many.ts prints. */
export interface ManyJobsReport {
  readonly outcomes: string[][];
  readonly bytesWritten: number;
  readonly seconds: number;
  readonly baseline: Memory;
  readonly peak: Memory;
  /** The copy budget's own account; absent when the code has no budget. */
  readonly budget?: { peakBytes: number; peakCopies: number; bytes: number; copies: number; waiting: number };
}

export interface ManyJobsRun {
  readonly prefixes: readonly string[];
  readonly partSize: number;
  readonly heapCapMiB: number;
  /** CHECKPOINT_BUFFER_MIB and CHECKPOINT_PART_COPIES; the defaults where absent. */
  readonly budgetMiB?: number;
  readonly copies?: number;
  /** The checkout whose src/ is run; default this one. */
  readonly root?: string;
}

/** Runs every job's pass at once in a child node process; rejects with its stderr when it fails (an OOM included). */
export function replicateManyInChild(run: ManyJobsRun): Promise<ManyJobsReport> {
  const args = [
    `--max-old-space-size=${run.heapCapMiB}`,
    join(run.root ?? REPO_ROOT, "test/support/replicate-many.ts"),
    JSON.stringify({ prefixes: run.prefixes, partSize: run.partSize }),
  ];
  const env = {
    ...process.env,
    ...(run.budgetMiB !== undefined ? { CHECKPOINT_BUFFER_MIB: String(run.budgetMiB) } : {}),
    ...(run.copies !== undefined ? { CHECKPOINT_PART_COPIES: String(run.copies) } : {}),
  };
  const child = spawn(process.execPath, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.on("data", (d) => {
    out += d;
  });
  child.stderr.on("data", (d) => {
    err += d;
  });
  return new Promise((resolve, reject) => {
    child.on("exit", (code, signal) => {
      if (code !== 0) reject(new Error(`the child exited with ${code ?? signal}: ${err.slice(-3000)}`));
      else resolve(JSON.parse(out) as ManyJobsReport);
    });
  });
}
