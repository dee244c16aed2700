// The newest training hardware in the built-in catalog (CLOUD-FACTS.md, "The
// newest training hardware"): Blackwell GPUs, Trn2 UltraServers and H200 on
// Azure, their architecture and domain label, prices only where published, and
// the catalog configuration's new fields.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Catalog } from "../../src/catalog/catalog.ts";
import { catalogFromConfig } from "../../src/catalog/config.ts";
import {
  ACCELERATOR_TYPES,
  GPU_CLIQUE_LABEL,
  INSTANCE_TYPES,
  type InstanceType,
  instanceType,
  ULTRASERVER_ID_LABEL,
} from "../../src/catalog/instance-types.ts";

type Row = Omit<InstanceType, "deviceResource">;

const GPU = "nvidia.com/gpu";
const efa = (count: number) => ({ resource: "vpc.amazonaws.com/efa", count });
const ib = (count: number) => ({ resource: "rdma/ib", count });

const rows: Row[] = [
  {
    name: "p6-b200.48xlarge",
    cloud: "aws",
    accelerator: "nvidia-b200",
    devices: 8,
    acceleratorMemoryGiB: 1432,
    fabric: efa(8),
    vcpu: 192,
    memoryGiB: 2048,
    architecture: "amd64",
    onDemandPricePerHour: "113.9328",
  },
  {
    name: "p6-b300.48xlarge",
    cloud: "aws",
    accelerator: "nvidia-b300",
    devices: 8,
    acceleratorMemoryGiB: 2152,
    fabric: efa(16),
    vcpu: 192,
    memoryGiB: 4096,
    architecture: "amd64",
    onDemandPricePerHour: "142.416",
  },
  {
    name: "p6e-gb200.36xlarge",
    cloud: "aws",
    accelerator: "nvidia-gb200",
    devices: 4,
    acceleratorMemoryGiB: 740,
    fabric: efa(4),
    vcpu: 144,
    memoryGiB: 960,
    architecture: "arm64",
    domainLabel: "nvidia.com/gpu.clique",
  },
  {
    name: "trn2u.48xlarge",
    cloud: "aws",
    accelerator: "trainium2",
    devices: 16,
    neuronCores: 128,
    acceleratorMemoryGiB: 1536,
    fabric: efa(16),
    vcpu: 192,
    memoryGiB: 2048,
    architecture: "amd64",
    domainLabel: "neuron.amazonaws.com/ultraserver-server-id-4",
  },
  {
    name: "Standard_ND96isr_H200_v5",
    cloud: "azure",
    accelerator: "nvidia-h200",
    devices: 8,
    acceleratorMemoryGiB: 1128,
    fabric: ib(8),
    vcpu: 96,
    memoryGiB: 1850,
    architecture: "amd64",
  },
  {
    name: "Standard_ND128isr_NDR_GB200_v6",
    cloud: "azure",
    accelerator: "nvidia-gb200",
    devices: 4,
    acceleratorMemoryGiB: 768,
    fabric: ib(4),
    vcpu: 128,
    memoryGiB: 900,
    architecture: "arm64",
    domainLabel: "nvidia.com/gpu.clique",
  },
  {
    name: "Standard_ND128isr_GB300_v6",
    cloud: "azure",
    accelerator: "nvidia-gb300",
    devices: 4,
    acceleratorMemoryGiB: 1152,
    fabric: ib(4),
    vcpu: 128,
    memoryGiB: 864,
    architecture: "arm64",
    domainLabel: "nvidia.com/gpu.clique",
  },
];

