// What the image build and the image tests read: the runtime config of the
// Dockerfile's last stage (so the daemon-less build ships what `docker build`
// ships), and an OCI image layout's manifest, config and layer sizes.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";

/** The runtime settings of the Dockerfile's final stage, and the Node release it pins. */
export interface ImageConfig {
  readonly entrypoint: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly user: string;
  readonly workdir: string;
  readonly nodeVersion: string;
}

/** Parses the final stage's ENTRYPOINT (exec form), ENV, USER and WORKDIR, and the build image's Node version. */
export function imageConfigFromDockerfile(text: string): ImageConfig {
  const lines = text.split("\n").map((l) => l.trim());
  const stages = lines.reduce((n, l, i) => (/^FROM\s/i.test(l) ? i : n), -1);
  if (stages < 0) throw new Error("Dockerfile: no FROM line");
  const last = lines.slice(stages);
  const value = (keyword: string) =>
    last
      .filter((l) => l.toUpperCase().startsWith(`${keyword} `))
      .map((l) => l.slice(keyword.length + 1).trim())
      .at(-1);
  const entry = value("ENTRYPOINT");
  if (!entry?.startsWith("[")) throw new Error("Dockerfile: the final stage needs an exec-form ENTRYPOINT");
  const env: Record<string, string> = {};
  for (const l of last.filter((l) => l.startsWith("ENV "))) {
    const m = /^ENV\s+([A-Za-z_][A-Za-z0-9_]*)=(\S+)$/.exec(l);
    if (!m?.[1] || m[2] === undefined) throw new Error(`Dockerfile: write ENV as one NAME=value per line: ${l}`);
    env[m[1]] = m[2];
  }
  const node = /ARG BUILD_IMAGE=node:(\d+\.\d+\.\d+)/.exec(text)?.[1];
  if (!node) throw new Error("Dockerfile: ARG BUILD_IMAGE must name node:<x.y.z>");
  const user = value("USER");
  const workdir = value("WORKDIR");
  if (!user || !workdir) throw new Error("Dockerfile: the final stage needs USER and WORKDIR");
  return { entrypoint: JSON.parse(entry) as string[], env, user, workdir, nodeVersion: node };
}

interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly annotations?: Record<string, string>;
}

/** The image config of an OCI layout's image, as a runtime reads it. */
export interface OciImageConfig {
  readonly architecture: string;
  readonly os: string;
  readonly config: {
    readonly User?: string;
    readonly Env?: string[];
    readonly Entrypoint?: string[];
    readonly Cmd?: string[];
    readonly WorkingDir?: string;
  };
}

export interface ImageReport {
  readonly reference: string;
  readonly tag: string;
  readonly layers: readonly { digest: string; size: number; uncompressed: number }[];
  /** Manifest, config and layers: what a registry stores and a node pulls. */
  readonly compressed: number;
  /** The layers' tar streams: what the node unpacks. */
  readonly uncompressed: number;
}

const blob = (layout: string, digest: string) => join(layout, "blobs", ...digest.split(":"));
const json = <T>(path: string) => JSON.parse(readFileSync(path, "utf8")) as T;

/** The manifest of `tag` in an OCI layout. */
export function manifestOf(layout: string, tag: string): { config: Descriptor; layers: Descriptor[] } {
  const index = json<{ manifests: Descriptor[] }>(join(layout, "index.json"));
  const entry = index.manifests.find((m) => m.annotations?.["org.opencontainers.image.ref.name"] === tag);
  if (!entry) throw new Error(`${layout}: no image tagged ${tag}`);
  return json(blob(layout, entry.digest));
}

export function imageConfigOf(layout: string, tag: string): OciImageConfig {
  return json(blob(layout, manifestOf(layout, tag).config.digest));
}

export function layoutSizes(layout: string, tag: string): Omit<ImageReport, "reference" | "tag"> {
  const manifest = manifestOf(layout, tag);
  const layers = manifest.layers.map((l) => ({
    digest: l.digest,
    size: l.size,
    uncompressed: gunzipSync(readFileSync(blob(layout, l.digest))).length,
  }));
  const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
  return {
    layers,
    compressed: sum(layers.map((l) => l.size)) + manifest.config.size,
    uncompressed: sum(layers.map((l) => l.uncompressed)),
  };
}
