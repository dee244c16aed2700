// The Argo CD app-of-apps of deploy/argocd: every Application parses and
// points at something that exists in this repository (directories, Helm charts
// and their values keys, the files a directory source includes), the sync
// waves put the CRDs before the operator before the ComputeClusters, the sync
// options are the ones each step needs, the example ComputeClusters and
// TrainingJobs fit the CRDs' schemas, and the argocd-cm patch carries the
// labels Argo CD (standard or EKS-managed) reads it by.

import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, it } from "node:test";
import { parse, parseAllDocuments } from "yaml";
import { REPO_ROOT } from "../../scripts/sandbox/paths.ts";

type Obj = Record<string, unknown>;

interface Application {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string>; finalizers?: string[] };
  spec: {
    project: string;
    source: {
      repoURL: string;
      targetRevision: string;
      path: string;
      directory?: { include?: string; recurse?: boolean };
      helm?: { releaseName?: string; valueFiles?: string[]; values?: string; valuesObject?: Obj };
    };
    destination: { name?: string; server?: string; namespace?: string };
    syncPolicy?: { automated?: { prune?: boolean; selfHeal?: boolean }; syncOptions?: string[] };
  };
}

const ARGOCD = join(REPO_ROOT, "deploy/argocd");
const APPS = join(ARGOCD, "apps");

function readApp(path: string): Application {
  const docs = parseAllDocuments(readFileSync(path, "utf8"));
  assert.equal(docs.length, 1, `${path}: one Application per file`);
  const doc = docs[0];
  assert.ok(doc && doc.errors.length === 0, `${path}: ${doc?.errors.join("; ")}`);
  const app = doc.toJS() as Application;
  assert.equal(app.apiVersion, "argoproj.io/v1alpha1", path);
  assert.equal(app.kind, "Application", path);
  return app;
}

const root = readApp(join(ARGOCD, "root.yaml"));
const children = readdirSync(APPS)
  .filter((f) => f.endsWith(".yaml"))
  .map((f) => readApp(join(APPS, f)));
const teams = readdirSync(join(ARGOCD, "teams"))
  .filter((f) => f.endsWith(".yaml"))
  .map((f) => readApp(join(ARGOCD, "teams", f)));
const all = [root, ...children, ...teams];

const wave = (app: Application) => Number(app.metadata.annotations?.["argocd.argoproj.io/sync-wave"] ?? "0");
const byPath = (path: string) => children.filter((a) => a.spec.source.path === path);
const one = (path: string) => {
  const found = byPath(path);
  assert.equal(found.length, 1, `one Application of ${path}`);
  return found[0] as Application;
};
const syncOptions = (app: Application) => app.spec.syncPolicy?.syncOptions ?? [];
const isDir = (path: string) => existsSync(path) && statSync(path).isDirectory();

/** The files a directory source takes: *.yaml (recursively when asked) matching `include`. */
function directoryFiles(app: Application): string[] {
  const dir = join(REPO_ROOT, app.spec.source.path);
  const include = app.spec.source.directory?.include;
  const pattern = include ? new RegExp(`^${include.replace(/\./g, "\\.").replace(/\*/g, "[^/]*")}$`) : /\.ya?ml$/;
  const files = readdirSync(dir, { recursive: app.spec.source.directory?.recurse === true, encoding: "utf8" });
  return files.filter((f) => pattern.test(f) && /\.ya?ml$/.test(f)).map((f) => join(dir, f));
}

function manifests(files: string[]): Obj[] {
  return files.flatMap((f) => parseAllDocuments(readFileSync(f, "utf8")).map((d) => d.toJS() as Obj));
}

