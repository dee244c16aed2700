// Our kubeconfig loader (src/kube/config.ts): parsing as kubectl reads it,
// what applyToHTTPSOptions puts on a request, exec plugins, in-cluster
// config, and the same result as @kubernetes/client-node's KubeConfig.

import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { RequestOptions } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { KubeConfig as ClientNodeKubeConfig } from "@kubernetes/client-node";
import { stringify } from "yaml";
import { clusterServer, KubeConfig, type KubeConfigView } from "../../src/kube/config.ts";

const dir = mkdtempSync(join(tmpdir(), "kube-config-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const b64 = (s: string) => Buffer.from(s).toString("base64");
const write = (name: string, text: string, mode = 0o600) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  chmodSync(path, mode);
  return path;
};
const CA = "-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n";
const CERT = "-----BEGIN CERTIFICATE-----\nclient\n-----END CERTIFICATE-----\n";
const KEY = "-----BEGIN PRIVATE KEY-----\nkey\n-----END PRIVATE KEY-----\n";
const EXEC_V1 = "client.authentication.k8s.io/v1";

/** A kubeconfig whose current context "ctx" uses `cluster` and `user`. */
function kubeconfig(cluster: object, user: object): string {
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "c", cluster: { server: "https://api.example:6443", ...cluster } }],
    users: [{ name: "u", user }],
    contexts: [{ name: "ctx", context: { cluster: "c", user: "u", namespace: "ml" } }],
    "current-context": "ctx",
  });
}
function load(text: string, now?: () => number): KubeConfig {
  const kc = new KubeConfig({ now });
  kc.loadFromString(text);
  return kc;
}
/** The fields applyToHTTPSOptions sets, as comparable values (files and buffers as text, unset ones left out). */
async function applied(kc: KubeConfigView, opts: RequestOptions = {}): Promise<Record<string, unknown>> {
  await kc.applyToHTTPSOptions(opts);
  const { ca, cert, key, rejectUnauthorized, servername, auth, headers } = opts;
  const got = { ca, cert, key, rejectUnauthorized, servername, auth, headers } as Record<string, unknown>;
  for (const k of ["ca", "cert", "key"]) if (got[k] !== undefined) got[k] = String(got[k]);
  return Object.fromEntries(Object.entries(got).filter(([, v]) => v !== undefined));
}
const bearer = async (kc: KubeConfigView) => ((await applied(kc)).headers as Record<string, string>).Authorization;
const failure = (p: Promise<unknown>) => p.then(() => new Error("no error")).catch((e: Error) => e);

