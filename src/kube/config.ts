// A kubeconfig loader of our own: the credentials and TLS settings of the
// current context, shaped as @kubernetes/client-node's KubeConfig for the part
// the operator uses, without loading client-node (its index loads every
// generated model) at runtime. Only its types are imported.

import { existsSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import type { OutgoingHttpHeaders } from "node:http";
import type { RequestOptions } from "node:https";
import { isIPv6 } from "node:net";
import { homedir } from "node:os";
import { delimiter, dirname, isAbsolute, join, resolve } from "node:path";
import type { Cluster, Context, User } from "@kubernetes/client-node";
import { parse } from "yaml";
import { type ExecConfig, ExecCredentialCache, parseExecConfig } from "./exec-credential.ts";

/** What the operator's Kubernetes client needs of a kubeconfig; @kubernetes/client-node's KubeConfig has the same shape. */
export interface KubeConfigView {
  readonly clusters: Cluster[];
  readonly users: User[];
  readonly contexts: Context[];
  getCurrentContext(): string;
  getContextObject(name: string): Context | null;
  getCurrentCluster(): Cluster | null;
  getCurrentUser(): User | null;
  /** Sets TLS options (ca, cert, key, rejectUnauthorized, servername) and auth headers (Authorization, Impersonate-User) / opts.auth on `opts` for the current context, as client-node does. */
  applyToHTTPSOptions(opts: RequestOptions): Promise<void>;
}

/** client-node's User plus kubectl's tokenFile (read when used, so rotated tokens are picked up). */
export interface KubeUser extends User {
  readonly tokenFile?: string;
}

export const IN_CLUSTER = "inCluster";
const SERVICEACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";
/** Token, CA and client certificate files are read again after this long. */
export const FILE_MAX_AGE_MS = 60_000;

type Doc = Record<string, unknown>;
const isMap = (v: unknown): v is Doc => typeof v === "object" && v !== null && !Array.isArray(v);
const kindOf = (v: unknown) => (Array.isArray(v) ? "list" : isMap(v) ? "mapping" : v === null ? "null" : typeof v);

/** Reads one kubeconfig document; `source` prefixes messages, `baseDir` resolves relative paths. */
class Reader {
  readonly source: string;
  readonly baseDir: string | undefined;
  constructor(source: string, baseDir: string | undefined) {
    this.source = source;
    this.baseDir = baseDir;
  }
  fail(message: string): never {
    throw new Error(`${this.source}: ${message}`);
  }
  string(m: Doc, key: string, where: string): string | undefined {
    const v = m[key];
    if (v === undefined || v === null || v === "") return undefined;
    if (typeof v !== "string") this.fail(`${where}${key} is a ${kindOf(v)}, not a string; quote it`);
    return v;
  }
  bool(m: Doc, key: string, where: string): boolean {
    const v = m[key];
    if (v === undefined || v === null) return false;
    if (typeof v !== "boolean") this.fail(`${where}${key} is a ${kindOf(v)}; set it to true or false`);
    return v;
  }
  path(m: Doc, key: string, where: string): string | undefined {
    const p = this.string(m, key, where);
    return p && this.baseDir && !isAbsolute(p) ? join(this.baseDir, p) : p;
  }
  list(m: Doc, key: string): unknown[] {
    const v = m[key];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) this.fail(`${key} is a ${kindOf(v)}; it must be a list of {name, ${key.slice(0, -1)}}`);
    return v;
  }
  /** The entry's name and its nested mapping (clusters[i].cluster ...), checking names are unique. */
  entry(e: unknown, i: number, key: string, seen: Set<string>): { name: string; body: Doc | undefined; w: string } {
    const item = key.slice(0, -1);
    if (!isMap(e)) this.fail(`${key}[${i}] is a ${kindOf(e)}; each entry needs name and ${item}`);
    const name = this.string(e, "name", `${key}[${i}].`);
    if (!name) this.fail(`${key}[${i}] has no name; give each ${item} a unique name`);
    const w = `${key}[${i}] ("${name}")`;
    if (seen.has(name)) this.fail(`${w}: another entry of ${key} has the same name; names must be unique`);
    seen.add(name);
    const body = e[item];
    if (body != null && !isMap(body)) this.fail(`${w} ${item} is a ${kindOf(body)}, not a mapping`);
    return { name, body: body ?? undefined, w };
  }
  oneOf(w: string, data: string | undefined, file: string | undefined, dataKey: string, fileKey: string): void {
    if (data && file) this.fail(`${w} sets both ${dataKey} and ${fileKey}; keep one`);
  }

  cluster(e: unknown, i: number, seen: Set<string>): Cluster {
    const { name, body, w } = this.entry(e, i, "clusters", seen);
    const at = `${w} cluster.`;
    const server = body && this.string(body, "server", at);
    if (!body || !server) this.fail(`${w} has no cluster.server; set the API server's URL`);
    const protocol = URL.parse(server)?.protocol;
    if (protocol !== "https:" && protocol !== "http:") {
      this.fail(`${at}server "${server}" is not an http(s) URL; set the API server's URL, e.g. https://host:6443`);
    }
    const caData = this.string(body, "certificate-authority-data", at);
    const caFile = this.path(body, "certificate-authority", at);
    this.oneOf(w, caData, caFile, "cluster.certificate-authority-data", "cluster.certificate-authority");
    const skipTLSVerify = this.bool(body, "insecure-skip-tls-verify", at);
    const [tlsServerName, proxyUrl] = [this.string(body, "tls-server-name", at), this.string(body, "proxy-url", at)];
    const trimmed = server.replace(/\/$/, "");
    return omitUndefined({ name, server: trimmed, caData, caFile, skipTLSVerify, tlsServerName, proxyUrl });
  }

  user(e: unknown, i: number, seen: Set<string>): KubeUser {
    const { name, body = {}, w } = this.entry(e, i, "users", seen);
    const at = `${w} user.`;
    const certData = this.string(body, "client-certificate-data", at);
    const certFile = this.path(body, "client-certificate", at);
    const keyData = this.string(body, "client-key-data", at);
    const keyFile = this.path(body, "client-key", at);
    this.oneOf(w, certData, certFile, "user.client-certificate-data", "user.client-certificate");
    this.oneOf(w, keyData, keyFile, "user.client-key-data", "user.client-key");
    // kubectl's field is tokenFile; client-node reads token-file.
    const tokenFile = this.path(body, "tokenFile", at) ?? this.path(body, "token-file", at);
    const authProvider = body["auth-provider"];
    if (authProvider != null && !isMap(authProvider))
      this.fail(`${at}auth-provider is a ${kindOf(authProvider)}, not a mapping`);
    const exec =
      body.exec == null ? undefined : parseExecConfig(body.exec, (m) => this.fail(m), `${at}exec`, this.baseDir);
    const [token, username, password, impersonateUser] = ["token", "username", "password", "as"].map((k) =>
      this.string(body, k, at),
    );
    const files = { certFile, keyFile, tokenFile };
    const secrets = { certData, keyData, token, username, password };
    return omitUndefined({
      name,
      ...files,
      ...secrets,
      impersonateUser,
      exec,
      authProvider: authProvider ?? undefined,
    });
  }

  context(e: unknown, i: number, seen: Set<string>, clusters: Cluster[]): Context {
    const { name, body, w } = this.entry(e, i, "contexts", seen);
    const cluster = body && this.string(body, "cluster", `${w} context.`);
    if (!body || !cluster) this.fail(`${w} has no context.cluster; name one of clusters[].name`);
    if (!clusters.some((c) => c.name === cluster)) {
      this.fail(`${w} context.cluster "${cluster}" is not in clusters; add it or fix the name`);
    }
    // A user that is missing is an error only when the context is used (applyToHTTPSOptions).
    const user = this.string(body, "user", `${w} context.`) ?? "";
    return omitUndefined({ name, cluster, user, namespace: this.string(body, "namespace", `${w} context.`) });
  }
}

