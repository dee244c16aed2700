// Block ids of staged Azure writes: the part index and the part's SHA-256,
// so a resumed copy can tell from the uncommitted block list which parts are
// already there and whether they hold the right bytes.

import type { StagedPart } from "../store.ts";

const ID_BYTES = 4 + 32;

/** The base64 block id of part `index` whose bytes hash to `sha256` (hex); all ids have the same length. */
export function encodeBlockId(index: number, sha256: string): string {
  const raw = Buffer.alloc(ID_BYTES);
  raw.writeUInt32BE(index, 0);
  Buffer.from(sha256, "hex").copy(raw, 4);
  return raw.toString("base64");
}

/** The part a block id names, or undefined for ids this code did not write. */
export function decodeBlockId(id: string, size: number): StagedPart | undefined {
  const raw = Buffer.from(id, "base64");
  if (raw.length !== ID_BYTES || raw.toString("base64") !== id) return undefined;
  return { index: raw.readUInt32BE(0), size, sha256: raw.subarray(4).toString("hex"), token: id };
}
