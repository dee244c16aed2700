// Prices without float drift, and the order in which a node-hour price is
// resolved: a ComputeCluster's override, then the catalog.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Catalog, parsePriceOverrides } from "../../src/catalog/catalog.ts";
import { formatPrice, micros, parsePrice, priceOrThrow, times } from "../../src/catalog/money.ts";

describe("money", () => {
  const cases: [string, string][] = [
    ["21.50", "21.50"],
    ["21.5", "21.50"],
    ["0", "0.00"],
    ["98.32", "98.32"],
    ["0.125", "0.125"],
    ["3.000001", "3.000001"],
  ];
  for (const [text, formatted] of cases) {
    it(`"${text}" round-trips as "${formatted}"`, () => assert.equal(formatPrice(priceOrThrow(text, "f")), formatted));
  }
  for (const bad of ["", "-1", "1e3", "21,50", "1.1234567", "abc"]) {
    it(`"${bad}" is refused with a hint`, () => {
      const parsed = parsePrice(bad);
      assert.equal(parsed.ok, false);
      assert.match(parsed.ok ? "" : parsed.reason, /decimal string like "21.50"/);
    });
  }
  it("adds and multiplies without float drift (0.1 x 3 = 0.30)", () => {
    assert.equal(formatPrice(times(priceOrThrow("0.1", "f"), 3)), "0.30");
    assert.equal(formatPrice(micros(priceOrThrow("0.1", "f") + priceOrThrow("0.2", "f"))), "0.30");
  });
  it("names the field in errors", () =>
    assert.throws(() => priceOrThrow("x", "spec.prices.p5"), /^Error: spec.prices.p5:/));
});

describe("Catalog.price", () => {
  const p5 = Catalog.builtIn().get("p5.48xlarge");
  assert.ok(p5);
  const catalog = Catalog.builtIn().withEntries([{ ...p5, spotPricePerHour: "20.00" }]);
  const overrides = parsePriceOverrides({ "trn1.32xlarge": "19.99", "p5.48xlarge:Spot": "15.00" });
  assert.ok(overrides.ok);
  const rows: [string, "OnDemand" | "Spot", string | undefined, string | undefined][] = [
    ["trn1.32xlarge", "OnDemand", "19.99", "override"],
    ["trn1.32xlarge", "Spot", "19.99", "override"],
    ["trn2.48xlarge", "OnDemand", "35.76", "catalog"],
    ["p5.48xlarge", "Spot", "15.00", "override"],
    ["p5.48xlarge", "OnDemand", "55.04", "catalog"],
    ["Standard_ND96isr_H100_v5", "Spot", "98.32", "catalog"],
    ["p5e.48xlarge", "OnDemand", undefined, undefined],
    ["unknown.type", "OnDemand", undefined, undefined],
  ];
  for (const [type, capacity, price, source] of rows) {
    it(`${type} ${capacity}: ${price ?? "unknown"} (${source ?? "none"})`, () => {
      const resolved = catalog.price(type, capacity, overrides.value);
      assert.equal(resolved && formatPrice(resolved.perNodeHour), price);
      assert.equal(resolved?.source, source);
    });
  }
  it("catalog spot price applies without override", () => {
    assert.equal(formatPrice(catalog.price("p5.48xlarge", "Spot")?.perNodeHour ?? micros(0)), "20.00");
  });
  it("bad overrides are reported by field", () => {
    const bad = parsePriceOverrides({ "trn1.32xlarge": "cheap", "p5.48xlarge": "55.04" });
    assert.deepEqual(bad.ok ? [] : bad.errors, [
      'spec.prices["trn1.32xlarge"]: "cheap" is not a price: write dollars as a decimal string like "21.50"',
    ]);
  });
});
