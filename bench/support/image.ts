// How the image runs the operator's process (the Dockerfile's ENTRYPOINT flags
// and ENV), for benches that measure the operator as it ships.
// test/unit/image-settings.test.ts checks that the Dockerfile carries them.

/** V8 flags on the image's ENTRYPOINT. */
export const IMAGE_NODE_FLAGS: readonly string[] = ["--max-semi-space-size=4"];

/** Environment the image sets for the process. */
export const IMAGE_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: "2" };
