// Checkpoint scans per store, not per job, against the sandbox's S3 server
// (versitygw) and Azurite: one listing a scan for every line of a store, no
// manifest read again while nothing changed, a changed manifest read again, a
// new step noticed by the first listing after it, and the replication of jobs (DCP
// commit, copy, retention) driven by what the scans found, with no request of
// a job's own while nothing is new. Requests are counted by the operator's
// counter (crosscloud_store_requests_total).

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, describe, it } from "node:test";
import { Registry } from "prom-client";
import { DCP_METADATA_NAME } from "../../src/checkpoint/manifest.ts";
import { replicationMetrics } from "../../src/checkpoint/metrics.ts";
import { openStore } from "../../src/checkpoint/open-store.ts";
import { commitStep, readSteps } from "../../src/checkpoint/steps.ts";
import { StoreListers } from "../../src/checkpoint/store-listers.ts";
import { CheckpointSync, type SyncPlan } from "../../src/controller/trainingjob/checkpoints.ts";
import { silentLogger } from "../../src/runtime/logger.ts";
import { eventually, uniqueName } from "../support/sandbox.ts";
import {
  commitLineStep,
  type Kind,
  requestsSince,
  requestsTo,
  sandboxStores,
  storeRequests,
} from "../support/store-lines.ts";

const stores = sandboxStores();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Listers counting their requests on a fresh registry; `lists` counts the listings sent so far, by store. */
function listers(intervalMs: number, onChange?: (line: string) => void) {
  const registry = new Registry();
  const metrics = replicationMetrics(registry);
  const lists = new Map<string, number>();
  const listers = new StoreListers({
    intervalMs,
    firstScanMs: 50,
    onRequest: (store, op) => {
      if (op === "list") lists.set(store, (lists.get(store) ?? 0) + 1);
      metrics.storeRequest(store, op);
    },
    ...(onChange ? { onChange: (ref: { line: string }) => onChange(ref.line) } : {}),
  });
  return { registry, listers, lists };
}

for (const kind of ["s3", "blob"] as const satisfies Kind[]) {
  const store = stores[kind];
  describe(`the lister of a ${kind} store`, { timeout: 120_000 }, () => {
    const namespace = uniqueName("scan");
    const lines = Array.from({ length: 20 }, (_, i) => `${namespace}/job-${i}`);
    const { registry, listers: l } = listers(600_000);
    const refs = lines.map((line) => l.ref(store.uri(line), store.options));
    after(() => l.stopAll());

    it("lists every line in one request and reads each manifest once", async () => {
      await Promise.all(
        lines.map(async (line) => {
          await commitLineStep(store, line, 1);
          await commitLineStep(store, line, 2);
        }),
      );
      for (const ref of refs) l.watch(ref);
      assert.equal(l.stores, 1, "one set of clients and one lister for the store");
      const before = await storeRequests(registry);
      await l.scanAll();
      const sent = requestsSince(before, await storeRequests(registry));
      assert.equal(requestsTo(sent, store.root, "list"), 1, "one listing for 20 lines");
      assert.equal(requestsTo(sent, store.root, "read"), 40, "each manifest read once");
      for (const ref of refs) {
        const steps = await l.steps(ref);
        assert.deepEqual(
          steps.committed.map((c) => c.manifest.step),
          [1, 2],
          ref.line,
        );
      }
    });

    it("sends one listing and reads nothing when nothing changed", async () => {
      const versions = refs.map((r) => l.version(r));
      const before = await storeRequests(registry);
      await l.scanAll();
      await l.scanAll();
      for (const ref of refs) await l.steps(ref);
      const sent = requestsSince(before, await storeRequests(registry));
      assert.deepEqual([...sent], [[`${store.root} list`, 2]], "two scans, two listings, no other request");
      assert.deepEqual(
        refs.map((r) => l.version(r)),
        versions,
        "no line changed",
      );
    });

    it("reads a new manifest, and a manifest written again, and nothing else", async () => {
      const [a, b] = refs;
      assert.ok(a && b);
      await commitLineStep(store, a.line, 3);
      const s = openStore(store.uri(b.line), store.options);
      await commitStep(s, 2, { epoch: 2, replace: true });
      const before = await storeRequests(registry);
      const versions = refs.map((r) => l.version(r));
      await l.scanAll();
      const sent = requestsSince(before, await storeRequests(registry));
      assert.equal(requestsTo(sent, store.root, "read"), 2, "the new and the rewritten manifest only");
      assert.equal(requestsTo(sent, store.root, "list"), 1);
      assert.deepEqual(
        (await l.steps(a)).committed.map((c) => c.manifest.step),
        [1, 2, 3],
      );
      assert.equal((await l.steps(b)).committed.find((c) => c.manifest.step === 2)?.manifest.epoch, 2);
      const changed = refs.filter((r, i) => l.version(r) !== versions[i]).map((r) => r.line);
      assert.deepEqual(changed, [a.line, b.line], "only the two lines changed version");
    });

    it("forgets a line no job watches, and the store with its last line", async () => {
      const [first, ...rest] = refs;
      assert.ok(first);
      l.unwatch(first);
      assert.equal(l.version(first), undefined, "the line and its manifests are forgotten");
      const before = await storeRequests(registry);
      await l.scanAll();
      assert.equal(requestsTo(requestsSince(before, await storeRequests(registry)), store.root, "read"), 0);
      for (const ref of rest) l.unwatch(ref);
      assert.equal(l.stores, 0, "no line left: no lister, no clients");
    });
  });
}

