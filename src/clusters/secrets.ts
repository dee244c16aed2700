// How the operator reads the Secrets that ComputeClusters name (worker
// kubeconfigs, store credentials): from an informer on the operator's own
// namespace, so a heartbeat or a job's pass costs no request and a changed
// Secret is seen at once; a Secret in another namespace (only when the
// operator is run without a namespace restriction) is read from the API.

import type { V1Secret } from "@kubernetes/client-node";
import { ApiError } from "../kube/client.ts";
import type { Informer } from "../runtime/informer.ts";

/** The one call of CoreV1Api the Secret consumers make; CoreV1Api itself is one. */
export interface SecretReader {
  readNamespacedSecret(p: { namespace: string; name: string }): Promise<V1Secret>;
  /** True when reads cost no request and are current (an informer's cache): nothing needs caching on top. */
  readonly current?: boolean;
}

/** Secrets of `namespace` from its informer; other namespaces' from `api`. A missing Secret is a 404, as the API says it. */
export class CachedSecrets implements SecretReader {
  readonly current = true;
  readonly #informer: Informer<V1Secret>;
  readonly #namespace: string;
  readonly #api: SecretReader;

  constructor(informer: Informer<V1Secret>, namespace: string, api: SecretReader) {
    this.#informer = informer;
    this.#namespace = namespace;
    this.#api = api;
  }

  async readNamespacedSecret(p: { namespace: string; name: string }): Promise<V1Secret> {
    if (p.namespace !== this.#namespace || !this.#informer.synced) return this.#api.readNamespacedSecret(p);
    const secret = this.#informer.get(p.namespace, p.name);
    if (!secret) {
      const request = `GET /api/v1/namespaces/${p.namespace}/secrets/${p.name}`;
      throw new ApiError(404, request, "the hub (cached)", {
        reason: "NotFound",
        message: `secrets "${p.name}" not found`,
      });
    }
    return secret;
  }
}
