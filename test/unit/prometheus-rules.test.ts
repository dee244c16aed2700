// The chart's alerts with Prometheus's own promtool (built from the Go module
// proxy, test/support/tools.ts): the rule file is valid, its unit tests
// (test/prometheus/alerts.test.yaml) pass, and they fail when the lost-work
// threshold differs from the one they were written for; the chart (helm
// template) renders them with its threshold, refuses one that is no bucket
// bound, and renders the dashboard ConfigMap. Also, without the tools:
// the template's threshold bounds are the histogram's buckets, the threshold
// appears only in its alert, and every alert has its severity, text and a
// runbook section in docs/alerts.md.

import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { parse, parseAllDocuments } from "yaml";
import { REPO_ROOT } from "../../scripts/sandbox/paths.ts";
import { LOST_WORK_BUCKETS } from "../../src/controller/trainingjob/failover-metrics.ts";
import { runTool } from "../support/tools.ts";

const CHART = join(REPO_ROOT, "deploy", "helm", "crosscloud-operator");
const RULES = join(CHART, "files", "prometheus-rules.yaml");
const TESTS = join(REPO_ROOT, "test", "prometheus", "alerts.test.yaml");
const DEFAULT_THRESHOLD = 'le="1800"';

interface Rule {
  alert: string;
  expr: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const rules = (text: string) => (parse(text) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);

describe("promtool", () => {
  const dir = mkdtempSync(join(tmpdir(), "prometheus-rules-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("check rules: the file is valid as the chart ships it", () => {
    const r = runTool("promtool", ["check", "rules", RULES]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`SUCCESS: ${rules(readFileSync(RULES, "utf8")).length} rules found`));
  });

  it("test rules: every alert fires where it should and nowhere else", () => {
    const r = runTool("promtool", ["test", "rules", TESTS]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /SUCCESS/);
  });

  it("test rules fails against a rule file with another lost-work threshold", () => {
    // The same tests against the file the chart renders for failoverLostWorkSeconds: 7200.
    const copy = join(dir, "prometheus-rules.yaml");
    writeFileSync(copy, readFileSync(RULES, "utf8").replaceAll(DEFAULT_THRESHOLD, 'le="7200"'));
    const tests = join(dir, "alerts.test.yaml");
    copyFileSync(TESTS, tests);
    writeFileSync(
      tests,
      readFileSync(tests, "utf8").replace("../../deploy/helm/crosscloud-operator/files/prometheus-rules.yaml", copy),
    );
    const r = runTool("promtool", ["test", "rules", tests]);
    assert.notEqual(r.status, 0, "the tests pass whatever the threshold: they prove nothing about it");
    assert.match(r.stdout + r.stderr, /alertname: CrossCloudFailoverLostWork/);
  });
});

