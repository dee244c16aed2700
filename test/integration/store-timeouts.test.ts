// A checkpoint store that accepts connections and never answers: the
// sandbox's S3 server and Azurite reached through a TCP proxy that hangs
// (holds every byte, answers nothing), stores opened as the operator opens
// them (openStore) with a short deadline. Each call fails within its deadline
// with an error that names the store and its host (never its keys), and once
// the proxy heals the same store works again. (A response body that stops
// mid-way is cut by the same deadline: test/unit/store-deadline.test.ts.)

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  AZURITE_ACCOUNT,
  AZURITE_KEY,
  S3_ACCESS_KEY,
  S3_SECRET_KEY,
  SANDBOX_BUCKET,
  SANDBOX_CONTAINER,
} from "../../scripts/sandbox/sandbox.ts";
import { defaultTopology } from "../../scripts/sandbox/topology.ts";
import { isCheckpointError } from "../../src/checkpoint/errors.ts";
import { openStore } from "../../src/checkpoint/open-store.ts";
import { listAll, type ObjectStore, readRange } from "../../src/checkpoint/store.ts";
import { TcpProxy } from "../support/runtime-proxy.ts";
import { uniqueName } from "../support/sandbox.ts";
import { timed } from "../support/timing.ts";

const DEADLINE_MS = 1_500;
/** Scheduling on a busy 2-core machine; a hang that is not cut would last until the test's own timeout. */
const SLACK_MS = 1_500;
const topology = defaultTopology();

const kinds = [
  {
    kind: "s3",
    port: topology.s3Port,
    open: (proxy: TcpProxy, prefix: string) =>
      openStore(`s3://${SANDBOX_BUCKET}/${prefix}`, {
        s3Endpoint: `http://127.0.0.1:${proxy.port}`,
        s3Credentials: { accessKeyId: S3_ACCESS_KEY, secretAccessKey: S3_SECRET_KEY },
        requestTimeoutMs: DEADLINE_MS,
        env: {},
      }),
    names: (proxy: TcpProxy) => `s3://${SANDBOX_BUCKET} at 127.0.0.1:${proxy.port}`,
    secret: S3_SECRET_KEY,
  },
  {
    kind: "azure-blob",
    port: topology.blobPort,
    open: (proxy: TcpProxy, prefix: string) =>
      openStore(`http://127.0.0.1:${proxy.port}/${AZURITE_ACCOUNT}/${SANDBOX_CONTAINER}/${prefix}`, {
        azureAccountKey: AZURITE_KEY,
        requestTimeoutMs: DEADLINE_MS,
        env: {},
      }),
    names: (proxy: TcpProxy) => `http://127.0.0.1:${proxy.port}/${AZURITE_ACCOUNT}/${SANDBOX_CONTAINER}`,
    secret: AZURITE_KEY,
  },
] as const;

for (const k of kinds) {
  describe(`a ${k.kind} store that hangs`, () => {
    let proxy: TcpProxy;
    let store: ObjectStore;

    before(async () => {
      proxy = await TcpProxy.start({ host: "127.0.0.1", port: k.port });
      store = k.open(proxy, uniqueName("store-hang"));
      await store.put("small.bin", Buffer.from("hello"));
    });
    after(async () => {
      await proxy.close();
    });

    /** The call failed within its deadline with a StoreFailed error naming the store and no secret. */
    function assertTimedOut(r: { ms: number; error?: unknown }, what: string, deadlineMs = DEADLINE_MS): void {
      assert.ok(
        isCheckpointError(r.error, "StoreFailed"),
        `${what}: expected StoreFailed, got ${String(r.error ?? "an answer")}`,
      );
      const message = (r.error as Error).message;
      assert.ok(
        message.includes(`the store ${k.names(proxy)} did not answer within ${deadlineMs / 1000}s`),
        `${what}: ${message}`,
      );
      assert.ok(!message.includes(k.secret), `${what}: the message carries the store's key`);
      assert.ok(r.ms >= deadlineMs - 50 && r.ms <= deadlineMs + SLACK_MS, `${what}: failed after ${r.ms}ms`);
    }

    it("fails each call within its deadline, naming the store and its host", async () => {
      proxy.hang();
      const [head, list, put, range] = await Promise.all([
        timed(() => store.head("small.bin")),
        timed(() => listAll(store, "")),
        timed(() => store.put("new.bin", Buffer.alloc(2 * 2 ** 20))),
        // By a presigned URL on a connection of its own (url-read.ts), not the SDK's.
        timed(() => readRange(store, "small.bin", { offset: 1, length: 3 })),
      ]);
      assertTimedOut(head, "head");
      assertTimedOut(list, "list");
      assertTimedOut(range, "ranged read");
      // A request that sends 2 MiB gets 2 s more.
      assertTimedOut(put, "put", DEADLINE_MS + 2_000);
      assert.ok(proxy.heldConnections > 0, "the proxy held the connections");
    });

    it("works again once the store answers", async () => {
      proxy.heal();
      const info = await store.head("small.bin");
      assert.equal(info?.size, 5);
      assert.equal((await readRange(store, "small.bin", { offset: 1, length: 3 })).toString(), "ell");
    });
  });
}
