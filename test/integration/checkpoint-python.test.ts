// Runs the Python commit_step helper of docs/checkpoints.md, as documented and
// taken from the doc at test time, with boto3 and azure-storage-blob from the
// venv of scripts/tools/build-tools.sh python, against the sandbox's S3 server
// and Azurite: a step written with the store's own SDK is committed (a valid
// manifest, sizes right), a second commit is refused (create-only), and the
// replicate command copies the committed step to the other cloud's store.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { REPO_ROOT } from "../../scripts/sandbox/paths.ts";
import {
  AZURITE_ACCOUNT,
  AZURITE_KEY,
  S3_ACCESS_KEY,
  S3_SECRET_KEY,
  SANDBOX_BUCKET,
  SANDBOX_CONTAINER,
} from "../../scripts/sandbox/sandbox.ts";
import { defaultTopology } from "../../scripts/sandbox/topology.ts";
import { sha256Hex } from "../../src/checkpoint/hash.ts";
import { manifestKey, parseManifest } from "../../src/checkpoint/manifest.ts";
import { openStore } from "../../src/checkpoint/open-store.ts";
import { readAll } from "../../src/checkpoint/store.ts";
import { storeEnv } from "../../src/clusters/stores.ts";
import { anAwsComputeCluster } from "../support/builders.ts";
import { uniqueName } from "../support/sandbox.ts";
import { toolPath } from "../support/tools.ts";
import { MiB } from "./checkpoint-support.ts";

