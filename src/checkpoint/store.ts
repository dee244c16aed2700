// The one object-store interface checkpoints are read and written through; S3
// (s3/) and Azure Blob (azure-blob/) implement it, and one contract suite
// (test/integration/checkpoint-store-contract.test.ts) runs against both.
//
// Keys are relative to the store's root (the prefix of its URI) and use "/".
// Every method takes an optional AbortSignal; an abort rejects with an
// Aborted CheckpointError, any other failure with StoreFailed.

import { CheckpointError } from "./errors.ts";
import type { StoreUri } from "./uri.ts";

/** An object as listed or headed. */
export interface ObjectInfo {
  readonly key: string;
  readonly size: number;
  /** Opaque version tag; changes whenever the content does. */
  readonly etag: string;
  readonly lastModified: Date;
}

/** A byte range of an object: `length` bytes from `offset`. */
export interface ByteRange {
  readonly offset: number;
  readonly length: number;
}

/** The size limits of a store's staged writes. */
export interface PartLimits {
  readonly minPartSize: number;
  readonly maxPartSize: number;
  readonly maxParts: number;
}

/** One part of a staged write, as planned: the 0-based `index`-th part covers `offset..offset+size`. */
export interface PartPlan {
  readonly index: number;
  readonly offset: number;
  readonly size: number;
}

/** What an object written by this code is expected to hold: its size, SHA-256 and, for a staged write, its parts' SHA-256s in order. */
export interface ExpectedObject {
  readonly size: number;
  readonly sha256: string;
  readonly partsSha256?: readonly string[];
}

/** A part the store holds, not yet part of a visible object. `sha256` is hex of the part's bytes. */
export interface StagedPart {
  readonly index: number;
  readonly size: number;
  readonly sha256: string;
  /** What the store needs to commit the part (S3 ETag, Azure block id). */
  readonly token: string;
}

/**
 * A multipart (S3) or staged-block (Azure) write of one object. Parts may be
 * written in any order and in parallel; nothing is visible until `complete`.
 */
export interface StagedUpload {
  readonly key: string;
  /** Parts an earlier, interrupted attempt left staged; each was checksum-verified by the store when written. */
  readonly staged: ReadonlyMap<number, StagedPart>;
  /** Writes one part; the store verifies `sha256` (hex) against the bytes it receives. */
  putPart(part: PartPlan, body: Uint8Array, sha256: string, signal?: AbortSignal): Promise<StagedPart>;
  /**
   * Has the store pull the part from `sourceUrl` (a presigned URL of the whole
   * source object) server side; `expected` is the part as the caller read it,
   * which the store uses to verify what it pulled. Absent where the store
   * cannot (S3 has no pull from Azure; Azurite lacks Put Block From URL).
   */
  readonly putPartFromUrl?: (
    part: PartPlan,
    sourceUrl: string,
    expected: Uint8Array,
    sha256: string,
    signal?: AbortSignal,
  ) => Promise<StagedPart>;
  /** Makes the object visible from `parts`, in index order; `sha256` (hex) is the whole object's, recorded where the store can. */
  complete(parts: readonly StagedPart[], sha256: string, signal?: AbortSignal): Promise<void>;
  /** Drops the staged parts (best effort where the store has no explicit abort). */
  abort(signal?: AbortSignal): Promise<void>;
}

export interface ObjectStore {
  /** Where this store is rooted. */
  readonly uri: StoreUri;
  readonly limits: PartLimits;
  /** Every object whose key starts with `prefix` (relative to the root), in key order. */
  list(prefix: string, signal?: AbortSignal): AsyncIterable<ObjectInfo>;
  /** The object's info, or undefined when there is none. */
  head(key: string, signal?: AbortSignal): Promise<ObjectInfo | undefined>;
  /** A stream of the object's bytes, or of `range` of them; NotFound when absent. */
  read(key: string, range?: ByteRange, signal?: AbortSignal): Promise<AsyncIterable<Uint8Array>>;
  /** Writes a whole (small) object, replacing any; the store verifies `sha256` (hex) when given. */
  put(
    key: string,
    body: Uint8Array,
    options?: { readonly sha256?: string; readonly signal?: AbortSignal },
  ): Promise<void>;
  /** Creates the object only if none exists; false when one did (nothing written). */
  putIfAbsent(key: string, body: Uint8Array, signal?: AbortSignal): Promise<boolean>;
  /** Starts a staged write of `key`, or resumes the newest unfinished one. */
  openUpload(key: string, signal?: AbortSignal): Promise<StagedUpload>;
  /**
   * True when `key` holds exactly `expected`, judged from the checksums the
   * store kept when the object was written (S3: the full or composite
   * SHA-256; Blob: the SHA-256 recorded in its metadata), without reading it.
   */
  holds(key: string, expected: ExpectedObject, signal?: AbortSignal): Promise<boolean>;
  /** Deletes the object; deleting an absent one is not an error. */
  delete(key: string, signal?: AbortSignal): Promise<void>;
  /** A URL that reads the object without credentials for `expiresInSeconds`; absent where unsupported. */
  readonly presign?: (key: string, expiresInSeconds: number) => Promise<string>;
  /**
   * Reads `range` into `into` (exactly its length) by a presigned URL, without the SDK's buffers per
   * chunk (url-read.ts); absent where the store cannot presign. readRange uses it when present.
   */
  readonly readInto?: (key: string, range: ByteRange, into: Buffer, signal?: AbortSignal) => Promise<void>;
}

/**
 * Reads `range` of an object into one buffer of exactly that length (`into`,
 * when given, must be that long); SizeMismatch if the store returns more or less.
 */
export async function readRange(
  store: ObjectStore,
  key: string,
  range: ByteRange,
  signal?: AbortSignal,
  into?: Buffer,
): Promise<Buffer> {
  const buffer = into ?? Buffer.allocUnsafe(range.length);
  if (buffer.length !== range.length)
    throw new RangeError(`the buffer holds ${buffer.length} bytes, not ${range.length}`);
  if (range.length === 0) return buffer;
  if (store.readInto) {
    await store.readInto(key, range, buffer, signal);
    return buffer;
  }
  let filled = 0;
  for await (const chunk of await store.read(key, range, signal)) {
    if (filled + chunk.byteLength > range.length) break;
    buffer.set(chunk, filled);
    filled += chunk.byteLength;
  }
  if (filled !== range.length) {
    throw new CheckpointError(
      { code: "SizeMismatch", key, expected: range.length, actual: filled },
      `${key}: read ${filled} bytes at offset ${range.offset}, expected ${range.length}; the object changed or is shorter than listed`,
    );
  }
  return buffer;
}

/** Reads a whole small object into memory. */
export async function readAll(store: ObjectStore, key: string, signal?: AbortSignal): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of await store.read(key, undefined, signal)) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** Every listed object under `prefix`, collected. */
export async function listAll(store: ObjectStore, prefix: string, signal?: AbortSignal): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const info of store.list(prefix, signal)) out.push(info);
  return out;
}
