// A byte range of an object read by its presigned URL straight into the
// caller's buffer: one HTTP/1.1 GET with a Range header on a connection of its
// own, the socket reading each time into the buffer at the next offset (net's
// and tls's `onread`), so receiving allocates and copies nothing per read.
// Node's http client allocates a 64 KiB buffer per socket read and hands the
// body on in chunks: for the checkpoint agent's restore that costs several
// times the CPU of the bytes themselves (docs/benchmarks.md). Only what a
// ranged read of S3 or Blob storage answers is understood: a status line,
// headers, and a body of exactly Content-Length bytes.

import { connect as connectTcp, type OnReadOpts, type Socket } from "node:net";
import { type ConnectionOptions, connect as connectTls } from "node:tls";
import { CheckpointError, storeFailed } from "./errors.ts";
import type { ByteRange } from "./store.ts";
import { type StoreDeadline, storeTimeout, type TimedRequest } from "./store-deadline.ts";

/** The server answered something other than the bytes asked for. */
export class UrlReadError extends Error {
  /** The HTTP status, when the answer had one. */
  readonly status: number | undefined;
  /** Set when the answer held other than the range's length: the bytes it held (-1: more, count unknown). */
  readonly received: number | undefined;

  constructor(message: string, status?: number, received?: number) {
    super(message);
    this.name = "UrlReadError";
    this.status = status;
    this.received = received;
  }
}

export interface UrlReadOptions {
  readonly signal?: AbortSignal;
  /** The connection is given up when no bytes arrive for this long (connecting included). */
  readonly idleTimeoutMs: number;
  /** The error a read that went idle fails with. */
  readonly timeoutError: () => Error;
}

/** Headers larger than this are not what a store sends. */
const MAX_HEAD_BYTES = 64 * 1024;
/** What an error's body is read up to, for its message. */
const MAX_ERROR_BODY_BYTES = 4 * 1024;

interface Head {
  readonly status: number;
  readonly headers: ReadonlyMap<string, string>;
}

/** Parses a response head (status line and headers, without the blank line); undefined when malformed. */
export function parseHead(text: string): Head | undefined {
  const lines = text.split("\r\n");
  const status = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(lines[0] ?? "");
  if (!status) return undefined;
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon <= 0) return undefined;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
  }
  return { status: Number(status[1]), headers };
}

/**
 * Why a successful head does not carry exactly `range`, or undefined when it does: a 206 whose
 * Content-Range starts at the range, or a 200 for a range that is the whole object, with a
 * Content-Length of the range's length and no chunked encoding.
 */
export function headMismatch(head: Head, range: ByteRange): string | undefined {
  const length = head.headers.get("content-length");
  if (head.headers.has("transfer-encoding")) return `a ${head.headers.get("transfer-encoding")} body`;
  if (length === undefined || !/^\d+$/.test(length)) return "no Content-Length";
  if (head.status === 206) {
    const want = `bytes ${range.offset}-${range.offset + range.length - 1}/`;
    const got = head.headers.get("content-range") ?? "";
    if (!got.startsWith(want)) return `Content-Range ${JSON.stringify(got)}, asked for ${want}`;
  } else if (head.status === 200) {
    if (range.offset !== 0) return `the whole object (status 200) for a range at offset ${range.offset}`;
  } else {
    return `status ${head.status}`;
  }
  if (Number(length) !== range.length) return `${length} bytes, asked for ${range.length}`;
  return undefined;
}

/** The request line and headers of a ranged GET of `url`. */
export function requestHead(url: URL, range: ByteRange): string {
  const end = range.offset + range.length - 1;
  return (
    `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nRange: bytes=${range.offset}-${end}\r\n` +
    "User-Agent: crosscloud-operator\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n"
  );
}

/**
 * Reads `range` of the object at `url` (presigned: no credentials are added) into `into`, which must be
 * exactly the range's length. Rejects with UrlReadError when the server answers anything but those bytes
 * (its status and the start of its body in the message), with `timeoutError()` when it goes quiet.
 */
