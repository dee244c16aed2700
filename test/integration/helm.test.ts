// The Helm charts with the real tools: helm (v4, built from the Go module
// proxy) and the sandbox's kubectl and API servers.
// (a) Each chart renders the objects of its kustomize base in deploy/, object by
//     object; only helm's own labels (helm.sh/chart, app.kubernetes.io/managed-by,
//     instance, version) and its own resource-policy annotation are set aside,
//     and the Namespace deploy/operator makes (helm installs into a namespace
//     that `--create-namespace` makes). Any other difference fails.
// (b) helm lint --strict passes on both charts.
// (c) values.schema.json refuses bad values with an error naming the field.
// (d) The rendered hub chart, with every option on, is accepted by the hub (server-side dry run).
// (e) helm install, then helm upgrade with changed values and a changed CRD,
//     and helm rollback, on the hub for real, then helm uninstall, which leaves
//     the CRDs (keep);
//     the hub is left as it was for the suites after this one.
// (f) The worker chart installed for real on aws-sim and azure-sim: the
//     sandbox's own release (test/support/rbac.ts, which every suite's operator
//     runs with) and one with every option, checked with access reviews.

import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parseAllDocuments, stringify } from "yaml";
import { REPO_ROOT } from "../../scripts/sandbox/paths.ts";
import { kubeconfigPath } from "../../scripts/sandbox/sandbox.ts";
import { catalogFromConfig } from "../../src/catalog/config.ts";
import {
  applyShippedRbac,
  HUB_CHART,
  helm,
  OPERATOR_NAMESPACE,
  OPERATOR_SERVICE_ACCOUNT,
  OPERATORS_GROUP,
  STORE_CREDENTIALS_ROLE,
  subjectAllowed,
  WORKER_CHART,
  WORKER_RELEASE,
  WORKER_ROLE,
} from "../support/rbac.ts";
import { installCrds, kubectl, type SandboxCluster, uniqueName } from "../support/sandbox.ts";
import { runTool } from "../support/tools.ts";

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

const HELM_LABELS = [
  "helm.sh/chart",
  "app.kubernetes.io/managed-by",
  "app.kubernetes.io/instance",
  "app.kubernetes.io/version",
];
const HELM_ANNOTATIONS = ["helm.sh/resource-policy"];
const CRDS = ["trainingjobs.training.crosscloud.dev", "computeclusters.training.crosscloud.dev"];

