// The checkpoint store of each ComputeCluster: its URI for a job's prefix, the
// options to open it from the operator (endpoint, region, credentials from the
// cluster's credentials Secret), and the env and Secret its pods get.

import type { V1EnvVar } from "@kubernetes/client-node";
import type { ComputeCluster } from "../api/computecluster.ts";
import type { TrainingJob } from "../api/trainingjob.ts";
import { connectionKeyFor } from "../checkpoint/connection-string.ts";
import type { OpenStoreOptions } from "../checkpoint/open-store.ts";
import { parseStoreUri, pathProblem } from "../checkpoint/uri.ts";
import { isNotFound } from "../runtime/api-errors.ts";
import type { PodIdentity } from "../workload/render.ts";
import { secretRefRefusal } from "./secret-refs.ts";
import type { SecretReader } from "./secrets.ts";

/**
 * A job's checkpoint line: `<namespace>/<prefix>` (prefix default: the job's name), the same path in
 * every store. The namespace always comes first, so no prefix reaches another namespace's line; a
 * prefix that could leave it (`..`, `.`, empty segments, backslashes, escapes) is refused here too,
 * for an object that did not pass the CRD's validation.
 */
export function checkpointLine(job: TrainingJob): string {
  const { namespace, name } = job.metadata;
  const prefix = job.spec.checkpoint.prefix ?? name ?? "";
  const problem =
    pathProblem(prefix) ??
    (prefix === "" || prefix.startsWith("/") || prefix.endsWith("/") || prefix.includes("//")
      ? "the path is empty, starts or ends with '/', or has an empty segment"
      : undefined);
  if (problem) {
    throw new Error(
      `TrainingJob ${namespace}/${name}: spec.checkpoint.prefix "${prefix}" is refused: ${problem}; it is a path under the job's namespace in each store`,
    );
  }
  return `${namespace}/${prefix}`;
}

/** Where a job's steps go in a cluster's store: the store under the job's checkpoint line. */
export function checkpointUri(cc: ComputeCluster, job: TrainingJob): string {
  return lineUri(cc, checkpointLine(job));
}

/** A checkpoint line (`<namespace>/<prefix>`) in a cluster's store. */
export function lineUri(cc: ComputeCluster, line: string): string {
  const store = cc.spec.checkpointStore;
  if (store.s3) return `s3://${store.s3.bucket}/${line}`;
  if (store.azureBlob) return `${store.azureBlob.accountURL.replace(/\/$/, "")}/${store.azureBlob.container}/${line}`;
  throw new Error(`ComputeCluster ${cc.metadata.name}: spec.checkpointStore has neither s3 nor azureBlob`);
}

/**
 * The job among `jobs` that holds `job`'s checkpoint line, when it is another one: the oldest
 * unfinished job of the namespace with the same line (ties: the smaller name). Two jobs never write
 * one line; a job continues another's steps with spec.checkpoint.from instead.
 */
export function lineHolder(job: TrainingJob, jobs: readonly TrainingJob[]): TrainingJob | undefined {
  const line = checkpointLine(job);
  const created = (j: TrainingJob) => new Date(j.metadata.creationTimestamp ?? 0).getTime();
  const older = (a: TrainingJob, b: TrainingJob) =>
    created(a) - created(b) || (a.metadata.name ?? "").localeCompare(b.metadata.name ?? "");
  const holders = jobs.filter(
    (j) =>
      j.metadata.namespace === job.metadata.namespace &&
      !j.metadata.deletionTimestamp &&
      !["Succeeded", "Failed"].includes(j.status?.phase ?? "") &&
      sameLine(j, line),
  );
  const oldest = [...holders.filter((j) => j.metadata.uid !== job.metadata.uid), job].sort(older)[0];
  return oldest && oldest.metadata.uid !== job.metadata.uid ? oldest : undefined;
}

function sameLine(j: TrainingJob, line: string): boolean {
  try {
    return checkpointLine(j) === line;
  } catch {
    return false;
  }
}

/**
 * The credentials Secret's data (decoded), or undefined when the cluster names none. A Secret
 * outside `secretNamespace` (the operator's namespace; undefined: any) is refused without being read.
 */
export async function storeCredentials(
  cc: ComputeCluster,
  core: SecretReader,
  secretNamespace?: string,
): Promise<Record<string, string> | undefined> {
  const ref = cc.spec.checkpointStore.credentialsSecretRef;
  if (!ref) return undefined;
  const refused = secretRefRefusal("spec.checkpointStore.credentialsSecretRef", ref, secretNamespace);
  if (refused) throw new Error(`ComputeCluster ${cc.metadata.name}: ${refused}`);
  const secret = await core.readNamespacedSecret({ namespace: ref.namespace, name: ref.name }).catch((err: unknown) => {
    if (isNotFound(err)) {
      throw new Error(
        `Secret ${ref.namespace}/${ref.name} (spec.checkpointStore.credentialsSecretRef of ComputeCluster ${cc.metadata.name}) does not exist`,
      );
    }
    throw err;
  });
  return Object.fromEntries(
    Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]),
  );
}