/** Paths of `values` keys that the chart's values.yaml does not have (a key under an empty map or list is free). */
function unknownValues(values: Obj, defaults: unknown, prefix = ""): string[] {
  return Object.entries(values).flatMap(([key, value]) => {
    const path = `${prefix}${key}`;
    if (defaults === null || typeof defaults !== "object" || Array.isArray(defaults)) return [path];
    if (!(key in defaults)) return [path];
    const d = (defaults as Obj)[key];
    const isMap = (v: unknown) => v !== null && typeof v === "object" && !Array.isArray(v);
    if (isMap(value) && isMap(d) && Object.keys(d as Obj).length > 0) return unknownValues(value as Obj, d, `${path}.`);
    if (Array.isArray(value) !== Array.isArray(d) || isMap(value) !== isMap(d)) return [`${path} (type)`];
    return [];
  });
}

interface Schema {
  type?: string;
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  items?: Schema;
  required?: string[];
  enum?: unknown[];
  pattern?: string;
  "x-kubernetes-preserve-unknown-fields"?: boolean;
  "x-kubernetes-int-or-string"?: boolean;
}

/** What in `value` the OpenAPI schema of a CRD refuses: unknown fields, wrong types, enums, patterns, required. */
function schemaProblems(schema: Schema, value: unknown, path: string): string[] {
  if (schema["x-kubernetes-int-or-string"]) {
    return typeof value === "string" || Number.isInteger(value) ? [] : [`${path}: int or string`];
  }
  switch (schema.type) {
    case "object": {
      if (value === null || typeof value !== "object" || Array.isArray(value)) return [`${path}: not an object`];
      const o = value as Obj;
      const missing = (schema.required ?? []).filter((k) => !(k in o)).map((k) => `${path}.${k}: required`);
      return missing.concat(
        Object.entries(o).flatMap(([k, v]) => {
          const sub =
            schema.properties?.[k] ??
            (typeof schema.additionalProperties === "object" ? schema.additionalProperties : undefined);
          if (sub) return schemaProblems(sub, v, `${path}.${k}`);
          return schema["x-kubernetes-preserve-unknown-fields"] ? [] : [`${path}.${k}: unknown field`];
        }),
      );
    }
    case "array":
      if (!Array.isArray(value)) return [`${path}: not an array`];
      return schema.items ? value.flatMap((v, i) => schemaProblems(schema.items as Schema, v, `${path}[${i}]`)) : [];
    case "string":
      if (typeof value !== "string") return [`${path}: not a string`];
      if (schema.enum && !schema.enum.includes(value)) return [`${path}: not one of ${schema.enum.join(", ")}`];
      return schema.pattern && !new RegExp(schema.pattern).test(value)
        ? [`${path}: does not match ${schema.pattern}`]
        : [];
    case "integer":
      return Number.isInteger(value) ? [] : [`${path}: not an integer`];
    case "number":
      return typeof value === "number" ? [] : [`${path}: not a number`];
    case "boolean":
      return typeof value === "boolean" ? [] : [`${path}: not a boolean`];
    default:
      return [];
  }
}

const schemas = new Map<string, Schema>();

function crdSchema(kind: string): Schema {
  const known = schemas.get(kind);
  if (known) return known;
  const file = readdirSync(join(REPO_ROOT, "crds")).find((f) => f.endsWith(`_${kind.toLowerCase()}s.yaml`));
  assert.ok(file, `a CRD for ${kind} in crds/`);
  const crd = parse(readFileSync(join(REPO_ROOT, "crds", file), "utf8")) as {
    spec: { versions: { served: boolean; schema: { openAPIV3Schema: Schema } }[] };
  };
  const version = crd.spec.versions.find((v) => v.served);
  assert.ok(version);
  schemas.set(kind, version.schema.openAPIV3Schema);
  return version.schema.openAPIV3Schema;
}

function conformsToCrd(o: Obj, where: string): void {
  const schema = crdSchema(String(o.kind));
  const { apiVersion: _a, kind: _k, metadata: _m, ...rest } = o;
  assert.deepEqual(schemaProblems({ ...schema, required: [] }, rest, `${where} ${o.kind}`), []);
}

