// How the image runs the operator's process (the Dockerfile's ENTRYPOINT flags,
// script and ENV), for benches that measure the operator as it ships.
// test/unit/image-settings.test.ts checks that the Dockerfile carries them.

import { spawnSync } from "node:child_process";
import { join } from "node:path";

const REPO_ROOT = join(import.meta.dirname, "../..");

/** V8 flags on the image's ENTRYPOINT. */
export const IMAGE_NODE_FLAGS: readonly string[] = ["--max-semi-space-size=4", "--optimize-for-size"];

/** Environment the image sets for the process. */
export const IMAGE_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: "2" };

/** The script the image runs: the operator compiled to JavaScript (`npm run build`), not type-stripped. */
export const IMAGE_SCRIPT = "dist/main.js";

/** Compiles the operator as the image's build stage does and returns the path of the script to run. */
export function buildImageScript(): string {
  const built = spawnSync("npm", ["run", "--silent", "build"], { cwd: REPO_ROOT, stdio: "inherit" });
  if (built.status !== 0) throw new Error(`npm run build failed (exit ${built.status}); run it to see why`);
  return join(REPO_ROOT, IMAGE_SCRIPT);
}
