// The Argo CD health checks under deploy/argocd/resource_customizations and
// their tests, read from argo-cd's own layout (<group>/<kind>/health.lua,
// health_test.yaml, testdata/), for the tests that run them in Lua 5.1 and in
// gopher-lua.

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { REPO_ROOT } from "../../scripts/sandbox/paths.ts";

export const CUSTOMIZATIONS = join(REPO_ROOT, "deploy/argocd/resource_customizations");

export interface HealthStatus {
  readonly status: string;
  readonly message: string;
}

/** One entry of a health_test.yaml, with the object it names. */
export interface HealthCase {
  readonly group: string;
  readonly kind: string;
  readonly script: string;
  readonly inputPath: string;
  readonly object: unknown;
  readonly expected: HealthStatus;
}

/** Every <group>/<kind> directory holding a health.lua. */
export function healthChecks(): { group: string; kind: string; dir: string }[] {
  return readdirSync(CUSTOMIZATIONS).flatMap((group) =>
    readdirSync(join(CUSTOMIZATIONS, group))
      .map((kind) => ({ group, kind, dir: join(CUSTOMIZATIONS, group, kind) }))
      .filter(({ dir }) => existsSync(join(dir, "health.lua"))),
  );
}

/** The cases of every health_test.yaml, in file order. */
export function healthCases(): HealthCase[] {
  return healthChecks().flatMap(({ group, kind, dir }) => {
    const spec = parse(readFileSync(join(dir, "health_test.yaml"), "utf8")) as {
      tests: { inputPath: string; healthStatus: { status: string; message?: string } }[];
    };
    return spec.tests.map((t) => ({
      group,
      kind,
      script: join(dir, "health.lua"),
      inputPath: t.inputPath,
      object: parse(readFileSync(join(dir, t.inputPath), "utf8")),
      expected: { status: t.healthStatus.status, message: t.healthStatus.message ?? "" },
    }));
  });
}
