// The ObjectStore contract, one suite run against each implementation: the
// sandbox's S3 server (versitygw) and Azurite. Every case talks to the real
// server; nothing is mocked.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { isCheckpointError } from "../../src/checkpoint/errors.ts";
import { sha256Hex } from "../../src/checkpoint/hash.ts";
import { listAll, readAll, readRange } from "../../src/checkpoint/store.ts";
import { MiB, type StoreKind, sandboxStore } from "./checkpoint-support.ts";

for (const kind of ["s3", "azure-blob"] as const satisfies StoreKind[]) {
  describe(`ObjectStore contract: ${kind}`, () => {
    it("writes, heads and reads an object, whole and by range", async () => {
      const store = sandboxStore(kind);
      const body = randomBytes(300_000);
      await store.put("a/b.bin", body, { sha256: sha256Hex(body) });
      const info = await store.head("a/b.bin");
      assert.equal(info?.size, body.length);
      assert.ok(info?.etag);
      assert.deepEqual(await readAll(store, "a/b.bin"), body);
      const range = await readRange(store, "a/b.bin", { offset: 1000, length: 5000 });
      assert.deepEqual(range, body.subarray(1000, 6000));
      assert.deepEqual(await readAll(store, "a/b.bin").then((b) => b.length), body.length);
    });

    it("tells from its own checksums whether an object holds given content", async () => {
      const store = sandboxStore(kind);
      const body = randomBytes(70_000);
      const sha256 = sha256Hex(body);
      await store.put("held.bin", body, { sha256 });
      assert.equal(await store.holds("held.bin", { size: body.length, sha256 }), true);
      assert.equal(await store.holds("held.bin", { size: body.length, sha256: sha256Hex(Buffer.from("x")) }), false);
      assert.equal(await store.holds("held.bin", { size: body.length + 1, sha256 }), false);
      assert.equal(await store.holds("absent.bin", { size: body.length, sha256 }), false);
    });

    it("reports an absent object as undefined on head and NotFound on read", async () => {
      const store = sandboxStore(kind);
      assert.equal(await store.head("missing"), undefined);
      await assert.rejects(readAll(store, "missing"), (err) => isCheckpointError(err, "NotFound"));
    });

    it("refuses a whole-object write whose checksum does not match", async () => {
      const store = sandboxStore(kind);
      await assert.rejects(store.put("bad", Buffer.from("hello"), { sha256: sha256Hex(Buffer.from("other")) }));
      assert.equal(await store.head("bad"), undefined);
    });

    it("lists by prefix with keys relative to the root, in key order", async () => {
      const store = sandboxStore(kind);
      await Promise.all(["s/2", "s/1", "s/sub/3", "t/4", "s2"].map((k) => store.put(k, Buffer.from(k))));
      const listed = await listAll(store, "s/");
      assert.deepEqual(
        listed.map((o) => [o.key, o.size]),
        [
          ["s/1", 3],
          ["s/2", 3],
          ["s/sub/3", 7],
        ],
      );
      assert.equal((await listAll(store, "")).length, 5);
    });

    it("creates an object only when absent", async () => {
      const store = sandboxStore(kind);
      assert.equal(await store.putIfAbsent("m.json", Buffer.from("first")), true);
      assert.equal(await store.putIfAbsent("m.json", Buffer.from("second")), false);
      assert.equal((await readAll(store, "m.json")).toString(), "first");
    });

    it("deletes, and deleting an absent object is no error", async () => {
      const store = sandboxStore(kind);
      await store.put("gone", Buffer.from("x"));
      await store.delete("gone");
      assert.equal(await store.head("gone"), undefined);
      await store.delete("gone");
    });

    it("assembles a staged write from parts written out of order", async () => {
      const store = sandboxStore(kind);
      const body = randomBytes(11 * MiB);
      const parts = [
        { index: 0, offset: 0, size: 5 * MiB },
        { index: 1, offset: 5 * MiB, size: 5 * MiB },
        { index: 2, offset: 10 * MiB, size: MiB },
      ];
      const upload = await store.openUpload("big.bin");
      assert.equal(upload.staged.size, 0);
      const slice = (p: (typeof parts)[number]) => body.subarray(p.offset, p.offset + p.size);
      const staged = await Promise.all(
        [...parts].reverse().map((p) => upload.putPart(p, slice(p), sha256Hex(slice(p)))),
      );
      assert.equal(await store.head("big.bin"), undefined, "nothing is visible before complete");
      const expected = {
        size: body.length,
        sha256: sha256Hex(body),
        partsSha256: parts.map((p) => sha256Hex(slice(p))),
      };
      assert.equal(await store.holds("big.bin", expected), false, "nothing to hold before complete");
      await upload.complete(staged, expected.sha256);
      assert.equal((await store.head("big.bin"))?.size, body.length);
      assert.deepEqual(await readAll(store, "big.bin"), body);
      assert.equal(await store.holds("big.bin", expected), true, "the store's checksums show what was written");
    });

    it("resumes a staged write: parts written earlier come back with size and checksum", async () => {
      const store = sandboxStore(kind);
      const a = randomBytes(5 * MiB);
      const b = randomBytes(2 * MiB);
      const first = await store.openUpload("resumed.bin");
      await first.putPart({ index: 0, offset: 0, size: a.length }, a, sha256Hex(a));
      const again = await store.openUpload("resumed.bin");
      const earlier = again.staged.get(0);
      assert.equal(earlier?.size, a.length);
      assert.equal(earlier?.sha256, sha256Hex(a));
      assert.equal(again.staged.has(1), false);
      const second = await again.putPart({ index: 1, offset: a.length, size: b.length }, b, sha256Hex(b));
      await again.complete([earlier as NonNullable<typeof earlier>, second], sha256Hex(Buffer.concat([a, b])));
      assert.deepEqual(await readAll(store, "resumed.bin"), Buffer.concat([a, b]));
    });

    it("refuses a part whose checksum does not match its bytes", async () => {
      const store = sandboxStore(kind);
      const upload = await store.openUpload("badpart.bin");
      const body = randomBytes(5 * MiB);
      await assert.rejects(
        upload.putPart({ index: 0, offset: 0, size: body.length }, body, sha256Hex(Buffer.from("x"))),
      );
      const reopened = await store.openUpload("badpart.bin");
      assert.equal(reopened.staged.has(0), false);
    });

    it("presigns a URL that reads the object without credentials", async () => {
      const store = sandboxStore(kind);
      assert.ok(store.presign, "both sandbox stores can presign (S3 always, Blob with an account key)");
      const body = randomBytes(1000);
      await store.put("signed.bin", body);
      const res = await fetch(await store.presign("signed.bin", 300));
      assert.equal(res.status, 200);
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), body);
    });

    it("stops at an aborted signal with an Aborted error", async () => {
      const store = sandboxStore(kind);
      await store.put("x", Buffer.from("x"));
      const controller = new AbortController();
      controller.abort();
      await assert.rejects(store.head("x", controller.signal), (err) => isCheckpointError(err, "Aborted"));
      await assert.rejects(readAll(store, "x", controller.signal), (err) => isCheckpointError(err, "Aborted"));
    });
  });
}
