// Part planning for staged writes: how a file of a given size is cut into
// parts that respect the destination's limits (S3: 5 MiB..5 GiB, 10,000 parts;
// Blob: up to 4,000 MiB, 50,000 blocks). Pure, so it is table-tested.

import { CheckpointError } from "./errors.ts";
import type { PartLimits, PartPlan } from "./store.ts";

const MiB = 2 ** 20;

/**
 * The part size used for `size` bytes: `preferred`, raised to the store's
 * minimum, and raised (to a whole MiB) when the file would need more parts
 * than the store allows. TooLarge when even the largest part is not enough.
 */
export function choosePartSize(size: number, limits: PartLimits, preferred: number, key = "object"): number {
  let partSize = Math.max(preferred, limits.minPartSize);
  if (Math.ceil(size / partSize) > limits.maxParts) partSize = Math.ceil(size / limits.maxParts / MiB) * MiB;
  if (partSize > limits.maxPartSize) {
    throw new CheckpointError(
      { code: "TooLarge", key, size },
      `${key} is ${size} bytes: more than ${limits.maxParts} parts of at most ${limits.maxPartSize} bytes can hold`,
    );
  }
  return partSize;
}

/** The parts of a `size`-byte file, in order, each `partSize` long but the last. An empty file has one empty part. */
export function planParts(size: number, partSize: number): PartPlan[] {
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`size must be an integer >= 0, got ${size}`);
  if (!Number.isSafeInteger(partSize) || partSize < 1)
    throw new RangeError(`partSize must be an integer >= 1, got ${partSize}`);
  const parts: PartPlan[] = [];
  for (let offset = 0, index = 0; offset < size || index === 0; offset += partSize, index++) {
    parts.push({ index, offset, size: Math.min(partSize, size - offset) });
  }
  return parts;
}
