// crds/, docs/api.md and the hub chart's CRD templates
// (deploy/helm/crosscloud-operator/templates/crds/, scripts/gen-chart.ts) are
// generated from src/api/: this fails when someone changed the schema and
// forgot `npm run gen`, and checks the schema language.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { generatedFiles } from "../../scripts/gen-api.ts";
import { REPO_ROOT } from "../../scripts/sandbox/paths.ts";
import { KINDS } from "../../src/api/crds.ts";
import { array, duration, enumOf, integer, type OpenAPISchema, object, string } from "../../src/api/schema.ts";

describe("generated API files", () => {
  for (const [path, text] of generatedFiles()) {
    it(`${path} is up to date (npm run gen)`, () => {
      assert.equal(readFileSync(join(REPO_ROOT, path), "utf8"), text, `${path} is stale: run npm run gen`);
    });
  }

  it("describes every field of both kinds", () => {
    const missing: string[] = [];
    const walk = (path: string, s: OpenAPISchema) => {
      if (!s.description?.trim()) missing.push(path);
      for (const [k, v] of Object.entries(s.properties ?? {})) walk(`${path}.${k}`, v);
      if (s.items) walk(`${path}[]`, s.items);
      if (s.additionalProperties) walk(`${path}{}`, s.additionalProperties);
    };
    for (const def of KINDS) {
      walk(`${def.kind}.spec`, def.spec);
      walk(`${def.kind}.status`, def.status);
    }
    assert.deepEqual(missing, []);
  });
});

describe("schema builders", () => {
  const cases: { name: string; schema: { openapi: OpenAPISchema }; want: Partial<OpenAPISchema> }[] = [
    {
      name: "string with limits",
      schema: string("d", { minLength: 1, maxLength: 5 }),
      want: { type: "string", minLength: 1, maxLength: 5 },
    },
    {
      name: "integer with default",
      schema: integer("d", { minimum: 1, default: 3 }),
      want: { type: "integer", minimum: 1, default: 3 },
    },
    {
      name: "enum",
      schema: enumOf("d", ["A", "B"], { default: "A" }),
      want: { type: "string", enum: ["A", "B"], default: "A" },
    },
    { name: "duration", schema: duration("d"), want: { type: "string", pattern: "^([0-9]+(ms|s|m|h))+$" } },
    {
      name: "set of strings",
      schema: array("d", string("e"), { listType: "set", minItems: 1 }),
      want: {
        type: "array",
        minItems: 1,
        "x-kubernetes-list-type": "set",
        items: { type: "string", description: "e" },
      },
    },
    {
      name: "object with required keys and a rule",
      schema: object("d", { a: string("a") }, { required: ["a"], rules: [{ rule: "true", message: "m" }] }),
      want: {
        type: "object",
        required: ["a"],
        properties: { a: { type: "string", description: "a" } },
        "x-kubernetes-validations": [{ rule: "true", message: "m" }],
      },
    },
  ];
  for (const tc of cases) {
    it(`renders ${tc.name}`, () => {
      assert.deepEqual(tc.schema.openapi, { description: "d", ...tc.want });
    });
  }

  it("accepts the durations API.md uses and refuses others", () => {
    const pattern = new RegExp(duration("d").openapi.pattern ?? "");
    for (const ok of ["90s", "15m", "2h", "1h30m", "500ms"]) assert.match(ok, pattern);
    for (const bad of ["60", "1d", "-5s", "1.5h", ""]) assert.doesNotMatch(bad, pattern);
  });
});
