// The small pieces resumable, bounded copies rest on: Azure block ids that carry a
// part's index and checksum, the slots that bound part buffers, and their reuse.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeBlockId, encodeBlockId } from "../../src/checkpoint/azure-blob/block-id.ts";
import { BufferPool } from "../../src/checkpoint/buffer-pool.ts";
import { isCheckpointError } from "../../src/checkpoint/errors.ts";
import { sha256Hex } from "../../src/checkpoint/hash.ts";
import { Slots } from "../../src/checkpoint/slots.ts";

describe("block ids", () => {
  const sha = sha256Hex(Buffer.from("part"));
  it("round-trip index and checksum", () => {
    assert.deepEqual(decodeBlockId(encodeBlockId(41, sha), 7), {
      index: 41,
      size: 7,
      sha256: sha,
      token: encodeBlockId(41, sha),
    });
  });
  it("have one length for every index (the service requires it)", () => {
    assert.equal(new Set([0, 1, 9999, 49_999].map((i) => encodeBlockId(i, sha).length)).size, 1);
  });
  it("ignore ids another writer made", () => {
    assert.equal(decodeBlockId(Buffer.from("block-000001").toString("base64"), 7), undefined);
    assert.equal(decodeBlockId("not base64 at all!", 7), undefined);
  });
});

describe("Slots", () => {
  it("never hands out more than its count", async () => {
    const slots = new Slots(2);
    let held = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        const release = await slots.acquire();
        most = Math.max(most, ++held);
        await new Promise((r) => setImmediate(r));
        held--;
        release();
      }),
    );
    assert.equal(most, 2);
  });
  it("stops a waiter when its signal fires, and the slot stays usable", async () => {
    const slots = new Slots(1);
    const release = await slots.acquire();
    const controller = new AbortController();
    const waiting = slots.acquire(controller.signal);
    controller.abort();
    await assert.rejects(waiting, (err) => isCheckpointError(err, "Aborted"));
    release();
    const again = await slots.acquire();
    again();
  });
});

describe("BufferPool", () => {
  const MiB = 2 ** 20;
  it("hands back the same memory once it is given back, cut to the size asked", () => {
    const pool = new BufferPool(8 * MiB);
    const a = pool.take(2 * MiB - 5);
    assert.equal(a.bytes.length, 2 * MiB - 5);
    assert.equal(a.capacity, 2 * MiB);
    a.give();
    const b = pool.take(2 * MiB);
    assert.equal(b.bytes.length, 2 * MiB);
    assert.equal(b.bytes.buffer, a.bytes.buffer);
  });
  it("never gives one buffer to two holders", () => {
    const pool = new BufferPool(8 * MiB);
    const a = pool.take(MiB);
    const b = pool.take(MiB);
    assert.notEqual(a.bytes.buffer, b.bytes.buffer);
    a.give();
    a.give(); // a second give is ignored
    const c = pool.take(MiB);
    const d = pool.take(MiB);
    assert.notEqual(c.bytes.buffer, d.bytes.buffer);
  });
  it("keeps no more than its limit, dropping free buffers of other sizes first", () => {
    const pool = new BufferPool(4 * MiB);
    const a = pool.take(2 * MiB);
    const b = pool.take(2 * MiB);
    assert.equal(pool.kept, 4 * MiB);
    const over = pool.take(MiB); // past the limit: allocated, not kept
    assert.equal(pool.kept, 4 * MiB);
    over.give();
    a.give();
    b.give();
    const three = pool.take(3 * MiB); // both free 2 MiB buffers make room
    assert.equal(pool.kept, 3 * MiB);
    three.give();
    pool.clear();
    assert.equal(pool.kept, 0);
  });
  it("allocates, and does not keep, buffers under 1 MiB", () => {
    const pool = new BufferPool(4 * MiB);
    const small = pool.take(1000);
    assert.equal(small.bytes.length, 1000);
    small.give();
    assert.equal(pool.kept, 0);
    assert.notEqual(pool.take(1000).bytes.buffer, small.bytes.buffer);
  });
});
