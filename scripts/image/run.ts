// Runs an OCI image from a layout without a container runtime daemon, the
// way a kubelet's runtime would start the operator's pod: the image unpacked
// by umoci, its root filesystem mounted read-only in a mount namespace of its
// own, /proc and /dev mounted, the given files (a ServiceAccount's token and
// CA, say) bound read-only where the pod would have them, then the image
// config's entrypoint run inside that root as its user, in its working
// directory, with its environment plus the caller's. The network is the
// host's (as a pod with hostNetwork), so it reaches the sandbox on loopback.
// Needs root (mounts, chroot) and util-linux's unshare.

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { imageConfigOf } from "./oci.ts";

export interface RunImageOptions {
  /** The OCI layout directory and the tag of the image in it. */
  readonly layout: string;
  readonly tag: string;
  /** Where to unpack it (emptied first). */
  readonly bundle: string;
  readonly umoci: string;
  /** Environment added to the image's. */
  readonly env?: Readonly<Record<string, string>>;
  /** Files bound read-only into the root filesystem: path in the image -> content. */
  readonly files?: Readonly<Record<string, string>>;
}

/** Quotes a word for sh. */
const sh = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/**
 * Unpacks the image's layers into `bundle`/rootfs (emptied first) and returns that path. A raw
 * unpack: the runtime settings are read from the image config (imageConfigOf), so umoci need not
 * write a runtime bundle, nor hash every file into a manifest for a later repack.
 */
export function unpackImage(o: Pick<RunImageOptions, "layout" | "tag" | "bundle" | "umoci">): string {
  rmSync(o.bundle, { recursive: true, force: true });
  const rootfs = join(o.bundle, "rootfs");
  mkdirSync(o.bundle, { recursive: true });
  execFileSync(o.umoci, ["raw", "unpack", "--image", `${o.layout}:${o.tag}`, rootfs], { stdio: "inherit" });
  return rootfs;
}

/**
 * Starts the image's entrypoint; the returned process is the entrypoint itself (sh execs into it).
 * `unpacked`: the root filesystem unpackImage returned for this image, used as it is.
 */
export function runImage(o: RunImageOptions & { readonly unpacked?: string }): ChildProcess {
  const rootfs = o.unpacked ?? unpackImage(o);
  const image = imageConfigOf(o.layout, o.tag).config;
  const [uid, gid = uid] = (image.User ?? "0").split(":");
  const entry = [...(image.Entrypoint ?? []), ...(image.Cmd ?? [])];
  if (entry.length === 0) throw new Error(`${o.layout}:${o.tag} has no entrypoint`);

  // Mount points a runtime creates in the container's root before it is made read-only.
  const files = join(o.bundle, "files");
  const binds: string[] = [];
  for (const [path, content] of Object.entries(o.files ?? {})) {
    const host = join(files, path);
    mkdirSync(dirname(host), { recursive: true });
    writeFileSync(host, content, { mode: 0o644 });
    mkdirSync(dirname(join(rootfs, path)), { recursive: true });
    writeFileSync(join(rootfs, path), "");
    binds.push(`mount --bind -o ro ${sh(host)} ${sh(join(rootfs, path))}`);
  }
  for (const dir of ["proc", "dev"]) mkdirSync(join(rootfs, dir), { recursive: true });
  const script = [
    "set -e",
    `mount --bind ${sh(rootfs)} ${sh(rootfs)}`,
    ...binds,
    `mount -t proc proc ${sh(join(rootfs, "proc"))}`,
    `mount --rbind /dev ${sh(join(rootfs, "dev"))}`,
    `mount -o remount,bind,ro ${sh(rootfs)}`,
    `exec unshare --root=${sh(rootfs)} --wd=${sh(image.WorkingDir ?? "/")} --setgid=${gid} --setuid=${uid} -- ${entry.map(sh).join(" ")}`,
  ].join("\n");
  const env: Record<string, string> = {};
  for (const kv of image.Env ?? []) {
    const i = kv.indexOf("=");
    env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return spawn("unshare", ["--mount", "--propagation", "private", "--", "/bin/sh", "-c", script], {
    env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", ...env, ...o.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
}
