// The launch phase: renders a placement's workload and applies it to its
// worker (namespace, store Secret, Service, then the Job last, with the hash
// of what it was rendered from), unless the worker already holds exactly that.
// The step to resume from is decided here, when the Job is created.

import type { KubernetesObject, V1Job } from "@kubernetes/client-node";
import type { ComputeCluster } from "../../api/computecluster.ts";
import type { TrainingJob } from "../../api/trainingjob.ts";
import type { EpochFence } from "../../checkpoint/fence.ts";
import type { OpenStoreOptions } from "../../checkpoint/open-store.ts";
import type { WorkerCluster } from "../../clusters/registry.ts";
import {
  checkpointLine,
  checkpointUri,
  lineHolder,
  podIdentity,
  podsGetStoreSecret,
  storeEnv,
  storeOptions,
} from "../../clusters/stores.ts";
import { ignoreNotFound } from "../../runtime/api-errors.ts";
import { failpoint } from "../../runtime/failpoints.ts";
import { fixedHash, inputHash, legacyTemplateHash, specHash } from "../../workload/job-hashes.ts";
import { LABEL_JOB_UID, workloadName } from "../../workload/names.ts";
import {
  RESUME_STEP_ANNOTATION,
  RESUME_URI_ANNOTATION,
  renderWorkload,
  resumeData,
  type Workload,
} from "../../workload/render.ts";
import type { ResumePoint } from "./checkpoints.ts";
import { type PassContext, placementKeyOf } from "./context.ts";
import { lineageOf } from "./failover-trigger.ts";
import { domainsOf, writeComputeDomain } from "./launch-domains.ts";
import type { StatusBuilder } from "./status.ts";
import { apply, createOrClaim, ensureNamespace, knownJob, refuseOthers } from "./worker-writes.ts";

const SPEC_HASH = "training.crosscloud.dev/spec-hash";
/**
 * The hash of what a Job (and its Service) cannot change once created (fixedHash: every Job spec
 * field but suspend, parallelism, backoffLimit, activeDeadlineSeconds and ttlSecondsAfterFinished).
 */
const FIXED_HASH = "training.crosscloud.dev/fixed-hash";
/** What an earlier release wrote instead of FIXED_HASH: the hash of the pod template, completions and parallelism. */
const LEGACY_TEMPLATE_HASH = "training.crosscloud.dev/template-hash";
/**
 * The hash of what the user asked the pods to run: the TrainingJob's pod template, replicas and the
 * chosen accelerator option. A Job whose fixed hash differs but whose input hash is the same was
 * rendered differently from the same request (see `Launched.outdated`).
 */
const INPUT_HASH = "training.crosscloud.dev/input-hash";
/** When the step the Job resumes from was committed, so a pass after a crash still knows the work lost. */
const RESUME_CREATED_ANNOTATION = "training.crosscloud.dev/resume-step-created-at";

export interface Launched {
  /** The worker's Job for this epoch. */
  readonly job: V1Job | undefined;
  /**
   * The worker's Job was made from another pod template (image, env, devices) or size, which a Job
   * cannot change: the placement needs a new epoch. Nothing was applied.
   */
  readonly replace?: boolean;
  /**
   * The worker's Job was rendered differently (by another operator release, or from ComputeCluster
   * settings that changed since) from the same TrainingJob: it is left running as it is, and the new
   * rendering applies at the next epoch.
   */
  readonly outdated?: boolean;
  /**
   * The worker refused to update the objects of a Job that runs already (an admission webhook or
   * policy added since, 422): the Job is left as it is and still observed (blocked.ts).
   */
  readonly refused?: { readonly reason: string; readonly message: string };
  /** True when this pass created it. */
  readonly created: boolean;
  /** The step its pods resume from (decided when the Job was created). */
  readonly resume?: ResumePoint;
}

interface StoreAccess {
  readonly resume?: ResumePoint;
  /** The other job's line `resume` is in (spec.checkpoint.from); absent: this job's own line. */
  readonly resumeUri?: string;
  /** Why the job's spec keeps it from launching (its checkpoint line or `from`), naming the fields. */
  readonly refusal?: string;
  readonly secretName?: string;
  readonly credentials?: Record<string, string>;
}

/** The namespace a job's workload uses on its worker. */
export function workerNamespace(job: TrainingJob, cc: ComputeCluster): string {
  return cc.spec.workloadNamespace || (job.metadata.namespace ?? "default");
}

