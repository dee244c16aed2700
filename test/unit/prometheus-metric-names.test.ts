// Every PromQL expression the chart ships (the alerts in
// files/prometheus-rules.yaml, every panel of files/grafana-dashboard.json)
// names only metrics the operator exports. The exported names come from the
// registry built as the operator builds it (src/main.ts and src/operator.ts:
// runtime, replication, failover and job metrics), not from grepping the source.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Registry } from "prom-client";
import { parse } from "yaml";
import { REPO_ROOT } from "../../scripts/sandbox/paths.ts";
import { replicationMetrics } from "../../src/checkpoint/metrics.ts";
import { failoverMetrics, jobMetrics } from "../../src/controller/trainingjob/failover-metrics.ts";
import { makeRuntimeMetrics } from "../../src/runtime/metrics.ts";

const CHART_FILES = join(REPO_ROOT, "deploy", "helm", "crosscloud-operator", "files");

/** PromQL's functions and aggregations: an identifier followed by "(" must be one. */
const FUNCTIONS = new Set([
  ...["abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh", "avg_over_time"],
  ...["ceil", "changes", "clamp", "clamp_max", "clamp_min", "cos", "cosh", "count_over_time", "day_of_month"],
  ...["day_of_week", "day_of_year", "days_in_month", "deg", "delta", "deriv", "double_exponential_smoothing", "exp"],
  ...["floor", "histogram_avg", "histogram_count", "histogram_fraction", "histogram_quantile", "histogram_stddev"],
  ...["histogram_stdvar", "histogram_sum", "hour", "idelta", "increase", "info", "irate", "label_join"],
  ...["label_replace", "last_over_time", "ln", "log10", "log2", "mad_over_time", "max_over_time", "min_over_time"],
  ...["minute", "month", "pi", "predict_linear", "present_over_time", "quantile_over_time", "rad", "rate", "resets"],
  ...["round", "scalar", "sgn", "sin", "sinh", "sort", "sort_by_label", "sort_by_label_desc", "sort_desc", "sqrt"],
  ...["stddev_over_time", "stdvar_over_time", "sum_over_time", "tan", "tanh", "time", "timestamp", "vector", "year"],
  ...["sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk"],
  ...["quantile", "limitk", "limit_ratio"],
]);
/** Keywords; the label lists after the first six are label names, not metrics. */
const LABEL_LISTS = new Set(["by", "without", "on", "ignoring", "group_left", "group_right"]);
const KEYWORDS = new Set([
  ...LABEL_LISTS,
  "offset",
  "bool",
  "and",
  "or",
  "unless",
  "atan2",
  "inf",
  "nan",
  "start",
  "end",
]);

/**
 * The metric names an expression selects: identifiers outside label matchers ({...}), ranges
 * ([...]), strings and the label lists of by/without/on/ignoring/group_*, that are not keywords,
 * numbers, durations or Grafana variables ($x, ${x}). Throws on a call of an unknown function.
 */
export function metricNames(expr: string): string[] {
  const names = new Set<string>();
  const src = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""').replace(/#[^\n]*/g, "");
  const tokens = src.match(/\$\{[^}]*\}|\$?[A-Za-z_:][A-Za-z0-9_:]*|\d[\w.]*|[{}()[\],]|[^\s\w]/g) ?? [];
  let braces = 0;
  let brackets = 0;
  let labelList = false;
  let depth = 0;
  let listDepth = -1;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i] ?? "";
    if (t === "{") braces++;
    else if (t === "}") braces--;
    else if (t === "[") brackets++;
    else if (t === "]") brackets--;
    else if (t === "(") {
      depth++;
      if (labelList && listDepth < 0) listDepth = depth;
    } else if (t === ")") {
      if (depth === listDepth) {
        labelList = false;
        listDepth = -1;
      }
      depth--;
    }
    if (braces > 0 || brackets > 0 || listDepth >= 0 || !/^[A-Za-z_:]/.test(t)) continue;
    if (LABEL_LISTS.has(t)) {
      labelList = tokens[i + 1] === "(";
      continue;
    }
    if (KEYWORDS.has(t)) continue;
    // An aggregation's grouping may come first: sum by (le) (...).
    if (FUNCTIONS.has(t) && (tokens[i + 1] === "by" || tokens[i + 1] === "without")) continue;
    if (tokens[i + 1] === "(") {
      if (!FUNCTIONS.has(t)) throw new Error(`unknown PromQL function ${t}() in: ${expr}`);
      continue;
    }
    names.add(t);
  }
  return [...names].sort();
}

