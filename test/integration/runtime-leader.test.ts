// Lease leader election on the sandbox's hub: of two electors exactly one
// leads; a leader that stops gracefully hands over at once; a leader that is
// SIGKILLed is replaced once its Lease expires; a leader whose Lease is taken
// stops leading, and its fenced clients send nothing more (a request in
// flight is aborted, a later one refused, none reaches the server); expiry
// is judged by when the candidate saw the Lease change, whatever the holder's
// clock says; a leader whose renews are slow stops leading within the renew
// deadline of the renewTime it wrote. Short durations: lease 3 s, renew
// deadline 2 s, retry 0.5 s.

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CoordinationV1Api, type KubeConfig, V1MicroTime } from "@kubernetes/client-node";
import { kubeconfigPath } from "../../scripts/sandbox/sandbox.ts";
import { KubeClient } from "../../src/kube/client.ts";
import { isConflict } from "../../src/runtime/api-errors.ts";
import type { Clock } from "../../src/runtime/clock.ts";
import { realClock } from "../../src/runtime/clock.ts";
import { FencedError } from "../../src/runtime/deadline.ts";
import { LeaderElector } from "../../src/runtime/leader.ts";
import { kubeConfigVia, serverOf, TcpProxy } from "../support/runtime-proxy.ts";
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

interface CampaignOptions {
  readonly releaseOnStop?: boolean;
  /** Default the hub's. */
  readonly kubeConfig?: KubeConfig;
  readonly clock?: Clock;
  /** Default TIMING's. */
  readonly timing?: { leaseDurationMs: number; renewDeadlineMs: number; retryPeriodMs: number };
  /** Runs as the candidate's onStartedLeading, after it was recorded. */
  readonly work?: (signal: AbortSignal) => void;
}

/** The wall clock shifted by `offsetMs`: a replica whose clock disagrees with the others'. */
function skewedClock(offsetMs: number): Clock {
  return { now: () => Date.now() + offsetMs, sleep: realClock.sleep };
}

function campaign(lease: string, identity: string, options: CampaignOptions = {}): Candidate {
  const { work, timing, ...extra } = options;
  const elector = new LeaderElector({
    kubeConfig: hub.kubeConfig,
    namespace,
    name: lease,
    identity,
    ...(timing ?? TIMING),
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
        work?.(signal);
      },
      onStoppedLeading: () => {
        log.push(`stopped@${Date.now()}`);
      },
    },
    stop.signal,
  );
  return Object.assign(candidate, { done });
}

/** An intruder takes the Lease; a renew of the holder between our read and write (409) is read again. */
async function takeLease(lease: string, renewTimeMs: number): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const current = await leases.readNamespacedLease({ name: lease, namespace });
    current.spec = {
      ...current.spec,
      holderIdentity: "intruder",
      renewTime: new V1MicroTime(renewTimeMs),
      leaseDurationSeconds: 60,
    };
    try {
      await leases.replaceNamespacedLease({ name: lease, namespace, body: current });
      return;
    } catch (err) {
      if (!isConflict(err) || attempt >= 5) throw err;
    }
  }
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