function omitUndefined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

export interface KubeConfigOptions {
  /** Clock for the file and exec credential caches (tests). */
  readonly now?: () => number;
}

export class KubeConfig implements KubeConfigView {
  clusters: Cluster[] = [];
  users: KubeUser[] = [];
  contexts: Context[] = [];
  currentContext = "";
  readonly #now: () => number;
  readonly #exec: ExecCredentialCache;
  readonly #files = new Map<string, { readonly data: Buffer; readonly readAt: number }>();

  constructor(options: KubeConfigOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#exec = new ExecCredentialCache(this.#now);
  }

  /** Parses a kubeconfig; relative file paths stay relative unless `baseDir` is given. */
  loadFromString(text: string, source = "kubeconfig", baseDir?: string): void {
    const r: Reader = new Reader(source, baseDir);
    let doc: unknown;
    try {
      doc = parse(text);
    } catch (err) {
      r.fail(`not valid YAML (${(err as Error).message.split("\n")[0]?.replace(/:$/, "")}); fix its syntax`);
    }
    if (!isMap(doc)) r.fail(`the document is ${doc == null ? "empty" : `a ${kindOf(doc)}`}; a kubeconfig is a mapping`);
    const [clusterNames, userNames, contextNames] = [new Set<string>(), new Set<string>(), new Set<string>()];
    const clusters = r.list(doc, "clusters").map((e, i) => r.cluster(e, i, clusterNames));
    const users = r.list(doc, "users").map((e, i) => r.user(e, i, userNames));
    const contexts = r.list(doc, "contexts").map((e, i) => r.context(e, i, contextNames, clusters));
    this.loadFromOptions({ clusters, users, contexts, currentContext: r.string(doc, "current-context", "") ?? "" });
  }

