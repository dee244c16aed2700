// The image runs the operator with the process settings the benches measure (bench/support/image.ts):
// each V8 flag on the Dockerfile's ENTRYPOINT, before the script, and each variable in an ENV line.

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
