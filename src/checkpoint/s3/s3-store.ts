// The S3 implementation of ObjectStore: multipart uploads with a SHA-256 per
// part (the server refuses a part whose bytes do not match), resumed through
// ListMultipartUploads/ListParts; conditional PUT for manifests. A body sent
// with its SHA-256 goes with an unsigned payload: the signed checksum header
// is what proves the bytes, so neither the SDK (to sign) nor the server (to
// check the signature) hashes every byte once more.

import { createHash } from "node:crypto";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { HttpRequest } from "@smithy/protocol-http";
import { CheckpointError, storeFailed, throwIfAborted } from "../errors.ts";
import { base64ToHex, hexToBase64 } from "../hash.ts";
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

export interface S3StoreOptions {
  /** The client; against emulators create it with requestChecksumCalculation/responseChecksumValidation WHEN_REQUIRED. */
  readonly client: S3Client;
  readonly bucket: string;
  /** Root of the store inside the bucket; default "" (the whole bucket). */
  readonly prefix?: string;
  /** Every request's deadline, and how its errors name the store. Default 30 s, `s3://<bucket>`. */
  readonly deadline?: StoreDeadline;
  /** Told of every request before it is sent (counting, and noticing writes); the key is relative to the bucket or container. */
  readonly onRequest?: RequestHook;
}

/** S3's documented multipart limits (CLOUD-FACTS.md, "Object storage"). */
export const S3_LIMITS: PartLimits = { minPartSize: 5 * 2 ** 20, maxPartSize: 5 * 2 ** 30, maxParts: 10_000 };

/**
 * `command` with `x-amz-content-sha256: UNSIGNED-PAYLOAD`, for a request that carries
 * x-amz-checksum-sha256: that header is signed and the server checks the bytes against it, so the
 * payload need not be hashed into the signature too (a second SHA-256 pass over every byte on
 * each side). Requests without a checksum keep the signed payload.
 */
export function withUnsignedPayload<C extends PutObjectCommand | UploadPartCommand>(command: C): C {
  const options = { step: "build", name: "crosscloudUnsignedPayload" } as const;
  if (command instanceof UploadPartCommand) command.middlewareStack.add(unsignedPayload, options);
  else command.middlewareStack.add(unsignedPayload, options);
  return command;
}

function unsignedPayload<A extends { request: unknown }, R>(next: (args: A) => R): (args: A) => R {
  return (args) => {
    if (HttpRequest.isInstance(args.request)) args.request.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD";
    return next(args);
  };
}

type SdkError = { name?: string; $metadata?: { httpStatusCode?: number } };

/** The checksum S3 reports for an object: the SHA-256 of a single PUT, or for a multipart upload the SHA-256 of its parts' binary SHA-256s, with "-<parts>". */
export function s3Checksum(expected: ExpectedObject): string {
  const parts = expected.partsSha256;
  if (!parts) return hexToBase64(expected.sha256);
  const digest = createHash("sha256");
  for (const p of parts) digest.update(Buffer.from(p, "hex"));
  return `${digest.digest("base64")}-${parts.length}`;
}

function status(err: unknown): number | undefined {
  return (err as SdkError | undefined)?.$metadata?.httpStatusCode;
}

export class S3Store implements ObjectStore {
  readonly uri: StoreUri;
  readonly limits = S3_LIMITS;
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #root: string;
  readonly #deadline: StoreDeadline;
  /** Every request goes through this: the store's deadline (see store-deadline.ts). */
  readonly #timed: TimedRequest;

  constructor(options: S3StoreOptions) {
    this.#client = options.client;
    this.#bucket = options.bucket;
    this.#deadline = options.deadline ?? {
      timeoutMs: DEFAULT_STORE_REQUEST_TIMEOUT_MS,
      store: `s3://${options.bucket}`,
    };
    this.#timed = timedRequests(this.#deadline, options.onRequest);
    this.#root = (options.prefix ?? "").replace(/^\/+|\/+$/g, "");
    this.uri = { kind: "s3", bucket: options.bucket, prefix: this.#root };
  }