describe("a new step under a lister on its timer", { timeout: 120_000 }, () => {
  for (const kind of ["s3", "blob"] as const satisfies Kind[]) {
    it(`is noticed by the first listing sent after it (${kind})`, async () => {
      const store = stores[kind];
      const interval = 2_000;
      // Counted in listings, not milliseconds (a loaded machine stretches both the interval and the scan):
      // a listing sent after the commit sees the step, and a scan tells of it before it sends the next one.
      const changes: { line: string; lists: number }[] = [];
      const { listers: l, lists } = listers(interval, (line) =>
        changes.push({ line, lists: lists.get(store.root) ?? 0 }),
      );
      try {
        const lines = Array.from({ length: 5 }, (_, i) => `${uniqueName("notice")}/job-${i}`);
        const refs = lines.map((line) => l.ref(store.uri(line), store.options));
        for (const ref of refs) l.watch(ref);
        await eventually(
          "the first scan",
          async () => refs.every((r) => l.version(r) !== undefined),
          (x) => x,
          10_000,
        );
        const target = refs[3];
        assert.ok(target);
        const noticedBefore = changes.length;
        await commitLineStep(store, target.line, 7);
        const listedBefore = lists.get(store.root) ?? 0;
        const seen = await eventually(
          "the new step noticed",
          async () => changes.slice(noticedBefore).find((c) => c.line === target.line),
          (c) => c !== undefined,
          30_000,
        );
        const listings = (seen?.lists ?? 0) - listedBefore;
        assert.ok(listings <= 1, `noticed after ${listings} listings sent after the commit`);
        assert.deepEqual(
          (await l.steps(target)).committed.map((c) => c.manifest.step),
          [7],
        );
      } finally {
        l.stopAll();
      }
    });
  }
});