export function readUrlInto(url: string, range: ByteRange, into: Buffer, options: UrlReadOptions): Promise<void> {
  if (into.length !== range.length) throw new RangeError(`the buffer holds ${into.length} bytes, not ${range.length}`);
  const target = new URL(url);
  if (target.protocol !== "http:" && target.protocol !== "https:") {
    throw new UrlReadError(`${target.protocol} URLs cannot be read`);
  }
  const { signal } = options;
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const scratch = Buffer.allocUnsafe(16 * 1024);
    const head: Buffer[] = [];
    let headBytes = 0;
    let phase: "head" | "body" | "error" = "head";
    let filled = 0;
    let errorHead: Head | undefined;
    let settled = false;

    const finish = (err?: unknown) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener("abort", onAbort);
      socket.destroy();
      if (err === undefined) resolve();
      else reject(err);
    };
    const onAbort = () => finish(signal?.reason);
    let bodyStatus: number | undefined;
    const tooMany = () =>
      new UrlReadError(`the server sent more than the ${into.length} bytes asked for`, bodyStatus, -1);
    // An error's body is read until the server closes, its Content-Length, or enough for the message.
    const errorBodyRead = () => {
      const length = Number(errorHead?.headers.get("content-length") ?? Number.POSITIVE_INFINITY);
      return headBytes >= Math.min(length, MAX_ERROR_BODY_BYTES);
    };
    const failStatus = () => {
      const body = Buffer.concat(head).toString("utf8").slice(0, MAX_ERROR_BODY_BYTES).trim();
      const status = errorHead?.status;
      finish(new UrlReadError(`status ${status}${body ? `: ${body}` : ""}`, status));
    };

    // Bytes that came after the head, in the scratch buffer: a first piece of the body, or of an error's body.
    const afterHead = (rest: Buffer) => {
      if (phase === "error") {
        head.length = 0;
        head.push(Buffer.from(rest));
        headBytes = rest.length;
        if (errorBodyRead()) failStatus();
        return;
      }
      if (rest.length > into.length) return finish(tooMany());
      rest.copy(into, 0);
      filled = rest.length;
    };

    const onHeadBytes = (bytes: Buffer) => {
      head.push(Buffer.from(bytes));
      headBytes += bytes.length;
      const all = Buffer.concat(head);
      const end = all.indexOf("\r\n\r\n");
      if (end < 0) {
        if (headBytes > MAX_HEAD_BYTES) finish(new UrlReadError(`a response head over ${MAX_HEAD_BYTES} bytes`));
        return;
      }
      const parsed = parseHead(all.subarray(0, end).toString("latin1"));
      if (!parsed) return finish(new UrlReadError("a malformed response head"));
      head.length = 0;
      headBytes = 0;
      if (parsed.status !== 200 && parsed.status !== 206) {
        phase = "error";
        errorHead = parsed;
      } else {
        const mismatch = headMismatch(parsed, range);
        if (mismatch) {
          const length = Number(parsed.headers.get("content-length") ?? Number.NaN);
          const received = Number.isInteger(length) && length !== range.length ? length : undefined;
          return finish(new UrlReadError(`the server answered ${mismatch}`, parsed.status, received));
        }
        phase = "body";
        bodyStatus = parsed.status;
      }
      afterHead(all.subarray(end + 4));
    };

    const onread: OnReadOpts = {
      // Called before each read: the body lands where it belongs; the head, an error or excess in the scratch.
      buffer: () => (phase === "body" && filled < into.length ? into.subarray(filled) : scratch),
      callback: (n: number, buf: Uint8Array): boolean => {
        if (settled) return false;
        if (phase === "head") onHeadBytes(scratch.subarray(0, n));
        else if (phase === "error") {
          head.push(Buffer.from(scratch.subarray(0, n)));
          headBytes += n;
          if (errorBodyRead()) failStatus();
        } else if (buf === scratch) {
          // (the same object: the body's buffers are views of the caller's, which may share an ArrayBuffer with it)
          finish(tooMany());
        } else {
          filled += n;
        }
        if (phase === "body" && filled === into.length) finish();
        return !settled;
      },
    };

    const port = Number(target.port) || (target.protocol === "https:" ? 443 : 80);
    const host = target.hostname.replace(/^\[|\]$/g, "");
    // tls.connect takes `onread` as net.connect does (Node's docs); its types leave it out.
    const tlsOptions: ConnectionOptions & { onread: OnReadOpts } = {
      host,
      port,
      servername: isIp(host) ? undefined : host,
      onread,
    };
    const socket: Socket = target.protocol === "https:" ? connectTls(tlsOptions) : connectTcp({ host, port, onread });
    socket.setNoDelay(true);
    socket.setTimeout(options.idleTimeoutMs, () => finish(options.timeoutError()));
    socket.once(target.protocol === "https:" ? "secureConnect" : "connect", () =>
      socket.write(requestHead(target, range)),
    );
    socket.on("error", (err) => finish(err));
    socket.on("end", () => {
      if (phase === "error") return failStatus();
      if (phase === "head")
        return finish(new UrlReadError("the server closed the connection before its response head"));
      finish(
        new UrlReadError(
          `the server closed the connection after ${filled} of ${into.length} bytes`,
          bodyStatus,
          filled,
        ),
      );
    });
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function isIp(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(":");
}

/** How long the URL of one presigned read is valid: the read's deadline is far shorter. */
const PRESIGNED_READ_SECONDS = 15 * 60;

/** What a store adapter lends a presigned read: its presigner, deadline, request wrapper and names. */
export interface PresignedReader {
  readonly presign: (key: string, expiresInSeconds: number) => Promise<string>;
  readonly deadline: StoreDeadline;
  readonly timed: TimedRequest;
  /** The object's key as the store names it (prefix included), for errors. */
  readonly full: string;
  /** The error of an object that is not there. */
  readonly notFound: () => CheckpointError;
}

/**
 * ObjectStore.readInto for a store that can presign: the read counts as one "read" request (the store's
 * request hook and deadline, one more second per MiB read), goes idle after the store's deadline
 * without bytes, and fails as the SDK's read would (NotFound, or StoreFailed naming the key).
 */
export async function readPresigned(
  r: PresignedReader,
  key: string,
  range: ByteRange,
  into: Buffer,
  signal?: AbortSignal,
): Promise<void> {
  const waiting = "read (waiting for the next bytes)";
  try {
    await r.timed(
      "read",
      r.full,
      signal,
      async (abortSignal) =>
        readUrlInto(await r.presign(key, PRESIGNED_READ_SECONDS), range, into, {
          signal: abortSignal,
          idleTimeoutMs: r.deadline.timeoutMs,
          timeoutError: () => storeTimeout(r.deadline, waiting, r.full, r.deadline.timeoutMs),
        }),
      range.length,
    );
  } catch (err) {
    if (err instanceof UrlReadError && err.status === 404) throw r.notFound();
    if (err instanceof UrlReadError && err.received !== undefined) {
      throw new CheckpointError(
        { code: "SizeMismatch", key, expected: range.length, actual: err.received },
        `${key}: reading ${range.length} bytes at offset ${range.offset}: ${err.message}; the object changed or is shorter than listed`,
        { cause: err },
      );
    }
    throw storeFailed("read", r.full, err);
  }
}