describe("KubeConfig parsing", () => {
  it("reads every field, resolving relative files against the kubeconfig's directory", () => {
    mkdirSync(join(dir, "conf"), { recursive: true });
    const path = write(
      "conf/config",
      `apiVersion: v1
kind: Config
clusters:
- name: a
  cluster: {server: "https://a:6443/", certificate-authority: ca.pem, tls-server-name: k}
- {name: b, cluster: {server: "https://b", certificate-authority-data: ${b64(CA)}, proxy-url: "http://p:3128"}}
- {name: i, cluster: {server: "https://i", certificate-authority: /etc/ca.pem, insecure-skip-tls-verify: true}}
users:
- {name: files, user: {client-certificate: c.pem, client-key: /k.pem, tokenFile: tok, as: adm}}
- {name: data, user: {client-certificate-data: ${b64(CERT)}, client-key-data: ${b64(KEY)}, token: t0}}
- {name: basic, user: {username: ann, password: pw, token-file: /run/tok}}
- name: exec
  user:
    exec: {apiVersion: ${EXEC_V1}, command: ./bin/p, args: [get], env: [{name: A, value: "1"}]}
- {name: path-exec, user: {exec: {apiVersion: ${EXEC_V1}, command: aws}}}
- {name: gcp, user: {auth-provider: {name: gcp, config: {}}}}
contexts:
- {name: x, context: {cluster: a, user: files, namespace: ns}}
- {name: anon, context: {cluster: b}}
current-context: x
`,
    );
    const kc = new KubeConfig();
    kc.loadFromFile(path);
    const conf = (f: string) => join(dir, "conf", f);
    assert.deepEqual(kc.clusters, [
      { name: "a", server: "https://a:6443", caFile: conf("ca.pem"), skipTLSVerify: false, tlsServerName: "k" },
      { name: "b", server: "https://b", caData: b64(CA), skipTLSVerify: false, proxyUrl: "http://p:3128" },
      { name: "i", server: "https://i", caFile: "/etc/ca.pem", skipTLSVerify: true },
    ]);
    const execUser = { apiVersion: EXEC_V1, command: conf("bin/p"), args: ["get"], env: [{ name: "A", value: "1" }] };
    assert.deepEqual(kc.users, [
      { name: "files", certFile: conf("c.pem"), keyFile: "/k.pem", tokenFile: conf("tok"), impersonateUser: "adm" },
      { name: "data", certData: b64(CERT), keyData: b64(KEY), token: "t0" },
      { name: "basic", tokenFile: "/run/tok", username: "ann", password: "pw" },
      { name: "exec", exec: execUser },
      { name: "path-exec", exec: { apiVersion: EXEC_V1, command: "aws" } },
      { name: "gcp", authProvider: { name: "gcp", config: {} } },
    ]);
    assert.deepEqual(kc.contexts, [
      { name: "x", cluster: "a", user: "files", namespace: "ns" },
      { name: "anon", cluster: "b", user: "" },
    ]);
    assert.equal(kc.getCurrentContext(), "x");
    assert.equal(kc.getCurrentCluster()?.name, "a");
    assert.equal(kc.getCurrentUser()?.name, "files");
    assert.equal(clusterServer(kc).href, "https://a:6443/");
    kc.setCurrentContext("anon");
    assert.equal(kc.getCurrentUser(), null);
    assert.equal(kc.getContextObject("nope"), null);
  });

  const S = "{server: https://s}";
  // [document, what the message must say: the field and what to do]
  const cases: [string, string][] = [
    ["clusters: [", "kubeconfig: not valid YAML"],
    ["", "the document is empty; a kubeconfig is a mapping"],
    ["- a", "the document is a list; a kubeconfig is a mapping"],
    ["clusters: {}", "clusters is a mapping; it must be a list"],
    [`clusters: [{cluster: ${S}}]`, "clusters[0] has no name"],
    [`clusters: [{name: ok, cluster: ${S}}, {name: x, cluster: {}}]`, `clusters[1] ("x") has no cluster.server; set`],
    [
      "clusters: [{name: x, cluster: {server: localhost:6443}}]",
      'cluster.server "localhost:6443" is not an http(s) URL',
    ],
    [`clusters: [{name: x, cluster: ${S}}, {name: x, cluster: ${S}}]`, `clusters[1] ("x"): another entry of clusters`],
    [
      "clusters: [{name: x, cluster: {server: https://s, insecure-skip-tls-verify: 'yes'}}]",
      "tls-verify is a string; set",
    ],
    [
      "clusters: [{name: x, cluster: {server: https://s, certificate-authority: f, certificate-authority-data: ZA==}}]",
      "sets both cluster.certificate-authority-data and cluster.certificate-authority",
    ],
    ["users: [{name: u, user: {token: 123}}]", 'users[0] ("u") user.token is a number, not a string; quote it'],
    ["users: [{name: u, user: {exec: {apiVersion: v1}}}]", 'users[0] ("u") user.exec has no command'],
    ["users: [{name: u, user: {exec: {command: x}}}]", "user.exec has no apiVersion; set client.authentication"],
    ["users: [{name: u, user: {exec: {apiVersion: v1, command: x, args: [1]}}}]", "user.exec.args must be a list of"],
    [
      "users: [{name: u, user: {exec: {apiVersion: v1, command: x, env: [{name: A}]}}}]",
      "user.exec.env must be a list",
    ],
    ["contexts: [{name: c, context: {}}]", 'contexts[0] ("c") has no context.cluster'],
    [
      `clusters: [{name: x, cluster: ${S}}]\ncontexts: [{name: c, context: {cluster: no}}]`,
      'context.cluster "no" is not',
    ],
  ];
  for (const [doc, want] of cases) {
    it(`rejects ${JSON.stringify(doc)}`, () => {
      assert.throws(
        () => new KubeConfig().loadFromString(doc),
        (err: Error) => err.message.startsWith("kubeconfig: ") && err.message.includes(want),
      );
    });
  }

  it("names the file in errors and says when it cannot be read", () => {
    const path = write("bad", "clusters: [{name: x}]");
    const message = `kubeconfig ${path}: clusters[0] ("x") has no cluster.server; set the API server's URL`;
    assert.throws(() => new KubeConfig().loadFromFile(path), { message });
    assert.throws(() => new KubeConfig().loadFromFile(join(dir, "missing")), /cannot read .*missing \(ENOENT\)/);
  });

  it("fails on use when the context's user, the current context or its cluster is missing", async () => {
    const kc = load(`clusters: [{name: c, cluster: ${S}}]\ncontexts: [{name: x, context: {cluster: c, user: ghost}}]`);
    assert.equal(kc.getCurrentUser(), null);
    assert.throws(() => clusterServer(kc), /current-context is not set; set it to one of the contexts \(x\)/);
    kc.setCurrentContext("x");
    assert.equal(clusterServer(kc).host, "s");
    await assert.rejects(kc.applyToHTTPSOptions({}), /context "x" names user "ghost", not in users/);
    kc.setCurrentContext("y");
    await assert.rejects(kc.applyToHTTPSOptions({}), /current-context "y" is not among the contexts \(x\)/);
  });
});

