// Fault injection of the cloud simulator: a fraction of cloud API calls
// answered 429 (throttling) or 5xx, errors after a change was applied (to
// prove idempotency), added latency, and a cloud's API that accepts calls and
// never answers them (hang); changeable while it runs.

/** What goes wrong, and how often; every field defaults to no fault. */
export interface Faults {
  /** Fraction (0..1) of calls answered 429. Default 0. */
  readonly throttleRate?: number;
  /** The next this many calls are answered 429 whatever the rate (a test that needs a throttle). Default 0. */
  readonly throttleFirst?: number;
  /** Fraction (0..1) of calls answered 500/503. Default 0. */
  readonly errorRate?: number;
  /** Fraction (0..1) of scale calls answered 500 after the change was applied. Default 0. */
  readonly errorAfterApplyRate?: number;
  /** Milliseconds added to every call. Default 0. */
  readonly latencyMs?: number;
  /**
   * Clouds whose API hangs: each call is read and never answered (the connection stays open until
   * the client gives up), as with a cloud API that accepts requests and is stuck. "aws" is the EKS
   * API, "azure" the ARM API. Default none.
   */
  readonly hang?: readonly HangingCloud[];
}

export const HANGING_CLOUDS = ["aws", "azure"] as const;
export type HangingCloud = (typeof HANGING_CLOUDS)[number];

export type Fault = "throttle" | "error" | undefined;

/** A small seeded PRNG (mulberry32), so a test run's faults are reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function validateFaults(f: Faults): string[] {
  const errors: string[] = [];
  for (const key of ["throttleRate", "errorRate", "errorAfterApplyRate"] as const) {
    const v = f[key];
    if (v !== undefined && !(typeof v === "number" && v >= 0 && v <= 1))
      errors.push(`${key} must be a number from 0 to 1, got ${JSON.stringify(v)}`);
  }
  if (f.throttleFirst !== undefined && !(Number.isInteger(f.throttleFirst) && f.throttleFirst >= 0)) {
    errors.push(`throttleFirst must be a whole number >= 0, got ${JSON.stringify(f.throttleFirst)}`);
  }
  if (f.latencyMs !== undefined && !(typeof f.latencyMs === "number" && f.latencyMs >= 0)) {
    errors.push(`latencyMs must be a number >= 0, got ${JSON.stringify(f.latencyMs)}`);
  }
  const hang: unknown = f.hang;
  if (
    hang !== undefined &&
    !(Array.isArray(hang) && hang.every((c) => (HANGING_CLOUDS as readonly unknown[]).includes(c)))
  ) {
    errors.push(`hang must be a list of clouds (${HANGING_CLOUDS.join(", ")}), got ${JSON.stringify(hang)}`);
  }
  return errors;
}

export class FaultInjector {
  #faults: Faults;
  #throttleLeft = 0;
  readonly #random: () => number;
  /** Faults injected so far, by kind: what tests look at. */
  readonly injected = { throttle: 0, error: 0, errorAfterApply: 0, hang: 0 };

  constructor(faults: Faults, random: () => number) {
    this.#faults = faults;
    this.#throttleLeft = faults.throttleFirst ?? 0;
    this.#random = random;
  }

  get faults(): Faults {
    return this.#faults;
  }

  set faults(f: Faults) {
    const errors = validateFaults(f);
    if (errors.length > 0) throw new Error(`cloudsim faults: ${errors.join("; ")}`);
    this.#faults = f;
    this.#throttleLeft = f.throttleFirst ?? 0;
  }

  /** The fault for the next call, if any. */
  next(): Fault {
    if (this.#throttleLeft > 0) {
      this.#throttleLeft--;
      this.injected.throttle++;
      return "throttle";
    }
    const r = this.#random();
    const throttle = this.#faults.throttleRate ?? 0;
    if (r < throttle) {
      this.injected.throttle++;
      return "throttle";
    }
    if (r < throttle + (this.#faults.errorRate ?? 0)) {
      this.injected.error++;
      return "error";
    }
    return undefined;
  }

  /** Whether a call to `cloud`'s API is to hang (be read and never answered); counts it. */
  hangs(cloud: HangingCloud): boolean {
    const hang = this.#faults.hang?.includes(cloud) ?? false;
    if (hang) this.injected.hang++;
    return hang;
  }

  /** Whether to fail a scale call after applying it. */
  afterApply(): boolean {
    const fail = this.#random() < (this.#faults.errorAfterApplyRate ?? 0);
    if (fail) this.injected.errorAfterApply++;
    return fail;
  }

  async delay(): Promise<void> {
    const ms = this.#faults.latencyMs ?? 0;
    if (ms > 0) await new Promise((r) => setTimeout(r, ms));
  }
}