/** The ```python blocks of docs/checkpoints.md: the helper (defines commit_step) and the line that calls it. */
function documentedPython(): { helper: string; usage: string } {
  const doc = readFileSync(join(REPO_ROOT, "docs/checkpoints.md"), "utf8");
  const blocks = [...doc.matchAll(/^```python\n([\s\S]*?)^```$/gm)].map((m) => m[1] ?? "");
  const helpers = blocks.filter((b) => /^def commit_step\(/m.test(b));
  const usages = blocks.filter((b) => !/^def commit_step\(/m.test(b) && /\bcommit_step\(step\)/.test(b));
  assert.equal(helpers.length, 1, "docs/checkpoints.md has one python block defining commit_step");
  assert.equal(usages.length, 1, "docs/checkpoints.md has one python block calling commit_step(step)");
  return { helper: helpers[0] as string, usage: usages[0] as string };
}

// The driver: loads the documented helper, then writes files with the store's
// SDK, runs the documented call line, or calls commit_step and tells what it raised.
const DRIVER = `
import hashlib, io, json, os, sys
spec = json.loads(sys.argv[1])
helper = {"__name__": "commit_helper"}
exec(compile(spec["helper"], "docs/checkpoints.md (commit_step)", "exec"), helper)
commit_step = helper["commit_step"]
out = {}
if spec["op"] == "write":
    if spec["store"] == "s3":
        import boto3
        s3 = boto3.client("s3")
        put = lambda key, body: s3.upload_fileobj(io.BytesIO(body), spec["bucket"], key)
    else:
        from azure.storage.blob import ContainerClient
        key = {"account_name": spec["account"], "account_key": os.environ["AZURE_STORAGE_ACCOUNT_KEY"]}
        client = ContainerClient(spec["accountUrl"], spec["container"], credential=key)
        put = lambda key, body: client.upload_blob(key, body)
    for path, size in spec["files"].items():
        body = os.urandom(size)
        put(spec["prefix"] + "/" + path, body)
        out[path] = hashlib.sha256(body).hexdigest()
elif spec["op"] == "commit":
    exec(compile(spec["usage"], "docs/checkpoints.md (the call)", "exec"),
         {"rank": spec["rank"], "step": spec["step"], "commit_step": commit_step})
else:
    try:
        commit_step(spec["step"])
    except Exception as e:
        out["raised"] = type(e).__module__ + "." + type(e).__qualname__
        response = getattr(e, "response", None)  # botocore's error, a dict
        out["code"] = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
print(json.dumps(out))
`;

type Kind = "s3" | "blob";
const t = defaultTopology();
const EPOCH = 3;

/** A fresh line in one of the sandbox's stores, and the trainer container's env for it. */
function line(kind: Kind) {
  const prefix = uniqueName("py");
  const accountUrl = `http://127.0.0.1:${t.blobPort}/${AZURITE_ACCOUNT}`;
  const uri = kind === "s3" ? `s3://${SANDBOX_BUCKET}/${prefix}` : `${accountUrl}/${SANDBOX_CONTAINER}/${prefix}`;
  // As the operator renders it: storeEnv() for the cluster, plus the store Secret's keys
  // (examples/computecluster-*-sim.yaml, podCredentials: Secret) through envFrom.
  const cc = anAwsComputeCluster("aws-sim", {
    checkpointStore: { s3: { bucket: SANDBOX_BUCKET, region: "us-east-1", endpoint: `http://127.0.0.1:${t.s3Port}` } },
  });
  const store: Record<string, string> =
    kind === "s3"
      ? {
          ...Object.fromEntries(storeEnv(cc, "aws-sim-store").env.map((e) => [e.name, e.value ?? ""])),
          AWS_ACCESS_KEY_ID: S3_ACCESS_KEY,
          AWS_SECRET_ACCESS_KEY: S3_SECRET_KEY,
        }
      : { AZURE_STORAGE_ACCOUNT_KEY: AZURITE_KEY };
  const env = { CROSSCLOUD_CHECKPOINT_URI: uri, CROSSCLOUD_EPOCH: String(EPOCH), ...store };
  return { kind, prefix, uri, env, accountUrl };
}
type Line = ReturnType<typeof line>;

let venv: { python: string; helper: string; usage: string } | undefined;

/** Runs the driver with the venv's python and only the trainer's env; returns its JSON output. */
function python(l: Line, spec: Record<string, unknown>): Record<string, string | null> {
  venv ??= { python: toolPath("python"), ...documentedPython() };
  const { helper, usage } = venv;
  const where = { store: l.kind, prefix: l.prefix, bucket: SANDBOX_BUCKET, container: SANDBOX_CONTAINER };
  const input = { helper, usage, ...where, accountUrl: l.accountUrl, account: AZURITE_ACCOUNT, ...spec };
  const r = spawnSync(venv.python, ["-c", DRIVER, JSON.stringify(input)], {
    encoding: "utf8",
    // HOME elsewhere: no ~/.aws or ~/.azure of the machine's user is read.
    env: { PATH: process.env.PATH ?? "", HOME: tmpdir(), ...l.env },
    timeout: 120_000,
  });
  if (r.error) throw r.error;
  assert.equal(r.status, 0, `python ${String(spec.op)} exited ${r.status}:\n${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** The replicate command as the CLI runs it, as its own process, with both stores' keys. */
function replicate(from: string, to: string): { status: number | null; stderr: string } {
  const args = ["replicate", "--from", from, "--to", to, "--epoch", String(EPOCH)];
  const r = spawnSync(process.execPath, [join(REPO_ROOT, "src/checkpoint/cli.ts"), ...args], {
    encoding: "utf8",
    env: {
      PATH: process.env.PATH ?? "",
      CROSSCLOUD_S3_ENDPOINT: `http://127.0.0.1:${t.s3Port}`,
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: S3_ACCESS_KEY,
      AWS_SECRET_ACCESS_KEY: S3_SECRET_KEY,
      AZURE_STORAGE_ACCOUNT_KEY: AZURITE_KEY,
    },
    timeout: 120_000,
  });
  if (r.error) throw r.error;
  return { status: r.status, stderr: r.stderr };
}

function storeOf(l: Line) {
  return openStore(l.uri, {
    s3Endpoint: `http://127.0.0.1:${t.s3Port}`,
    s3Region: "us-east-1",
    s3Credentials: { accessKeyId: S3_ACCESS_KEY, secretAccessKey: S3_SECRET_KEY },
    azureAccountKey: AZURITE_KEY,
    env: {},
  });
}