describe("Argo CD app-of-apps (deploy/argocd)", () => {
  it("has a root Application of the directory of child Applications, and nothing else there", () => {
    assert.equal(root.spec.source.path, "deploy/argocd/apps");
    assert.equal(root.spec.source.directory, undefined);
    assert.deepEqual(
      readdirSync(APPS).filter((f) => !f.endsWith(".yaml")),
      [],
    );
    assert.ok(children.length >= 5);
  });

  it("gives every Application a unique name in argocd, one repo URL placeholder and a targetRevision", () => {
    const names = all.map((a) => a.metadata.name);
    assert.equal(new Set(names).size, names.length);
    for (const app of all) {
      assert.equal(app.metadata.namespace, "argocd", app.metadata.name);
      assert.ok(app.spec.project, app.metadata.name);
      assert.equal(app.spec.source.repoURL, root.spec.source.repoURL, app.metadata.name);
      assert.ok(app.spec.source.targetRevision, `${app.metadata.name}: targetRevision`);
      assert.ok(app.spec.destination.name ?? app.spec.destination.server, `${app.metadata.name}: destination`);
    }
    assert.match(root.spec.source.repoURL, /YOUR-ORG/);
    assert.match(readFileSync(join(ARGOCD, "README.md"), "utf8"), /YOUR-ORG/);
  });

  it("points every Application at a directory of this repository", () => {
    for (const app of all) {
      assert.ok(isDir(join(REPO_ROOT, app.spec.source.path)), `${app.metadata.name}: ${app.spec.source.path}`);
    }
  });

  it("syncs the CRDs (-1) before the operator, the operator and the worker roles before the ComputeClusters", () => {
    const crds = one("crds");
    const operator = one("deploy/helm/crosscloud-operator");
    const clusters = one("deploy/argocd/computeclusters");
    const workers = byPath("deploy/helm/crosscloud-worker");
    assert.equal(wave(crds), -1);
    assert.ok(wave(crds) < wave(operator) && wave(operator) < wave(clusters));
    assert.ok(workers.length >= 1);
    for (const w of workers) assert.ok(wave(crds) < wave(w) && wave(w) < wave(clusters), w.metadata.name);
  });

  it("keeps the team Application, whose running jobs stay Progressing, out of the root's waves", () => {
    assert.equal(teams.length, 1);
    assert.equal(byPath("examples").length, 0);
    assert.equal(teams[0]?.spec.destination.namespace, "ml");
  });

  it("applies the CRDs server-side and keeps them, and skips the dry run of ComputeClusters and TrainingJobs while the kinds are missing", () => {
    const crds = one("crds");
    assert.ok(syncOptions(crds).includes("ServerSideApply=true"));
    assert.ok(syncOptions(crds).includes("Delete=false"));
    assert.equal(crds.spec.syncPolicy?.automated?.prune, false);
    assert.equal(crds.metadata.finalizers, undefined, "deleting the Application must not delete the CRDs");
    assert.ok(existsSync(join(REPO_ROOT, "crds/kustomization.yaml")));
    assert.ok(syncOptions(one("deploy/argocd/computeclusters")).includes("SkipDryRunOnMissingResource=true"));
    for (const team of teams) assert.ok(syncOptions(team).includes("SkipDryRunOnMissingResource=true"));
  });

  it("installs the operator chart without its CRDs, which come in wave -1", () => {
    const operator = one("deploy/helm/crosscloud-operator");
    const values = (operator.spec.source.helm?.valuesObject ?? {}) as { crds?: unknown };
    assert.deepEqual(values.crds, { enabled: false });
  });

  it("sets only values and value files the charts have", () => {
    const helmApps = all.filter((a) => a.spec.source.path.startsWith("deploy/helm/"));
    assert.ok(helmApps.length >= 3);
    for (const app of helmApps) {
      const chart = join(REPO_ROOT, app.spec.source.path);
      assert.ok(existsSync(join(chart, "Chart.yaml")), `${app.metadata.name}: ${chart} is a chart`);
      const defaults = parse(readFileSync(join(chart, "values.yaml"), "utf8")) as Obj;
      const helm = app.spec.source.helm ?? {};
      for (const f of helm.valueFiles ?? []) assert.ok(existsSync(join(chart, f)), `${app.metadata.name}: ${f}`);
      const given = [helm.valuesObject ?? {}, helm.values ? (parse(helm.values) as Obj) : {}];
      for (const values of given) assert.deepEqual(unknownValues(values, defaults), [], app.metadata.name);
    }
  });

  it("sends each worker chart to a cluster registered in Argo CD under the name of its ComputeCluster", () => {
    const workers = byPath("deploy/helm/crosscloud-worker");
    const clusters = manifests(directoryFiles(one("deploy/argocd/computeclusters")));
    const names = clusters.map((c) => (c.metadata as { name: string }).name).sort();
    assert.deepEqual(workers.map((w) => w.spec.destination.name).sort(), names);
    for (const w of workers) assert.equal(w.spec.destination.server, undefined, w.metadata.name);
  });

  it("holds ComputeClusters and TrainingJobs that fit the CRDs", () => {
    const clusters = manifests(directoryFiles(one("deploy/argocd/computeclusters")));
    assert.ok(clusters.length >= 2);
    for (const c of clusters) {
      assert.equal(c.kind, "ComputeCluster");
      conformsToCrd(c, "deploy/argocd/computeclusters");
    }
    const files = directoryFiles(teams[0] as Application);
    assert.ok(files.length >= 2, "the team Application takes some TrainingJobs");
    for (const file of files) {
      for (const job of manifests([file])) {
        assert.equal(job.kind, "TrainingJob", relative(REPO_ROOT, file));
        assert.equal((job.metadata as Obj).namespace, undefined, "the team Application's namespace applies");
        conformsToCrd(job, relative(REPO_ROOT, file));
      }
    }
  });

  it("finds values a chart does not have", () => {
    const defaults = { crds: { enabled: true, annotations: {} }, subjects: { groups: [] } };
    assert.deepEqual(unknownValues({ crds: { install: false, annotations: { a: "b" } } }, defaults), ["crds.install"]);
    assert.deepEqual(unknownValues({ subjects: { groups: "x" } }, defaults), ["subjects.groups (type)"]);
  });

  it("finds what the CRD schema check is meant to find", () => {
    const bad = {
      apiVersion: "training.crosscloud.dev/v1alpha1",
      kind: "ComputeCluster",
      spec: { cloud: "gcp", colour: 1 },
    };
    assert.throws(() => conformsToCrd(bad, "test"), /cloud: not one of aws, azure[\s\S]*colour: unknown field/);
  });
});

