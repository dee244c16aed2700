// Extending and overriding the catalog by configuration: YAML or JSON, from
// a file or a ConfigMap, with errors that name the field.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Catalog } from "../../src/catalog/catalog.ts";
import { CatalogConfigError, catalogFromConfig, catalogFromConfigMap } from "../../src/catalog/config.ts";
import { INSTANCE_TYPES, instanceType } from "../../src/catalog/instance-types.ts";

describe("catalogFromConfig", () => {
  it("overrides a known type's price and keeps its other facts", () => {
    const c = catalogFromConfig('instanceTypes:\n  - name: trn1.32xlarge\n    onDemandPricePerHour: "20.00"\n', "t");
    assert.equal(c.get("trn1.32xlarge")?.onDemandPricePerHour, "20.00");
    assert.equal(c.get("trn1.32xlarge")?.devices, 16);
    assert.equal(Catalog.builtIn().get("trn1.32xlarge")?.onDemandPricePerHour, "21.50", "built-in untouched");
  });

  it("adds a new type from JSON, deriving the device resource", () => {
    const json = JSON.stringify({
      instanceTypes: [
        { name: "p6.48xlarge", cloud: "aws", accelerator: "nvidia-h200", devices: 8, spotPricePerHour: "30.10" },
      ],
    });
    const e = catalogFromConfig(json, "t").get("p6.48xlarge");
    assert.equal(e?.deviceResource, "nvidia.com/gpu");
    assert.equal(e?.spotPricePerHour, "30.10");
  });

  const bad: [string, string, RegExp][] = [
    ["not a list", "instanceTypes: 3", /instanceTypes: must be a list/],
    ["new type missing facts", "instanceTypes:\n  - name: x1\n", /instanceTypes\[0\]\.cloud: is required for "x1"/],
    [
      "bad accelerator",
      "instanceTypes:\n  - name: trn1.32xlarge\n    accelerator: tpu\n",
      /instanceTypes\[0\]\.accelerator: must be one of trainium1/,
    ],
    [
      "bad devices",
      "instanceTypes:\n  - name: trn1.32xlarge\n    devices: 0\n",
      /instanceTypes\[0\]\.devices: must be a whole number >= 1, got 0/,
    ],
    [
      "price as number",
      "instanceTypes:\n  - name: trn1.32xlarge\n    onDemandPricePerHour: 21.5\n",
      /onDemandPricePerHour: write it as a string/,
    ],
    ["bad price", 'instanceTypes:\n  - name: trn1.32xlarge\n    onDemandPricePerHour: "$21"\n', /is not a price/],
    [
      "typo'd field",
      "instanceTypes:\n  - name: trn1.32xlarge\n    device: 4\n",
      /instanceTypes\[0\]\.device: unknown field/,
    ],
    ["no name", "instanceTypes:\n  - devices: 4\n", /instanceTypes\[0\]\.name: is required/],
    [
      "duplicate",
      "instanceTypes:\n  - name: trn1.32xlarge\n  - name: trn1.32xlarge\n",
      /instanceTypes\[1\]\.name: "trn1.32xlarge" is listed twice/,
    ],
    ["not YAML", "instanceTypes: [", /not YAML or JSON/],
  ];
  for (const [name, text, message] of bad) {
    it(`refuses ${name}, naming the field`, () => {
      assert.throws(
        () => catalogFromConfig(text, "catalog.yaml"),
        (err: unknown) =>
          err instanceof CatalogConfigError && message.test(err.message) && /catalog\.yaml/.test(err.message),
      );
    });
  }

  it("reads a ConfigMap's catalog.yaml, or falls back to the built-in", () => {
    assert.equal(catalogFromConfigMap(undefined, "cm").names().length, INSTANCE_TYPES.size);
    const c = catalogFromConfigMap(
      { "catalog.yaml": 'instanceTypes: [{name: g5.48xlarge, onDemandPricePerHour: "16.29"}]' },
      "cm",
    );
    assert.equal(c.get("g5.48xlarge")?.onDemandPricePerHour, "16.29");
  });

  it("keeps the instance-types exports the sandbox uses", () => {
    assert.equal(instanceType("p5.48xlarge").devices, 8);
    assert.throws(() => instanceType("nope"), /unknown instance type "nope"/);
  });
});
