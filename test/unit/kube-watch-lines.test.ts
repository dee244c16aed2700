// A watch stream cut into chunks anywhere (inside an event, inside a
// character's bytes, between two events) gives every event once, whole.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { WatchLines } from "../../src/kube/client.ts";

const events = [
  { type: "ADDED", object: { metadata: { name: "a", annotations: { note: "naïve ✓ 训练" } } } },
  { type: "MODIFIED", object: { metadata: { name: "b" }, data: { big: "x".repeat(5000) } } },
  { type: "BOOKMARK", object: { metadata: { resourceVersion: "42" } } },
];
const stream = Buffer.from(`${events.map((e) => JSON.stringify(e)).join("\n")}\n`);

/** `stream` cut into chunks of `size` bytes (the last one shorter). */
function chunks(size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < stream.length; i += size) out.push(stream.subarray(i, i + size));
  return out;
}

describe("WatchLines", () => {
  const cases = [
    { name: "one chunk", parts: [stream] },
    { name: "one byte at a time (every character's bytes split)", parts: chunks(1) },
    { name: "7-byte chunks", parts: chunks(7) },
    { name: "4 KiB chunks (an event over two)", parts: chunks(4096) },
    {
      name: "split right after each newline",
      parts: stream
        .toString("latin1")
        .split(/(?<=\n)/)
        .map((p) => Buffer.from(p, "latin1")),
    },
  ];
  for (const c of cases) {
    it(`${c.name}: every event once, whole`, () => {
      const seen: { type: string; object: unknown }[] = [];
      const lines = new WatchLines((type, object) => seen.push({ type, object }));
      for (const part of c.parts) lines.push(part);
      assert.deepEqual(seen, events);
    });
  }

  it("holds an event whose newline has not come yet", () => {
    const seen: string[] = [];
    const lines = new WatchLines((type) => seen.push(type));
    lines.push(Buffer.from('{"type":"ADDED","object":{}}\n{"type":"DEL'));
    assert.deepEqual(seen, ["ADDED"]);
    lines.push(Buffer.from('ETED","object":{}}\n'));
    assert.deepEqual(seen, ["ADDED", "DELETED"]);
  });

  it("skips blank lines and throws on a line that is not JSON", () => {
    const lines = new WatchLines(() => {});
    lines.push(Buffer.from("\n\n"));
    assert.throws(() => lines.push(Buffer.from("not json\n")), SyntaxError);
  });
});
