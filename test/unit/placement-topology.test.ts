// placeJob with spec.placement.topology: GB200 NVLink cliques and Trn2
// UltraServers counted per domain (Required: one domain, best fit; Preferred:
// the fewest domains, largest first; None: domains ignored), no scale-up into
// a domain, and the reason naming the chosen domain.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { placeJob } from "../../src/placement/index.ts";
import type {
  ClusterSnapshot,
  DomainSnapshot,
  NodeGroupSnapshot,
  PlacementOutcome,
  PlacementRequest,
  RejectionReason,
  Topology,
} from "../../src/placement/types.ts";
import { aCluster, aGroup, aJob, ndh100 } from "../support/builders.ts";

const CLIQUE = "nvidia.com/gpu.clique";
const ULTRASERVER = "neuron.amazonaws.com/ultraserver-server-id-4";

/** A domain of `nodes` ready nodes, `free` of them free. */
const domain = (key: string, name: string, nodes: number, free: number): DomainSnapshot => ({
  key,
  name,
  nodes,
  readyNodes: nodes,
  freeNodes: free,
});

/** A GB200 group (p6e-gb200.36xlarge, 4 GPUs per node) made of `cliques`, that could grow to 72 nodes. */
function gb200(cliques: readonly [name: string, nodes: number, free: number][]): NodeGroupSnapshot {
  const nodes = cliques.reduce((n, [, size]) => n + size, 0);
  const free = cliques.reduce((n, [, , f]) => n + f, 0);
  const g = aGroup("gb200").instance("p6e-gb200.36xlarge", "nvidia-gb200", 4).price("100.00").nodes(nodes, free);
  return { ...g.max(72).obj(), domains: cliques.map(([name, size, f]) => domain(CLIQUE, name, size, f)) };
}

const gbJob = (replicas: number, topology?: Topology): PlacementRequest => ({
  ...aJob(replicas).accelerator("nvidia-gb200", 4).obj(),
  ...(topology ? { topology } : {}),
});

interface Row {
  readonly name: string;
  readonly request: PlacementRequest;
  readonly snapshot: ClusterSnapshot[];
  readonly outcome: PlacementOutcome;
  /** cluster/group of the winner. */
  readonly winner?: string;
  /** The domains chosen (winner.domains.names); [] for none. */
  readonly domains?: readonly string[];
  readonly rejected?: readonly [RejectionReason, string];
  readonly reasonIncludes?: readonly string[];
}

const aws = (...groups: NodeGroupSnapshot[]) =>
  aCluster("aws-gb")
    .cloud("aws")
    .group(...groups)
    .obj();

