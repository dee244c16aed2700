// bench/checkpoint: replication throughput between the sandbox's stores. A
// step of 64 files (2 GiB) is copied S3 -> Blob and Blob -> S3 by the
// replicator, and the same data between the same stores by rclone (Debian's
// package); then 10% of the files change and both re-sync. Prints a table;
// results are recorded in docs/benchmarks.md ("Checkpoint replication").
// With --agent, instead: the checkpoint agent's upload and restore of a
// 4-rank step against rclone (agent.ts; "Agent upload and restore").
//
//   SANDBOX_STATE_DIR=... SANDBOX_PORT_BASE=... node bench/checkpoint/main.ts [--files 64 --file-mib 32]
//   SANDBOX_STATE_DIR=... SANDBOX_PORT_BASE=... node bench/checkpoint/main.ts --agent [--stores s3,azure-blob --ranks 4 --rank-mib 512]
// Needs the sandbox up (npm run sandbox:up) and rclone on PATH.

import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { cpus, loadavg, totalmem } from "node:os";
import { parseArgs } from "node:util";
import { blobServiceClient, SANDBOX_BUCKET, SANDBOX_CONTAINER, s3Client } from "../../scripts/sandbox/sandbox.ts";
import { AzureBlobStore } from "../../src/checkpoint/azure-blob/blob-store.ts";
import { replicateCheckpoints } from "../../src/checkpoint/replicate.ts";
import { S3Store } from "../../src/checkpoint/s3/s3-store.ts";
import { commitStep } from "../../src/checkpoint/steps.ts";
import { listAll, type ObjectStore } from "../../src/checkpoint/store.ts";
import { type AgentBenchRow, agentBench, agentRowCells, type StoreKind } from "./agent.ts";
import { log, mbps, rcloneCopy, rcloneEnv, table, timed } from "./rclone.ts";

const { values } = parseArgs({
  options: {
    files: { type: "string", default: "64" },
    "file-mib": { type: "string", default: "32" },
    agent: { type: "boolean", default: false },
    stores: { type: "string", default: "s3,azure-blob" },
    ranks: { type: "string", default: "4" },
    "rank-mib": { type: "string", default: "512" },
  },
});
const FILES = Number(values.files);
const FILE_BYTES = Number(values["file-mib"]) * 2 ** 20;
const TOTAL = FILES * FILE_BYTES;
const STEP = 1;
const root = `bench-ckpt-${Date.now().toString(36)}`;
const container = blobServiceClient().getContainerClient(SANDBOX_CONTAINER);
const s3 = (name: string): ObjectStore =>
  new S3Store({ client: s3Client(), bucket: SANDBOX_BUCKET, prefix: `${root}/${name}` });
const blob = (name: string): ObjectStore => new AzureBlobStore({ container, prefix: `${root}/${name}` });

/** Writes `paths` with fresh random bytes, a few at a time. */
async function writeFiles(store: ObjectStore, paths: readonly string[]): Promise<void> {
  for (let i = 0; i < paths.length; i += 4) {
    await Promise.all(paths.slice(i, i + 4).map((p) => store.put(`step-${STEP}/${p}`, randomBytes(FILE_BYTES))));
  }
}

async function ours(source: ObjectStore, destination: ObjectStore) {
  return timed(() => replicateCheckpoints({ source, destinations: [destination], fence: { activeEpoch: 1 } }));
}

/** `rclone copy from to`, timed. */
const rclone = (env: NodeJS.ProcessEnv, from: string, to: string) => timed(() => rcloneCopy(env, from, to));

async function checkCopy(store: ObjectStore, what: string): Promise<void> {
  const files = (await listAll(store, `step-${STEP}/`)).filter((o) => /\.distcp$/.test(o.key));
  const bytes = files.reduce((n, o) => n + o.size, 0);
  if (files.length !== FILES || bytes !== TOTAL)
    throw new Error(`${what}: ${files.length} files, ${bytes} bytes at the destination`);
}

async function removeAll(): Promise<void> {
  for (const store of [s3(""), blob("")]) {
    const keys = (await listAll(store, "")).map((o) => o.key);
    for (let i = 0; i < keys.length; i += 16) await Promise.all(keys.slice(i, i + 16).map((k) => store.delete(k)));
  }
}

const paths = Array.from({ length: FILES }, (_, i) => `__${i}_0.distcp`);
const rs3 = (name: string) => `s3:${SANDBOX_BUCKET}/${root}/${name}/step-${STEP}`;
const raz = (name: string) => `az:${SANDBOX_CONTAINER}/${root}/${name}/step-${STEP}`;
const load = () =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(" ");

function machine(env: NodeJS.ProcessEnv): string {
  const rcloneVersion = execFileSync("rclone", ["version"], { env, encoding: "utf8" }).split("\n")[0];
  return `machine: ${cpus().length} x ${cpus()[0]?.model}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, node ${process.version}, ${rcloneVersion}`;
}