/** Applies the Job and Service unless the worker already has this exact spec; `fence` picks the resume step. */
export async function launch(
  ctx: PassContext,
  job: TrainingJob,
  b: StatusBuilder,
  worker: WorkerCluster,
  cc: ComputeCluster,
  fence: EpochFence,
): Promise<Launched> {
  const namespace = workerNamespace(job, cc);
  const cached = await existingJob(ctx, job, b, worker, cc);
  const store = await storeAccess(ctx, job, b, cc, cached, fence).catch((err: unknown) => {
    throw new StoreUnavailableError(cc, checkpointUri(cc, job), err);
  });
  const workload = render(ctx, job, b, cc, store);
  const hash = specHash(workload);
  const resume = store.resume;
  if (cached && fixedChanged(cached, workload)) {
    // Applying would be refused (422): the Job is never re-applied. The user changed what the pods
    // run: roll to a new epoch. Anything else (another operator release, the ComputeCluster's
    // settings) leaves the running Job alone until the next epoch.
    const inputs = cached.metadata?.annotations?.[INPUT_HASH];
    if (inputs !== undefined && inputs !== inputOf(job, b)) return { job: cached, created: false, replace: true };
    await keepResumeCurrent(ctx, worker, b, workload, resume, job.spec.checkpoint.localDir);
    return { job: cached, created: false, outdated: true, ...opt(resume) };
  }
  if (cached?.metadata?.annotations?.[SPEC_HASH] === hash) {
    await keepResumeCurrent(ctx, worker, b, workload, resume, job.spec.checkpoint.localDir);
    return { job: cached, created: false, ...opt(resume) };
  }
  // A first launch creates its objects, and one that exists already is taken only when it is this
  // job's (a crash between two creates, an informer behind): nothing of another job's is taken over.
  const write = (o: KubernetesObject) => (cached ? apply(worker, o) : createOrClaim(job, worker, o));
  await ensureNamespace(ctx, worker, namespace);
  if (store.secretName && store.credentials) {
    const labels = workload.job.metadata?.labels;
    const secret = {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: store.secretName, namespace, labels },
      stringData: store.credentials,
    };
    await write(secret);
  }
  const annotate = <T extends KubernetesObject>(o: T, extra: Record<string, string> = {}): T => ({
    ...o,
    metadata: {
      ...o.metadata,
      annotations: {
        ...o.metadata?.annotations,
        [SPEC_HASH]: hash,
        [FIXED_HASH]: fixedHash(workload),
        [INPUT_HASH]: inputOf(job, b),
        ...extra,
      },
    },
  });
  // The Job goes last: its spec hash then says that everything it needs (Secret, Service) is there,
  // so a pass that finds the hash skips the whole launch, and a crash before it repeats all of it.
  // Without a step to resume from there is no resume ConfigMap yet (the pods' env from it is
  // optional: they start from scratch); keepResumeCurrent writes it once a step is committed.
  if (resume) await write(workload.resume);
  ctx.resumeSteps.set(resumeKey(worker, workload), resume ? (workload.resume.data?.step ?? "") : "");
  await write(annotate(workload.service));
  if (workload.computeDomain) await writeComputeDomain(write, worker, workload.computeDomain);
  failpoint("launch.before-job");
  const created: Record<string, string> = resume?.createdAt
    ? { [RESUME_CREATED_ANNOTATION]: resume.createdAt.toISOString() }
    : {};
  const applied = (await write(annotate(workload.job, created))) as V1Job;
  if (!cached)
    b.event({
      type: "Normal",
      reason: "Launched",
      message: `created Job and Service ${namespace}/${workload.job.metadata?.name} on ${worker.name}${resume ? `, resuming from step ${resume.step}` : ", starting from scratch (no committed step in its store)"}`,
    });
  return { job: applied, created: !cached, ...opt(resume) };
}

/**
 * The worker's Job of the placement's epoch, checked to be this job's (NameConflictError otherwise). A
 * placement this pass made has no Job yet: only one the informer shows (another job's) is looked at.
 */
export async function existingJob(
  ctx: PassContext,
  job: TrainingJob,
  b: StatusBuilder,
  worker: WorkerCluster,
  cc: ComputeCluster,
): Promise<V1Job | undefined> {
  const namespace = workerNamespace(job, cc);
  const name = workloadName(hubRef(job), b.status.epoch ?? 1, namespace);
  const fresh = ctx.placedThisPass.has(placementKeyOf(job, b.status.epoch ?? 1));
  const cached = fresh ? worker.jobs.get(namespace, name) : await knownJob(worker, namespace, name);
  if (cached) refuseOthers(job, worker, cached);
  return cached;
}

/**
 * True when the worker's Job was rendered with other fixed fields than `w` (FIXED_HASH): an update
 * would be refused. A Job an earlier release launched carries LEGACY_TEMPLATE_HASH instead, which
 * is compared the way that release did; one with neither is compared by its spec hash alone.
 */
