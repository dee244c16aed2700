// Lease leader election on the sandbox's hub: of two electors exactly one
// leads; a leader that stops gracefully hands over at once; a leader that is
// SIGKILLed is replaced once its Lease expires; a leader whose Lease is taken
// stops leading. Short durations: lease 3 s, renew deadline 2 s, retry 0.5 s.

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CoordinationV1Api, V1MicroTime } from "@kubernetes/client-node";
import { kubeconfigPath } from "../../scripts/sandbox/sandbox.ts";
import { LeaderElector } from "../../src/runtime/leader.ts";
import { clients, eventually, uniqueName } from "../support/sandbox.ts";

const hub = clients("hub");
const leases = hub.kubeConfig.makeApiClient(CoordinationV1Api);
const namespace = uniqueName("rt-leader");
const TIMING = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 500 } as const;

interface Candidate {
  readonly identity: string;
  readonly elector: LeaderElector;
  readonly stop: AbortController;
  readonly done: Promise<void>;
  readonly log: string[];
  leadingSignal?: AbortSignal;
}

function campaign(lease: string, identity: string, extra: { releaseOnStop?: boolean } = {}): Candidate {
  const elector = new LeaderElector({
    kubeConfig: hub.kubeConfig,
    namespace,
    name: lease,
    identity,
    ...TIMING,
    ...extra,
  });
  const stop = new AbortController();
  const log: string[] = [];
  const candidate: Candidate = { identity, elector, stop, log, done: Promise.resolve() };
  const done = elector.run(
    {
      onStartedLeading: (signal) => {
        candidate.leadingSignal = signal;
        log.push(`started@${Date.now()}`);
      },
      onStoppedLeading: () => {
        log.push(`stopped@${Date.now()}`);
      },
    },
    stop.signal,
  );
  return Object.assign(candidate, { done });
}

async function holder(lease: string): Promise<string | undefined> {
  const l = await leases.readNamespacedLease({ name: lease, namespace });
  return l.spec?.holderIdentity || undefined;
}

