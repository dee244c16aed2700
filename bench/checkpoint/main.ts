// bench/checkpoint: replication throughput between the sandbox's stores. A
// step of 64 files (2 GiB) is copied S3 -> Blob and Blob -> S3 by the
// replicator, and the same data between the same stores by rclone (Debian's
// package); then 10% of the files change and both re-sync. Prints a table;
// results are recorded in docs/benchmarks.md ("Checkpoint replication").
//
//   SANDBOX_STATE_DIR=... SANDBOX_PORT_BASE=... node bench/checkpoint/main.ts [--files 64 --file-mib 32]
// Needs the sandbox up (npm run sandbox:up) and rclone on PATH.

import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { cpus, totalmem } from "node:os";
import { parseArgs } from "node:util";
import { ContainerSASPermissions } from "@azure/storage-blob";
import {
  blobServiceClient,
  S3_ACCESS_KEY,
  S3_SECRET_KEY,
  SANDBOX_BUCKET,
  SANDBOX_CONTAINER,
  s3Client,
} from "../../scripts/sandbox/sandbox.ts";
import { defaultTopology } from "../../scripts/sandbox/topology.ts";
import { AzureBlobStore } from "../../src/checkpoint/azure-blob/blob-store.ts";
import { replicateCheckpoints } from "../../src/checkpoint/replicate.ts";
import { S3Store } from "../../src/checkpoint/s3/s3-store.ts";
import { commitStep } from "../../src/checkpoint/steps.ts";
import { listAll, type ObjectStore } from "../../src/checkpoint/store.ts";

const { values } = parseArgs({
  options: { files: { type: "string", default: "64" }, "file-mib": { type: "string", default: "32" } },
});
const FILES = Number(values.files);
const FILE_BYTES = Number(values["file-mib"]) * 2 ** 20;
const TOTAL = FILES * FILE_BYTES;
const STEP = 1;
const root = `bench-ckpt-${Date.now().toString(36)}`;
const topology = defaultTopology();
const container = blobServiceClient().getContainerClient(SANDBOX_CONTAINER);
const s3 = (name: string): ObjectStore =>
  new S3Store({ client: s3Client(), bucket: SANDBOX_BUCKET, prefix: `${root}/${name}` });
const blob = (name: string): ObjectStore => new AzureBlobStore({ container, prefix: `${root}/${name}` });
const log = (msg: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

/** Writes `paths` with fresh random bytes, a few at a time. */
async function writeFiles(store: ObjectStore, paths: readonly string[]): Promise<void> {
  for (let i = 0; i < paths.length; i += 4) {
    await Promise.all(paths.slice(i, i + 4).map((p) => store.put(`step-${STEP}/${p}`, randomBytes(FILE_BYTES))));
  }
}

async function timed<T>(fn: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { seconds: (performance.now() - t0) / 1000, value };
}

async function ours(source: ObjectStore, destination: ObjectStore) {
  return timed(() => replicateCheckpoints({ source, destinations: [destination], fence: { activeEpoch: 1 } }));
}

/** rclone's environment: an S3 remote `s3:` and an Azure remote `az:` through a container SAS URL. */
async function rcloneEnv(): Promise<NodeJS.ProcessEnv> {
  const sas = await container.generateSasUrl({
    permissions: ContainerSASPermissions.parse("racwdl"),
    expiresOn: new Date(Date.now() + 6 * 3600_000),
  });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    RCLONE_CONFIG_S3_TYPE: "s3",
    RCLONE_CONFIG_S3_PROVIDER: "Other",
    RCLONE_CONFIG_S3_ACCESS_KEY_ID: S3_ACCESS_KEY,
    RCLONE_CONFIG_S3_SECRET_ACCESS_KEY: S3_SECRET_KEY,
    RCLONE_CONFIG_S3_ENDPOINT: `http://127.0.0.1:${topology.s3Port}`,
    RCLONE_CONFIG_S3_REGION: "us-east-1",
    RCLONE_CONFIG_AZ_TYPE: "azureblob",
    RCLONE_CONFIG_AZ_SAS_URL: sas,
  };
  delete env.AWS_CA_BUNDLE; // rclone's S3 client refuses a custom bundle on its transport; the sandbox is plain HTTP
  return env;
}

/** Runs `rclone copy from to`; resolves with the seconds it took and the bytes it transferred (its own stats). */
function rclone(env: NodeJS.ProcessEnv, from: string, to: string): Promise<{ seconds: number; value: number }> {
  return timed(
    () =>
      new Promise<number>((resolve, reject) => {
        const args = ["copy", from, to, "--use-json-log", "--log-level", "INFO", "--stats", "1h"];
        const child = spawn("rclone", args, { env, stdio: ["ignore", "ignore", "pipe"] });
        let bytes = 0;
        let tail = "";
        child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
          tail = (tail + chunk).slice(-20_000);
          for (const m of chunk.matchAll(/"stats":\{"bytes":(\d+)/g)) bytes = Number(m[1]);
        });
        child.on("error", reject);
        child.on("exit", (code) => (code === 0 ? resolve(bytes) : reject(new Error(`rclone exited ${code}: ${tail}`))));
      }),
  );
}

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

const mbps = (bytes: number, seconds: number) => bytes / 1e6 / seconds;
const paths = Array.from({ length: FILES }, (_, i) => `__${i}_0.distcp`);

log(`writing a step of ${FILES} files of ${FILE_BYTES / 2 ** 20} MiB to S3 (${root})`);
await writeFiles(s3("src"), paths);
await commitStep(s3("src"), STEP, { epoch: 1 });
const env = await rcloneEnv();
const rs3 = (name: string) => `s3:${SANDBOX_BUCKET}/${root}/${name}/step-${STEP}`;
const raz = (name: string) => `az:${SANDBOX_CONTAINER}/${root}/${name}/step-${STEP}`;

try {
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
  const rows = [
    ["copy", "MiB", "seconds", "MB/s", "ratio to rclone"],
    row("replicator S3 -> Blob", oursToBlob.value.bytesWritten, oursToBlob.seconds, rcloneBlobMbps),
    row("rclone S3 -> Blob", rcloneToBlob.value, rcloneToBlob.seconds, 0),
    row("replicator Blob -> S3", oursToS3.value.bytesWritten, oursToS3.seconds, rcloneS3Mbps),
    row("rclone Blob -> S3", rcloneToS3.value, rcloneToS3.seconds, 0),
  ];
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => r[i]?.length ?? 0))) ?? [];
  const table = (rs: string[][]) =>
    rs.map((r) => `| ${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join(" | ")} |`).join("\n");
  console.log(table(rows));
  console.log(
    `\nre-sync after ${changed.length}/${FILES} files changed (${((changed.length * FILE_BYTES) / 2 ** 20).toFixed(0)} MiB): ` +
      `replicator moved ${(oursResync.value.bytesWritten / 2 ** 20).toFixed(0)} MiB in ${oursResync.seconds.toFixed(1)} s, ` +
      `rclone moved ${(rcloneResync.value / 2 ** 20).toFixed(0)} MiB in ${rcloneResync.seconds.toFixed(1)} s`,
  );
  const rcloneVersion = execFileSync("rclone", ["version"], { env, encoding: "utf8" }).split("\n")[0];
  console.log(
    `\nmachine: ${cpus().length} x ${cpus()[0]?.model}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, node ${process.version}, ${rcloneVersion}; ` +
      `replicator defaults (8 part buffers, 4 files at once, 16 MiB parts), rclone defaults (--transfers 4)`,
  );
} finally {
  log("removing the bench's objects");
  await removeAll();
}