async function replication(env: NodeJS.ProcessEnv): Promise<void> {
  log(`writing a step of ${FILES} files of ${FILE_BYTES / 2 ** 20} MiB to S3 (${root})`);
  await writeFiles(s3("src"), paths);
  await commitStep(s3("src"), STEP, { epoch: 1 });
  const loadBefore = load();
  log("replicator S3 -> Blob");
  const oursToBlob = await ours(s3("src"), blob("ours"));
  await checkCopy(blob("ours"), "replicator S3 -> Blob");
  log("replicator Blob -> S3");
  const oursToS3 = await ours(blob("ours"), s3("ours-back"));
  await checkCopy(s3("ours-back"), "replicator Blob -> S3");
  log("rclone S3 -> Blob");
  const rcloneToBlob = await rclone(env, rs3("src"), raz("rclone"));
  await checkCopy(blob("rclone"), "rclone S3 -> Blob");
  log("rclone Blob -> S3");
  const rcloneToS3 = await rclone(env, raz("rclone"), rs3("rclone-back"));
  await checkCopy(s3("rclone-back"), "rclone Blob -> S3");

  const changed = paths.filter((_, i) => i % 10 === 0);
  log(`changing ${changed.length} of ${FILES} files in the source and re-committing the step; re-sync S3 -> Blob`);
  await writeFiles(s3("src"), changed);
  await commitStep(s3("src"), STEP, { epoch: 1, replace: true });
  const oursResync = await ours(s3("src"), blob("ours"));
  const rcloneResync = await rclone(env, rs3("src"), raz("rclone"));

  const row = (what: string, bytes: number, s: number, ref: number) => [
    what,
    (bytes / 2 ** 20).toFixed(0),
    s.toFixed(1),
    mbps(bytes, s).toFixed(1),
    ref ? (mbps(bytes, s) / ref).toFixed(2) : "",
  ];
  const rcloneBlobMbps = mbps(TOTAL, rcloneToBlob.seconds);
  const rcloneS3Mbps = mbps(TOTAL, rcloneToS3.seconds);
  console.log(
    table([
      ["copy", "MiB", "seconds", "MB/s", "ratio to rclone"],
      row("replicator S3 -> Blob", oursToBlob.value.bytesWritten, oursToBlob.seconds, rcloneBlobMbps),
      row("rclone S3 -> Blob", rcloneToBlob.value, rcloneToBlob.seconds, 0),
      row("replicator Blob -> S3", oursToS3.value.bytesWritten, oursToS3.seconds, rcloneS3Mbps),
      row("rclone Blob -> S3", rcloneToS3.value, rcloneToS3.seconds, 0),
    ]),
  );
  console.log(
    `\nre-sync after ${changed.length}/${FILES} files changed (${((changed.length * FILE_BYTES) / 2 ** 20).toFixed(0)} MiB): ` +
      `replicator moved ${(oursResync.value.bytesWritten / 2 ** 20).toFixed(0)} MiB in ${oursResync.seconds.toFixed(1)} s, ` +
      `rclone moved ${(rcloneResync.value / 2 ** 20).toFixed(0)} MiB in ${rcloneResync.seconds.toFixed(1)} s`,
  );
  console.log(
    `\n${machine(env)}; replicator defaults (8 part buffers, 4 files at once, 16 MiB parts), rclone defaults (--transfers 4); ` +
      `load average (1, 5, 15 min) ${loadBefore} before the copies, ${load()} after`,
  );
}

async function agents(env: NodeJS.ProcessEnv): Promise<void> {
  const kinds = values.stores.split(",") as StoreKind[];
  const ranks = Number(values.ranks);
  const rankBytes = Number(values["rank-mib"]) * 2 ** 20;
  const loadBefore = load();
  const rows: [StoreKind, AgentBenchRow][] = [];
  for (const kind of kinds) {
    const store = (prefix: string) => (kind === "s3" ? s3(prefix) : blob(prefix));
    for (const r of await agentBench({ kind, store, root, ranks, rankBytes, rcloneEnv: env })) rows.push([kind, r]);
  }
  console.log(
    table([["copy", "MiB", "seconds", "MB/s", "ratio to rclone"], ...rows.map(([kind, r]) => agentRowCells(kind, r))]),
  );
  for (const [kind, r] of rows) if (r.note) console.log(`${kind}: ${r.what}: ${r.note}`);
  console.log(
    `\n${machine(env)}; agent defaults (16 MiB parts, 4 files at once, 256 MiB buffer budget, 16 part copies, ` +
      `2 s poll); ${ranks} rclone processes at once with their defaults (--transfers 4); ` +
      `load average (1, 5, 15 min) ${loadBefore} before, ${load()} after`,
  );
}

const env = await rcloneEnv(container);
try {
  await (values.agent ? agents(env) : replication(env));
} finally {
  log("removing the bench's objects");
  await removeAll();
}
