// Renders the replicate Job the operator runs on a job's source cluster for
// one large step: the operator's own image running `checkpoint replicate
// --step N`, the credentials of the source and destination stores given the
// way the job's pods get theirs (a Secret copied to the worker, else the
// cluster's workload identity), labelled like the job's other worker objects
// so cleanup finds it. Pure: the same inputs give the same objects.

import { createHash } from "node:crypto";
import type { V1EnvVar, V1Job, V1Secret } from "@kubernetes/client-node";
import { type JobRef, LABEL_EPOCH, LABEL_JOB_UID, workloadLabels } from "../../workload/names.ts";

/** Labels a replicate Job (and its pods and Secret) carries on top of the job's worker labels. */
export const LABEL_COMPONENT = "app.kubernetes.io/component";
export const REPLICATE_COMPONENT = "checkpoint-replicate";
export const LABEL_REPLICATE_STEP = "training.crosscloud.dev/replicate-step";
/** Selects every replicate Job the operator runs, of any TrainingJob. */
export const REPLICATE_SELECTOR = `${LABEL_COMPONENT}=${REPLICATE_COMPONENT}`;

/** The path of the checkpoint command in the operator image (its build puts dist/ under the work dir). */
export const REPLICATE_COMMAND = ["/nodejs/bin/node", "dist/checkpoint/cli.js", "replicate"] as const;

/** One store of the copy: its URI and what its cluster gives pods to reach it. */
export interface ReplicateStore {
  readonly cluster: string;
  /** Its cluster's cloud: the source cluster's workload identity reaches only stores of its own cloud. */
  readonly cloud?: string;
  readonly uri: string;
  /** Plain env (S3 endpoint and region) from storeEnv(). */
  readonly env: readonly V1EnvVar[];
  /** The store's credentials when its cluster gives them to pods (podCredentials: Secret). */
  readonly credentials?: Readonly<Record<string, string>>;
}

export interface ReplicateJobInput {
  readonly job: JobRef;
  /** The placement's epoch (the Job's labels: fencing that epoch removes it). */
  readonly epoch: number;
  readonly step: number;
  /** The epoch that wrote the step (the command's --epoch); default `epoch`. */
  readonly stepEpoch?: number;
  /** The source worker's workload namespace and the placement's workload name (<job>-e<epoch>...). */
  readonly namespace: string;
  readonly workload: string;
  readonly image: string;
  readonly source: ReplicateStore;
  readonly destinations: readonly ReplicateStore[];
  /** The source cluster's workload identity ServiceAccount, when it names one. */
  readonly serviceAccountName?: string;
}

export interface ReplicateJob {
  readonly job: V1Job;
  /** The credentials of both stores, copied to the worker; absent when neither cluster gives Secrets to pods. */
  readonly secret?: V1Secret;
}

/** Env names a store's settings may use; two stores that need different values cannot share one pod. */
const STORE_SETTINGS = ["AWS_ENDPOINT_URL_S3", "AWS_REGION"];

/**
 * Why the stores cannot be given to one pod, or undefined: one process reads one AWS_* and one AZURE_*
 * set from its env, so two S3 stores (or two Blob stores) of different endpoints or keys cannot be
 * reached by one `replicate` process. Those steps stay in-process.
 */
export function credentialsClash(stores: readonly ReplicateStore[]): string | undefined {
  const seen = new Map<string, { value: string; cluster: string }>();
  for (const s of stores) {
    const values: [string, string][] = [
      ...s.env.filter((e) => STORE_SETTINGS.includes(e.name)).map((e): [string, string] => [e.name, e.value ?? ""]),
      ...Object.entries(s.credentials ?? {}),
    ];
    for (const [name, value] of values) {
      const before = seen.get(name);
      if (before && before.value !== value)
        return `the stores of ${before.cluster} and ${s.cluster} need different ${name} in one pod`;
      seen.set(name, { value, cluster: s.cluster });
    }
  }
  return undefined;
}

/**
 * Why a Job on the source cluster cannot reach the stores, or undefined: their credentials clash, or
 * a destination of another cloud gives pods no credentials (the source's workload identity is of
 * its own cloud).
 */
export function jobRefusal(stores: readonly ReplicateStore[]): string | undefined {
  const [source, ...destinations] = stores;
  const unreachable = destinations.find((d) => d.cloud !== source?.cloud && d.credentials === undefined);
  if (unreachable) {
    return `a Job on ${source?.cluster} has no credentials for the store of ${unreachable.cluster} (its ComputeCluster does not set checkpointStore.podCredentials: Secret)`;
  }
  return credentialsClash(stores);
}

