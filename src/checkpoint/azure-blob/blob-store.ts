// The Azure Blob implementation of ObjectStore: staged blocks (Put Block with
// an MD5 the service checks; ids carrying index and SHA-256, so a resume reads
// the uncommitted block list), Put Block List to commit, If-None-Match for
// manifests. Server-side Put Block From URL is used only when enabled.

import { createHash } from "node:crypto";
import {
  BlobSASPermissions,
  type BlockBlobClient,
  type ContainerClient,
  StorageSharedKeyCredential,
} from "@azure/storage-blob";
import { CheckpointError, storeFailed, throwIfAborted } from "../errors.ts";
import { sha256Hex } from "../hash.ts";
import type {
  ByteRange,
  ExpectedObject,
  ObjectInfo,
  ObjectStore,
  PartLimits,
  PartPlan,
  StagedPart,
  StagedUpload,
} from "../store.ts";
import {
  DEFAULT_STORE_REQUEST_TIMEOUT_MS,
  guardBody,
  type RequestHook,
  type StoreDeadline,
  type TimedRequest,
  timedRequests,
} from "../store-deadline.ts";
import type { StoreUri } from "../uri.ts";
import { readPresigned } from "../url-read.ts";
import { decodeBlockId, encodeBlockId } from "./block-id.ts";

export interface AzureBlobStoreOptions {
  readonly container: ContainerClient;
  /** Root of the store inside the container; default "" (the whole container). */
  readonly prefix?: string;
  /**
   * Copy parts server side with Put Block From URL from a presigned source URL
   * (S3 -> Blob without the bytes passing through this process). Default false:
   * Azurite does not implement it; enable it against the real service.
   */
  readonly stageFromUrl?: boolean;
  /** Send each block's MD5 for the service to check on arrival; default true. */
  readonly blockMd5?: boolean;
  /** Every request's deadline, and how its errors name the store. Default 30 s, the container's URL. */
  readonly deadline?: StoreDeadline;
  /** Told of every request before it is sent (counting, and noticing writes); the key is relative to the bucket or container. */
  readonly onRequest?: RequestHook;
}

/** Block blob limits (CLOUD-FACTS.md): blocks up to 4,000 MiB, at most 50,000 of them, no minimum. */
export const BLOB_LIMITS: PartLimits = { minPartSize: 1, maxPartSize: 4000 * 2 ** 20, maxParts: 50_000 };

/** Blob metadata holding the object's SHA-256 (hex), written with the content so they cannot disagree. */
const SHA256_METADATA = "crosscloudsha256";

function status(err: unknown): number | undefined {
  return (err as { statusCode?: number } | undefined)?.statusCode;
}

/** The service cannot check a SHA-256, so the bytes are checked against it before they are sent. */
function checkSha256(key: string, body: Uint8Array, expected: string): void {
  const actual = sha256Hex(body);
  if (actual === expected) return;
  throw new CheckpointError(
    { code: "ChecksumMismatch", key, expected, actual },
    `${key}: the bytes to write hash to ${actual}, not ${expected}`,
  );
}

function md5(data: Uint8Array): Uint8Array {
  return createHash("md5").update(data).digest();
}

export class AzureBlobStore implements ObjectStore {
  readonly uri: StoreUri;
  readonly limits = BLOB_LIMITS;
  readonly presign?: (key: string, expiresInSeconds: number) => Promise<string>;
  readonly readInto?: (key: string, range: ByteRange, into: Buffer, signal?: AbortSignal) => Promise<void>;
  readonly #container: ContainerClient;
  readonly #root: string;
  readonly #stageFromUrl: boolean;
  readonly #blockMd5: boolean;
  readonly #deadline: StoreDeadline;
  /** Every request goes through this: the store's deadline (see store-deadline.ts). */
  readonly #timed: TimedRequest;

  constructor(options: AzureBlobStoreOptions) {
    this.#container = options.container;
    this.#root = (options.prefix ?? "").replace(/^\/+|\/+$/g, "");
    this.#stageFromUrl = options.stageFromUrl ?? false;
    this.#blockMd5 = options.blockMd5 ?? true;
    this.#deadline = options.deadline ?? {
      timeoutMs: DEFAULT_STORE_REQUEST_TIMEOUT_MS,
      store: containerName(options.container.url),
    };
    this.#timed = timedRequests(this.#deadline, options.onRequest);
    const accountUrl = options.container.url.slice(0, options.container.url.lastIndexOf("/"));
    this.uri = {
      kind: "azure-blob",
      accountUrl,
      account: options.container.accountName,
      container: options.container.containerName,
      prefix: this.#root,
    };
    if (options.container.credential instanceof StorageSharedKeyCredential) {
      const presign = this.#presign;
      this.presign = presign;
      this.readInto = (key, range, into, signal) => {
        const full = this.#full(key);
        const notFound = () =>
          new CheckpointError({ code: "NotFound", key }, `${full} does not exist in ${this.#container.url}`);
        return readPresigned(
          { presign, deadline: this.#deadline, timed: this.#timed, full, notFound },
          key,
          range,
          into,
          signal,
        );
      };
    }
  }