const tmp = mkdtempSync(join(tmpdir(), "helm-test-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
let files = 0;
/** A values file with `values`, for helm's -f. */
function valuesFile(values: unknown): string {
  const path = join(tmp, `values-${files++}.yaml`);
  writeFileSync(path, stringify(values));
  return path;
}

function docs(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null && typeof o === "object" && "kind" in o);
}

/** `helm template` of a chart (no cluster needed). */
function template(chart: string, release: string, namespace: string, args: readonly string[] = []): K8sObject[] {
  const r = runTool("helm", ["template", release, chart, "-n", namespace, ...args]);
  assert.equal(r.status, 0, `helm template ${chart} ${args.join(" ")}: ${r.stderr}`);
  return docs(r.stdout);
}

function kustomize(...dirs: string[]): K8sObject[] {
  return dirs.flatMap((dir) => {
    const r = kubectl("hub", ["kustomize", join(REPO_ROOT, "deploy", dir)]);
    assert.equal(r.status, 0, r.stderr);
    return docs(r.stdout);
  });
}

const key = (o: K8sObject) => `${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`;

/** `o` without helm's own labels and annotations (only those). */
function withoutHelmMetadata(o: K8sObject): K8sObject {
  const copy = structuredClone(o);
  const strip = (map: Record<string, string> | undefined, keys: readonly string[]) => {
    if (!map) return undefined;
    for (const k of keys) delete map[k];
    return Object.keys(map).length > 0 ? map : undefined;
  };
  const labels = strip(copy.metadata.labels, HELM_LABELS);
  const annotations = strip(copy.metadata.annotations, HELM_ANNOTATIONS);
  copy.metadata = { ...copy.metadata, labels, annotations };
  if (!labels) delete copy.metadata.labels;
  if (!annotations) delete copy.metadata.annotations;
  return copy;
}

/** Asserts two renderings hold the same objects, each the same but for helm's own metadata. */
function assertSameObjects(fromHelm: K8sObject[], fromKustomize: K8sObject[]): void {
  const h = new Map(fromHelm.map((o) => [key(o), withoutHelmMetadata(o)]));
  const k = new Map(fromKustomize.map((o) => [key(o), o]));
  assert.deepEqual([...h.keys()].sort(), [...k.keys()].sort(), "the same objects");
  for (const [name, o] of k) assert.deepEqual(h.get(name), o, `${name} differs`);
}

/** helm with the admin kubeconfig of `cluster`, its exit status and output (for cases that must fail). */
function tryHelm(cluster: SandboxCluster, args: readonly string[]) {
  return runTool("helm", [...args, "--kubeconfig", kubeconfigPath(cluster)]);
}

function kubectlOk(cluster: SandboxCluster, args: readonly string[], input?: string): string {
  const r = kubectl(cluster, args, input);
  assert.equal(r.status, 0, `kubectl ${args.join(" ")} on ${cluster}: ${r.stderr}`);
  return r.stdout;
}

function getJson<T = K8sObject>(cluster: SandboxCluster, args: readonly string[]): T {
  return JSON.parse(kubectlOk(cluster, ["get", ...args, "-o", "json"])) as T;
}

const exists = (cluster: SandboxCluster, args: readonly string[]) => kubectl(cluster, ["get", ...args]).status === 0;

describe("the Helm charts", { timeout: 600_000 }, () => {
  describe("(a) render what the kustomize bases render", () => {
    // The chart installs into a namespace helm makes (--create-namespace); the kustomize base makes it.
    const operatorBase = (...more: string[]) =>
      kustomize("operator", ...more).filter((o) => !(o.kind === "Namespace" && o.metadata.name === OPERATOR_NAMESPACE));
    const cases: { name: string; helm: () => K8sObject[]; kustomize: () => K8sObject[] }[] = [
      {
        name: "crosscloud-operator (defaults) = deploy/operator",
        helm: () => template(HUB_CHART, "crosscloud-operator", OPERATOR_NAMESPACE),
        kustomize: () => operatorBase(),
      },
      {
        name: "crosscloud-operator inClusterWorker.enabled = deploy/operator + deploy/operator/in-cluster-worker",
        helm: () =>
          template(HUB_CHART, "crosscloud-operator", OPERATOR_NAMESPACE, ["--set", "inClusterWorker.enabled=true"]),
        kustomize: () => operatorBase("operator/in-cluster-worker"),
      },
      {
        name: "crosscloud-worker (defaults) = deploy/worker",
        helm: () => template(WORKER_CHART, "crosscloud-worker", OPERATOR_NAMESPACE),
        kustomize: () => kustomize("worker"),
      },
      {
        name: "crosscloud-worker storeCredentials.enabled = deploy/worker + deploy/worker/store-credentials",
        helm: () =>
          template(WORKER_CHART, "crosscloud-worker", OPERATOR_NAMESPACE, ["--set", "storeCredentials.enabled=true"]),
        kustomize: () => kustomize("worker", "worker/store-credentials"),
      },
    ];
    for (const tc of cases) {
      it(tc.name, () => {
        assertSameObjects(tc.helm(), tc.kustomize());
      });
    }

    it("names every object from the release (another release name, another prefix)", () => {
      const names = template(HUB_CHART, "hub", "elsewhere", ["--set", "inClusterWorker.enabled=true"])
        .filter((o) => o.kind !== "CustomResourceDefinition")
        .map((o) => o.metadata.name);
      assert.ok(names.length > 8);
      for (const n of names) assert.match(n, /^hub-crosscloud-operator(-|$)/);
    });
  });

  describe("(b) helm lint --strict", () => {
    for (const chart of [HUB_CHART, WORKER_CHART]) {
      it(chart.slice(REPO_ROOT.length + 1), () => {
        const r = runTool("helm", ["lint", "--strict", chart]);
        assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
        assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
      });
    }
    it("with every option of the hub chart on", () => {
      const r = runTool("helm", ["lint", "--strict", HUB_CHART, "-f", valuesFile(everyOption())]);
      assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    });
  });

  describe("(c) values.schema.json refuses bad values, naming the field", () => {
    const cases: { chart: string; name: string; values: unknown; error: RegExp }[] = [
      { chart: HUB_CHART, name: "a misspelt image key", values: { image: { tga: "1" } }, error: /\/image.*'tga'/ },
      { chart: HUB_CHART, name: "an unknown top-level key", values: { replica: 3 }, error: /'replica'/ },
      { chart: HUB_CHART, name: "replicas as a word", values: { replicas: "two" }, error: /\/replicas/ },
      { chart: HUB_CHART, name: "replicas 0", values: { replicas: 0 }, error: /\/replicas/ },
      {
        chart: HUB_CHART,
        name: "two replicas without leader election",
        values: { replicas: 2, leaderElection: { enabled: false } },
        error: /\/replicas/,
      },
      { chart: HUB_CHART, name: "an unknown log level", values: { logLevel: "loud" }, error: /\/logLevel/ },
      {
        chart: HUB_CHART,
        name: "a pull policy typo",
        values: { image: { pullPolicy: "Allways" } },
        error: /\/image\/pullPolicy/,
      },
      {
        chart: HUB_CHART,
        name: "a misspelt tuning knob",
        values: { tuning: { scaleUpTimout: 1 } },
        error: /\/tuning.*'scaleUpTimout'/,
      },
      {
        chart: HUB_CHART,
        name: "a tuning duration of 0",
        values: { tuning: { heartbeatMs: 0 } },
        error: /\/tuning\/heartbeatMs/,
      },
      {
        chart: HUB_CHART,
        name: "a misspelt catalog field",
        values: { catalog: { instanceTypes: [{ name: "trn1.32xlarge", acclerator: "trainium1" }] } },
        error: /\/catalog\/instanceTypes\/0.*'acclerator'/,
      },
      {
        chart: HUB_CHART,
        name: "a catalog price as a number",
        values: { catalog: { instanceTypes: [{ name: "trn1.32xlarge", onDemandPricePerHour: 20.5 }] } },
        error: /\/catalog\/instanceTypes\/0\/onDemandPricePerHour/,
      },
      {
        chart: HUB_CHART,
        name: "an unknown accelerator",
        values: { catalog: { instanceTypes: [{ name: "x", cloud: "aws", accelerator: "tpu", devices: 1 }] } },
        error: /\/catalog\/instanceTypes\/0\/accelerator/,
      },
      {
        chart: HUB_CHART,
        name: "a ServiceAccount annotation that is not a string",
        values: { serviceAccount: { annotations: { "eks.amazonaws.com/role-arn": 12 } } },
        error: /\/serviceAccount\/annotations\/eks\.amazonaws\.com~1role-arn/,
      },
      {
        chart: HUB_CHART,
        name: "a scrape interval without a unit",
        values: { metrics: { serviceMonitor: { interval: "30" } } },
        error: /\/metrics\/serviceMonitor\/interval/,
      },
      {
        chart: HUB_CHART,
        name: "a misspelt NetworkPolicy peer",
        values: { networkPolicy: { metricsFrom: [{ namespaceSelectr: {} }] } },
        error: /\/networkPolicy\/metricsFrom\/0.*'namespaceSelectr'/,
      },
      {
        chart: HUB_CHART,
        name: "an env var with a misspelt field",
        values: { extraEnv: [{ name: "A", vaule: "b" }] },
        error: /\/extraEnv\/0.*'vaule'/,
      },
      {
        chart: HUB_CHART,
        name: "a lost-work threshold as text",
        values: { metrics: { prometheusRule: { failoverLostWorkSeconds: "30m" } } },
        error: /\/metrics\/prometheusRule\/failoverLostWorkSeconds/,
      },
      {
        chart: HUB_CHART,
        name: "a renew deadline not under the lease duration (checked by the template)",
        values: { leaderElection: { leaseDurationMs: 10000, renewDeadlineMs: 10000 } },
        error: /leaderElection\.renewDeadlineMs \(10000\) must be less than leaderElection\.leaseDurationMs/,
      },
      {
        chart: WORKER_CHART,
        name: "a misspelt subjects key",
        values: { subjects: { group: ["g"] } },
        error: /\/subjects.*'group'/,
      },
      {
        chart: WORKER_CHART,
        name: "a ServiceAccount subject without a namespace",
        values: { subjects: { serviceAccounts: [{ name: "op" }] } },
        error: /\/subjects\/serviceAccounts\/0.*namespace/,
      },
      {
        chart: WORKER_CHART,
        name: "a namespace name that is not a DNS label",
        values: { namespaces: [{ name: "Team_A" }] },
        error: /\/namespaces\/0\/name/,
      },
      {
        chart: WORKER_CHART,
        name: "a misspelt storeCredentials key",
        values: { storeCredentials: { enable: true } },
        error: /\/storeCredentials.*'enable'/,
      },
    ];
    for (const tc of cases) {
      it(`${tc.chart === HUB_CHART ? "crosscloud-operator" : "crosscloud-worker"}: ${tc.name}`, () => {
        const r = runTool("helm", ["template", "r", tc.chart, "-f", valuesFile(tc.values)]);
        assert.notEqual(r.status, 0, `accepted: ${JSON.stringify(tc.values)}`);
        assert.match(r.stderr, tc.error);
      });
    }
  });

  describe("on the sandbox", () => {
    before(() => {
      installCrds();
      applyShippedRbac("hub");
    });

    it("(d) the hub accepts the rendered chart, defaults and every option (server-side dry run)", () => {
      for (const values of [{}, everyOption()]) {
        // The Prometheus Operator's kinds are not served by the sandbox's hub.
        const objects = template(HUB_CHART, "crosscloud-operator", OPERATOR_NAMESPACE, [
          "-f",
          valuesFile(values),
        ]).filter((o) => !o.apiVersion.startsWith("monitoring.coreos.com/"));
        const list = JSON.stringify({ apiVersion: "v1", kind: "List", items: objects });
        // --force-conflicts: the CRDs are kubectl's (installCrds), and the ComputeCluster CRD's empty root
        // x-kubernetes-validations, which the API server drops, makes any other manager's apply of
        // .spec.versions differ from what is stored.
        const apply = ["apply", "--server-side", "--dry-run=server", "--field-manager=helm-test", "--force-conflicts"];
        kubectlOk("hub", [...apply, "-f", "-"], list);
      }
    });

    it("(d) the catalog it mounts is one the operator reads", () => {
      const cm = template(HUB_CHART, "crosscloud-operator", OPERATOR_NAMESPACE, ["-f", valuesFile(everyOption())]).find(
        (o) => o.kind === "ConfigMap" && o.metadata.name === "crosscloud-operator-catalog",
      ) as K8sObject & { data: Record<string, string> };
      const catalog = catalogFromConfig(cm.data["catalog.yaml"] ?? "", "the chart's ConfigMap");
      assert.equal(catalog.get("p6-b200.48xlarge")?.devices, 8);
    });

    describe("(e) helm install and upgrade on the hub, then uninstall", () => {
      // A release of its own, in a namespace of its own: its objects are named helm-test-crosscloud-operator*,
      // apart from the RBAC the suite's operator runs with (crosscloud-operator in crosscloud-system).
      const release = "helm-test";
      const namespace = uniqueName("helm-test");
      const fullname = "helm-test-crosscloud-operator";
      after(() => {
        tryHelm("hub", ["uninstall", release, "-n", namespace, "--wait"]);
        kubectl("hub", ["delete", "namespace", namespace, "--wait=false"]);
        // The CRDs as the suite installed them: without this release's ownership, and crds/' content.
        for (const name of CRDS) {
          kubectl("hub", [
            "annotate",
            "crd",
            name,
            "meta.helm.sh/release-name-",
            "meta.helm.sh/release-namespace-",
            "helm.sh/resource-policy-",
          ]);
          kubectl("hub", ["label", "crd", name, ...HELM_LABELS.map((l) => `${l}-`), "app.kubernetes.io/name-"]);
          // No field left to helm's field manager: installCrds (kubectl, server-side) owns them all again.
          const crd = JSON.parse(kubectlOk("hub", ["get", "crd", name, "-o", "json", "--show-managed-fields"])) as {
            metadata: { managedFields?: { manager: string }[] };
          };
          const managed = (crd.metadata.managedFields ?? []).filter((f) => f.manager !== "helm");
          const patch = [{ op: "replace", path: "/metadata/managedFields", value: managed }];
          kubectl("hub", ["patch", "crd", name, "--type=json", "-p", JSON.stringify(patch)]);
        }
        installCrds();
      });

      it("installs: the CRDs are taken over and kept, the operator's objects made", () => {
        // --take-ownership: the CRDs are on the hub already (the suite applied crds/ with kubectl), and
        // --force-conflicts takes their fields over from kubectl (see the dry run above).
        helm("hub", [
          "install",
          release,
          HUB_CHART,
          "-n",
          namespace,
          "--create-namespace",
          "--take-ownership",
          "--force-conflicts",
        ]);
        const deployment = getJson<K8sObject & { spec: { replicas: number } }>("hub", [
          "deployment",
          fullname,
          "-n",
          namespace,
        ]);
        assert.equal(deployment.spec.replicas, 2);
        for (const what of [
          ["serviceaccount", fullname, "-n", namespace],
          ["service", `${fullname}-metrics`, "-n", namespace],
          ["poddisruptionbudget", fullname, "-n", namespace],
          ["role", fullname, "-n", namespace],
          ["clusterrole", fullname],
          ["clusterrolebinding", fullname],
        ])
          assert.ok(exists("hub", what), `${what.join(" ")} exists`);
        for (const name of CRDS) {
          const crd = getJson("hub", ["crd", name]);
          assert.equal(crd.metadata.annotations?.["meta.helm.sh/release-name"], release);
          assert.equal(crd.metadata.annotations?.["helm.sh/resource-policy"], "keep");
        }
        assert.match(helm("hub", ["status", release, "-n", namespace]), /STATUS: deployed/);
      });

      it("upgrades and rolls back: changed values reach the Deployment and the ConfigMap, a changed CRD reaches the hub", () => {
        // A later chart version whose CRD changed (its description): helm upgrade must apply it.
        const chart = join(tmp, "crosscloud-operator");
        cpSync(HUB_CHART, chart, { recursive: true });
        const crdFile = join(chart, "templates/crds/training.crosscloud.dev_trainingjobs.yaml");
        const marker = "(changed by helm.test.ts)";
        const crdText = readFileSync(crdFile, "utf8");
        const changed = crdText.replace(/(openAPIV3Schema:\n\s+type: object\n\s+description: "?)/, `$1${marker} `);
        assert.notEqual(changed, crdText, "the CRD's description was changed");
        writeFileSync(crdFile, changed);
        const chartYaml = join(chart, "Chart.yaml");
        writeFileSync(chartYaml, readFileSync(chartYaml, "utf8").replace(/^version: .*$/m, "version: 0.1.1-test"));

        const cmBefore = exists("hub", ["configmap", `${fullname}-catalog`, "-n", namespace]);
        assert.equal(cmBefore, false, "no catalog ConfigMap before");
        const values = {
          logLevel: "debug",
          workers: 4,
          tuning: { scaleUpTimeoutMs: 1_200_000, cloudApi: false },
          catalog: { instanceTypes: [{ name: "trn1.32xlarge", onDemandPricePerHour: "20.00" }] },
          serviceAccount: {
            annotations: { "eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/crosscloud-operator" },
          },
        };
        // --force-conflicts as at the install: harmless once helm owns the CRDs' fields.
        helm("hub", ["upgrade", release, chart, "-n", namespace, "-f", valuesFile(values), "--force-conflicts"]);

        type Deployment = K8sObject & {
          spec: {
            template: {
              metadata: { annotations?: Record<string, string> };
              spec: {
                containers: {
                  env: { name: string; value?: string }[];
                  volumeMounts?: { name: string; readOnly?: boolean }[];
                }[];
              };
            };
          };
        };
        const deployment = getJson<Deployment>("hub", ["deployment", fullname, "-n", namespace]);
        const container = deployment.spec.template.spec.containers[0];
        const env = Object.fromEntries((container?.env ?? []).map((e) => [e.name, e.value]));
        assert.equal(env.LOG_LEVEL, "debug");
        assert.equal(env.WORKERS, "4");
        assert.equal(env.SCALE_UP_TIMEOUT_MS, "1200000");
        assert.equal(env.CLOUD_API, "false");
        assert.equal(env.CATALOG_FILE, "/etc/crosscloud/catalog/catalog.yaml");
        assert.deepEqual(container?.volumeMounts?.find((m) => m.name === "catalog")?.readOnly, true);
        assert.ok(
          deployment.spec.template.metadata.annotations?.["checksum/catalog"],
          "the catalog's checksum rolls the pods",
        );
        const cm = getJson<K8sObject & { data: Record<string, string> }>("hub", [
          "configmap",
          `${fullname}-catalog`,
          "-n",
          namespace,
        ]);
        assert.match(cm.data["catalog.yaml"] ?? "", /onDemandPricePerHour: "20.00"/);
        const sa = getJson("hub", ["serviceaccount", fullname, "-n", namespace]);
        assert.equal(
          sa.metadata.annotations?.["eks.amazonaws.com/role-arn"],
          values.serviceAccount.annotations["eks.amazonaws.com/role-arn"],
        );
        const crd = getJson<
          K8sObject & { spec: { versions: { schema: { openAPIV3Schema: { description: string } } }[] } }
        >("hub", ["crd", CRDS[0] as string]);
        assert.ok(
          crd.spec.versions[0]?.schema.openAPIV3Schema.description.startsWith(marker),
          "the upgraded CRD is on the hub",
        );
        assert.match(helm("hub", ["history", release, "-n", namespace]), /0\.1\.1-test/);

        // Rollback to the first revision: the catalog goes, and the CRD is the first chart's again.
        helm("hub", ["rollback", release, "1", "-n", namespace, "--force-conflicts"]);
        assert.equal(
          exists("hub", ["configmap", `${fullname}-catalog`, "-n", namespace]),
          false,
          "the catalog ConfigMap is gone",
        );
        const rolledBack = getJson<typeof crd>("hub", ["crd", CRDS[0] as string]);
        assert.ok(
          !rolledBack.spec.versions[0]?.schema.openAPIV3Schema.description.includes(marker),
          "the CRD rolled back",
        );
      });

      it("uninstalls: the operator's objects go, the CRDs (and every TrainingJob) stay", () => {
        helm("hub", ["uninstall", release, "-n", namespace, "--wait"]);
        assert.equal(exists("hub", ["deployment", fullname, "-n", namespace]), false);
        assert.equal(exists("hub", ["clusterrole", fullname]), false);
        for (const name of CRDS) assert.ok(exists("hub", ["crd", name]), `${name} is kept`);
        // The suite's own RBAC (crosscloud-operator in crosscloud-system) was never this release's.
        assert.ok(exists("hub", ["clusterrole", "crosscloud-operator"]));
        assert.ok(exists("hub", ["serviceaccount", OPERATOR_SERVICE_ACCOUNT, "-n", OPERATOR_NAMESPACE]));
      });
    });

    describe("(f) the worker chart on aws-sim and azure-sim", () => {
      for (const cluster of ["aws-sim", "azure-sim"] as const) {
        it(`${cluster}: the sandbox's release is the one the suite's operator runs with`, async () => {
          applyShippedRbac(cluster);
          assert.match(helm(cluster, ["status", WORKER_RELEASE, "-n", OPERATOR_NAMESPACE]), /STATUS: deployed/);
          for (const role of [WORKER_ROLE, STORE_CREDENTIALS_ROLE]) {
            const binding = getJson<K8sObject & { subjects: { kind: string; name: string }[] }>(cluster, [
              "clusterrolebinding",
              role,
            ]);
            assert.equal(binding.metadata.annotations?.["meta.helm.sh/release-name"], WORKER_RELEASE);
            assert.ok(
              binding.subjects.some((s) => s.kind === "ServiceAccount" && s.name === OPERATOR_SERVICE_ACCOUNT),
              `${role} is bound to the operator's stand-in identity`,
            );
          }
          // The chart's rules, under the sandbox's names (see WORKER_ROLE), are deploy/worker's.
          const shipped = kustomize("worker", "worker/store-credentials").filter((o) => o.kind === "ClusterRole");
          for (const [role, want] of [
            [WORKER_ROLE, "crosscloud-operator-worker"],
            [STORE_CREDENTIALS_ROLE, "crosscloud-operator-worker-store-credentials"],
          ] as const) {
            const onServer = getJson<K8sObject & { rules: unknown[] }>(cluster, ["clusterrole", role]);
            const rules = (shipped.find((o) => o.metadata.name === want) as K8sObject & { rules: object[] }).rules;
            assert.deepEqual(onServer.rules, rules, `${role} has ${want}'s rules`);
          }
          const sa = { user: `system:serviceaccount:${OPERATOR_NAMESPACE}:${OPERATOR_SERVICE_ACCOUNT}` };
          assert.ok(
            await subjectAllowed(cluster, sa, { group: "batch", resource: "jobs", verb: "create", namespace: "x" }),
          );
          assert.ok(await subjectAllowed(cluster, sa, { resource: "secrets", verb: "create", namespace: "x" }));
          // The group gets the worker role only (the sandbox binds store credentials to ServiceAccounts).
          const group = { user: "someone", groups: [OPERATORS_GROUP] };
          assert.ok(await subjectAllowed(cluster, group, { resource: "nodes", verb: "watch" }));
          assert.equal(
            await subjectAllowed(cluster, group, { resource: "secrets", verb: "create", namespace: "x" }),
            false,
          );
        });

        it(`${cluster}: helm install with every option, upgrade, uninstall`, async () => {
          const release = "helm-test-worker";
          const name = "helm-test-worker";
          const ns = uniqueName("helm-test-ns");
          const entraGroup = "7f0c2f6e-1b8a-4c59-9d51-3f7d6a1e2b40";
          const entraUser = "0b9e3d2a-5c41-4e7f-8a6b-1d2c3e4f5a6b";
          const values = {
            fullnameOverride: name,
            subjects: { groups: [entraGroup], users: [entraUser] },
            storeCredentials: { enabled: true, subjects: { users: [entraUser] } },
            namespaces: [{ name: ns, labels: { "pod-security.kubernetes.io/enforce": "baseline" } }],
          };
          try {
            helm(cluster, ["install", release, WORKER_CHART, "-n", OPERATOR_NAMESPACE, "-f", valuesFile(values)]);
            const namespace = getJson(cluster, ["namespace", ns]);
            assert.equal(namespace.metadata.labels?.["pod-security.kubernetes.io/enforce"], "baseline");
            const job = { group: "batch", resource: "jobs", verb: "create", namespace: ns };
            const secret = { resource: "secrets", verb: "create", namespace: ns };
            assert.ok(await subjectAllowed(cluster, { user: "member", groups: [entraGroup] }, job));
            assert.equal(await subjectAllowed(cluster, { user: "member", groups: [entraGroup] }, secret), false);
            assert.ok(await subjectAllowed(cluster, { user: entraUser }, job));
            assert.ok(await subjectAllowed(cluster, { user: entraUser }, secret));

            // Upgrade: the store-credentials role dropped, a second group added.
            const upgraded = {
              ...values,
              subjects: { groups: [entraGroup, "second-group"] },
              storeCredentials: { enabled: false },
            };
            helm(cluster, ["upgrade", release, WORKER_CHART, "-n", OPERATOR_NAMESPACE, "-f", valuesFile(upgraded)]);
            assert.equal(exists(cluster, ["clusterrole", `${name}-store-credentials`]), false);
            assert.ok(await subjectAllowed(cluster, { user: "m", groups: ["second-group"] }, job));
            assert.equal(await subjectAllowed(cluster, { user: entraUser }, job), false);

            helm(cluster, ["uninstall", release, "-n", OPERATOR_NAMESPACE, "--wait"]);
            assert.equal(exists(cluster, ["clusterrole", name]), false);
            assert.ok(exists(cluster, ["namespace", ns]), "the pre-created namespace is kept (and the jobs in it)");
          } finally {
            tryHelm(cluster, ["uninstall", release, "-n", OPERATOR_NAMESPACE]);
            kubectl(cluster, ["delete", "namespace", ns, "--wait=false"]);
          }
        });
      }
    });
  });
});

/** Values that turn every option of the hub chart on. */
function everyOption(): Record<string, unknown> {
  return {
    crds: { annotations: { "argocd.argoproj.io/sync-wave": "-1" } },
    image: { digest: `sha256:${"a".repeat(64)}`, pullPolicy: "Always", pullSecrets: ["ghcr-pull"] },
    replicas: 3,
    leaderElection: { namespace: "kube-system", leaseDurationMs: 20000, renewDeadlineMs: 15000, retryPeriodMs: 3000 },
    logLevel: "debug",
    workers: 16,
    tuning: {
      scaleUpTimeoutMs: 1_200_000,
      heartbeatMs: 5000,
      checkpointIntervalMs: 20000,
      checkpointBufferMiB: 512,
      checkpointPartCopies: 8,
      stallTimeoutMs: 600000,
      workerRequestTimeoutMs: 15000,
      hubRequestTimeoutMs: 45000,
      cloudRequestTimeoutMs: 15000,
      cloudCallTimeoutMs: 60000,
      storeRequestTimeoutMs: 60000,
      cloudApi: true,
    },
    extraEnv: [{ name: "AWS_REGION", value: "us-east-1" }],
    catalog: {
      instanceTypes: [
        { name: "trn1.32xlarge", onDemandPricePerHour: "20.00" },
        { name: "p6-b200.48xlarge", cloud: "aws", accelerator: "nvidia-h200", devices: 8, spotPricePerHour: "30.10" },
      ],
    },
    serviceAccount: {
      annotations: { "azure.workload.identity/client-id": "00000000-0000-0000-0000-000000000000" },
      labels: { team: "ml-platform" },
    },
    podLabels: { "azure.workload.identity/use": "true" },
    podAnnotations: { "example.com/owner": "ml-platform" },
    priorityClassName: "system-cluster-critical",
    nodeSelector: { "kubernetes.io/os": "linux" },
    tolerations: [{ key: "CriticalAddonsOnly", operator: "Exists" }],
    affinity: {
      nodeAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: [
          { weight: 1, preference: { matchExpressions: [{ key: "node-role", operator: "In", values: ["system"] }] } },
        ],
      },
    },
    extraVolumes: [{ name: "ca", configMap: { name: "private-ca" } }],
    extraVolumeMounts: [{ name: "ca", mountPath: "/etc/private-ca", readOnly: true }],
    metrics: {
      service: { annotations: { "example.com/scrape": "true" } },
      serviceMonitor: {
        enabled: true,
        labels: { release: "kube-prometheus-stack" },
        interval: "15s",
        scrapeTimeout: "10s",
      },
      prometheusRule: { enabled: true, labels: { release: "kube-prometheus-stack" } },
      dashboard: { enabled: true, annotations: { grafana_folder: "crosscloud" } },
    },
    networkPolicy: {
      enabled: true,
      metricsFrom: [
        {
          namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } },
          podSelector: { matchLabels: { "app.kubernetes.io/name": "prometheus" } },
        },
      ],
    },
    inClusterWorker: { enabled: true, storeCredentials: true },
  };
}
