// How the operator reads the Secrets that ComputeClusters name (worker
// kubeconfigs, store credentials): from an informer on the operator's own
// namespace, so a heartbeat or a job's pass costs no request and a changed
// Secret is seen at once; a Secret in another namespace (only when the
// operator is run without a namespace restriction) is read from the API.

import { ApiException, type CoreV1Api, type V1Secret } from "@kubernetes/client-node";
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
  readonly #api: Pick<CoreV1Api, "readNamespacedSecret">;

  constructor(informer: Informer<V1Secret>, namespace: string, api: Pick<CoreV1Api, "readNamespacedSecret">) {
    this.#informer = informer;
    this.#namespace = namespace;
    this.#api = api;
  }

  async readNamespacedSecret(p: { namespace: string; name: string }): Promise<V1Secret> {
    if (p.namespace !== this.#namespace || !this.#informer.synced) return this.#api.readNamespacedSecret(p);
    const secret = this.#informer.get(p.namespace, p.name);
    if (!secret) {
      throw new ApiException(404, `secrets "${p.name}" not found`, { reason: "NotFound" }, {});
    }
    return secret;
  }
}