describe("replication driven by the scans", { timeout: 180_000 }, () => {
  const interval = 2_000;
  const registry = new Registry();
  const counted = replicationMetrics(registry);
  /** Every store request of the sync, in the order sent. */
  const sent: { store: string; op: string }[] = [];
  const metrics = {
    ...counted,
    storeRequest: (store: string, op: string) => {
      sent.push({ store, op });
      counted.storeRequest(store, op);
    },
  };
  const results: string[] = [];
  const sync = new CheckpointSync({
    logger: silentLogger(),
    metrics,
    onResult: (key) => results.push(key),
    intervalMs: interval,
    firstScanMs: 50,
  });
  after(() => sync.stopAll());
  const namespace = uniqueName("sync");
  const jobs = ["a", "b", "c"].map((name) => ({ key: `${namespace}/${name}`, line: `${namespace}/${name}` }));
  const placedAt = new Date(Date.now() - 60_000);
  const plan = (line: string): SyncPlan => ({
    epoch: 1,
    source: { cluster: "aws-sim", uri: stores.s3.uri(line), options: stores.s3.options },
    destinations: [{ cluster: "azure-sim", uri: stores.blob.uri(line), options: stores.blob.options }],
    keep: 2,
    placedAt,
  });
  const pokeAll = () => jobs.map((j) => sync.poke(j.key, plan(j.line)));
  const latest = () => pokeAll().map((r) => r?.status.stores.map((s) => s.latestStep));

  it("replicates each job's step, and a DCP step the operator commits", async () => {
    for (const j of jobs) await commitLineStep(stores.s3, j.line, 1);
    // Job c's step 2 is a PyTorch DCP step: shards, then .metadata, no manifest.
    const dcp = openStore(stores.s3.uri(jobs[2]?.line ?? ""), stores.s3.options);
    await dcp.put("step-2/__0_0.distcp", randomBytes(2048));
    await dcp.put(`step-2/${DCP_METADATA_NAME}`, Buffer.from("{}"));
    pokeAll();
    await eventually(
      "every job replicated",
      async () => latest(),
      (x) => JSON.stringify(x) === "[[1,1],[1,1],[2,2]]",
      30_000,
    );
    const c = await readSteps(openStore(stores.blob.uri(jobs[2]?.line ?? ""), stores.blob.options));
    assert.deepEqual(
      c.committed.map((s) => s.manifest.step),
      [1, 2],
      "the DCP step reached Blob, committed",
    );
  });

  it("sends only the stores' listings while nothing is new, however often the jobs are looked at", async () => {
    await sleep(interval); // passes that follow the copies' own writes settle
    const passes = results.length;
    const before = await storeRequests(registry);
    const started = Date.now();
    while (Date.now() - started < 3 * interval) {
      pokeAll();
      await sleep(250);
    }
    const sent = requestsSince(before, await storeRequests(registry));
    for (const store of [stores.s3, stores.blob]) {
      const lists = requestsTo(sent, store.root, "list");
      assert.ok(lists >= 2 && lists <= 4, `${store.root}: ${lists} listings in 3 intervals`);
      assert.equal(requestsTo(sent, store.root), lists, `${store.root}: nothing but listings: ${[...sent]}`);
    }
    assert.equal(results.length, passes, "no pass ran: nothing was new");
  });

  it("replicates a new step after the scan that notices it, and prunes to keep", async () => {
    const [a] = jobs;
    assert.ok(a);
    await commitLineStep(stores.s3, a.line, 2);
    await commitLineStep(stores.s3, a.line, 3);
    const from = sent.length;
    await eventually(
      "step 3 in both stores",
      async () => latest()[0],
      (x) => JSON.stringify(x) === "[3,3]",
      30_000,
    );
    // Counted in requests, not milliseconds (a loaded machine stretches the interval and the pass alike):
    // the copy's first write follows the scan's listing that noticed the steps and the pass's own listing
    // of the source; a pass that waited for a later scan, or a timer of its own, would come after more.
    const after = sent.slice(from);
    const firstPut = after.findIndex((r) => r.store === stores.blob.root && r.op.endsWith("put"));
    assert.ok(firstPut >= 0, "the copy wrote to Blob");
    const listings = after.slice(0, firstPut).filter((r) => r.store === stores.s3.root && r.op === "list").length;
    assert.ok(
      listings <= 2,
      `the copy began after ${listings} listings of the source: ${JSON.stringify(after.slice(0, firstPut))}`,
    );
    for (const store of [stores.s3, stores.blob]) {
      const { committed: held } = await readSteps(openStore(store.uri(a.line), store.options));
      assert.deepEqual(
        held.map((s) => s.manifest.step),
        [2, 3],
        `${store.root} keeps 2`,
      );
    }
  });

  it("forgets a job's lines, and the stores with the last job", async () => {
    assert.equal(sync.stores.stores, 2, "one lister per store for all three jobs");
    const [a, ...rest] = jobs;
    assert.ok(a);
    sync.forget(a.key);
    const ref = sync.stores.ref(stores.s3.uri(a.line), stores.s3.options);
    assert.equal(sync.stores.version(ref), undefined, "the forgotten job's line is no longer scanned");
    assert.equal(sync.stores.stores, 2, "the other jobs keep the stores");
    for (const j of rest) sync.forget(j.key);
    assert.equal(sync.stores.stores, 0, "no job: no lister, no clients");
  });
});