  /** Reads a kubeconfig file; its relative paths are relative to the file's directory, as kubectl has it. */
  loadFromFile(path: string): void {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      throw new Error(`kubeconfig: cannot read ${path} (${code}); check the path`);
    }
    this.loadFromString(text, `kubeconfig ${path}`, dirname(resolve(path)));
  }

  /** The pod's service account: env KUBERNETES_SERVICE_HOST/PORT, its CA, and its token (re-read as it rotates). */
  loadFromCluster(pathPrefix = ""): void {
    const host = process.env.KUBERNETES_SERVICE_HOST;
    const port = process.env.KUBERNETES_SERVICE_PORT;
    if (!host || !port) {
      throw new Error("kubeconfig: not in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set");
    }
    const dir = `${pathPrefix}${SERVICEACCOUNT_DIR}`;
    if (!existsSync(`${dir}/token`)) {
      throw new Error(`kubeconfig: in-cluster: ${dir}/token does not exist; mount a service account token in the pod`);
    }
    let namespace: string | undefined;
    if (existsSync(`${dir}/namespace`)) namespace = readFileSync(`${dir}/namespace`, "utf8").trim() || undefined;
    // Always https (client-node guesses http for ports 80/8080/8001; no API server serves that in a pod).
    const server = `https://${isIPv6(host) ? `[${host}]` : host}:${port}`;
    this.loadFromOptions({
      clusters: [{ name: IN_CLUSTER, server, caFile: `${dir}/ca.crt`, skipTLSVerify: false }],
      users: [{ name: IN_CLUSTER, tokenFile: `${dir}/token` }],
      contexts: [omitUndefined({ name: IN_CLUSTER, cluster: IN_CLUSTER, user: IN_CLUSTER, namespace })],
      currentContext: IN_CLUSTER,
    });
  }

  /**
   * As client-node: $KUBECONFIG, else ~/.kube/config, else in-cluster when KUBERNETES_SERVICE_HOST is set.
   * Of a `:`-separated $KUBECONFIG only the first file that exists is loaded (kubectl merges them all).
   */
  loadFromDefault(): void {
    const list = process.env.KUBECONFIG;
    const paths = list
      ? list.split(delimiter).filter(Boolean)
      : [join(process.env.HOME || homedir(), ".kube", "config")];
    const found = paths.find((p) => existsSync(p));
    if (found) this.loadFromFile(found);
    else if (list) throw new Error(`kubeconfig: no file of $KUBECONFIG exists (${paths.join(", ")}); fix or unset it`);
    else if (process.env.KUBERNETES_SERVICE_HOST) this.loadFromCluster();
    else {
      throw new Error(
        `kubeconfig: none found: $KUBECONFIG is not set, ${paths[0]} does not exist and KUBERNETES_SERVICE_HOST is not set (not in a pod); set KUBECONFIG or run in a cluster`,
      );
    }
  }

  loadFromOptions(o: { clusters: Cluster[]; users: KubeUser[]; contexts: Context[]; currentContext: string }): void {
    this.clusters = [...o.clusters];
    this.users = [...o.users];
    this.contexts = [...o.contexts];
    this.currentContext = o.currentContext ?? "";
  }

  getCurrentContext(): string {
    return this.currentContext;
  }
  setCurrentContext(name: string): void {
    this.currentContext = name;
  }
  getContextObject(name: string): Context | null {
    return this.contexts.find((c) => c.name === name) ?? null;
  }
  getCluster(name: string): Cluster | null {
    return this.clusters.find((c) => c.name === name) ?? null;
  }
  getUser(name: string): KubeUser | null {
    return this.users.find((u) => u.name === name) ?? null;
  }
  getCurrentCluster(): Cluster | null {
    const ctx = this.getContextObject(this.currentContext);
    return ctx ? this.getCluster(ctx.cluster) : null;
  }
  getCurrentUser(): KubeUser | null {
    const ctx = this.getContextObject(this.currentContext);
    return ctx?.user ? this.getUser(ctx.user) : null;
  }

  async applyToHTTPSOptions(opts: RequestOptions): Promise<void> {
    const { ctx, cluster } = currentOf(this);
    const user = ctx.user ? this.getUser(ctx.user) : null;
    if (ctx.user && !user) {
      throw new Error(
        `kubeconfig: context "${ctx.name}" names user "${ctx.user}", not in users; add it or fix the context`,
      );
    }
    // Everything is read first: on an error `opts` is left as it was.
    const ca = await this.#material(`cluster "${cluster.name}" certificate-authority`, cluster.caFile, cluster.caData);
    let cert: Buffer | string | undefined;
    let key: Buffer | string | undefined;
    let bearer: string | undefined;
    if (user) {
      const at = `user "${user.name}"`;
      cert = await this.#material(`${at} client-certificate`, user.certFile, user.certData);
      key = await this.#material(`${at} client-key`, user.keyFile, user.keyData);
      const ap = user.authProvider as { name?: unknown; config?: { tokenFile?: unknown } } | null | undefined;
      // client-node's in-cluster user carries its token file as authProvider.config.tokenFile.
      const apTokenFile = typeof ap?.config?.tokenFile === "string" ? ap.config.tokenFile : undefined;
      if (ap && !apTokenFile) {
        throw new Error(
          `kubeconfig: ${at}: the auth-provider "${String(ap.name)}" is not supported; use an exec plugin or a token`,
        );
      }
      const tokenFile = user.tokenFile ?? apTokenFile;
      if (user.token) bearer = user.token;
      else if (tokenFile) bearer = await this.#token(`${at} tokenFile`, tokenFile);
      else if (user.exec) {
        const status = await this.#exec.get(user.name, user.exec as ExecConfig);
        bearer = status.token;
        if (status.clientCertificateData) cert = status.clientCertificateData;
        if (status.clientKeyData) key = status.clientKeyData;
      }
    }
    if (cluster.skipTLSVerify) opts.rejectUnauthorized = false;
    if (cluster.tlsServerName) opts.servername = cluster.tlsServerName;
    if (ca) opts.ca = ca;
    if (cert) opts.cert = cert;
    if (key) opts.key = key;
    if (!user) return;
    const headers = headersOf(opts);
    if (user.impersonateUser) setHeader(headers, "Impersonate-User", user.impersonateUser);
    if (bearer) setHeader(headers, "Authorization", `Bearer ${bearer}`);
    if (user.username) opts.auth = `${user.username}:${user.password ?? ""}`;
  }

  /** Forgets cached exec credentials and file contents (e.g. after the API server answered 401). */
  refreshCredentials(): void {
    this.#exec.clear();
    this.#files.clear();
  }

  async #material(what: string, file: string | undefined, data: string | undefined): Promise<Buffer | undefined> {
    if (file) return this.#read(what, file);
    return data ? Buffer.from(data, "base64") : undefined;
  }

  async #token(what: string, file: string): Promise<string> {
    const token = (await this.#read(what, file)).toString("utf8").trim();
    if (!token) throw new Error(`kubeconfig: ${what} ${file} is empty; it must hold a bearer token`);
    return token;
  }

  /** A file's contents, read again when older than FILE_MAX_AGE_MS. */
  async #read(what: string, file: string): Promise<Buffer> {
    const cached = this.#files.get(file);
    if (cached && this.#now() - cached.readAt < FILE_MAX_AGE_MS) return cached.data;
    try {
      const data = await readFile(file);
      this.#files.set(file, { data, readAt: this.#now() });
      return data;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      throw new Error(`kubeconfig: cannot read ${what} ${file} (${code}); check the path`);
    }
  }
}