describe("KubeConfig.applyToHTTPSOptions", () => {
  const caFile = write("ca.pem", CA);
  const certFile = write("cert.pem", CERT);
  const keyFile = write("key.pem", KEY);
  const tokenFile = write("token", "file-token\n");
  const certData = { "client-certificate-data": b64(CERT), "client-key-data": b64(KEY) };
  const cases: { name: string; c?: object; u: object; want: Record<string, unknown> }[] = [
    { name: "bearer token", u: { token: "t1" }, want: { headers: { Authorization: "Bearer t1" } } },
    { name: "token file", u: { tokenFile }, want: { headers: { Authorization: "Bearer file-token" } } },
    { name: "basic auth", u: { username: "ann", password: "pw" }, want: { auth: "ann:pw" } },
    { name: "client cert data", u: certData, want: { cert: CERT, key: KEY } },
    {
      name: "client cert files",
      u: { "client-certificate": certFile, "client-key": keyFile },
      want: { cert: CERT, key: KEY },
    },
    { name: "CA data", c: { "certificate-authority-data": b64(CA) }, u: {}, want: { ca: CA } },
    { name: "CA file", c: { "certificate-authority": caFile }, u: {}, want: { ca: CA } },
    { name: "skip TLS verify", c: { "insecure-skip-tls-verify": true }, u: {}, want: { rejectUnauthorized: false } },
    { name: "TLS server name", c: { "tls-server-name": "kubernetes" }, u: {}, want: { servername: "kubernetes" } },
    { name: "impersonation", u: { as: "admin" }, want: { headers: { "Impersonate-User": "admin" } } },
  ];
  for (const tc of cases) {
    it(`applies ${tc.name}`, async () => {
      assert.deepEqual(await applied(load(kubeconfig(tc.c ?? {}, tc.u))), { headers: {}, ...tc.want });
    });
  }

  it("keeps the caller's headers and replaces its Authorization", async () => {
    const opts: RequestOptions = { headers: { Accept: "application/json", authorization: "Bearer old" } };
    await load(kubeconfig({}, { token: "new" })).applyToHTTPSOptions(opts);
    assert.deepEqual(opts.headers, { Accept: "application/json", Authorization: "Bearer new" });
  });

  it("re-reads a token file after 60 s, not before", async () => {
    const path = write("rotating", "one");
    let now = 1_000_000;
    const kc = load(kubeconfig({}, { tokenFile: path }), () => now);
    assert.equal(await bearer(kc), "Bearer one");
    write("rotating", "two");
    now += 30_000;
    assert.equal(await bearer(kc), "Bearer one");
    now += 31_000;
    assert.equal(await bearer(kc), "Bearer two");
  });

  it("rejects a legacy auth-provider clearly", async () => {
    const kc = load(kubeconfig({}, { "auth-provider": { name: "oidc", config: { "id-token": "x" } } }));
    await assert.rejects(
      kc.applyToHTTPSOptions({}),
      /the auth-provider "oidc" is not supported; use an exec plugin or a token/,
    );
  });

  it("says which file it cannot read", async () => {
    const kc = load(kubeconfig({ "certificate-authority": join(dir, "nope.pem") }, {}));
    await assert.rejects(kc.applyToHTTPSOptions({}), /cannot read cluster "c" certificate-authority .*\(ENOENT\)/);
  });
});

