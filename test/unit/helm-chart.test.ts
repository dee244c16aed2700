// The Helm charts without helm (test/integration/helm.test.ts renders, lints and
// installs them): their versions follow package.json, their values.yaml
// validates against their values.schema.json and declares nothing the schema
// lacks, and the hub chart's catalog schema and env knobs match what the
// operator reads (src/catalog/config.ts, docs/operator.md).

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { REPO_ROOT } from "../../scripts/sandbox/paths.ts";
import { CatalogConfigError, catalogFromConfig } from "../../src/catalog/config.ts";
import { ACCELERATOR_TYPES, CLOUDS } from "../../src/catalog/instance-types.ts";

const CHARTS = ["crosscloud-operator", "crosscloud-worker"] as const;
const chartFile = (chart: string, file: string) => readFileSync(join(REPO_ROOT, "deploy/helm", chart, file), "utf8");

interface Schema {
  type?: string | string[];
  properties?: Record<string, Schema>;
  additionalProperties?: boolean | Schema;
  items?: Schema;
  required?: string[];
  enum?: unknown[];
  const?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  pattern?: string;
  if?: Schema;
  then?: Schema;
}

const typeOf = (v: unknown) =>
  v === null ? "null" : Array.isArray(v) ? "array" : Number.isInteger(v) ? "integer" : typeof v;

