// Checkpoint replication between the sandbox's S3 server and Azurite: whole
// steps in both directions, an interrupted copy resumed, corruption caught,
// retention, and fencing of stale epochs. Real stores, real bytes.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { Registry } from "prom-client";
import {
  AZURITE_ACCOUNT,
  AZURITE_KEY,
  S3_ACCESS_KEY,
  S3_SECRET_KEY,
  SANDBOX_BUCKET,
  SANDBOX_CONTAINER,
} from "../../scripts/sandbox/sandbox.ts";
import { defaultTopology } from "../../scripts/sandbox/topology.ts";
import { main } from "../../src/checkpoint/cli.ts";
import { isCheckpointError } from "../../src/checkpoint/errors.ts";
import type { ReplicationEvent } from "../../src/checkpoint/events.ts";
import { sha256Hex } from "../../src/checkpoint/hash.ts";
import { MANIFEST_NAME, manifestKey, stepDir } from "../../src/checkpoint/manifest.ts";
import { replicationMetrics } from "../../src/checkpoint/metrics.ts";
import { openStore } from "../../src/checkpoint/open-store.ts";
import { type ReplicateOptions, replicateCheckpoints } from "../../src/checkpoint/replicate.ts";
import { applyRetention } from "../../src/checkpoint/retention.ts";
import { readManifest, readSteps } from "../../src/checkpoint/steps.ts";
import { listAll, type ObjectStore } from "../../src/checkpoint/store.ts";
import { uniqueName } from "../support/sandbox.ts";
import { MiB, type StoreKind, sandboxStore, stepContents, stepDirs, writeStep } from "./checkpoint-support.ts";

const small = { partSize: 5 * MiB, multipartThreshold: 5 * MiB, concurrency: 4, fileConcurrency: 3 };
const other = (k: StoreKind): StoreKind => (k === "s3" ? "azure-blob" : "s3");

function run(source: ObjectStore, destination: ObjectStore, extra: Partial<ReplicateOptions> = {}) {
  return replicateCheckpoints({ source, destinations: [destination], fence: { activeEpoch: 1 }, ...small, ...extra });
}

describe("replicating a step", () => {
  for (const from of ["s3", "azure-blob"] as const) {
    const to = other(from);
    it(`copies ${from} -> ${to}: several files, some multipart, checksums filled in, manifest last`, async () => {
      const source = sandboxStore(from);
      const destination = sandboxStore(to);
      const sizes = [12 * MiB + 7, 5 * MiB + 1, 5 * MiB, 3 * MiB, 100_000, 0];
      // From S3 the manifest carries checksums; from Blob it does not, and the replicator computes them.
      const { manifest, contents } = await writeStep(source, 40, sizes, { epoch: 1, withSha256: from === "s3" });
      const events: ReplicationEvent[] = [];
      const report = await run(source, destination, { onEvent: (e) => events.push(e) });

      assert.deepEqual(
        report.results.map((r) => [r.step, r.outcome]),
        [[40, "committed"]],
      );
      const copied = await readManifest(destination, 40);
      assert.ok(copied);
      assert.equal(copied.epoch, 1);
      assert.equal(copied.createdAt, manifest.createdAt);
      for (const f of copied.files) assert.equal(f.sha256, sha256Hex(contents.get(f.path) as Buffer), f.path);
      assert.deepEqual(await stepContents(destination, 40, contents.keys()), contents);
      const multipart = new Set(events.flatMap((e) => (e.type === "part-written" ? [e.key] : [])));
      assert.deepEqual([...multipart].sort(), [`${stepDir(40)}/__0_0.distcp`, `${stepDir(40)}/__1_0.distcp`]);
      const total = sizes.reduce((a, b) => a + b, 0);
      assert.equal(report.bytesWritten, total);

      const again = await run(source, destination);
      assert.deepEqual(
        again.results.map((r) => r.outcome),
        ["already-replicated"],
      );
      assert.equal(again.bytesWritten, 0);
    });
  }
});

/** Polls `destination` while a copy runs: whenever the manifest is listed, every file must be there whole. */
function watchManifestOrder(destination: ObjectStore, step: number, sizes: Map<string, number>) {
  let stop = false;
  let polls = 0;
  const violations: string[] = [];
  const done = (async () => {
    while (!stop) {
      const listed = new Map((await listAll(destination, `${stepDir(step)}/`)).map((o) => [o.key, o.size]));
      polls++;
      if (!listed.has(`${stepDir(step)}/${MANIFEST_NAME}`)) continue;
      for (const [path, size] of sizes) {
        if (listed.get(`${stepDir(step)}/${path}`) !== size)
          violations.push(`manifest listed before ${path} was whole`);
      }
    }
  })();
  return {
    finish: async () => {
      stop = true;
      await done;
      return { polls, violations };
    },
  };
}

