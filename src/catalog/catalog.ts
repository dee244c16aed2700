// The catalog the operator consults: the built-in instance types, extended or
// overridden by configuration, and the price of a node-hour after a
// ComputeCluster's own `spec.prices` overrides.

import { INSTANCE_TYPES, type InstanceType } from "./instance-types.ts";
import { type Micros, parsePrice } from "./money.ts";

/**
 * How a node is paid for: OnDemand, Spot (can be reclaimed), or Reserved (EKS Capacity Blocks,
 * Karpenter `reserved`: paid for whether used or not).
 */
export type CapacityType = "OnDemand" | "Spot" | "Reserved";
export const CAPACITY_TYPES: readonly CapacityType[] = ["OnDemand", "Spot", "Reserved"];

/** An instance type with the prices the catalog knows for it. */
export interface CatalogEntry extends InstanceType {
  /** Spot price in USD per node-hour, when configured; spot nodes fall back to the on-demand price. */
  readonly spotPricePerHour?: string;
}

/** Where a resolved price came from, so an explanation can say it. */
export type PriceSource = "override" | "catalog";

export interface ResolvedPrice {
  readonly perNodeHour: Micros;
  readonly source: PriceSource;
}

/** Instance facts and default prices, looked up by instance type name. */
export class Catalog {
  readonly #entries: ReadonlyMap<string, CatalogEntry>;

  constructor(entries: Iterable<CatalogEntry>) {
    this.#entries = new Map([...entries].map((e) => [e.name, e]));
  }

  /** The built-in catalog of CLOUD-FACTS.md. */
  static builtIn(): Catalog {
    return new Catalog(INSTANCE_TYPES.values());
  }

  /** This catalog with `entries` added, replacing entries of the same name. */
  withEntries(entries: Iterable<CatalogEntry>): Catalog {
    return new Catalog([...this.#entries.values(), ...entries]);
  }

  get(name: string): CatalogEntry | undefined {
    return this.#entries.get(name);
  }

  names(): string[] {
    return [...this.#entries.keys()];
  }

  /**
   * The price of one node-hour of `instanceType`: the cluster's override for
   * `<type>:Spot` (spot nodes only), then for `<type>`, then the catalog's
   * spot price (spot only), then its on-demand price; undefined when none is known. A Reserved
   * node's price is its on-demand price too: what the reservation is worth, not what using it
   * adds (placement treats that as zero).
   * Overrides were validated when the ComputeCluster was read (see `parsePriceOverrides`).
   */
  price(
    instanceType: string,
    capacityType: CapacityType,
    overrides: ReadonlyMap<string, Micros> = new Map(),
  ): ResolvedPrice | undefined {
    const spot = capacityType === "Spot";
    const override = (spot ? overrides.get(`${instanceType}:Spot`) : undefined) ?? overrides.get(instanceType);
    if (override !== undefined) return { perNodeHour: override, source: "override" };
    const entry = this.#entries.get(instanceType);
    const text = (spot ? entry?.spotPricePerHour : undefined) ?? entry?.onDemandPricePerHour;
    if (text === undefined) return undefined;
    const parsed = parsePrice(text);
    return parsed.ok ? { perNodeHour: parsed.value, source: "catalog" } : undefined;
  }
}

/**
 * Validates a ComputeCluster's `spec.prices` (instance type, or `<type>:Spot`,
 * to a decimal string of $/node-hour). Returns the parsed map, or the errors,
 * each naming its field.
 */
export function parsePriceOverrides(
  prices: Readonly<Record<string, string>> | undefined,
  field = "spec.prices",
): { ok: true; value: ReadonlyMap<string, Micros> } | { ok: false; errors: string[] } {
  const value = new Map<string, Micros>();
  const errors: string[] = [];
  for (const [key, text] of Object.entries(prices ?? {})) {
    const parsed = parsePrice(String(text));
    if (parsed.ok) value.set(key, parsed.value);
    else errors.push(`${field}["${key}"]: ${parsed.reason}`);
  }
  return errors.length === 0 ? { ok: true, value } : { ok: false, errors };
}