function fixedChanged(cached: V1Job, w: Workload): boolean {
  const a = cached.metadata?.annotations ?? {};
  if (a[FIXED_HASH] !== undefined) return a[FIXED_HASH] !== fixedHash(w);
  return a[LEGACY_TEMPLATE_HASH] !== undefined && a[LEGACY_TEMPLATE_HASH] !== legacyTemplateHash(w);
}

/** The key of a placement's resume ConfigMap in ctx.resumeSteps: its TrainingJob's uid first, so forgetResumeSteps finds it. */
function resumeKey(worker: WorkerCluster, w: Workload): string {
  const uid = w.resume.metadata?.labels?.[LABEL_JOB_UID] ?? "";
  return `${uid}|${worker.name}/${w.resume.metadata?.namespace}/${w.resume.metadata?.name}`;
}

/** Forgets the resume steps (ctx.resumeSteps) remembered for the TrainingJob `uid`: it is being deleted. */
export function forgetResumeSteps(steps: Map<string, string>, uid: string): void {
  for (const key of steps.keys()) if (key.startsWith(`${uid}|`)) steps.delete(key);
}

/**
 * Keeps the resume ConfigMap at the newest step of this placement's store that the fence allows (as
 * the last replication pass found it), so a pod the Job controller starts again resumes from there.
 * Written only when the step changes; after a restart it is read once to learn what it holds.
 */
async function keepResumeCurrent(
  ctx: PassContext,
  worker: WorkerCluster,
  b: StatusBuilder,
  w: Workload,
  launched: ResumePoint | undefined,
  localDir: string | undefined,
): Promise<void> {
  const here = b.status.checkpoint?.stores?.find((s) => s.cluster === b.status.placement?.cluster);
  const newest = Math.max(launched?.step ?? -1, here?.latestStep ?? -1);
  if (newest < 0) return;
  const key = resumeKey(worker, w);
  const { name = "", namespace = "" } = w.resume.metadata ?? {};
  if (!ctx.resumeSteps.has(key)) {
    const held = await ignoreNotFound(worker.core.readNamespacedConfigMap({ name, namespace }));
    ctx.resumeSteps.set(key, held?.data?.step ?? "");
  }
  if (ctx.resumeSteps.get(key) === String(newest)) return;
  const uri = here?.uri ?? "";
  await apply(worker, { ...w.resume, data: resumeData(uri, newest, localDir) } as KubernetesObject);
  ctx.resumeSteps.set(key, String(newest));
}

function opt(resume: ResumePoint | undefined): { resume?: ResumePoint } {
  return resume ? { resume } : {};
}

function render(
  ctx: PassContext,
  job: TrainingJob,
  b: StatusBuilder,
  cc: ComputeCluster,
  store: StoreAccess,
): Workload {
  if (store.refusal) throw new Error(store.refusal);
  const p = b.status.placement;
  const option = job.spec.accelerators.find((a) => a.type === p?.accelerator);
  const instanceType = ctx.o.catalog.get(p?.instanceType ?? "");
  if (!p || !option || !instanceType) throw new Error("a placed job has its accelerator option and instance type");
  return renderWorkload({
    job,
    epoch: b.status.epoch ?? 1,
    option,
    target: {
      cluster: p.cluster ?? "",
      namespace: workerNamespace(job, cc),
      cloud: cc.spec.cloud,
      nodeGroup: p.nodeGroup ?? "",
      instanceType,
      capacityType: p.capacityType ?? "OnDemand",
    },
    checkpointUri: checkpointUri(cc, job),
    ...(store.resume !== undefined ? { resumeStep: store.resume.step } : {}),
    ...(store.resumeUri ? { resumeUri: store.resumeUri } : {}),
    store: storeEnv(cc, store.secretName),
    identity: podIdentity(cc),
    ...domainsOf(job, p),
    // renderWorkload refuses a job with spec.checkpoint.localDir when this is unset, naming OPERATOR_IMAGE.
    ...(ctx.o.operatorImage ? { operatorImage: ctx.o.operatorImage } : {}),
  });
}

/**
 * What the placement's pods need to reach their store: the credentials Secret copied to the worker
 * (when the cluster has one), and the step to resume from: the one the worker Job was launched with,
 * else the newest committed step of this store that the fence allows.
 */