describe("argocd-cm patch (deploy/argocd/argocd-cm-patch.yaml)", () => {
  const cm = parse(readFileSync(join(ARGOCD, "argocd-cm-patch.yaml"), "utf8")) as {
    metadata: { name: string; namespace: string; labels: Record<string, string> };
    data: Record<string, string>;
  };

  it("is argocd-cm with the labels a standard and an EKS-managed Argo CD read it by", () => {
    assert.equal(cm.metadata.name, "argocd-cm");
    assert.equal(cm.metadata.namespace, "argocd");
    assert.equal(cm.metadata.labels["app.kubernetes.io/part-of"], "argocd");
    assert.equal(cm.metadata.labels["app.kubernetes.io/name"], "argocd-cm");
  });

  it("carries each health.lua of resource_customizations under its <group>_<kind> key", () => {
    const dir = join(ARGOCD, "resource_customizations");
    const want: Record<string, string> = {};
    for (const group of readdirSync(dir)) {
      for (const kind of readdirSync(join(dir, group))) {
        want[`resource.customizations.health.${group}_${kind}`] = readFileSync(
          join(dir, group, kind, "health.lua"),
          "utf8",
        );
      }
    }
    assert.deepEqual(cm.data, want);
    assert.ok("resource.customizations.health.training.crosscloud.dev_TrainingJob" in cm.data);
    assert.ok("resource.customizations.health.training.crosscloud.dev_ComputeCluster" in cm.data);
  });
});