describe("the rule file and its template", () => {
  const text = readFileSync(RULES, "utf8");
  const all = rules(text);

  it("the template accepts exactly the bucket bounds of crosscloud_failover_lost_work_seconds", () => {
    const template = readFileSync(join(CHART, "templates", "prometheusrule.yaml"), "utf8");
    const bounds = /\$bounds := list ([\d ]+)\}\}/.exec(template)?.[1]?.trim().split(/\s+/).map(Number);
    assert.deepEqual(bounds, LOST_WORK_BUCKETS);
    assert.ok(template.includes(`replace "le=\\"1800\\""`), "the template replaces the default threshold");
    const values = parse(readFileSync(join(CHART, "values.yaml"), "utf8")) as {
      metrics: { prometheusRule: { failoverLostWorkSeconds: number } };
    };
    assert.equal(values.metrics.prometheusRule.failoverLostWorkSeconds, 1800, "the default the file carries");
  });

  it("the threshold appears in the lost-work alert only", () => {
    const holding = all.filter((r) => JSON.stringify(r).includes(DEFAULT_THRESHOLD.replaceAll('"', '\\"')));
    assert.deepEqual(
      holding.map((r) => r.alert),
      ["CrossCloudFailoverLostWork"],
    );
    assert.equal(text.split(DEFAULT_THRESHOLD).length - 1, 2, "both of its terms, nothing else");
  });

  it("every alert has a severity, a summary, a description and a runbook section in docs/alerts.md", () => {
    const doc = readFileSync(join(REPO_ROOT, "docs", "alerts.md"), "utf8");
    const anchors = new Set([...doc.matchAll(/^#{2,3} (.+)$/gm)].map((m) => githubAnchor(m[1] ?? "")));
    assert.ok(all.length >= 8);
    for (const r of all) {
      assert.match(r.labels?.severity ?? "", /^(critical|warning|info)$/, r.alert);
      assert.ok(r.annotations?.summary && r.annotations.description, `${r.alert}: summary and description`);
      const url = r.annotations?.runbook_url ?? "";
      assert.match(url, /\/docs\/alerts\.md#[a-z0-9-]+$/, `${r.alert}: runbook_url`);
      const anchor = url.split("#")[1] ?? "";
      assert.ok(anchors.has(anchor), `${r.alert}: docs/alerts.md has no section #${anchor}`);
      assert.equal(anchor, r.alert.toLowerCase(), `${r.alert}: the section is named after the alert`);
    }
  });
});

describe("the chart renders the alerts and the dashboard", () => {
  const dir = mkdtempSync(join(tmpdir(), "prometheus-chart-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const render = (...set: string[]) =>
    runTool("helm", [
      "template",
      "crosscloud-operator",
      CHART,
      "-n",
      "crosscloud-system",
      ...set.flatMap((s) => ["--set", s]),
    ]);
  const objects = (stdout: string) =>
    parseAllDocuments(stdout)
      .map(
        (d) =>
          d.toJS() as {
            kind?: string;
            metadata: { labels?: Record<string, string> };
            spec?: unknown;
            data?: Record<string, string>;
          },
      )
      .filter((o) => o?.kind);

  it("neither by default", () => {
    const r = render();
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(
      objects(r.stdout).filter((o) => o.kind === "PrometheusRule" || o.metadata.labels?.grafana_dashboard),
      [],
    );
  });

  for (const seconds of [1800, 3600]) {
    it(`a PrometheusRule whose spec promtool accepts, with the threshold ${seconds}`, () => {
      const r = render(
        "metrics.prometheusRule.enabled=true",
        `metrics.prometheusRule.failoverLostWorkSeconds=${seconds}`,
        "metrics.prometheusRule.labels.release=kps",
      );
      assert.equal(r.status, 0, r.stderr);
      const [rule, ...more] = objects(r.stdout).filter((o) => o.kind === "PrometheusRule");
      assert.equal(more.length, 0);
      assert.equal(rule?.metadata.labels?.release, "kps");
      const file = join(dir, `rules-${seconds}.yaml`);
      writeFileSync(file, JSON.stringify(rule?.spec));
      const check = runTool("promtool", ["check", "rules", file]);
      assert.equal(check.status, 0, check.stdout + check.stderr);
      const text = JSON.stringify(rule?.spec);
      assert.equal(text.split(`le=\\"${seconds}\\"`).length - 1, 2, "both terms of the lost-work alert");
      if (seconds !== 1800) assert.ok(!text.includes(DEFAULT_THRESHOLD.replaceAll('"', '\\"')));
      assert.deepEqual(
        rule?.spec,
        JSON.parse(JSON.stringify(parse(readFileSync(RULES, "utf8").replaceAll(DEFAULT_THRESHOLD, `le="${seconds}"`)))),
      );
    });
  }

  it("refuses a threshold that is no bucket bound, naming the bounds (the schema, and the template without it)", () => {
    const set = ["metrics.prometheusRule.enabled=true", "metrics.prometheusRule.failoverLostWorkSeconds=1000"];
    const bySchema = render(...set);
    assert.notEqual(bySchema.status, 0);
    assert.match(
      bySchema.stderr,
      /\/metrics\/prometheusRule\/failoverLostWorkSeconds': value must be one of 5, 15, .*, 86400/,
    );
    const byTemplate = runTool("helm", [
      "template",
      "crosscloud-operator",
      CHART,
      "--skip-schema-validation",
      ...set.flatMap((s) => ["--set", s]),
    ]);
    assert.notEqual(byTemplate.status, 0);
    assert.match(
      byTemplate.stderr,
      /failoverLostWorkSeconds must be a bucket bound of crosscloud_failover_lost_work_seconds, one of 5, 15, .*, 86400; got 1000/,
    );
  });

  it("a ConfigMap with the dashboard, labelled for Grafana's sidecar", () => {
    const r = render("metrics.dashboard.enabled=true");
    assert.equal(r.status, 0, r.stderr);
    const [cm] = objects(r.stdout).filter(
      (o) => o.kind === "ConfigMap" && o.metadata.labels?.grafana_dashboard === "1",
    );
    const dashboard = readFileSync(join(CHART, "files", "grafana-dashboard.json"), "utf8");
    assert.deepEqual(JSON.parse(cm?.data?.["crosscloud-operator.json"] ?? "{}"), JSON.parse(dashboard));
  });
});

/** The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as "-". */
function githubAnchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\w\- ]/g, "")
    .replace(/ /g, "-");
}
