// The image runs the operator with the process settings the benches measure (bench/support/image.ts):
// each V8 flag on the Dockerfile's ENTRYPOINT, before the script, and each variable in an ENV line.
// Its base images are pinned by digest: every FROM (through the ARG it names) and every *_IMAGE ARG.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { IMAGE_ENV, IMAGE_NODE_FLAGS, IMAGE_SCRIPT } from "../../bench/support/image.ts";

const dockerfile = readFileSync(join(import.meta.dirname, "../../Dockerfile"), "utf8");

function entrypoint(text: string): string[] {
  const line = text.split("\n").find((l) => l.startsWith("ENTRYPOINT "));
  assert.ok(line, "the Dockerfile has an ENTRYPOINT");
  return JSON.parse(line.slice("ENTRYPOINT ".length)) as string[];
}

function env(text: string): Map<string, string> {
  const pairs = text
    .split("\n")
    .filter((l) => l.startsWith("ENV "))
    .flatMap((l) => l.slice(4).trim().split(/\s+/))
    .map((kv) => kv.split("=") as [string, string]);
  return new Map(pairs);
}

describe("the image's process settings", () => {
  const args = entrypoint(dockerfile);
  const script = args.indexOf(IMAGE_SCRIPT);
  it(`runs ${IMAGE_SCRIPT}, the script the benches run`, () => assert.equal(script, args.length - 1));
  for (const flag of IMAGE_NODE_FLAGS) {
    it(`passes ${flag} to node, before the script`, () => {
      const at = args.indexOf(flag);
      assert.ok(at > 0 && at < script, `ENTRYPOINT ${JSON.stringify(args)}`);
    });
  }
  for (const [name, value] of Object.entries(IMAGE_ENV)) {
    it(`sets ${name}=${value}`, () => assert.equal(env(dockerfile).get(name), value));
  }
  it("reads the ENTRYPOINT and ENV of a Dockerfile as written", () => {
    const sample = 'FROM x\nENV A=1 B=2\nENV C=3\nENTRYPOINT ["/n", "--f", "src/main.ts"]\n';
    assert.deepEqual(entrypoint(sample), ["/n", "--f", "src/main.ts"]);
    assert.deepEqual(
      [...env(sample)],
      [
        ["A", "1"],
        ["B", "2"],
        ["C", "3"],
      ],
    );
  });
});

/** The Dockerfile's ARG defaults (ARG NAME=value), by name. */
function argDefaults(text: string): Map<string, string> {
  const pairs = text
    .split("\n")
    .map((l) => /^ARG\s+([A-Za-z_][A-Za-z0-9_]*)=(\S+)/.exec(l.trim()))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m): [string, string] => [m[1] ?? "", m[2] ?? ""]);
  return new Map(pairs);
}

/** The image of each FROM line with its ARGs resolved, leaving out FROMs of an earlier stage. */
function baseImages(text: string): string[] {
  const args = argDefaults(text);
  const stages = new Set<string>();
  const images: string[] = [];
  for (const line of text.split("\n").map((l) => l.trim())) {
    const m = /^FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (!m) continue;
    const image = (m[1] ?? "").replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_, name: string) => args.get(name) ?? "");
    if (!stages.has(image)) images.push(image);
    if (m[2]) stages.add(m[2]);
  }
  return images;
}

const PINNED = /^[^@\s]+@sha256:[0-9a-f]{64}$/;

describe("the image's base images", () => {
  it("every FROM names an image pinned by digest", () => {
    const images = baseImages(dockerfile);
    assert.ok(images.length >= 2, `the build and runtime bases: ${JSON.stringify(images)}`);
    for (const image of images) assert.match(image, PINNED);
  });
  it("every *_IMAGE ARG is pinned by digest", () => {
    const images = [...argDefaults(dockerfile)].filter(([name]) => name.endsWith("_IMAGE"));
    assert.ok(images.length >= 2, "BUILD_IMAGE and RUNTIME_IMAGE");
    for (const [name, value] of images) assert.match(value, PINNED, `ARG ${name}`);
  });
  it("reads a base pinned by tag only, or not at all, as unpinned", () => {
    const digest = "a".repeat(64);
    const sample = [
      `ARG PINNED=node:24@sha256:${digest}`,
      "ARG TAGGED=node:24-slim",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a Dockerfile's ${ARG}, not a template
      "FROM ${PINNED} AS build",
      "FROM $TAGGED",
      "FROM build",
      "FROM --platform=linux/amd64 debian:12 AS other",
    ].join("\n");
    assert.deepEqual(baseImages(sample), [`node:24@sha256:${digest}`, "node:24-slim", "debian:12"]);
    assert.deepEqual(
      baseImages(sample).map((i) => PINNED.test(i)),
      [true, false, false],
    );
  });
});