/** Samples the Lease every 50 ms until stopped: the newest renewTime it had while `identity` held it. */
function renewTimesOf(lease: string, identity: string) {
  let last: number | undefined;
  const stop = new AbortController();
  const sampling = (async () => {
    while (!stop.signal.aborted) {
      const spec = (await leases.readNamespacedLease({ name: lease, namespace }).catch(() => undefined))?.spec;
      if (spec?.holderIdentity === identity && spec.renewTime) last = new Date(spec.renewTime).getTime();
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return {
    last: () => last,
    stop: async () => {
      stop.abort();
      await sampling;
    },
  };
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
      await takeLease(lease, Date.now() + 60_000);
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

  it("a lost leader's fenced clients abort the request in flight and send no other: nothing reaches the server", async () => {
    const lease = "fenced";
    const proxy = await TcpProxy.start(serverOf(hub.kubeConfig));
    const fenced = { inFlight: undefined as Promise<unknown> | undefined, gate: Promise.withResolvers<void>() };
    const configMap = "fenced-writes";
    const outcome: { inFlight?: unknown; after?: unknown; lostAt?: number; settledAt?: number } = {};
    const a = campaign(lease, "replica-a", {
      work: (signal) => {
        signal.addEventListener("abort", () => {
          outcome.lostAt = Date.now();
        });
        // The leader's reconcile: clients through the proxy, fenced by the leading signal, a long deadline.
        const client = new KubeClient(kubeConfigVia(hub.kubeConfig, proxy), {
          target: "the hub",
          timeoutMs: 30_000,
          fence: signal,
        });
        const configMaps = `/api/v1/namespaces/${namespace}/configmaps`;
        fenced.inFlight = (async () => {
          await client.request({
            method: "POST",
            path: configMaps,
            body: { metadata: { name: configMap }, data: { n: "0" } },
          });
          proxy.hang();
          // Sent while the hub does not answer: in flight when the Lease is lost.
          await client
            .request({
              method: "PUT",
              path: `${configMaps}/${configMap}`,
              body: { metadata: { name: configMap }, data: { n: "1" } },
            })
            .catch((err: unknown) => {
              outcome.inFlight = err;
              outcome.settledAt = Date.now();
            });
          await fenced.gate.promise;
          // The pass goes on after the loss and writes again.
          await client
            .request({
              method: "PATCH",
              path: `${configMaps}/${configMap}`,
              body: { data: { n: "2" } },
              contentType: "application/merge-patch+json",
            })
            .catch((err: unknown) => {
              outcome.after = err;
            });
        })();
      },
    });
    try {
      await eventually("a leads", () => Promise.resolve(a.elector.isLeader), Boolean, 10_000);
      // The reconcile hangs the proxy as soon as its first write returned.
      const created = await eventually(
        "the first write",
        () => hub.core.readNamespacedConfigMap({ namespace, name: configMap }),
        (cm) => cm.data?.n === "0",
        10_000,
      );
      await new Promise((r) => setTimeout(r, 300)); // the replace is sent into the hung proxy
      await takeLease(lease, Date.now());
      await a.done;
      assert.ok(outcome.lostAt, "the leading signal aborted");
      await eventually("the in-flight write to settle", () => Promise.resolve(outcome.settledAt), Boolean, 5_000);
      assert.ok(outcome.inFlight instanceof FencedError, `in flight: ${String(outcome.inFlight)}`);
      assert.match(String(outcome.inFlight), /aborted in flight: this replica no longer leads/);
      const abortedAfterMs = (outcome.settledAt ?? 0) - (outcome.lostAt ?? 0);
      assert.ok(abortedAfterMs < 1000, `aborted ${abortedAfterMs} ms after the loss, not at its 30 s deadline`);
      // The fenced connection was reset; once the proxy has seen it (the network's delay, here a turn of
      // the event loop), what it held for it is dropped, as a server drops unread bytes of a reset one.
      await eventually(
        "the fenced connection to close",
        () => Promise.resolve(proxy.open),
        (n) => n === 0,
        5_000,
      );
      proxy.heal(); // whatever the proxy still held would reach the server now
      fenced.gate.resolve();
      await fenced.inFlight;
      assert.ok(outcome.after instanceof FencedError, `after: ${String(outcome.after)}`);
      assert.match(String(outcome.after), /not sent: this replica no longer leads/);
      await new Promise((r) => setTimeout(r, 1000));
      const now = await hub.core.readNamespacedConfigMap({ namespace, name: configMap });
      assert.deepEqual(now.data, { n: "0" }, "no write of the lost leader reached the server");
      assert.equal(now.metadata?.resourceVersion, created.metadata?.resourceVersion);
    } finally {
      fenced.gate.resolve();
      a.stop.abort();
      await a.done;
      await proxy.close();
    }
  });

  it("respects a holder whose renewTime is an hour behind the candidate's clock while it renews", async () => {
    const lease = "skew-behind";
    const slow = campaign(lease, "clock-behind", { clock: skewedClock(-3_600_000), releaseOnStop: false });
    await eventually("the skewed holder leads", () => Promise.resolve(slow.elector.isLeader), Boolean, 10_000);
    const b = campaign(lease, "replica-b");
    try {
      // Judged by renewTime on b's clock the Lease expired an hour ago; it is renewed, so it holds.
      await neverTwoLeaders([slow, b], 4_000);
      assert.equal(slow.elector.isLeader, true);
      const stoppedAt = Date.now();
      slow.stop.abort();
      await slow.done;
      await eventually("b takes over", () => Promise.resolve(b.elector.isLeader), Boolean, 8_000);
      const takeover = Date.now() - stoppedAt;
      assert.ok(takeover >= 2_000, `took over ${takeover} ms after the last renew: before the lease duration (3 s)`);
    } finally {
      slow.stop.abort();
      b.stop.abort();
      await Promise.all([slow.done, b.done]);
    }
  });

  it("takes over a Lease whose renewTime is an hour ahead once it has not changed for the lease duration", async () => {
    const lease = "skew-ahead";
    const fast = campaign(lease, "clock-ahead", { clock: skewedClock(3_600_000), releaseOnStop: false });
    await eventually("the skewed holder leads", () => Promise.resolve(fast.elector.isLeader), Boolean, 10_000);
    fast.stop.abort();
    await fast.done;
    const stoppedAt = Date.now();
    const b = campaign(lease, "replica-b");
    try {
      await new Promise((r) => setTimeout(r, 2_000));
      assert.equal(b.elector.isLeader, false, "a Lease b has just seen is respected for the lease duration");
      // Judged by renewTime on b's clock it would stay valid for an hour.
      await eventually("b takes over", () => Promise.resolve(b.elector.isLeader), Boolean, 8_000);
      const takeover = Date.now() - stoppedAt;
      assert.ok(takeover <= 3_000 + 500 + 2_000, `took over after ${takeover} ms`);
      assert.equal(await holder(lease), "replica-b");
    } finally {
      b.stop.abort();
      await b.done;
    }
  });

  it("a leader whose renews are slow stops leading within the renew deadline of the renewTime it wrote", async () => {
    const lease = "slow-renew";
    const proxy = await TcpProxy.start(serverOf(hub.kubeConfig));
    // Longer than TIMING, so that renews slowed to 1.2 s keep the Lease on a busy machine.
    const timing = { leaseDurationMs: 6_000, renewDeadlineMs: 4_000, retryPeriodMs: 500 };
    const a = campaign(lease, "replica-a", { kubeConfig: kubeConfigVia(hub.kubeConfig, proxy), timing });
    let b: Candidate | undefined;
    let lostAt = 0;
    const renewed = renewTimesOf(lease, "replica-a");
    try {
      await eventually("a leads", () => Promise.resolve(a.elector.isLeader), Boolean, 10_000);
      a.leadingSignal?.addEventListener("abort", () => {
        lostAt = Date.now();
      });
      b = campaign(lease, "replica-b", { timing });
      // What the hub sends now takes 300 ms more. The client opens a connection per request, so each
      // request waits twice (TLS handshake, answer): a renew (a read and a write) takes 1.2 s, and the
      // next one, a retry period later, ends within the 4 s renew deadline counted from the last's start.
      proxy.slow(300);
      await new Promise((r) => setTimeout(r, 3_000));
      assert.equal(a.elector.isLeader, true, "slow renews within the deadline keep the Lease");
      proxy.hang();
      const candidate = b;
      await eventually("b takes over", () => Promise.resolve(candidate.elector.isLeader), Boolean, 15_000);
      const takenAt = Date.now();
      assert.ok(lostAt > 0 && lostAt < takenAt, "a stopped leading before b started");
      // The last renewTime a wrote is when that renew started; a stops renewDeadline after it.
      const spec = (await leases.readNamespacedLease({ name: lease, namespace })).spec;
      assert.equal(spec?.holderIdentity, "replica-b");
      await renewed.stop();
      const lastRenewTime = renewed.last();
      assert.ok(lastRenewTime, "a's renewTime was seen");
      // Were renewTime taken after the read returned and the deadline counted from the write's end,
      // a would stop 600 ms (the write's 2 x 300 ms) after renewTime + renew deadline.
      const late = lostAt - lastRenewTime - timing.renewDeadlineMs;
      assert.ok(late < 300, `a stopped ${late} ms after its last renewTime + the renew deadline`);
    } finally {
      await renewed.stop();
      a.stop.abort();
      b?.stop.abort();
      await Promise.all([a.done, b?.done]);
      await proxy.close();
    }
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