describe("an interrupted replication", () => {
  for (const from of ["s3", "azure-blob"] as const) {
    const to = other(from);
    it(`${from} -> ${to}: killed midway, then resumed, moves only what was missing`, async () => {
      const source = sandboxStore(from);
      const destination = sandboxStore(to);
      const sizes = [16 * MiB, 16 * MiB, 16 * MiB, MiB, MiB];
      const { contents } = await writeStep(source, 7, sizes, { withSha256: false });
      const total = sizes.reduce((a, b) => a + b, 0);

      const controller = new AbortController();
      const firstParts = new Set<string>();
      let firstPartBytes = 0;
      const registry = new Registry();
      const first = run(source, destination, {
        concurrency: 2,
        fileConcurrency: 2,
        signal: controller.signal,
        metrics: replicationMetrics(registry),
        onEvent: (e) => {
          if (e.type !== "part-written") return;
          firstParts.add(`${e.key}#${e.index}`);
          firstPartBytes += e.bytes;
          if (firstParts.size === 5) controller.abort();
        },
      });
      await assert.rejects(first, (err) => isCheckpointError(err, "Aborted"));
      assert.equal(await destination.head(manifestKey(7)), undefined, "no manifest after the kill");
      const written = await registry.getSingleMetricAsString("crosscloud_checkpoint_bytes_written_total");
      assert.match(written, /crosscloud_checkpoint_bytes_written_total\{[^}]*\} \d+/);

      const watch = watchManifestOrder(destination, 7, new Map([...contents].map(([p, b]) => [p, b.length])));
      const secondParts = new Set<string>();
      const skipped = new Set<string>();
      const second = await run(source, destination, {
        concurrency: 2,
        fileConcurrency: 2,
        onEvent: (e) => {
          if (e.type === "part-written") secondParts.add(`${e.key}#${e.index}`);
          if (e.type === "part-skipped") skipped.add(`${e.key}#${e.index}`);
        },
      });
      const { polls, violations } = await watch.finish();
      assert.deepEqual(violations, []);
      assert.ok(polls > 1, "the destination was watched during the copy");

      assert.deepEqual(
        second.results.map((r) => r.outcome),
        ["committed"],
      );
      assert.ok(firstPartBytes >= 5 * MiB, "the first run moved parts before it was killed");
      assert.ok(
        second.bytesWritten > 0 && second.bytesWritten < total,
        `resume moved ${second.bytesWritten} of ${total}`,
      );
      assert.ok(second.bytesWritten <= total - firstPartBytes, "nothing the first run wrote was written again");
      assert.deepEqual(
        [...secondParts].filter((p) => firstParts.has(p)),
        [],
        "no part moved twice",
      );
      assert.ok([...firstParts].every((p) => skipped.has(p) || !secondParts.has(p)));
      assert.deepEqual(await stepContents(destination, 7, contents.keys()), contents);
    });
  }
});

describe("a corrupted source", () => {
  it("is detected by checksum and the step is not committed at the destination", async () => {
    const source = sandboxStore("s3");
    const destination = sandboxStore("azure-blob");
    await writeStep(source, 9, [11 * MiB, 2 * MiB], { withSha256: true });
    // Same size, other bytes: only the checksum can tell.
    await source.put(`${stepDir(9)}/__0_0.distcp`, randomBytes(11 * MiB));
    const registry = new Registry();
    const report = await run(source, destination, { metrics: replicationMetrics(registry) });

    const [result] = report.results;
    assert.equal(result?.outcome, "failed");
    assert.ok(isCheckpointError(result?.error, "ChecksumMismatch"), String(result?.error));
    assert.match(result?.error?.message ?? "", /step-9\/__0_0\.distcp hashes to [0-9a-f]{64} but its manifest says/);
    assert.equal(await destination.head(manifestKey(9)), undefined);
    assert.equal(
      await destination.head(`${stepDir(9)}/__0_0.distcp`),
      undefined,
      "the corrupt file never became visible",
    );
    assert.equal((await readSteps(destination)).committed.length, 0);
    assert.match(
      await registry.getSingleMetricAsString("crosscloud_checkpoint_step_failures_total"),
      /code="ChecksumMismatch"\} 1/,
    );
  });

  it("is detected by size before anything moves", async () => {
    const source = sandboxStore("azure-blob");
    const destination = sandboxStore("s3");
    await writeStep(source, 10, [6 * MiB, MiB], { withSha256: false });
    await source.put(`${stepDir(10)}/__1_0.distcp`, randomBytes(MiB - 1));
    const report = await run(source, destination);
    assert.ok(isCheckpointError(report.results[0]?.error, "SizeMismatch"));
    assert.equal(report.bytesWritten, 0);
    assert.deepEqual(await stepDirs(destination), []);
  });
});