describe("built-in catalog: the newest training hardware", () => {
  for (const want of rows) {
    it(`${want.name}: every fact of CLOUD-FACTS.md, nothing more`, () => {
      const deviceResource = want.accelerator.startsWith("trainium") ? "aws.amazon.com/neuron" : GPU;
      assert.deepEqual(instanceType(want.name), { ...want, deviceResource });
    });
  }

  it("lists the accelerator types in API.md's order", () => {
    assert.deepEqual(ACCELERATOR_TYPES, [
      "trainium1",
      "trainium2",
      "nvidia-h100",
      "nvidia-h200",
      "nvidia-b200",
      "nvidia-b300",
      "nvidia-gb200",
      "nvidia-gb300",
      "nvidia-a100",
      "nvidia-a10g",
      "nvidia-l40s",
    ]);
  });

  it("offers every accelerator type on at least one built-in instance type", () => {
    const offered = new Set([...INSTANCE_TYPES.values()].map((t) => t.accelerator));
    assert.deepEqual(
      ACCELERATOR_TYPES.filter((a) => !offered.has(a)),
      [],
    );
  });

  it("runs arm64 on the Grace types only", () => {
    const arm = [...INSTANCE_TYPES.values()].filter((t) => t.architecture === "arm64").map((t) => t.name);
    assert.deepEqual(arm.sort(), [
      "Standard_ND128isr_GB300_v6",
      "Standard_ND128isr_NDR_GB200_v6",
      "p6e-gb200.36xlarge",
    ]);
    for (const t of INSTANCE_TYPES.values()) assert.ok(["amd64", "arm64"].includes(t.architecture), t.name);
  });

  it("gives a domain label to the GB200/GB300 types and trn2u only", () => {
    const domains = Object.fromEntries(
      [...INSTANCE_TYPES.values()].filter((t) => t.domainLabel !== undefined).map((t) => [t.name, t.domainLabel]),
    );
    assert.deepEqual(domains, {
      "trn2u.48xlarge": ULTRASERVER_ID_LABEL,
      "p6e-gb200.36xlarge": GPU_CLIQUE_LABEL,
      Standard_ND128isr_NDR_GB200_v6: GPU_CLIQUE_LABEL,
      Standard_ND128isr_GB300_v6: GPU_CLIQUE_LABEL,
    });
  });

  const prices: [string, string | undefined][] = [
    ["p6-b200.48xlarge", "113.9328"],
    ["p6-b300.48xlarge", "142.416"],
    ["p6e-gb200.36xlarge", undefined], // Capacity Blocks only
    ["trn2u.48xlarge", undefined], // not published in the tables read
    ["Standard_ND96isr_H200_v5", undefined], // unconfirmed
    ["Standard_ND128isr_NDR_GB200_v6", undefined], // unconfirmed
    ["Standard_ND128isr_GB300_v6", undefined], // unconfirmed
  ];
  const catalog = Catalog.builtIn();
  for (const [name, price] of prices) {
    it(`${name}: ${price ? `$${price} per node-hour` : "no price, since none is published"}`, () => {
      assert.equal(catalog.get(name)?.onDemandPricePerHour, price);
      const resolved = catalog.price(name, "OnDemand");
      assert.equal(resolved === undefined ? undefined : resolved.source, price ? "catalog" : undefined);
    });
  }

  it("prices a Reserved node at the catalog's on-demand price", () => {
    assert.deepEqual(catalog.price("p6-b200.48xlarge", "Reserved"), catalog.price("p6-b200.48xlarge", "OnDemand"));
  });

  it("offers H200 on both clouds", () => {
    const h200 = [...INSTANCE_TYPES.values()].filter((t) => t.accelerator === "nvidia-h200");
    assert.deepEqual(h200.map((t) => `${t.cloud}/${t.name}`).sort(), [
      "aws/p5e.48xlarge",
      "aws/p5en.48xlarge",
      "azure/Standard_ND96isr_H200_v5",
    ]);
  });
});

describe("catalogFromConfig: architecture and domainLabel", () => {
  it("takes both for a new type, and defaults a new type to amd64", () => {
    const c = catalogFromConfig(
      [
        "instanceTypes:",
        "  - {name: x-gb300, cloud: aws, accelerator: nvidia-gb300, devices: 4, architecture: arm64, domainLabel: nvidia.com/gpu.clique}",
        "  - {name: x-b200, cloud: aws, accelerator: nvidia-b200, devices: 8}",
      ].join("\n"),
      "t",
    );
    assert.equal(c.get("x-gb300")?.architecture, "arm64");
    assert.equal(c.get("x-gb300")?.domainLabel, GPU_CLIQUE_LABEL);
    assert.equal(c.get("x-b200")?.architecture, "amd64");
    assert.equal(c.get("x-b200")?.domainLabel, undefined);
  });

  it("keeps a known type's architecture and domain label when only its price changes", () => {
    const c = catalogFromConfig('instanceTypes:\n  - name: p6e-gb200.36xlarge\n    spotPricePerHour: "50.00"\n', "t");
    assert.equal(c.get("p6e-gb200.36xlarge")?.architecture, "arm64");
    assert.equal(c.get("p6e-gb200.36xlarge")?.domainLabel, GPU_CLIQUE_LABEL);
  });

  const bad: [string, string, RegExp][] = [
    ["architecture", "architecture: x86_64", /instanceTypes\[0\]\.architecture: must be one of amd64, arm64/],
    [
      "domainLabel",
      "domainLabel: topology.kubernetes.io/zone",
      /instanceTypes\[0\]\.domainLabel: must be one of nvidia\.com\/gpu\.clique, neuron\.amazonaws\.com\/ultraserver-server-id-4/,
    ],
  ];
  for (const [field, line, error] of bad) {
    it(`refuses an unknown ${field}, naming the field`, () => {
      assert.throws(() => catalogFromConfig(`instanceTypes:\n  - name: p6-b200.48xlarge\n    ${line}\n`, "t"), error);
    });
  }
});