describe("exec credential plugins", () => {
  const runs = join(dir, "runs");
  const plugin = write(
    "plugin.sh",
    `#!/bin/sh
echo "$1 $KUBERNETES_EXEC_INFO" >> "$RUNS"
if [ -n "$FAIL" ]; then echo '{"status":{"token":"leaked-secret"}}'; echo "  token expired: run login again  " >&2; exit 1; fi
printf '{"apiVersion":"${EXEC_V1}","kind":"ExecCredential","status":{"token":"%s","expirationTimestamp":"%s"%s}}' "$TOKEN" "$EXPIRES" "$EXTRA"
`,
    0o755,
  );
  const user = (vars: Record<string, string>) => {
    const env = Object.entries({ RUNS: runs, ...vars }).map(([name, value]) => ({ name, value }));
    return { exec: { apiVersion: EXEC_V1, command: plugin, args: ["get-token"], env } };
  };
  const runLines = () => readFileSync(runs, "utf8").trim().split("\n");

  it("runs once for concurrent and later calls until expirationTimestamp", async () => {
    rmSync(runs, { force: true });
    const kc = load(kubeconfig({}, user({ TOKEN: "exec-1", EXPIRES: "2999-01-01T00:00:00Z", EXTRA: "" })));
    const got = [...(await Promise.all([bearer(kc), bearer(kc)])), await bearer(kc)];
    assert.deepEqual(got, ["Bearer exec-1", "Bearer exec-1", "Bearer exec-1"]);
    assert.equal(runLines().length, 1);
    const [args, info] = (runLines()[0] ?? "").split(" ");
    assert.equal(args, "get-token");
    const execInfo = { apiVersion: EXEC_V1, kind: "ExecCredential", spec: { interactive: false } };
    assert.deepEqual(JSON.parse(info ?? ""), execInfo);
  });

  it("runs again once the credential has expired, and passes its client certificate", async () => {
    rmSync(runs, { force: true });
    const EXTRA = `,"clientCertificateData":${JSON.stringify(CERT)},"clientKeyData":${JSON.stringify(KEY)}`;
    const kc = load(kubeconfig({}, user({ TOKEN: "exec-2", EXPIRES: "2000-01-01T00:00:00Z", EXTRA })));
    const got = await applied(kc);
    await applied(kc);
    assert.equal(runLines().length, 2);
    assert.deepEqual(got, { cert: CERT, key: KEY, headers: { Authorization: "Bearer exec-2" } });
  });

  it("names the command and its stderr when the plugin fails, never its stdout", async () => {
    const err = await failure(load(kubeconfig({}, user({ FAIL: "1" }))).applyToHTTPSOptions({}));
    assert.equal(err.message, `exec credential plugin "${plugin}" exited with code 1: token expired: run login again`);
    assert.doesNotMatch(err.message, /leaked-secret/);
  });

  it("says so when the command does not exist or prints no ExecCredential", async () => {
    const missing = load(kubeconfig({}, { exec: { apiVersion: EXEC_V1, command: join(dir, "no-such-plugin") } }));
    await assert.rejects(missing.applyToHTTPSOptions({}), /no-such-plugin" was not found/);
    const noJson = write("nojson.sh", "#!/bin/sh\necho secret-token-text\n", 0o755);
    const bad = load(kubeconfig({}, { exec: { apiVersion: EXEC_V1, command: noJson } }));
    const err = await failure(bad.applyToHTTPSOptions({}));
    assert.match(err.message, /nojson\.sh": stdout is not JSON/);
    assert.doesNotMatch(err.message, /secret-token-text/);
  });
});

describe("KubeConfig.loadFromCluster and loadFromDefault", () => {
  const KEYS = ["KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "KUBECONFIG", "HOME"] as const;
  /** Runs `fn` with only `env` of KEYS set, then restores them. */
  async function withEnv(env: Partial<Record<(typeof KEYS)[number], string>>, fn: () => Promise<void> | void) {
    const saved = KEYS.map((k) => [k, process.env[k]] as const);
    for (const k of KEYS) delete process.env[k];
    Object.assign(process.env, env);
    try {
      await fn();
    } finally {
      for (const [k, v] of saved) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  }
  const prefix = join(dir, "pod");
  const sa = join(prefix, "var/run/secrets/kubernetes.io/serviceaccount");
  mkdirSync(sa, { recursive: true });
  writeFileSync(join(sa, "token"), "sa-token-1\n");
  writeFileSync(join(sa, "ca.crt"), CA);
  writeFileSync(join(sa, "namespace"), "training");

  it("uses the service account, brackets an IPv6 host, and picks up a rotated token", async () => {
    await withEnv({ KUBERNETES_SERVICE_HOST: "fd00::1", KUBERNETES_SERVICE_PORT: "443" }, async () => {
      let now = 0;
      const kc = new KubeConfig({ now: () => now });
      kc.loadFromCluster(prefix);
      const name = "inCluster";
      assert.equal(kc.getCurrentContext(), name);
      assert.deepEqual(kc.getContextObject(name), { name, cluster: name, user: name, namespace: "training" });
      const server = "https://[fd00::1]:443";
      assert.deepEqual(kc.getCurrentCluster(), { name, server, caFile: join(sa, "ca.crt"), skipTLSVerify: false });
      assert.equal(clusterServer(kc).href, "https://[fd00::1]/");
      assert.deepEqual(await applied(kc), { ca: CA, headers: { Authorization: "Bearer sa-token-1" } });
      writeFileSync(join(sa, "token"), "sa-token-2");
      now += 61_000;
      assert.equal(await bearer(kc), "Bearer sa-token-2");
    });
  });

  it("fails clearly outside a pod", async () => {
    await withEnv({}, () => {
      const want = /KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set/;
      assert.throws(() => new KubeConfig().loadFromCluster(prefix), want);
    });
  });

  it("prefers $KUBECONFIG's first existing file, then ~/.kube/config, then in-cluster", async () => {
    const home = join(dir, "home");
    mkdirSync(join(home, ".kube"), { recursive: true });
    writeFileSync(join(home, ".kube/config"), kubeconfig({ server: "https://home" }, {}));
    const env = write("env-config", kubeconfig({ server: "https://env" }, {}));
    const loaded = () => {
      const kc = new KubeConfig();
      kc.loadFromDefault();
      return kc.getCurrentCluster()?.server;
    };
    await withEnv({ KUBECONFIG: `${join(dir, "none")}:${env}`, HOME: home }, () =>
      assert.equal(loaded(), "https://env"),
    );
    await withEnv({ KUBECONFIG: join(dir, "none"), HOME: home }, () => {
      assert.throws(loaded, /no file of \$KUBECONFIG exists/);
    });
    await withEnv({ HOME: home }, () => assert.equal(loaded(), "https://home"));
    const [empty, saToken] = [join(dir, "empty"), "/var/run/secrets/kubernetes.io/serviceaccount/token"];
    await withEnv({ HOME: empty, KUBERNETES_SERVICE_HOST: "10.0.0.1", KUBERNETES_SERVICE_PORT: "443" }, () => {
      // No pathPrefix here: the real service account directory, which exists only in a pod.
      if (existsSync(saToken)) assert.equal(loaded(), "https://10.0.0.1:443");
      else assert.throws(loaded, (e: Error) => e.message.includes(`in-cluster: ${saToken} does not exist`));
    });
    await withEnv({ HOME: empty }, () => {
      const want = `$KUBECONFIG is not set, ${empty}/.kube/config does not exist and KUBERNETES_SERVICE_HOST is not set`;
      assert.throws(loaded, (e: Error) => e.message.includes(want));
    });
  });
});

describe("parity with @kubernetes/client-node's KubeConfig", () => {
  for (const skip of [false, true]) {
    it(`applies the same TLS material and Authorization (insecure-skip-tls-verify: ${skip})`, async () => {
      const text = kubeconfig(
        { "certificate-authority-data": b64(CA), ...(skip ? { "insecure-skip-tls-verify": true } : {}) },
        { token: "parity-token", "client-certificate-data": b64(CERT), "client-key-data": b64(KEY) },
      );
      const theirs = new ClientNodeKubeConfig();
      theirs.loadFromString(text);
      const views: KubeConfigView[] = [load(text), theirs];
      const [ours, them] = await Promise.all(views.map((v) => applied(v)));
      assert.deepEqual(ours, them);
      assert.deepEqual(ours, {
        ca: CA,
        cert: CERT,
        key: KEY,
        ...(skip ? { rejectUnauthorized: false } : {}),
        headers: { Authorization: "Bearer parity-token" },
      });
      assert.equal(clusterServer(theirs).href, clusterServer(views[0] as KubeConfigView).href);
    });
  }
});