describe("retention", () => {
  it("keeps the newest `keep` steps in every store and leaves uncommitted ones alone", async () => {
    const source = sandboxStore("s3");
    const destination = sandboxStore("azure-blob");
    for (const step of [100, 200, 300, 400, 500]) await writeStep(source, step, [1000, 2000]);
    await writeStep(source, 600, [1000], { commit: false });
    await writeStep(destination, 50, [10]); // an old step already at the destination
    const events: ReplicationEvent[] = [];
    const report = await run(source, destination, { keep: 2, onEvent: (e) => events.push(e) });

    assert.deepEqual(
      report.results.map((r) => [r.step, r.outcome]),
      [
        [500, "committed"],
        [400, "committed"],
      ],
    );
    assert.deepEqual(await stepDirs(source), [400, 500, 600]);
    assert.deepEqual(await stepDirs(destination), [400, 500]);
    assert.deepEqual(
      events.flatMap((e) => (e.type === "step-skipped" && e.reason === "beyond-keep" ? [e.step] : [])),
      [300, 200, 100],
    );
  });

  it("never deletes the newest committed step, even when newer uncommitted or invalid ones exist", async () => {
    const store = sandboxStore("azure-blob");
    for (const step of [100, 200, 300]) await writeStep(store, step, [10]);
    await writeStep(store, 400, [10], { commit: false });
    await writeStep(store, 350, [10], { commit: false });
    await store.put(manifestKey(350), Buffer.from("{ not a manifest"));
    const deleted = await applyRetention(store, { keep: 1 });
    assert.deepEqual(deleted, [200, 100]);
    assert.deepEqual(await stepDirs(store), [300, 350, 400]);
    assert.ok(await readManifest(store, 300));
  });
});

describe("fencing", () => {
  it("does not replicate a step written by a stale epoch", async () => {
    const source = sandboxStore("azure-blob");
    const destination = sandboxStore("s3");
    await writeStep(source, 100, [1000], { epoch: 1 }); // committed before the failover, resumed from
    await writeStep(source, 300, [1000], { epoch: 1 }); // written by the fenced epoch-1 workload afterwards
    await writeStep(source, 200, [1000], { epoch: 2 });
    const events: ReplicationEvent[] = [];
    const report = await run(source, destination, {
      fence: { activeEpoch: 2, resumedFromStep: 100 },
      onEvent: (e) => events.push(e),
    });
    assert.deepEqual(
      report.results.map((r) => [r.step, r.outcome]),
      [
        [200, "committed"],
        [100, "committed"],
      ],
    );
    assert.deepEqual(await stepDirs(destination), [100, 200]);
    assert.ok(events.some((e) => e.type === "step-skipped" && e.step === 300 && e.reason === "stale-epoch"));
  });
});

describe("PyTorch DCP steps", () => {
  it("are committed by their .metadata with the active epoch, then replicated", async () => {
    const source = sandboxStore("s3");
    const destination = sandboxStore("azure-blob");
    await writeStep(source, 70, [2 * MiB, 3000], { commit: false });
    await source.put(`${stepDir(70)}/.metadata`, Buffer.from("dcp metadata"));
    await writeStep(source, 80, [2000], { commit: false }); // shards written, .metadata not yet: in progress
    const report = await run(source, destination, { fence: { activeEpoch: 3 }, commitDcp: {} });
    assert.deepEqual(report.dcpCommitted, [70]);
    assert.deepEqual(
      report.results.map((r) => [r.step, r.outcome]),
      [[70, "committed"]],
    );
    const copied = await readManifest(destination, 70);
    assert.equal(copied?.epoch, 3);
    assert.deepEqual(copied?.files.map((f) => f.path).sort(), [".metadata", "__0_0.distcp", "__1_0.distcp"]);
    assert.equal(await readManifest(source, 80), undefined);
  });
});

describe("the command line", () => {
  it("commits a step and replicates it, opening stores from URIs with credentials from the environment", async () => {
    const t = defaultTopology();
    Object.assign(process.env, {
      CROSSCLOUD_S3_ENDPOINT: `http://127.0.0.1:${t.s3Port}`,
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: S3_ACCESS_KEY,
      AWS_SECRET_ACCESS_KEY: S3_SECRET_KEY,
      AZURE_STORAGE_ACCOUNT_KEY: AZURITE_KEY,
    });
    const prefix = uniqueName("cli");
    const s3uri = `s3://${SANDBOX_BUCKET}/${prefix}`;
    const blobUri = `http://127.0.0.1:${t.blobPort}/${AZURITE_ACCOUNT}/${SANDBOX_CONTAINER}/${prefix}`;
    const { contents } = await writeStep(openStore(s3uri), 5, [6 * MiB, 1000], { commit: false });
    const signal = new AbortController().signal;

    assert.equal(await main(["commit-step", s3uri, "5", "--epoch", "4"], signal), 0);
    const committed = await readManifest(openStore(s3uri), 5);
    assert.equal(committed?.epoch, 4);
    assert.equal(committed?.files.length, 2);

    const args = ["replicate", "--from", s3uri, "--to", blobUri, "--epoch", "4", "--part-size-mib", "5", "--keep", "1"];
    assert.equal(await main(args, signal), 0);
    const copied = await readManifest(openStore(blobUri), 5);
    assert.deepEqual(
      copied?.files.map((f) => [f.path, f.sha256]),
      [...contents].map(([path, body]) => [path, sha256Hex(body)]).sort(),
    );
    assert.equal(await main(["replicate", "--from", s3uri, "--epoch", "4"], signal), 2, "--to is required");
    assert.equal(await main(["commit-step", s3uri, "6", "--epoch", "4"], signal), 1, "nothing to commit in step-6/");
  });
});