/** How the operator opens the cluster's store. */
export function storeOptions(cc: ComputeCluster, credentials: Record<string, string> | undefined): OpenStoreOptions {
  const s3 = cc.spec.checkpointStore.s3;
  const keys =
    credentials?.AWS_ACCESS_KEY_ID && credentials.AWS_SECRET_ACCESS_KEY
      ? {
          s3Credentials: {
            accessKeyId: credentials.AWS_ACCESS_KEY_ID,
            secretAccessKey: credentials.AWS_SECRET_ACCESS_KEY,
          },
        }
      : {};
  return {
    ...(s3?.endpoint ? { s3Endpoint: s3.endpoint } : {}),
    s3Region: s3?.region ?? cc.spec.aws?.region ?? "us-east-1",
    ...keys,
    ...azureKey(cc, credentials),
    env: {},
  };
}

/**
 * The Blob account key: AZURE_STORAGE_ACCOUNT_KEY, else the AccountKey of AZURE_STORAGE_CONNECTION_STRING,
 * whose account and blob endpoint must be the store's (spec.checkpointStore.azureBlob.accountURL).
 */
function azureKey(cc: ComputeCluster, credentials: Record<string, string> | undefined): { azureAccountKey?: string } {
  if (credentials?.AZURE_STORAGE_ACCOUNT_KEY) return { azureAccountKey: credentials.AZURE_STORAGE_ACCOUNT_KEY };
  const text = credentials?.AZURE_STORAGE_CONNECTION_STRING;
  const blob = cc.spec.checkpointStore.azureBlob;
  if (!text || !blob) return {};
  const ref = cc.spec.checkpointStore.credentialsSecretRef;
  const store = parseStoreUri(`${blob.accountURL.replace(/\/+$/, "")}/${blob.container}`);
  const key =
    store.ok && store.uri.kind === "azure-blob"
      ? connectionKeyFor(text, store.uri.accountUrl, store.uri.account)
      : { ok: false as const, reason: "spec.checkpointStore.azureBlob is not a valid store" };
  if (!key.ok) {
    const why = key.reason;
    throw new Error(
      `ComputeCluster ${cc.metadata.name}: Secret ${ref?.namespace}/${ref?.name}: ${why}: give the account of spec.checkpointStore.azureBlob.accountURL in both`,
    );
  }
  return { azureAccountKey: key.key };
}

/** True when the cluster gives its store-wide credentials Secret to the job's pods (podCredentials: Secret). */
export function podsGetStoreSecret(cc: ComputeCluster): boolean {
  const store = cc.spec.checkpointStore;
  return store.podCredentials === "Secret" && store.credentialsSecretRef !== undefined;
}

/** The cloud identity the job's pods run as on the cluster (spec.workloadIdentity), for renderWorkload. */
export function podIdentity(cc: ComputeCluster): PodIdentity {
  const wi = cc.spec.workloadIdentity;
  return {
    ...(wi?.serviceAccountName ? { serviceAccountName: wi.serviceAccountName } : {}),
    allowTemplateServiceAccount: wi?.allowTemplateServiceAccount === true,
    // The Azure Workload Identity webhook mutates only pods labelled for it.
    azureWorkloadIdentity: cc.spec.cloud === "azure" && !podsGetStoreSecret(cc),
  };
}

/**
 * Env for the trainer so it can reach its store: the endpoint and region, and
 * the credentials Secret (copied to the worker as `secretName`) when the
 * cluster gives it to pods; otherwise the pod's workload identity is used.
 */
export function storeEnv(cc: ComputeCluster, secretName: string | undefined): { env: V1EnvVar[]; secretName?: string } {
  const s3 = cc.spec.checkpointStore.s3;
  const env: V1EnvVar[] = [];
  if (s3?.endpoint) env.push({ name: "AWS_ENDPOINT_URL_S3", value: s3.endpoint });
  if (s3) env.push({ name: "AWS_REGION", value: s3.region ?? cc.spec.aws?.region ?? "us-east-1" });
  return secretName ? { env, secretName } : { env };
}

/**
 * Store credentials of each ComputeCluster; only in `namespace` when given (see
 * src/clusters/secret-refs.ts). From a current reader (the operator's Secret informer) every call
 * is current and free; from the API, a Secret is read at most once a minute per reference, and
 * callers that ask at once share one read.
 */
export class StoreSecrets {
  readonly #reader: SecretReader;
  readonly #namespace: string | undefined;
  readonly #cache = new Map<string, { at: number; data: Promise<Record<string, string> | undefined> }>();

  constructor(reader: SecretReader, namespace?: string) {
    this.#reader = reader;
    this.#namespace = namespace;
  }

  async of(cc: ComputeCluster, now: Date): Promise<Record<string, string> | undefined> {
    if (this.#reader.current) return storeCredentials(cc, this.#reader, this.#namespace);
    // Keyed by the reference too: a ComputeCluster pointed at another Secret is read again at once.
    const ref = cc.spec.checkpointStore.credentialsSecretRef;
    const name = `${cc.metadata.name}|${ref?.namespace}/${ref?.name}`;
    const hit = this.#cache.get(name);
    if (hit && now.getTime() - hit.at < 60_000) return hit.data;
    const data = storeCredentials(cc, this.#reader, this.#namespace);
    this.#cache.set(name, { at: now.getTime(), data });
    // A failed read is not kept: the next caller reads again.
    data.catch(() => {
      if (this.#cache.get(name)?.data === data) this.#cache.delete(name);
    });
    return data;
  }
}
