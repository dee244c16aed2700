// Counts the Kubernetes API requests an API client makes (one per call of a
// generated API method) in crosscloud_api_requests_total{cluster,verb}, so the
// cost of the operator per job is measured, not guessed.

import type { Counter } from "prom-client";

const VERBS = ["list", "read", "get", "create", "patch", "replace", "delete"] as const;

function verbOf(method: string): string {
  return VERBS.find((v) => method.startsWith(v)) ?? "other";
}

/** `api` with every method call counted against `cluster`. */
export function counted<T extends object>(
  api: T,
  cluster: string,
  counter: Counter<"cluster" | "verb"> | undefined,
): T {
  if (!counter) return api;
  return new Proxy(api, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== "function" || typeof prop !== "string") return value;
      return (...args: unknown[]) => {
        counter.inc({ cluster, verb: verbOf(prop) });
        return value.apply(target, args);
      };
    },
  });
}