/** The current context and its cluster, or an error saying what to fix. */
function currentOf(view: KubeConfigView): { ctx: Context; cluster: Cluster } {
  const name = view.getCurrentContext();
  const names = view.contexts.map((c) => c.name).join(", ") || "none";
  if (!name) throw new Error(`kubeconfig: current-context is not set; set it to one of the contexts (${names})`);
  const ctx = view.getContextObject(name);
  if (!ctx) throw new Error(`kubeconfig: current-context "${name}" is not among the contexts (${names}); fix it`);
  const cluster = view.clusters.find((c) => c.name === ctx.cluster);
  if (!cluster)
    throw new Error(`kubeconfig: context "${name}" names cluster "${ctx.cluster}", not in clusters; fix it`);
  return { ctx, cluster };
}

function headersOf(opts: RequestOptions): OutgoingHttpHeaders {
  if (Array.isArray(opts.headers)) {
    const flat = opts.headers as readonly string[];
    const obj: OutgoingHttpHeaders = {};
    for (let i = 0; i + 1 < flat.length; i += 2) obj[flat[i] as string] = flat[i + 1];
    opts.headers = obj;
  }
  opts.headers ??= {};
  return opts.headers as OutgoingHttpHeaders;
}

/** Sets a header, dropping any spelling of it in another case. */
function setHeader(headers: OutgoingHttpHeaders, name: string, value: string): void {
  for (const k of Object.keys(headers)) if (k.toLowerCase() === name.toLowerCase()) delete headers[k];
  headers[name] = value;
}

/** The current cluster's API server URL; a clear error when the kubeconfig has no current context or cluster. */
export function clusterServer(view: KubeConfigView): URL {
  const { cluster } = currentOf(view);
  const url = URL.parse(cluster.server);
  if (!url) throw new Error(`kubeconfig: cluster "${cluster.name}" server "${cluster.server}" is not a URL; fix it`);
  return url;
}