  #full(key: string): string {
    return this.#root ? `${this.#root}/${key}` : key;
  }

  #blob(key: string): BlockBlobClient {
    return this.#container.getBlockBlobClient(this.#full(key));
  }

  async *list(prefix: string, signal?: AbortSignal): AsyncIterable<ObjectInfo> {
    const full = this.#full(prefix);
    let continuationToken: string | undefined;
    try {
      do {
        throwIfAborted(signal);
        const token = continuationToken;
        const page = await this.#timed("list", full, signal, async (abortSignal) => {
          const pages = this.#container
            .listBlobsFlat({ prefix: full, abortSignal })
            .byPage({ maxPageSize: 5000, ...(token ? { continuationToken: token } : {}) });
          const next = await pages.next();
          return next.done ? undefined : next.value;
        });
        if (!page) return;
        continuationToken = page.continuationToken || undefined;
        for (const b of page.segment.blobItems) {
          const key = this.#root ? b.name.slice(this.#root.length + 1) : b.name;
          const p = b.properties;
          yield { key, size: p.contentLength ?? 0, etag: p.etag ?? "", lastModified: p.lastModified };
        }
      } while (continuationToken);
    } catch (err) {
      throw storeFailed("list", full, err);
    }
  }

  async head(key: string, signal?: AbortSignal): Promise<ObjectInfo | undefined> {
    try {
      const p = await this.#timed("head", this.#full(key), signal, (abortSignal) =>
        this.#blob(key).getProperties({ abortSignal }),
      );
      return { key, size: p.contentLength ?? 0, etag: p.etag ?? "", lastModified: p.lastModified ?? new Date(0) };
    } catch (err) {
      if (status(err) === 404) return undefined;
      throw storeFailed("head", this.#full(key), err);
    }
  }

  async holds(key: string, expected: ExpectedObject, signal?: AbortSignal): Promise<boolean> {
    try {
      const p = await this.#timed("head", this.#full(key), signal, (abortSignal) =>
        this.#blob(key).getProperties({ abortSignal }),
      );
      return p.contentLength === expected.size && p.metadata?.[SHA256_METADATA] === expected.sha256;
    } catch (err) {
      if (status(err) === 404) return false;
      throw storeFailed("head", this.#full(key), err);
    }
  }

  async read(key: string, range?: ByteRange, signal?: AbortSignal): Promise<AsyncIterable<Uint8Array>> {
    if (range?.length === 0) return (async function* () {})();
    try {
      const out = await this.#timed("read", this.#full(key), signal, (abortSignal) =>
        this.#blob(key).download(range?.offset ?? 0, range?.length, { abortSignal }),
      );
      if (!out.readableStreamBody) throw new Error("the service returned no body");
      const body = out.readableStreamBody as unknown as AsyncIterable<Uint8Array>;
      return guardBody(this.#deadline, "read", this.#full(key), body);
    } catch (err) {
      if (status(err) === 404) {
        throw new CheckpointError(
          { code: "NotFound", key },
          `${this.#full(key)} does not exist in ${this.#container.url}`,
        );
      }
      throw storeFailed("read", this.#full(key), err);
    }
  }

  async put(key: string, body: Uint8Array, options?: { sha256?: string; signal?: AbortSignal }): Promise<void> {
    if (options?.sha256) checkSha256(key, body, options.sha256);
    await this.#timed(
      "put",
      this.#full(key),
      options?.signal,
      (abortSignal) =>
        this.#blob(key).upload(body, body.byteLength, {
          abortSignal,
          blobHTTPHeaders: { blobContentMD5: md5(body) },
          metadata: options?.sha256 ? { [SHA256_METADATA]: options.sha256 } : undefined,
        }),
      body.byteLength,
    ).catch((err) => {
      throw storeFailed("put", this.#full(key), err);
    });
  }

  async putIfAbsent(key: string, body: Uint8Array, signal?: AbortSignal): Promise<boolean> {
    try {
      await this.#timed(
        "conditional put",
        this.#full(key),
        signal,
        (abortSignal) =>
          this.#blob(key).upload(body, body.byteLength, { abortSignal, conditions: { ifNoneMatch: "*" } }),
        body.byteLength,
      );
      return true;
    } catch (err) {
      if (status(err) === 409 || status(err) === 412) return false;
      throw storeFailed("conditional put", this.#full(key), err);
    }
  }

  async delete(key: string, signal?: AbortSignal): Promise<void> {
    await this.#timed("delete", this.#full(key), signal, (abortSignal) =>
      this.#blob(key).deleteIfExists({ abortSignal }),
    ).catch((err) => {
      throw storeFailed("delete", this.#full(key), err);
    });
  }

  readonly #presign = (key: string, expiresInSeconds: number): Promise<string> =>
    this.#blob(key).generateSasUrl({
      permissions: BlobSASPermissions.parse("r"),
      expiresOn: new Date(Date.now() + expiresInSeconds * 1000),
    });

  async openUpload(key: string, signal?: AbortSignal): Promise<StagedUpload> {
    const blob = this.#blob(key);
    const staged = new Map<number, StagedPart>();
    try {
      const list = await this.#timed("get block list", this.#full(key), signal, (abortSignal) =>
        blob.getBlockList("uncommitted", { abortSignal }),
      );
      for (const b of list.uncommittedBlocks ?? []) {
        const part = decodeBlockId(b.name, b.size);
        if (part) staged.set(part.index, part);
      }
    } catch (err) {
      if (status(err) !== 404) throw storeFailed("get block list", this.#full(key), err);
    }
    return this.#upload(key, blob, staged);
  }

  #upload(key: string, blob: BlockBlobClient, staged: ReadonlyMap<number, StagedPart>): StagedUpload {
    const full = this.#full(key);
    const withMd5 = this.#blockMd5;
    const timed = this.#timed;
    const upload: StagedUpload = {
      key,
      staged,
      async putPart(part: PartPlan, body: Uint8Array, sha256: string, signal?: AbortSignal): Promise<StagedPart> {
        // The service checks MD5 only; the SHA-256 the block id records is checked here.
        checkSha256(`${full} block ${part.index}`, body, sha256);
        const id = encodeBlockId(part.index, sha256);
        const what = `stage of block ${part.index}`;
        await timed(
          what,
          full,
          signal,
          (abortSignal) =>
            blob.stageBlock(id, body, body.byteLength, {
              abortSignal,
              transactionalContentMD5: withMd5 ? md5(body) : undefined,
            }),
          body.byteLength,
        ).catch((err) => {
          throw storeFailed(what, full, err);
        });
        return { index: part.index, size: body.byteLength, sha256, token: id };
      },
      async complete(parts: readonly StagedPart[], sha256: string, signal?: AbortSignal): Promise<void> {
        const ids = [...parts].sort((a, b) => a.index - b.index).map((p) => p.token);
        const metadata = { [SHA256_METADATA]: sha256 };
        await timed("commit of the block list", full, signal, (abortSignal) =>
          blob.commitBlockList(ids, { abortSignal, metadata }),
        ).catch((err) => {
          throw storeFailed("commit of the block list", full, err);
        });
      },
      // Uncommitted blocks have no delete call: the service drops them after a week or at the next commit.
      abort: async () => {},
    };
    if (!this.#stageFromUrl) return upload;
    return { ...upload, putPartFromUrl: (...args) => stageFromUrl(timed, blob, full, ...args) };
  }
}

/** "https://host/container" of a container URL: no SAS query, no credentials. */
function containerName(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return "the Blob container";
  }
}

async function stageFromUrl(
  timed: TimedRequest,
  blob: BlockBlobClient,
  full: string,
  part: PartPlan,
  sourceUrl: string,
  expected: Uint8Array,
  sha256: string,
  signal?: AbortSignal,
): Promise<StagedPart> {
  const id = encodeBlockId(part.index, sha256);
  const what = `stage of block ${part.index} from URL`;
  // The service copies the part's bytes from the source: as long as sending them would take.
  await timed(
    what,
    full,
    signal,
    (abortSignal) =>
      blob.stageBlockFromURL(id, sourceUrl, part.offset, part.size, { abortSignal, sourceContentMD5: md5(expected) }),
    part.size,
  ).catch((err) => {
    throw storeFailed(what, full, err);
  });
  return { index: part.index, size: part.size, sha256, token: id };
}