/** The names a scrape of the operator shows: a histogram's as _bucket, _sum and _count. */
async function exportedNames(): Promise<Set<string>> {
  const registry = new Registry();
  makeRuntimeMetrics(registry); // src/main.ts
  replicationMetrics(registry); // src/operator.ts, from here on
  failoverMetrics(registry);
  jobMetrics(registry);
  const names = new Set<string>();
  for (const m of await registry.getMetricsAsJSON()) {
    const type = String(m.type);
    if (type === "histogram") for (const s of ["_bucket", "_sum", "_count"]) names.add(`${m.name}${s}`);
    else if (type === "summary") for (const s of ["", "_sum", "_count"]) names.add(`${m.name}${s}`);
    else names.add(m.name);
  }
  return names;
}

/** Each expression the chart ships, with where it is. */
function shippedExpressions(): { where: string; expr: string }[] {
  const rules = parse(readFileSync(join(CHART_FILES, "prometheus-rules.yaml"), "utf8")) as {
    groups: { name: string; rules: { alert?: string; record?: string; expr: string }[] }[];
  };
  const out = rules.groups.flatMap((g) =>
    g.rules.map((r) => ({ where: `rule ${g.name}/${r.alert ?? r.record}`, expr: String(r.expr) })),
  );
  type Panel = { title?: string; targets?: { expr?: string }[]; panels?: Panel[] };
  const dashboard = JSON.parse(readFileSync(join(CHART_FILES, "grafana-dashboard.json"), "utf8")) as Panel;
  const walk = (p: Panel): void => {
    for (const t of p.targets ?? []) if (t.expr) out.push({ where: `panel "${p.title}"`, expr: t.expr });
    for (const child of p.panels ?? []) walk(child);
  };
  walk(dashboard);
  return out;
}

/** The expressions that name a metric not in `exported`, with those names. */
function unknownMetrics(exprs: readonly { where: string; expr: string }[], exported: ReadonlySet<string>) {
  return exprs.flatMap(({ where, expr }) => {
    const unknown = metricNames(expr).filter((n) => !exported.has(n));
    return unknown.length > 0 ? [`${where}: ${unknown.join(", ")}`] : [];
  });
}

describe("metricNames", () => {
  const cases: { expr: string; want: string[] }[] = [
    { expr: "crosscloud_leader", want: ["crosscloud_leader"] },
    { expr: 'absent(crosscloud_leader{namespace="x"})', want: ["crosscloud_leader"] },
    {
      expr: "histogram_quantile(0.99, sum by (controller, le) (rate(crosscloud_reconcile_duration_seconds_bucket[$__rate_interval])))",
      want: ["crosscloud_reconcile_duration_seconds_bucket"],
    },
    { expr: "sum(rate(a_total[5m])) by (le, name)", want: ["a_total"] },
    {
      expr: "max by (namespace, name, destination) (lag) > ignoring (destination) group_left () max by (namespace, name) (interval)",
      want: ["interval", "lag"],
    },
    { expr: 'x{phase="Failed"} unless x{phase="Failed"} offset 15m', want: ["x"] },
    { expr: 'a - ignoring(le) b{le="1800"} > bool 0 or on(cluster) c', want: ["a", "b", "c"] },
    { expr: 'count_values("v", job:up:sum) * 1e3 + inf', want: ["job:up:sum"] },
    { expr: ["rate(m[$", "{window}]) / on() group_right (pod) n"].join(""), want: ["m", "n"] }, // ${window}
  ];
  for (const c of cases) it(c.expr, () => assert.deepEqual(metricNames(c.expr), c.want));

  it("refuses a call of a function PromQL does not have", () => {
    assert.throws(() => metricNames("rat(crosscloud_leader[5m])"), /unknown PromQL function rat\(\)/);
  });
});