  #full(key: string): string {
    return this.#root ? `${this.#root}/${key}` : key;
  }

  #relative(full: string): string {
    return this.#root ? full.slice(this.#root.length + 1) : full;
  }

  async *list(prefix: string, signal?: AbortSignal): AsyncIterable<ObjectInfo> {
    let token: string | undefined;
    do {
      throwIfAborted(signal);
      const page = await this.#timed("list", this.#full(prefix), signal, (abortSignal) =>
        this.#client.send(
          new ListObjectsV2Command({ Bucket: this.#bucket, Prefix: this.#full(prefix), ContinuationToken: token }),
          { abortSignal },
        ),
      ).catch((err) => {
        throw storeFailed("list", this.#full(prefix), err);
      });
      for (const o of page.Contents ?? []) {
        if (o.Key === undefined) continue;
        yield {
          key: this.#relative(o.Key),
          size: o.Size ?? 0,
          etag: o.ETag ?? "",
          lastModified: o.LastModified ?? new Date(0),
        };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async head(key: string, signal?: AbortSignal): Promise<ObjectInfo | undefined> {
    try {
      const out = await this.#timed("head", this.#full(key), signal, (abortSignal) =>
        this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: this.#full(key) }), { abortSignal }),
      );
      return { key, size: out.ContentLength ?? 0, etag: out.ETag ?? "", lastModified: out.LastModified ?? new Date(0) };
    } catch (err) {
      if (status(err) === 404) return undefined;
      throw storeFailed("head", this.#full(key), err);
    }
  }

  async holds(key: string, expected: ExpectedObject, signal?: AbortSignal): Promise<boolean> {
    try {
      const out = await this.#timed("head", this.#full(key), signal, (abortSignal) =>
        this.#client.send(
          new HeadObjectCommand({ Bucket: this.#bucket, Key: this.#full(key), ChecksumMode: "ENABLED" }),
          { abortSignal },
        ),
      );
      return out.ContentLength === expected.size && out.ChecksumSHA256 === s3Checksum(expected);
    } catch (err) {
      if (status(err) === 404) return false;
      throw storeFailed("head", this.#full(key), err);
    }
  }

  async read(key: string, range?: ByteRange, signal?: AbortSignal): Promise<AsyncIterable<Uint8Array>> {
    if (range?.length === 0) return (async function* () {})();
    const Range = range ? `bytes=${range.offset}-${range.offset + range.length - 1}` : undefined;
    try {
      const out = await this.#timed("read", this.#full(key), signal, (abortSignal) =>
        this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: this.#full(key), Range }), {
          abortSignal,
        }),
      );
      return guardBody(this.#deadline, "read", this.#full(key), out.Body as unknown as AsyncIterable<Uint8Array>);
    } catch (err) {
      if (status(err) === 404) {
        throw new CheckpointError(
          { code: "NotFound", key },
          `${this.#full(key)} does not exist in s3://${this.#bucket}`,
        );
      }
      throw storeFailed("read", this.#full(key), err);
    }
  }

  async put(key: string, body: Uint8Array, options?: { sha256?: string; signal?: AbortSignal }): Promise<void> {
    const ChecksumSHA256 = options?.sha256 ? hexToBase64(options.sha256) : undefined;
    const put = new PutObjectCommand({ Bucket: this.#bucket, Key: this.#full(key), Body: body, ChecksumSHA256 });
    const cmd = ChecksumSHA256 ? withUnsignedPayload(put) : put;
    await this.#timed(
      "put",
      this.#full(key),
      options?.signal,
      (abortSignal) => this.#client.send(cmd, { abortSignal }),
      body.byteLength,
    ).catch((err) => {
      throw storeFailed("put", this.#full(key), err);
    });
  }

  async putIfAbsent(key: string, body: Uint8Array, signal?: AbortSignal): Promise<boolean> {
    const cmd = new PutObjectCommand({ Bucket: this.#bucket, Key: this.#full(key), Body: body, IfNoneMatch: "*" });
    try {
      await this.#timed(
        "conditional put",
        this.#full(key),
        signal,
        (abortSignal) => this.#client.send(cmd, { abortSignal }),
        body.byteLength,
      );
      return true;
    } catch (err) {
      if (status(err) === 412) return false;
      throw storeFailed("conditional put", this.#full(key), err);
    }
  }

  async delete(key: string, signal?: AbortSignal): Promise<void> {
    await this.#timed("delete", this.#full(key), signal, (abortSignal) =>
      this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: this.#full(key) }), { abortSignal }),
    ).catch((err) => {
      if (status(err) !== 404) throw storeFailed("delete", this.#full(key), err);
    });
  }

  readonly presign = (key: string, expiresInSeconds: number): Promise<string> =>
    getSignedUrl(this.#client, new GetObjectCommand({ Bucket: this.#bucket, Key: this.#full(key) }), {
      expiresIn: expiresInSeconds,
    });

  readonly readInto = (key: string, range: ByteRange, into: Buffer, signal?: AbortSignal): Promise<void> => {
    const full = this.#full(key);
    const notFound = () =>
      new CheckpointError({ code: "NotFound", key }, `${full} does not exist in s3://${this.#bucket}`);
    const reader = { presign: this.presign, deadline: this.#deadline, timed: this.#timed, full, notFound };
    return readPresigned(reader, key, range, into, signal);
  };

  async openUpload(key: string, signal?: AbortSignal): Promise<StagedUpload> {
    const full = this.#full(key);
    try {
      const existing = await this.#newestUpload(full, signal);
      if (existing) return this.#upload(key, existing, await this.#listParts(full, existing, signal));
      const created = await this.#timed("open multipart upload", full, signal, (abortSignal) =>
        this.#client.send(
          new CreateMultipartUploadCommand({ Bucket: this.#bucket, Key: full, ChecksumAlgorithm: "SHA256" }),
          { abortSignal },
        ),
      );
      if (!created.UploadId) throw new Error("the server returned no UploadId");
      return this.#upload(key, created.UploadId, new Map());
    } catch (err) {
      throw storeFailed("open multipart upload", full, err);
    }
  }

  async #newestUpload(full: string, signal?: AbortSignal): Promise<string | undefined> {
    const out = await this.#timed("list multipart uploads", full, signal, (abortSignal) =>
      this.#client.send(new ListMultipartUploadsCommand({ Bucket: this.#bucket, Prefix: full }), { abortSignal }),
    );
    const mine = (out.Uploads ?? []).filter((u) => u.Key === full && u.UploadId);
    mine.sort((a, b) => (b.Initiated?.getTime() ?? 0) - (a.Initiated?.getTime() ?? 0));
    return mine[0]?.UploadId;
  }

  /** Parts of an upload that carry a SHA-256 (the only ones a resume can trust). */
  async #listParts(full: string, uploadId: string, signal?: AbortSignal): Promise<Map<number, StagedPart>> {
    const parts = new Map<number, StagedPart>();
    let marker: string | undefined;
    do {
      const page = await this.#timed("list parts", full, signal, (abortSignal) =>
        this.#client.send(
          new ListPartsCommand({ Bucket: this.#bucket, Key: full, UploadId: uploadId, PartNumberMarker: marker }),
          { abortSignal },
        ),
      );
      for (const p of page.Parts ?? []) {
        if (!p.PartNumber || !p.ETag || !p.ChecksumSHA256) continue;
        const index = p.PartNumber - 1;
        parts.set(index, { index, size: p.Size ?? 0, sha256: base64ToHex(p.ChecksumSHA256), token: p.ETag });
      }
      marker = page.IsTruncated ? page.NextPartNumberMarker : undefined;
    } while (marker);
    return parts;
  }

  #upload(key: string, uploadId: string, staged: ReadonlyMap<number, StagedPart>): StagedUpload {
    const client = this.#client;
    const timed = this.#timed;
    const ids = { Bucket: this.#bucket, Key: this.#full(key), UploadId: uploadId };
    return {
      key,
      staged,
      async putPart(part: PartPlan, body: Uint8Array, sha256: string, signal?: AbortSignal): Promise<StagedPart> {
        const cmd = withUnsignedPayload(
          new UploadPartCommand({
            ...ids,
            PartNumber: part.index + 1,
            Body: body,
            ContentLength: body.byteLength,
            ChecksumSHA256: hexToBase64(sha256),
          }),
        );
        const what = `upload of part ${part.index + 1}`;
        const out = await timed(
          what,
          ids.Key,
          signal,
          (abortSignal) => client.send(cmd, { abortSignal }),
          body.byteLength,
        ).catch((err) => {
          throw storeFailed(what, ids.Key, err);
        });
        return { index: part.index, size: body.byteLength, sha256, token: out.ETag ?? "" };
      },
      async complete(parts: readonly StagedPart[], _sha256: string, signal?: AbortSignal): Promise<void> {
        const Parts = [...parts]
          .sort((a, b) => a.index - b.index)
          .map((p) => ({ PartNumber: p.index + 1, ETag: p.token, ChecksumSHA256: hexToBase64(p.sha256) }));
        await timed("complete multipart upload", ids.Key, signal, (abortSignal) =>
          client.send(new CompleteMultipartUploadCommand({ ...ids, MultipartUpload: { Parts } }), { abortSignal }),
        ).catch((err) => {
          throw storeFailed("complete multipart upload", ids.Key, err);
        });
      },
      async abort(signal?: AbortSignal): Promise<void> {
        await timed("abort multipart upload", ids.Key, signal, (abortSignal) =>
          client.send(new AbortMultipartUploadCommand(ids), { abortSignal }),
        ).catch((err) => {
          if (status(err) !== 404) throw storeFailed("abort multipart upload", ids.Key, err);
        });
      },
    };
  }
}
