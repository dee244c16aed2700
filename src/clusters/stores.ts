// The checkpoint store of each ComputeCluster: its URI for a job's prefix, the
// options to open it from the operator (endpoint, region, credentials from the
// cluster's credentials Secret), and the env and Secret its pods get.

import type { CoreV1Api, V1EnvVar } from "@kubernetes/client-node";
import type { ComputeCluster } from "../api/computecluster.ts";
import type { TrainingJob } from "../api/trainingjob.ts";
import type { OpenStoreOptions } from "../checkpoint/open-store.ts";
import { isNotFound } from "../runtime/api-errors.ts";

/** Where a job's steps go in a cluster's store: the store under the job's prefix. */
export function checkpointUri(cc: ComputeCluster, job: TrainingJob): string {
  const prefix = job.spec.checkpoint.prefix ?? `${job.metadata.namespace}/${job.metadata.name}`;
  const store = cc.spec.checkpointStore;
  if (store.s3) return `s3://${store.s3.bucket}/${prefix}`;
  if (store.azureBlob) return `${store.azureBlob.accountURL.replace(/\/$/, "")}/${store.azureBlob.container}/${prefix}`;
  throw new Error(`ComputeCluster ${cc.metadata.name}: spec.checkpointStore has neither s3 nor azureBlob`);
}

/** The credentials Secret's data (decoded), or undefined when the cluster names none. */
export async function storeCredentials(
  cc: ComputeCluster,
  core: CoreV1Api,
): Promise<Record<string, string> | undefined> {
  const ref = cc.spec.checkpointStore.credentialsSecretRef;
  if (!ref) return undefined;
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
    ...(credentials?.AZURE_STORAGE_ACCOUNT_KEY ? { azureAccountKey: credentials.AZURE_STORAGE_ACCOUNT_KEY } : {}),
    env: {},
  };
}

/**
 * Env for the trainer so it can reach its store: the endpoint and region, and
 * the credentials Secret (copied to the worker as `secretName`) when the
 * cluster has one; otherwise the pod's workload identity is used.
 */
export function storeEnv(cc: ComputeCluster, secretName: string | undefined): { env: V1EnvVar[]; secretName?: string } {
  const s3 = cc.spec.checkpointStore.s3;
  const env: V1EnvVar[] = [];
  if (s3?.endpoint) env.push({ name: "AWS_ENDPOINT_URL_S3", value: s3.endpoint });
  if (s3) env.push({ name: "AWS_REGION", value: s3.region ?? cc.spec.aws?.region ?? "us-east-1" });
  return secretName ? { env, secretName } : { env };
}
