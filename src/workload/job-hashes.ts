// The hashes the operator writes on a worker Job (as annotations) and compares
// at every pass, to decide what to do with a Job that is already there:
// - the spec hash: everything it renders (Job spec, Service spec, labels). The
//   same: nothing to apply.
// - the fixed hash: what an existing Job cannot take in an update (every Job
//   spec field but the few the API server lets change, and the Service's
//   clusterIP). A different one: applying would get 422, so the Job is never
//   re-applied; it is replaced (a new epoch) or left running until the next.
// - the input hash: what the user asked the pods to run (the TrainingJob's pod
//   template, replicas and chosen accelerator option). It tells a user's change
//   (a new epoch) from a rendering change (left running).
// Pure: the same objects give the same hashes.

import { createHash } from "node:crypto";
import type { V1JobSpec } from "@kubernetes/client-node";
import type { AcceleratorOption, TrainingJob } from "../api/trainingjob.ts";
import type { Workload } from "./render.ts";

/**
 * The Job spec fields an update of an existing Job may change (batch/v1 validation: suspend,
 * parallelism, backoffLimit, activeDeadlineSeconds, ttlSecondsAfterFinished). Every other field,
 * including any a later release renders, counts as fixed: a change of one is never applied.
 */
export const MUTABLE_JOB_FIELDS = [
  "suspend",
  "parallelism",
  "backoffLimit",
  "activeDeadlineSeconds",
  "ttlSecondsAfterFinished",
] as const satisfies readonly (keyof V1JobSpec)[];

/** Everything rendered: equal hashes mean the worker already holds this rendering. */
export function specHash(w: Workload): string {
  return digest([w.job.spec, w.service.spec, w.job.metadata?.labels]);
}

/**
 * What an existing Job (and Service) cannot take in an update: the Job spec without
 * MUTABLE_JOB_FIELDS (pod template, completions, completionMode, podFailurePolicy, and anything else
 * rendered there), and the Service's clusterIP.
 */
export function fixedHash(w: Workload): string {
  const spec: Record<string, unknown> = { ...w.job.spec };
  for (const field of MUTABLE_JOB_FIELDS) delete spec[field];
  return digest([spec, w.service.spec?.clusterIP ?? null]);
}

/**
 * The hash an earlier release wrote as `training.crosscloud.dev/template-hash`: the pod template,
 * completions and parallelism only. Compared for Jobs launched before the fixed hash existed.
 */
export function legacyTemplateHash(w: Workload): string {
  const spec = w.job.spec;
  return digest([spec?.template, spec?.completions, spec?.parallelism]);
}

/** What the user asked the pods to run: the pod template, replicas and the chosen accelerator option. */
export function inputHash(job: TrainingJob, option: AcceleratorOption | undefined): string {
  return digest([job.spec.template, job.spec.replicas, option]);
}

/** 16 hex characters of the SHA-256 of a value's JSON. */
export function digest(value: unknown): string {
  return createHash("sha256").update(JSON.stringify(value)).digest("hex").slice(0, 16);
}
