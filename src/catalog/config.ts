// Extends or overrides the built-in catalog by configuration, without code: a
// YAML or JSON document (a file, or a ConfigMap's `catalog.yaml` key) listing
// instance types. Every mistake is reported with the field that holds it.
//
//   instanceTypes:
//     - name: trn1.32xlarge          # known: only the fields given change
//       onDemandPricePerHour: "20.00"
//     - name: p6-b200.48xlarge       # a price the built-in catalog has, replaced
//       spotPricePerHour: "60.00"
//     - name: p6e-gb300.36xlarge     # new: cloud, accelerator, devices required
//       cloud: aws
//       accelerator: nvidia-gb300
//       devices: 4
//       architecture: arm64          # default amd64
//       domainLabel: nvidia.com/gpu.clique   # absent: no NVLink domain or UltraServer (topology does not apply)

import { readFile } from "node:fs/promises";
import { parse } from "yaml";
import { Catalog, type CatalogEntry } from "./catalog.ts";
import { ACCELERATOR_TYPES, ARCHITECTURES, CLOUDS, DOMAIN_LABELS, deviceResourceOf } from "./instance-types.ts";
import { parsePrice } from "./money.ts";

const KNOWN_FIELDS = new Set([
  "name",
  "cloud",
  "accelerator",
  "devices",
  "neuronCores",
  "acceleratorMemoryGiB",
  "fabric",
  "vcpu",
  "memoryGiB",
  "architecture",
  "domainLabel",
  "onDemandPricePerHour",
  "spotPricePerHour",
]);

/** A catalog configuration that does not validate; `errors` name each field. */
export class CatalogConfigError extends Error {
  readonly errors: readonly string[];
  constructor(source: string, errors: readonly string[]) {
    super(`catalog configuration ${source} is invalid:\n  ${errors.join("\n  ")}`);
    this.name = "CatalogConfigError";
    this.errors = errors;
  }
}

type Raw = Record<string, unknown>;

class Checker {
  readonly errors: string[] = [];
  readonly raw: Raw;
  readonly at: string;
  constructor(raw: Raw, at: string) {
    this.raw = raw;
    this.at = at;
  }

  fail(field: string, message: string): undefined {
    this.errors.push(`${this.at}.${field}: ${message}`);
    return undefined;
  }

  oneOf<T extends string>(field: string, allowed: readonly T[]): T | undefined {
    const v = this.raw[field];
    if (v === undefined) return undefined;
    if (typeof v === "string" && (allowed as readonly string[]).includes(v)) return v as T;
    return this.fail(field, `must be one of ${allowed.join(", ")}, got ${JSON.stringify(v)}`);
  }

  count(field: string, min: number): number | undefined {
    const v = this.raw[field];
    if (v === undefined) return undefined;
    if (typeof v === "number" && Number.isInteger(v) && v >= min) return v;
    return this.fail(field, `must be a whole number >= ${min}, got ${JSON.stringify(v)}`);
  }

  price(field: string): string | undefined {
    const v = this.raw[field];
    if (v === undefined) return undefined;
    const parsed = parsePrice(typeof v === "number" ? String(v) : String(v ?? ""));
    if (typeof v === "string" && parsed.ok) return v;
    return this.fail(field, parsed.ok ? `write it as a string, e.g. "${v}"` : parsed.reason);
  }
}

function fabricOf(c: Checker): CatalogEntry["fabric"] {
  const v = c.raw.fabric;
  if (v === undefined) return undefined;
  const f = v as Raw;
  if (typeof f !== "object" || f === null || typeof f.resource !== "string" || !Number.isInteger(f.count)) {
    return c.fail("fabric", `must be {resource: string, count: integer}, got ${JSON.stringify(v)}`);
  }
  return { resource: f.resource, count: f.count as number };
}

