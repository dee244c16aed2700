// The operator's image, built here without a daemon (scripts/image/build.ts:
// umoci, Debian's C runtime, Node's official binary, the compiled operator)
// and run from its unpacked root filesystem against the sandbox (scripts/image/run.ts):
// what is in it and what is not, the user and the read-only root it runs with,
// and that the operator inside it, authenticated as its ServiceAccount the way
// a pod is (in-cluster token and CA), places a job and runs it to Succeeded.

import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { buildImage } from "../../scripts/image/build.ts";
import { type ImageReport, imageConfigFromDockerfile, imageConfigOf } from "../../scripts/image/oci.ts";
import { runImage, unpackImage } from "../../scripts/image/run.ts";
import { REPO_ROOT, STATE_DIR } from "../../scripts/sandbox/paths.ts";
import { sandboxCaPath } from "../../scripts/sandbox/sandbox.ts";
import {
  type OperatorProcess,
  prepareHub,
  sandboxCloudEnv,
  superviseOperator,
  waitClustersReady,
} from "../support/operator.ts";
import { OPERATOR_NAMESPACE, operatorToken } from "../support/rbac.ts";
import { clients, eventually, uniqueName } from "../support/sandbox.ts";
import { toolPath } from "../support/tools.ts";
import { aTrainingJob } from "../support/trainingjob.ts";
import { TrainingJobs } from "../support/trainingjobs.ts";

const SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";
const out = join(STATE_DIR, "image");
const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as {
  version: string;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;

/** Every path under `dir` (relative), files and directories. */
function walk(dir: string, prefix = ""): string[] {
  return readdirSync(join(dir, prefix), { withFileTypes: true }).flatMap((e) => {
    const rel = join(prefix, e.name);
    return e.isDirectory() ? [rel, ...walk(dir, rel)] : [rel];
  });
}

describe("the operator image", { timeout: 1_200_000 }, () => {
  let report: ImageReport;
  const layout = join(out, "oci");
  const bundle = join(out, "bundle");
  const umoci = () => toolPath("umoci");
  /** The image's root filesystem, unpacked by the first test and run by the second. */
  let rootfs = "";

  before(() => {
    report = buildImage(out);
    console.log(
      `image ${report.reference}: ${mib(report.compressed)} compressed (layers ${report.layers.map((l) => mib(l.size)).join(" + ")}), ${mib(report.uncompressed)} unpacked`,
    );
  });

  it("runs the Dockerfile's entrypoint as 65532 and holds no shell, npm or dev dependency", () => {
    const dockerfile = imageConfigFromDockerfile(readFileSync(join(REPO_ROOT, "Dockerfile"), "utf8"));
    const config = imageConfigOf(layout, pkg.version).config;
    assert.equal(config.User, "65532:65532");
    assert.deepEqual(config.Entrypoint, dockerfile.entrypoint);
    assert.equal(config.WorkingDir, "/app");
    assert.ok(config.Env?.includes("MALLOC_ARENA_MAX=2"), `env ${config.Env}`);

    rootfs = unpackImage({ layout, tag: pkg.version, bundle, umoci: umoci() });
    const paths = walk(rootfs);
    for (const banned of [/(^|\/)npm$/, /(^|\/)npx$/, /^bin\/(ba)?sh$/, /^usr\/bin\/(ba|da)?sh$/, /^usr\/bin\/apt/])
      assert.deepEqual(
        paths.filter((p) => banned.test(p)),
        [],
        `${banned} in the image`,
      );
    const modules = join(rootfs, "app/node_modules");
    for (const dev of Object.keys(pkg.devDependencies))
      assert.ok(!existsSync(join(modules, dev)), `devDependency ${dev} is in the image`);
    for (const dep of Object.keys(pkg.dependencies))
      assert.ok(existsSync(join(modules, dep)), `dependency ${dep} is missing from the image`);
    assert.ok(existsSync(join(rootfs, "app/dist/main.js")), "dist/main.js");
    assert.ok(!existsSync(join(rootfs, "app/src")), "the TypeScript sources are not shipped");
    assert.ok(report.compressed < 200 * 1024 * 1024, `compressed size ${mib(report.compressed)}`);
  });

  describe("run against the sandbox", () => {
    const tjs = new TrainingJobs(uniqueName("image"));
    let operator: OperatorProcess;

    before(async () => {
      await prepareHub();
      await tjs.createNamespace();
      const server = new URL(clients("hub").kubeConfig.getCurrentCluster()?.server ?? "");
      const ca = readFileSync(sandboxCaPath(), "utf8");
      const child = runImage({
        layout,
        tag: pkg.version,
        bundle,
        umoci: umoci(),
        ...(rootfs ? { unpacked: rootfs } : {}),
        files: {
          [`${SA_DIR}/token`]: await operatorToken("hub"),
          [`${SA_DIR}/ca.crt`]: ca,
          [`${SA_DIR}/namespace`]: OPERATOR_NAMESPACE,
        },
        env: {
          // What the kubelet gives a pod: the API server's Service address.
          KUBERNETES_SERVICE_HOST: server.hostname,
          KUBERNETES_SERVICE_PORT: server.port,
          POD_NAME: "image-operator",
          POD_NAMESPACE: OPERATOR_NAMESPACE,
          HEALTH_PORT: "0",
          LEASE_DURATION_MS: "10000",
          RENEW_DEADLINE_MS: "7000",
          RETRY_PERIOD_MS: "1000",
          ...(sandboxCloudEnv() as Record<string, string>),
          // The sandbox's clouds and stores present certificates of the sandbox CA.
          NODE_EXTRA_CA_CERTS: `${SA_DIR}/ca.crt`,
        },
      });
      operator = superviseOperator("image-operator", child);
      await waitClustersReady();
    });
    after(async () => {
      await operator?.stop();
      await tjs.deleteNamespace();
    });

    it("runs as 65532 on a read-only root", () => {
      const pid = operator.child.pid;
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      assert.match(status, /^Uid:\s+65532\s+65532\s+65532\s+65532$/m);
      assert.match(status, /^Gid:\s+65532\s/m);
      const root = readFileSync(`/proc/${pid}/mountinfo`, "utf8")
        .split("\n")
        .find((l) => l.split(" ")[4] === "/");
      assert.match(root?.split(" ")[5] ?? "", /^ro\b/, `the root mount: ${root}`);
      assert.match(readFileSync(`/proc/${pid}/cmdline`, "utf8"), /^\/nodejs\/bin\/node\0/);
    });

    it("places a job and runs it to Succeeded", async () => {
      const job = aTrainingJob("from-image")
        .replicas(2)
        .accelerator("trainium1", 16)
        .accelerator("nvidia-h100", 8)
        .with((j) => {
          j.spec.template.metadata = { annotations: { "sandbox.crosscloud.dev/run-for": "3s" } };
        });
      await tjs.create(job.obj());
      const done = await tjs.waitForPhase("from-image", "Succeeded");
      // Where it lands depends on what earlier suites of the shard left running; that it was placed
      // by this operator, with its reason, and ran to the end is what counts here.
      const placement = done.status?.placement;
      assert.ok(placement?.cluster && placement.accelerator, `placement ${JSON.stringify(placement)}`);
      assert.match(placement.reason ?? "", new RegExp(`${placement.cluster}/`));
      await eventually(
        "the image's operator to log its start",
        async () => operator.logs(),
        (logs) => /crosscloud-operator starting/.test(logs) && /image-operator/.test(logs),
        5_000,
      );
    });
  });
});