/** <workload>-r<step>, within the 63 characters a Job's name may have (its pods' job-name label). */
export function replicateJobName(workload: string, step: number): string {
  const name = `${workload}-r${step}`;
  if (name.length <= 63) return name;
  const hash = createHash("sha256").update(name).digest("hex").slice(0, 8);
  return `${workload.slice(0, 63 - hash.length - `-r${step}`.length - 1)}-${hash}-r${step}`;
}

/** The command line: replicate only `step` from the source line to each destination line. */
export function replicateArgs(input: ReplicateJobInput): string[] {
  return [
    ...REPLICATE_COMMAND,
    "--from",
    input.source.uri,
    ...input.destinations.flatMap((d) => ["--to", d.uri]),
    "--epoch",
    String(input.stepEpoch ?? input.epoch),
    "--step",
    String(input.step),
  ];
}

export function replicateJobLabels(input: Pick<ReplicateJobInput, "job" | "epoch" | "step">): Record<string, string> {
  return {
    ...workloadLabels(input.job, input.epoch),
    [LABEL_COMPONENT]: REPLICATE_COMPONENT,
    [LABEL_REPLICATE_STEP]: String(input.step),
  };
}

/** The Job (and the Secret it reads) that replicates one step from the source cluster. */
export function renderReplicateJob(input: ReplicateJobInput): ReplicateJob {
  const name = replicateJobName(input.workload, input.step);
  const labels = replicateJobLabels(input);
  const { [LABEL_EPOCH]: _epoch, ...podLabels } = labels;
  const stores = [input.source, ...input.destinations];
  const credentials = Object.assign({}, ...stores.map((s) => s.credentials ?? {})) as Record<string, string>;
  const secretName = Object.keys(credentials).length > 0 ? `${name}-stores` : undefined;
  const env = dedupe(stores.flatMap((s) => s.env));
  const [command, ...args] = replicateArgs(input);
  const job: V1Job = {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name, namespace: input.namespace, labels },
    spec: {
      // Each retry resumes: verified files and parts are not copied again.
      backoffLimit: 3,
      activeDeadlineSeconds: 6 * 3600,
      ttlSecondsAfterFinished: 3600,
      template: {
        // Not the epoch label: the pods of a placement (observe.ts) are found by uid and epoch.
        metadata: { labels: podLabels },
        spec: {
          restartPolicy: "Never",
          ...(input.serviceAccountName ? { serviceAccountName: input.serviceAccountName } : {}),
          automountServiceAccountToken: input.serviceAccountName !== undefined,
          nodeSelector: { "kubernetes.io/os": "linux" },
          securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: "RuntimeDefault" } },
          containers: [
            {
              name: "replicate",
              image: input.image,
              command: [command ?? ""],
              args,
              env,
              ...(secretName ? { envFrom: [{ secretRef: { name: secretName } }] } : {}),
              resources: { requests: { cpu: "1", memory: "512Mi" }, limits: { memory: "1Gi" } },
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                runAsNonRoot: true,
                capabilities: { drop: ["ALL"] },
              },
            },
          ],
        },
      },
    },
  };
  if (!secretName) return { job };
  const secret: V1Secret = {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: secretName, namespace: input.namespace, labels },
    type: "Opaque",
    stringData: credentials,
  };
  return { job, secret };
}

/** Env by name, the first one kept (credentialsClash has refused stores whose values differ). */
function dedupe(env: readonly V1EnvVar[]): V1EnvVar[] {
  const seen = new Set<string>();
  return env.filter((e) => !seen.has(e.name) && seen.add(e.name) !== undefined);
}

/** The step a replicate Job copies, from its labels; undefined for another object. */
export function replicateStepOf(labels: Readonly<Record<string, string>> | undefined): number | undefined {
  const raw = labels?.[LABEL_REPLICATE_STEP];
  if (labels?.[LABEL_COMPONENT] !== REPLICATE_COMPONENT || raw === undefined || !/^[0-9]+$/.test(raw)) return undefined;
  return Number(raw);
}

/** True when a worker object belongs to TrainingJob `uid`. */
export function ownedBy(labels: Readonly<Record<string, string>> | undefined, uid: string): boolean {
  return labels?.[LABEL_JOB_UID] === uid;
}