function fieldsOf(c: Checker): Partial<CatalogEntry> {
  for (const key of Object.keys(c.raw)) {
    if (!KNOWN_FIELDS.has(key)) c.fail(key, `unknown field; known fields are ${[...KNOWN_FIELDS].join(", ")}`);
  }
  const accelerator = c.oneOf("accelerator", ACCELERATOR_TYPES);
  const fields: Partial<Record<keyof CatalogEntry, unknown>> = {
    cloud: c.oneOf("cloud", CLOUDS),
    accelerator,
    deviceResource: accelerator && deviceResourceOf(accelerator),
    devices: c.count("devices", 1),
    neuronCores: c.count("neuronCores", 1),
    acceleratorMemoryGiB: c.count("acceleratorMemoryGiB", 0),
    fabric: fabricOf(c),
    vcpu: c.count("vcpu", 1),
    memoryGiB: c.count("memoryGiB", 1),
    architecture: c.oneOf("architecture", ARCHITECTURES),
    domainLabel: c.oneOf("domainLabel", DOMAIN_LABELS),
    onDemandPricePerHour: c.price("onDemandPricePerHour"),
    spotPricePerHour: c.price("spotPricePerHour"),
  };
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Partial<CatalogEntry>;
}

function entryOf(raw: unknown, at: string, base: Catalog, errors: string[]): CatalogEntry | undefined {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    errors.push(`${at}: must be a mapping with at least a name`);
    return undefined;
  }
  const c = new Checker(raw as Raw, at);
  const name = (raw as Raw).name;
  if (typeof name !== "string" || name === "") c.fail("name", "is required: the instance type's name");
  const fields = fieldsOf(c);
  const known = typeof name === "string" ? base.get(name) : undefined;
  if (!known && typeof name === "string" && name !== "") {
    for (const required of ["cloud", "accelerator", "devices"] as const) {
      if (fields[required] === undefined && !c.errors.some((e) => e.startsWith(`${at}.${required}:`))) {
        c.fail(required, `is required for "${name}", which the built-in catalog does not know`);
      }
    }
  }
  errors.push(...c.errors);
  if (c.errors.length > 0) return undefined;
  const defaults = { acceleratorMemoryGiB: 0, vcpu: 0, memoryGiB: 0, architecture: "amd64" };
  return { ...defaults, ...known, ...fields, name } as CatalogEntry;
}

/** Parses a catalog configuration (YAML or JSON) and applies it over `base`. */
export function catalogFromConfig(text: string, source: string, base: Catalog = Catalog.builtIn()): Catalog {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new CatalogConfigError(source, [`not YAML or JSON: ${(err as Error).message.split("\n")[0]}`]);
  }
  const list = (doc as Raw | null)?.instanceTypes;
  if (!Array.isArray(list)) throw new CatalogConfigError(source, ["instanceTypes: must be a list of instance types"]);
  const errors: string[] = [];
  const entries = list.map((raw, i) => entryOf(raw, `instanceTypes[${i}]`, base, errors));
  const names = list.map((raw) => (raw as Raw | null)?.name);
  names.forEach((n, i) => {
    if (typeof n === "string" && names.indexOf(n) !== i)
      errors.push(`instanceTypes[${i}].name: "${n}" is listed twice`);
  });
  if (errors.length > 0) throw new CatalogConfigError(source, errors);
  return base.withEntries(entries as CatalogEntry[]);
}

/** The key of a ConfigMap that holds the catalog configuration. */
export const CATALOG_CONFIGMAP_KEY = "catalog.yaml";

/** The catalog from a ConfigMap's data (`catalog.yaml`); the built-in one when the key is absent. */
export function catalogFromConfigMap(data: Readonly<Record<string, string>> | undefined, name: string): Catalog {
  const text = data?.[CATALOG_CONFIGMAP_KEY];
  return text === undefined
    ? Catalog.builtIn()
    : catalogFromConfig(text, `ConfigMap ${name} key ${CATALOG_CONFIGMAP_KEY}`);
}

/** The catalog from a file (YAML or JSON). */
export async function loadCatalogFile(path: string): Promise<Catalog> {
  return catalogFromConfig(await readFile(path, "utf8"), path);
}
