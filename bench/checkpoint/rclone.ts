// What the checkpoint benchmarks share: rclone against the sandbox's stores
// (an S3 remote `s3:` and an Azure remote `az:` through a container SAS URL),
// timing, and the printed tables.

import { spawn } from "node:child_process";
import { type ContainerClient, ContainerSASPermissions } from "@azure/storage-blob";
import { S3_ACCESS_KEY, S3_SECRET_KEY } from "../../scripts/sandbox/sandbox.ts";
import { defaultTopology } from "../../scripts/sandbox/topology.ts";

export const log = (msg: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

export async function timed<T>(fn: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { seconds: (performance.now() - t0) / 1000, value };
}

/** rclone's environment: an S3 remote `s3:` and an Azure remote `az:` through a SAS URL of `container`. */
export async function rcloneEnv(container: ContainerClient): Promise<NodeJS.ProcessEnv> {
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
    RCLONE_CONFIG_S3_ENDPOINT: `http://127.0.0.1:${defaultTopology().s3Port}`,
    RCLONE_CONFIG_S3_REGION: "us-east-1",
    RCLONE_CONFIG_AZ_TYPE: "azureblob",
    RCLONE_CONFIG_AZ_SAS_URL: sas,
  };
  delete env.AWS_CA_BUNDLE; // rclone's S3 client refuses a custom bundle on its transport; the sandbox is plain HTTP
  return env;
}

/** Runs `rclone copy from to [...extra]`; resolves with the bytes it transferred (its own stats). */
export function rcloneCopy(env: NodeJS.ProcessEnv, from: string, to: string, extra: string[] = []): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const args = ["copy", from, to, "--use-json-log", "--log-level", "INFO", "--stats", "1h", ...extra];
    const child = spawn("rclone", args, { env, stdio: ["ignore", "ignore", "pipe"] });
    let bytes = 0;
    let tail = "";
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      tail = (tail + chunk).slice(-20_000);
      for (const m of chunk.matchAll(/"stats":\{"bytes":(\d+)/g)) bytes = Number(m[1]);
    });
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve(bytes) : reject(new Error(`rclone exited ${code}: ${tail}`))));
  });
}

export const mbps = (bytes: number, seconds: number) => bytes / 1e6 / seconds;

/** A markdown table of `rows`, the first being the header, columns padded. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => r[i]?.length ?? 0))) ?? [];
  const line = (r: readonly string[]) => `| ${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join(" | ")} |`;
  const rule = `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`;
  return [line(rows[0] ?? []), rule, ...rows.slice(1).map(line)].join("\n");
}