describe("the chart's expressions name only exported metrics", () => {
  it("the exported names include what the alerts need, histograms by their series", async () => {
    const exported = await exportedNames();
    for (const name of [
      "crosscloud_leader",
      "crosscloud_computecluster_reachable",
      "crosscloud_scaleups_total",
      "crosscloud_trainingjobs_finished_total",
      "crosscloud_checkpoint_job_interval_seconds",
      "crosscloud_placement_duration_seconds_bucket",
      "process_cpu_seconds_total",
    ])
      assert.ok(exported.has(name), name);
    assert.ok(!exported.has("crosscloud_placement_duration_seconds"), "a histogram has no bare series");
  });

  it("every alert and every dashboard panel", async () => {
    const exprs = shippedExpressions();
    assert.ok(exprs.filter((e) => e.where.startsWith("rule")).length >= 8, "the alerts were read");
    assert.ok(exprs.filter((e) => e.where.startsWith("panel")).length >= 20, "the panels' targets were read");
    assert.deepEqual(unknownMetrics(exprs, await exportedNames()), []);
  });

  const unknown: { name: string; expr: string; want: string[] }[] = [
    {
      name: "a typo",
      expr: "sum by (phase) (crosscloud_trainingjob)",
      want: ['panel "t": crosscloud_trainingjob'],
    },
    {
      name: "a histogram's bare name",
      expr: "rate(crosscloud_placement_duration_seconds[5m])",
      want: ['panel "t": crosscloud_placement_duration_seconds'],
    },
    {
      name: "a counter without _total",
      expr: "increase(crosscloud_failovers[15m]) > 0 or crosscloud_leader",
      want: ['panel "t": crosscloud_failovers'],
    },
    { name: "a metric the operator does not export", expr: "up == 0", want: ['panel "t": up'] },
    {
      name: "only exported metrics",
      expr: "max by (pod) (crosscloud_leader) + on(pod) nodejs_heap_size_total_bytes",
      want: [],
    },
  ];
  for (const c of unknown) {
    it(`reports ${c.name}`, async () => {
      assert.deepEqual(unknownMetrics([{ where: 'panel "t"', expr: c.expr }], await exportedNames()), c.want);
    });
  }
});

describe("the Grafana dashboard", () => {
  type Panel = {
    id: number;
    type: string;
    title: string;
    gridPos: { x: number; y: number; w: number; h: number };
    datasource?: { type: string; uid: string };
    targets?: { datasource?: { uid: string }; expr?: string }[];
  };
  const dashboard = JSON.parse(readFileSync(join(CHART_FILES, "grafana-dashboard.json"), "utf8")) as {
    uid: string;
    schemaVersion: number;
    templating: { list: { name: string; type: string; query: string }[] };
    panels: Panel[];
  };

  /** Grafana's reference to the datasource variable. */
  const VARIABLE = ["$", "{datasource}"].join("");

  it("reads Prometheus through its datasource variable, in every panel and target", () => {
    assert.ok(dashboard.schemaVersion >= 41, "a current schema version");
    assert.deepEqual(
      dashboard.templating.list.map((v) => [v.name, v.type, v.query]),
      [["datasource", "datasource", "prometheus"]],
    );
    for (const p of dashboard.panels.filter((x) => x.type !== "row")) {
      assert.deepEqual(p.datasource, { type: "prometheus", uid: VARIABLE }, p.title);
      assert.ok((p.targets ?? []).length > 0, `${p.title} has targets`);
      for (const t of p.targets ?? []) assert.equal(t.datasource?.uid, VARIABLE, p.title);
    }
  });

  it("has unique panel ids and no two panels on the same cells of its 24-column grid", () => {
    const ids = dashboard.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length);
    const taken = new Map<string, string>();
    for (const p of dashboard.panels) {
      const { x, y, w, h } = p.gridPos;
      assert.ok(x >= 0 && w > 0 && x + w <= 24, `${p.title} fits the width`);
      for (let i = x; i < x + w; i++)
        for (let j = y; j < y + h; j++) {
          const other = taken.get(`${i},${j}`);
          assert.equal(other, undefined, `${p.title} overlaps ${other}`);
          taken.set(`${i},${j}`, p.title);
        }
    }
  });

  it("shows what the issue asks for", () => {
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? "")).join("\n");
    for (const metric of [
      "crosscloud_trainingjobs", // jobs by phase and cloud
      "crosscloud_placement_duration_seconds_bucket",
      "crosscloud_checkpoint_replication_lag_seconds_bucket",
      "crosscloud_checkpoint_bytes_written_total",
      "crosscloud_checkpoint_bytes_read_total",
      "crosscloud_failovers_total",
      "crosscloud_failover_lost_work_seconds_bucket",
      "crosscloud_api_requests_total",
      "crosscloud_reconcile_errors_total",
      "crosscloud_reconcile_duration_seconds_bucket",
      "crosscloud_workqueue_depth",
      "crosscloud_leader",
      "crosscloud_computecluster_reachable",
    ])
      assert.match(exprs, new RegExp(`\\b${metric}\\b`), metric);
    assert.match(exprs, /sum by \(cloud\) \(crosscloud_trainingjobs/);
    assert.match(exprs, /sum by \(verb\) \(rate\(crosscloud_api_requests_total/);
  });
});