const rows: Row[] = [
  {
    name: "a GB200 group none of whose nodes shows its clique yet refuses Required (no scale-up into a domain)",
    request: gbJob(16, "Required"),
    snapshot: [aws(gb200([]))],
    outcome: "InsufficientCapacity",
    rejected: ["InsufficientCapacity", "aws-gb/gb200"],
    reasonIncludes: ["no node of the group shows its domain label yet"],
  },
  {
    name: "the same group places a Preferred job as None does (a scale-up)",
    request: gbJob(16, "Preferred"),
    snapshot: [aws(gb200([]))],
    outcome: "NeedsScaleUp",
    winner: "aws-gb/gb200",
    domains: [],
  },
  {
    name: "a 16-node job fits one 18-node clique (Required)",
    request: gbJob(16, "Required"),
    snapshot: [aws(gb200([["c1", 18, 18]]))],
    outcome: "Placed",
    winner: "aws-gb/gb200",
    domains: ["c1"],
    reasonIncludes: ["chose c1, the only one with 16 free", "topology Required"],
  },
  {
    name: "a 20-node job is refused with Required: larger than any clique",
    request: gbJob(20, "Required"),
    snapshot: [
      aws(
        gb200([
          ["c1", 18, 18],
          ["c2", 18, 18],
        ]),
      ),
    ],
    outcome: "InsufficientCapacity",
    rejected: ["LargerThanDomain", "aws-gb/gb200"],
    reasonIncludes: ["needs 20 nodes in one NVLink clique (topology Required), the largest (c1) has 18 nodes"],
  },
  {
    name: "the same 20-node job is spread over 2 cliques with Preferred, largest first",
    request: gbJob(20, "Preferred"),
    snapshot: [
      aws(
        gb200([
          ["c1", 18, 12],
          ["c2", 18, 18],
          ["c3", 18, 4],
        ]),
      ),
    ],
    outcome: "Placed",
    winner: "aws-gb/gb200",
    domains: ["c2", "c1"],
    reasonIncludes: ["spread over 2, the fewest that hold them, largest first: c2 (18), c1 (12)"],
  },
  {
    name: "Required picks the best-fitting clique and names why",
    request: gbJob(16, "Required"),
    snapshot: [
      aws(
        gb200([
          ["x", 18, 18],
          ["y", 18, 12],
          ["z", 18, 16],
        ]),
      ),
    ],
    outcome: "Placed",
    winner: "aws-gb/gb200",
    domains: ["z"],
    reasonIncludes: [
      "NVLink clique x has 18 free nodes, z 16, y 12: chose z, the best fit (the fewest free nodes that hold 16; 2 could)",
    ],
  },
  {
    name: "Required with the free nodes split over cliques: not placed, and no scale-up",
    request: gbJob(16, "Required"),
    snapshot: [
      aws(
        gb200([
          ["x", 18, 10],
          ["y", 18, 10],
        ]),
      ),
    ],
    outcome: "InsufficientCapacity",
    rejected: ["InsufficientCapacity", "aws-gb/gb200"],
    reasonIncludes: ["needs 16 free nodes in one NVLink clique", "does not grow a node group"],
  },
  {
    name: "Preferred puts a job that fits one clique into the best-fitting one",
    request: gbJob(8, "Preferred"),
    snapshot: [
      aws(
        gb200([
          ["x", 18, 18],
          ["y", 18, 9],
        ]),
      ),
    ],
    outcome: "Placed",
    domains: ["y"],
  },
  {
    name: "a Trn2 UltraServer domain of 4 takes a 4-replica job",
    request: { ...aJob(4).accelerator("trainium2", 16).obj(), topology: "Required" },
    snapshot: [
      aws({
        ...aGroup("trn2u").instance("trn2u.48xlarge", "trainium2", 16).price(undefined).nodes(8, 6).obj(),
        domains: [domain(ULTRASERVER, "us-a", 4, 2), domain(ULTRASERVER, "us-b", 4, 4)],
      }),
    ],
    outcome: "Placed",
    winner: "aws-gb/trn2u",
    domains: ["us-b"],
    reasonIncludes: ["UltraServer us-b has 4 free nodes, us-a 2: chose us-b, the only one with 4 free"],
  },
  {
    name: "None ignores domains: the group's free nodes count, across cliques",
    request: gbJob(16),
    snapshot: [
      aws(
        gb200([
          ["x", 18, 10],
          ["y", 18, 10],
        ]),
      ),
    ],
    outcome: "Placed",
    winner: "aws-gb/gb200",
    domains: [],
  },
  {
    name: "None on a group without free nodes may scale up, as before",
    request: gbJob(16, "None"),
    snapshot: [aws(gb200([["x", 18, 0]]))],
    outcome: "NeedsScaleUp",
    domains: [],
  },
  {
    name: "Required on a group without domains (H100) places as before",
    request: { ...aJob(4).accelerator("nvidia-h100", 8).obj(), topology: "Required" },
    snapshot: [aCluster("azure-sim").group(ndh100()).obj()],
    outcome: "Placed",
    winner: "azure-sim/ndh100",
    domains: [],
  },
  {
    name: "a GB200 job with an H100 fallback: the clique is full, the H100 pool takes it",
    request: { ...aJob(18).accelerator("nvidia-gb200", 4).accelerator("nvidia-h100", 4).obj(), topology: "Required" },
    snapshot: [aws(gb200([["c1", 18, 10]])), aCluster("azure-sim").group(ndh100().nodes(18).max(18)).obj()],
    outcome: "Placed",
    winner: "azure-sim/ndh100",
    domains: [],
    rejected: ["InsufficientCapacity", "aws-gb/gb200"],
  },
];

describe("placement topology", () => {
  for (const row of rows) {
    it(row.name, () => {
      const d = placeJob(row.request, row.snapshot);
      assert.equal(d.outcome, row.outcome, d.reason);
      if (row.winner) assert.equal(`${d.winner?.cluster}/${d.winner?.nodeGroup}`, row.winner);
      if (row.domains) assert.deepEqual(d.winner?.domains?.names ?? [], row.domains, d.reason);
      if (row.rejected) {
        const [reason, where] = row.rejected;
        const hit = d.rejected.find((r) => r.reason === reason && `${r.cluster}/${r.nodeGroup}` === where);
        assert.ok(hit, `expected ${reason} for ${where}, got ${JSON.stringify(d.rejected)}`);
      }
      const text = [d.reason, ...d.explanations].join("\n");
      for (const s of row.reasonIncludes ?? []) assert.ok(text.includes(s), `"${s}" not in:\n${text}`);
    });
  }

  it("the winner's domain key is the domains' label, for the render", () => {
    const d = placeJob(gbJob(16, "Required"), [aws(gb200([["c1", 18, 18]]))]);
    assert.deepEqual(d.winner?.domains, { key: CLIQUE, names: ["c1"] });
    assert.equal(d.winner?.fit, "Now");
  });

  it("is pure: the same inputs give the same decision, whatever the order of the domains", () => {
    const a = gb200([
      ["x", 18, 16],
      ["y", 18, 16],
    ]);
    const b = { ...a, domains: [...(a.domains ?? [])].reverse() };
    assert.deepEqual(placeJob(gbJob(16, "Required"), [aws(a)]), placeJob(gbJob(16, "Required"), [aws(a)]));
    assert.deepEqual(
      placeJob(gbJob(16, "Required"), [aws(a)]).winner?.domains,
      placeJob(gbJob(16, "Required"), [aws(b)]).winner?.domains,
    );
  });
});
