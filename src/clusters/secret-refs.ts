// Where the operator reads Secrets on the hub: its own namespace only. A
// ComputeCluster's kubeconfigSecretRef and checkpointStore.credentialsSecretRef
// must name a Secret there. Its RBAC gives it Secrets in no other namespace
// (deploy/operator/rbac.yaml), and whoever may create a ComputeCluster must not
// be able to make the operator read, or copy to a worker, any other Secret.

/** The operator's namespace when POD_NAMESPACE does not say. */
export const DEFAULT_OPERATOR_NAMESPACE = "crosscloud-system";

/** The condition reason of a Secret reference outside the operator's namespace. */
export const SECRET_OUTSIDE_NAMESPACE = "SecretOutsideOperatorNamespace";

interface SecretRef {
  readonly namespace: string;
  readonly name: string;
}

/**
 * Why the Secret `ref` names (at `field`) is not read: it is outside `namespace`. Undefined when
 * there is no reference, it is in `namespace`, or no namespace is enforced (`namespace` undefined).
 */
export function secretRefRefusal(
  field: string,
  ref: SecretRef | undefined,
  namespace: string | undefined,
): string | undefined {
  if (!ref || namespace === undefined || ref.namespace === namespace) return undefined;
  return `${field} names Secret ${ref.namespace}/${ref.name}, outside the operator's namespace "${namespace}": the operator reads Secrets only there; create the Secret in ${namespace} and set ${field}.namespace to "${namespace}"`;
}