async function storeAccess(
  ctx: PassContext,
  job: TrainingJob,
  b: StatusBuilder,
  cc: ComputeCluster,
  cached: V1Job | undefined,
  fence: EpochFence,
): Promise<StoreAccess> {
  // The store-wide keys reach the pods only when the ComputeCluster opts in (podCredentials: Secret).
  const secretName = podsGetStoreSecret(cc)
    ? `${workloadName(hubRef(job), b.status.epoch ?? 1, workerNamespace(job, cc))}-store`
    : undefined;
  if (cached) {
    // The Job runs already: its resume step is on it, and its pods' copy of the Secret is on the
    // worker. The credentials are read only to keep that copy current; a Secret that cannot be read
    // (missing, wrong keys) leaves the copy as it is, and the job is still observed. Replication
    // says what is wrong with the store (CheckpointReplicated=False, StoreUnavailable).
    const first = { ...opt(launchedResume(cached)), ...resumeUriOf(cached) };
    const credentials = secretName ? await ctx.secrets.of(cc, b.now).catch(() => undefined) : undefined;
    return { ...first, ...(secretName ? { secretName } : {}), ...(credentials ? { credentials } : {}) };
  }
  const credentials = await ctx.secrets.of(cc, b.now);
  const first = await firstResume(ctx, job, cc, storeOptions(cc, credentials), fence);
  return { ...first, ...(secretName && credentials ? { secretName, credentials } : {}) };
}

/**
 * The step a new worker Job starts from: the newest one of the job's own line that the fence allows,
 * else, with spec.checkpoint.from, the newest one of the named job's line in the same store, fenced
 * by that job's own epochs. A line another unfinished job of the namespace writes, or a `from` naming
 * no job, is a refusal instead (render throws it: the job's spec is at fault, not its store).
 */
async function firstResume(
  ctx: PassContext,
  job: TrainingJob,
  cc: ComputeCluster,
  options: OpenStoreOptions,
  fence: EpochFence,
): Promise<Pick<StoreAccess, "resume" | "resumeUri" | "refusal">> {
  const { namespace } = job.metadata;
  const holder = lineHolder(job, ctx.o.jobs.list());
  if (holder) {
    return {
      refusal: `spec.checkpoint.prefix: the checkpoint line ${checkpointLine(job)} is written by TrainingJob ${namespace}/${holder.metadata.name}, and two jobs never write one line: set another spec.checkpoint.prefix, or set spec.checkpoint.from: ${holder.metadata.name} to continue from its steps`,
    };
  }
  const own = await ctx.o.checkpoints.newestStep(checkpointUri(cc, job), options, fence);
  const from = job.spec.checkpoint.from;
  if (own || !from) return opt(own);
  const source = ctx.o.jobs.get(namespace, from);
  if (!source) {
    return {
      refusal: `spec.checkpoint.from names TrainingJob ${namespace}/${from}, which does not exist: create it, or fix or remove spec.checkpoint.from`,
    };
  }
  const resumeUri = checkpointUri(cc, source);
  const sourceFence = { activeEpoch: source.status?.epoch ?? 1, lineage: lineageOf(source.status ?? {}) };
  const step = await ctx.o.checkpoints.newestStep(resumeUri, options, sourceFence);
  return step ? { resume: step, resumeUri } : {};
}

/** The other job's line a worker Job resumed from (spec.checkpoint.from), from its annotation. */
function resumeUriOf(j: V1Job): { resumeUri?: string } {
  const uri = j.metadata?.annotations?.[RESUME_URI_ANNOTATION];
  return uri ? { resumeUri: uri } : {};
}

/** The resume step a worker Job was created with, from its annotations. */
function launchedResume(j: V1Job): ResumePoint | undefined {
  const a = j.metadata?.annotations ?? {};
  const step = a[RESUME_STEP_ANNOTATION];
  if (step === undefined) return undefined;
  const createdAt = a[RESUME_CREATED_ANNOTATION] ? new Date(a[RESUME_CREATED_ANNOTATION]) : undefined;
  return { step: Number(step), ...(createdAt ? { createdAt } : {}) };
}

/** The hub namespace and name of a TrainingJob (both set on any object read from the API server). */
function hubRef(job: TrainingJob): { namespace: string; name: string } {
  return { namespace: job.metadata.namespace ?? "", name: job.metadata.name ?? "" };
}

/**
 * The placement's store cannot be read (its credentials Secret is missing or forbidden, the keys are
 * wrong, the store does not answer): the job is not launched, since it would start from scratch while
 * its steps may be there.
 */
export class StoreUnavailableError extends Error {
  constructor(cc: ComputeCluster, uri: string, cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super(
      `not launched on ${cc.metadata.name}: its checkpoint store ${uri} cannot be read to choose the step to resume from (${why}); fix spec.checkpointStore of ComputeCluster ${cc.metadata.name} (its credentialsSecretRef, or the identity the operator uses)`,
      { cause },
    );
    this.name = "StoreUnavailableError";
  }
}

/** The input hash of the job's request for its placement's accelerator option. */
function inputOf(job: TrainingJob, b: StatusBuilder): string {
  return inputHash(
    job,
    job.spec.accelerators.find((a) => a.type === b.status.placement?.accelerator),
  );
}