/** Samples the candidates for `ms`, failing if two ever lead at once. */
async function neverTwoLeaders(candidates: Candidate[], ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const leading = candidates.filter((c) => c.elector.isLeader).map((c) => c.identity);
    assert.ok(leading.length <= 1, `two leaders at once: ${leading.join(", ")}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const leaderOf = (candidates: Candidate[]) => () => Promise.resolve(candidates.filter((c) => c.elector.isLeader));

describe("LeaderElector on the hub", () => {
  before(async () => {
    await hub.core.createNamespace({ body: { metadata: { name: namespace } } });
  });
  after(async () => {
    await hub.core.deleteNamespace({ name: namespace }).catch(() => {});
  });

  it("of two electors exactly one leads, and the Lease names it", async () => {
    const lease = "two-electors";
    const a = campaign(lease, "replica-a");
    const b = campaign(lease, "replica-b");
    try {
      const [leader] = await eventually("one leader", leaderOf([a, b]), (l) => l.length === 1, 10_000);
      await neverTwoLeaders([a, b], 3000);
      assert.equal(leader?.elector.isLeader, true, "the leader keeps renewing");
      assert.equal(await holder(lease), leader?.identity);
      const spec = (await leases.readNamespacedLease({ name: lease, namespace })).spec;
      assert.equal(spec?.leaseDurationSeconds, 3);
      assert.ok(spec?.acquireTime && spec.renewTime, "acquireTime and renewTime are set");
      assert.ok(new Date(spec.renewTime).getTime() > new Date(spec.acquireTime).getTime(), "renewTime advances");
      assert.equal(leader?.log.length, 1, "onStartedLeading ran once");
    } finally {
      a.stop.abort();
      b.stop.abort();
      await Promise.all([a.done, b.done]);
    }
  });

  it("a leader stopped gracefully releases the Lease and the other takes over at once", async () => {
    const lease = "graceful";
    const a = campaign(lease, "replica-a");
    await eventually("a leads", () => Promise.resolve(a.elector.isLeader), Boolean, 10_000);
    const b = campaign(lease, "replica-b");
    try {
      await neverTwoLeaders([a, b], 1000);
      assert.equal(b.elector.isLeader, false);
      const transitions = (await leases.readNamespacedLease({ name: lease, namespace })).spec?.leaseTransitions ?? 0;
      const stoppedAt = Date.now();
      a.stop.abort();
      await a.done;
      assert.equal(a.leadingSignal?.aborted, true, "the leading signal aborts");
      assert.match(a.log.at(-1) ?? "", /^stopped@/, "onStoppedLeading ran");
      await eventually("b leads", () => Promise.resolve(b.elector.isLeader), Boolean, 3000);
      const handover = Date.now() - stoppedAt;
      assert.ok(handover < 1500, `handover took ${handover} ms; a released Lease must not wait for expiry (3 s)`);
      assert.equal(await holder(lease), "replica-b");
      const after = (await leases.readNamespacedLease({ name: lease, namespace })).spec?.leaseTransitions ?? 0;
      assert.equal(after, transitions + 1, "leaseTransitions counts the handover");
    } finally {
      b.stop.abort();
      await b.done;
    }
  });

  it("a SIGKILLed leader is replaced once its Lease expires, not before", async () => {
    const lease = "killed";
    const script = join(import.meta.dirname, "..", "support", "runtime-elector.ts");
    const child: ChildProcess = spawn(process.execPath, [script, kubeconfigPath("hub"), namespace, lease, "child"], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
    });
    let b: Candidate | undefined;
    try {
      await eventually(
        "the child leads",
        () => Promise.resolve(out),
        (o) => o.includes("leading"),
        15_000,
      );
      b = campaign(lease, "replica-b");
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(b.elector.isLeader, false, "the child holds the Lease while it renews");
      const killedAt = Date.now();
      child.kill("SIGKILL");
      const candidate = b;
      await eventually("b takes over", () => Promise.resolve(candidate.elector.isLeader), Boolean, 8000);
      const takeover = Date.now() - killedAt;
      assert.ok(takeover >= 2000, `took over after ${takeover} ms, before the unreleased Lease could expire`);
      assert.ok(takeover <= 3000 + 500 + 1000, `took over after ${takeover} ms; must be within lease duration + retry`);
      assert.equal(await holder(lease), "replica-b");
    } finally {
      child.kill("SIGKILL");
      b?.stop.abort();
      await b?.done;
    }
  });

  it("a leader whose Lease is taken by another stops leading", async () => {
    const lease = "stolen";
    const a = campaign(lease, "replica-a");
    try {
      await eventually("a leads", () => Promise.resolve(a.elector.isLeader), Boolean, 10_000);
      const current = await leases.readNamespacedLease({ name: lease, namespace });
      const now = new V1MicroTime(Date.now() + 60_000);
      current.spec = { ...current.spec, holderIdentity: "intruder", renewTime: now, leaseDurationSeconds: 60 };
      await leases.replaceNamespacedLease({ name: lease, namespace, body: current });
      await a.done; // run() ends when leadership is lost
      assert.equal(a.elector.isLeader, false);
      assert.equal(a.leadingSignal?.aborted, true);
      assert.match(a.log.at(-1) ?? "", /^stopped@/);
      assert.equal(await holder(lease), "intruder", "a lost leader does not release someone else's Lease");
    } finally {
      a.stop.abort();
    }
  });

  it("a stop with release disabled leaves the Lease to expire", async () => {
    const lease = "no-release";
    const a = campaign(lease, "replica-a", { releaseOnStop: false });
    await eventually("a leads", () => Promise.resolve(a.elector.isLeader), Boolean, 10_000);
    a.stop.abort();
    await a.done;
    assert.equal(await holder(lease), "replica-a");
  });

  it("rejects inconsistent timings with the fields named", () => {
    const base = { kubeConfig: hub.kubeConfig, namespace, name: "x", identity: "i" };
    assert.throws(
      () => new LeaderElector({ ...base, leaseDurationMs: 2000, renewDeadlineMs: 2000 }),
      /renewDeadlineMs/,
    );
    assert.throws(() => new LeaderElector({ ...base, renewDeadlineMs: 1000, retryPeriodMs: 1000 }), /retryPeriodMs/);
  });
});