describe("the documented Python commit_step helper", { timeout: 600_000 }, () => {
  for (const [from, to] of [
    ["s3", "blob"],
    ["blob", "s3"],
  ] as const) {
    it(`commits a step in ${from === "s3" ? "S3" : "Blob"} that the replicator copies to ${to === "s3" ? "S3" : "Blob"}`, async () => {
      const src = line(from);
      const dst = line(to);
      const step = 7;
      // A DCP-shaped step (one file large enough for a multipart upload), a nested
      // file, an empty one, the replicator's bookkeeping (never listed) and step-70
      // (another step whose name starts the same).
      const sizes: Record<string, number> = {
        "__0_0.distcp": 12 * MiB + 3,
        "__1_0.distcp": 100_000,
        ".metadata": 2_000,
        "extra/notes.txt": 0,
      };
      const files = Object.fromEntries(Object.entries(sizes).map(([p, s]) => [`step-${step}/${p}`, s]));
      files[`step-${step}/.crosscloud/verified/stale.json`] = 10;
      files[`step-${step}0/__0_0.distcp`] = 10;
      // "Folder" markers, as S3 tools (the console's "Create folder") leave them.
      if (from === "s3") Object.assign(files, { [`step-${step}/`]: 0, [`step-${step}/extra/`]: 0 });
      const written = python(src, { op: "write", files });

      const source = storeOf(src);
      const empty = python(src, { op: "call", step: 8 });
      assert.deepEqual(empty, { raised: "builtins.FileNotFoundError", code: null }, "a step with no file");
      assert.equal(await source.head(manifestKey(8)), undefined, "commits nothing");
      const started = Date.now();
      python(src, { op: "commit", rank: 1, step });
      assert.equal(await source.head(manifestKey(step)), undefined, "rank 1 commits nothing");
      python(src, { op: "commit", rank: 0, step });

      const text = (await readAll(source, manifestKey(step))).toString("utf8");
      const parsed = parseManifest(text, step);
      assert.ok(parsed.ok, `the manifest parses: ${parsed.ok ? "" : parsed.issues.join("; ")}`);
      const m = parsed.manifest;
      assert.equal(m.step, step);
      assert.equal(m.epoch, EPOCH);
      const at = Date.parse(m.createdAt);
      assert.ok(at >= started - 2_000 && at <= Date.now() + 1_000, `createdAt ${m.createdAt} is the commit's time`);
      assert.deepEqual(
        m.files.map((f) => [f.path, f.size]).sort(),
        Object.entries(sizes).sort(),
        "every file of the step with its size, nothing else",
      );

      // Create-only: a later call refuses, and the manifest stays as it was.
      python(src, { op: "write", files: { [`step-${step}/__2_0.distcp`]: 5 } });
      const again = python(src, { op: "call", step });
      assert.deepEqual(
        again,
        from === "s3"
          ? { raised: "botocore.exceptions.ClientError", code: "PreconditionFailed" }
          : { raised: "azure.core.exceptions.ResourceExistsError", code: null },
      );
      assert.equal((await readAll(source, manifestKey(step))).toString("utf8"), text);

      const r = replicate(src.uri, dst.uri);
      assert.equal(r.status, 0, `replicate exited ${r.status}:\n${r.stderr}`);
      const destination = storeOf(dst);
      const copied = parseManifest((await readAll(destination, manifestKey(step))).toString("utf8"), step);
      assert.ok(copied.ok, "the destination's manifest parses");
      assert.deepEqual(
        [copied.manifest.step, copied.manifest.epoch, copied.manifest.createdAt],
        [m.step, m.epoch, m.createdAt],
      );
      assert.deepEqual(
        copied.manifest.files.map((f) => [f.path, f.size, f.sha256]).sort(),
        Object.entries(sizes)
          .map(([p, s]) => [p, s, written[`step-${step}/${p}`]])
          .sort(),
        "the checksums the replicator filled in are those of the bytes Python wrote",
      );
      for (const p of Object.keys(sizes)) {
        const body = await readAll(destination, `step-${step}/${p}`);
        assert.equal(sha256Hex(body), written[`step-${step}/${p}`], `step-${step}/${p} holds the same bytes`);
      }
      assert.equal(await destination.head(`step-${step}/__2_0.distcp`), undefined, "files after the commit stay out");
    });
  }
});
