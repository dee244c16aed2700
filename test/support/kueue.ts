// Kueue on the test process's sandbox hub (scripts/sandbox/kueue.ts): started
// when it does not run there yet, ready once its webhooks answer.

import { type KueueStart, startKueue } from "../../scripts/sandbox/kueue.ts";

export const KUEUE_GROUP = "kueue.x-k8s.io";
export const KUEUE_VERSION = "v1beta2";

/**
 * Starts Kueue on this sandbox's hub unless it already runs healthy there; returns once its
 * readyz and its admission webhooks answer (a dry-run ResourceFlavor create passes them).
 */
export function ensureKueue(): Promise<KueueStart> {
  return startKueue();
}