/** The draft-07 keywords these schemas use, enough to check the charts' own values.yaml. */
function validate(schema: Schema, value: unknown, at = ""): string[] {
  const errors: string[] = [];
  const t = typeOf(value);
  if (schema.type) {
    const types = ([] as string[]).concat(schema.type);
    if (!types.includes(t) && !(t === "integer" && types.includes("number"))) {
      return [`${at || "/"}: ${t} is not ${types.join(" or ")}`];
    }
  }
  if (schema.enum && !schema.enum.includes(value)) errors.push(`${at}: ${String(value)} is not one of the enum`);
  if ("const" in schema && schema.const !== value) errors.push(`${at}: not ${String(schema.const)}`);
  if (typeof value === "number") {
    if (schema.minimum !== undefined && value < schema.minimum) errors.push(`${at}: below ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) errors.push(`${at}: above ${schema.maximum}`);
  }
  if (typeof value === "string") {
    if (schema.minLength !== undefined && value.length < schema.minLength) errors.push(`${at}: too short`);
    if (schema.pattern && !new RegExp(schema.pattern, "u").test(value)) errors.push(`${at}: does not match`);
  }
  if (t === "object") {
    const obj = value as Record<string, unknown>;
    for (const key of schema.required ?? []) if (!(key in obj)) errors.push(`${at}/${key}: required`);
    for (const [key, inner] of Object.entries(obj)) {
      const sub = schema.properties?.[key];
      if (sub) errors.push(...validate(sub, inner, `${at}/${key}`));
      else if (schema.additionalProperties === false) errors.push(`${at}/${key}: not in the schema`);
      else if (typeof schema.additionalProperties === "object")
        errors.push(...validate(schema.additionalProperties, inner, `${at}/${key}`));
    }
  }
  if (t === "array" && schema.items) {
    (value as unknown[]).forEach((item, i) => {
      errors.push(...validate(schema.items as Schema, item, `${at}/${i}`));
    });
  }
  if (schema.if && schema.then && validate(schema.if, value, at).length === 0)
    errors.push(...validate(schema.then, value, at));
  return errors;
}

/** Every object of a schema that does not close its properties, by path: each must be a map or a Kubernetes type. */
function openObjects(schema: Schema, at = ""): string[] {
  const out: string[] = [];
  if (schema.type === "object" && schema.properties && schema.additionalProperties !== false) out.push(at);
  for (const [key, inner] of Object.entries(schema.properties ?? {})) out.push(...openObjects(inner, `${at}/${key}`));
  if (schema.items) out.push(...openObjects(schema.items, `${at}[]`));
  return out;
}

describe("Helm charts", () => {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string };

  for (const chart of CHARTS) {
    const schema = JSON.parse(chartFile(chart, "values.schema.json")) as Schema & { $schema: string };
    const values = parse(chartFile(chart, "values.yaml")) as unknown;

    it(`${chart}: version and appVersion are package.json's`, () => {
      const meta = parse(chartFile(chart, "Chart.yaml")) as { version: string; appVersion: string; name: string };
      assert.equal(meta.name, chart);
      assert.equal(meta.version, pkg.version);
      assert.equal(meta.appVersion, pkg.version);
    });

    it(`${chart}: values.yaml meets values.schema.json (draft-07), which closes every level users edit`, () => {
      assert.equal(schema.$schema, "http://json-schema.org/draft-07/schema#");
      assert.deepEqual(validate(schema, values), []);
      assert.deepEqual(openObjects(schema), []);
    });

    it(`${chart}: the schema refuses a misspelt key at each level of values.yaml`, () => {
      const walk = (v: unknown, path: string[]): string[][] =>
        typeOf(v) === "object"
          ? [path, ...Object.entries(v as object).flatMap(([k, inner]) => walk(inner, [...path, k]))]
          : [];
      const misspelt: string[] = [];
      for (const path of walk(values, [])) {
        // Free-form maps (labels, annotations, nodeSelector, Kubernetes types) take any key.
        const s = path.reduce<Schema | undefined>((acc, k) => acc?.properties?.[k], schema);
        if (!s?.properties) continue;
        const copy = structuredClone(values) as Record<string, unknown>;
        const target = path.reduce<Record<string, unknown>>((o, k) => o[k] as Record<string, unknown>, copy);
        target.typo = true;
        if (validate(schema, copy).length === 0) misspelt.push(`/${path.join("/")}`);
      }
      assert.deepEqual(misspelt, []);
    });
  }

  const hubSchema = JSON.parse(chartFile("crosscloud-operator", "values.schema.json")) as Schema;
  const instanceType = hubSchema.properties?.catalog?.properties?.instanceTypes?.items as Schema;

  it("crosscloud-operator: the catalog schema has the fields and values src/catalog/config.ts reads", () => {
    let known: string[] = [];
    try {
      catalogFromConfig("instanceTypes: [{name: trn1.32xlarge, notAField: 1}]", "test");
      assert.fail("an unknown field was accepted");
    } catch (err) {
      assert.ok(err instanceof CatalogConfigError);
      const listed = /known fields are ([^\n]+)/.exec(err.message)?.[1] ?? "";
      known = listed.split(", ").map((f) => f.trim());
    }
    assert.deepEqual(Object.keys(instanceType.properties ?? {}).sort(), known.sort());
    assert.deepEqual(instanceType.properties?.cloud?.enum, [...CLOUDS]);
    assert.deepEqual(instanceType.properties?.accelerator?.enum, [...ACCELERATOR_TYPES]);
  });

  it("crosscloud-operator: a catalog the schema accepts is one the operator reads", () => {
    const entries = [
      { name: "trn1.32xlarge", onDemandPricePerHour: "20.00" },
      { name: "p6-b200.48xlarge", cloud: "aws", accelerator: "nvidia-h200", devices: 8, spotPricePerHour: "30.10" },
      {
        name: "x.large",
        cloud: "azure",
        accelerator: "nvidia-a100",
        devices: 1,
        fabric: { resource: "rdma/ib", count: 1 },
      },
    ];
    assert.deepEqual(validate(instanceType, entries[0]), []);
    for (const e of entries) assert.deepEqual(validate(instanceType, e), [], JSON.stringify(e));
    const catalog = catalogFromConfig(JSON.stringify({ instanceTypes: entries }), "test");
    assert.equal(catalog.get("p6-b200.48xlarge")?.devices, 8);
    assert.notDeepEqual(validate(instanceType, { name: "trn1.32xlarge", onDemandPricePerHour: 20 }), []);
  });

  it("crosscloud-operator: every env var the chart sets is one the operator documents (docs/operator.md)", () => {
    const docs = readFileSync(join(REPO_ROOT, "docs/operator.md"), "utf8");
    const deployment = chartFile("crosscloud-operator", "templates/deployment.yaml");
    const envs = new Set([...deployment.matchAll(/\b([A-Z][A-Z0-9_]{3,})\b/g)].map((m) => m[1] as string));
    const undocumented = [...envs].filter((e) => !docs.includes(`\`${e}\``) && !docs.includes(`${e}\``));
    assert.deepEqual(undocumented, []);
    // The tuning keys the schema allows are exactly those the template maps to env vars.
    const mapped = [...deployment.matchAll(/^\s+"(\w+)" "([A-Z_]+)"(?: }})?$/gm)].map((m) => m[1]);
    assert.deepEqual(mapped.sort(), Object.keys(hubSchema.properties?.tuning?.properties ?? {}).sort());
  });
});
