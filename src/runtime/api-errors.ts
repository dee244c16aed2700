// A small vocabulary for errors from the Kubernetes API (as controller-runtime's
// apierrors has): what a status code means, so callers say `isNotFound(err)`
// instead of reaching into an error's shape.

function statusCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === "number" ? code : undefined;
}

/** 403: the caller's RBAC does not allow the request. */
export function isForbidden(err: unknown): boolean {
  return statusCode(err) === 403;
}

/** 404: the object does not exist. */
export function isNotFound(err: unknown): boolean {
  return statusCode(err) === 404;
}

/** 409: the object changed since it was read (resourceVersion), or already exists. */
export function isConflict(err: unknown): boolean {
  return statusCode(err) === 409;
}

/** 410: the resourceVersion asked for is too old. */
export function isGone(err: unknown): boolean {
  return statusCode(err) === 410;
}

/** The promise's value, or undefined when it failed with 404; other errors are rethrown. */
export async function ignoreNotFound<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}
