// Checkpoint store URIs: `s3://bucket/prefix`,
// `https://acct.blob.core.windows.net/container/prefix`, and the path-style
// form of emulators (`http://127.0.0.1:PORT/devstoreaccount1/container/prefix`).
// A path that could leave the store's prefix (`.`/`..` segments, which
// `new URL()` resolves, backslashes, percent-escapes) is refused before parsing.

import { CheckpointError } from "./errors.ts";

export type StoreUri =
  | { readonly kind: "s3"; readonly bucket: string; readonly prefix: string }
  | {
      readonly kind: "azure-blob";
      /** The account's endpoint, e.g. https://acct.blob.core.windows.net or http://127.0.0.1:10000/devstoreaccount1. */
      readonly accountUrl: string;
      readonly account: string;
      readonly container: string;
      readonly prefix: string;
    };

export type UriResult = { readonly ok: true; readonly uri: StoreUri } | { readonly ok: false; readonly reason: string };

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const CONTAINER = /^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;
const ACCOUNT = /^[a-z0-9]{3,24}$/;
const HOST_STYLE = /^([a-z0-9]{3,24})\.blob\./;

/** Parses a store URI; the reason of a failure names what is wrong and the accepted forms. */
export function parseStoreUri(text: string): UriResult {
  const scheme = /^(s3|https?):\/\/[^/]*/.exec(text);
  if (!scheme) return fail(text, "the scheme must be s3://, https:// (Azure Blob) or http:// (an emulator)");
  const path = text.slice(scheme[0].length);
  // Even an empty "?" or "#" ends the path for URL parsing, after which "/.." would be resolved.
  if (scheme[1] !== "s3" && /[?#]/.test(path))
    return fail(text, "a store URI takes no query or fragment (give credentials apart)");
  const problem = pathProblem(path);
  if (problem) return fail(text, problem);
  if (scheme[1] === "s3") return parseS3(text.slice("s3://".length));
  return parseBlob(text);
}

/**
 * Why a store path (or a checkpoint prefix) could reach outside where it points, or undefined when
 * it cannot: `.` and `..` segments (URL parsing resolves them, so `ckpt/../other` is another
 * container), backslashes (some clients read them as `/`), percent-escapes (`%2e%2e` is `..` once
 * decoded), and control characters.
 */
export function pathProblem(path: string): string | undefined {
  if (path.split("/").some((s) => s === "." || s === ".."))
    return "the path has a '.' or '..' segment, which could reach outside the store's prefix; name the path without them";
  if (path.includes("\\")) return "the path has a backslash; use '/' between segments";
  if (path.includes("%")) return "the path has a '%' (a percent-escape could hide '..'); use plain characters";
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused.
  if (/[\u0000-\u001f\u007f]/.test(path)) return "the path has a control character";
  return undefined;
}

/** Like parseStoreUri, but throws an InvalidUri CheckpointError. */
export function storeUri(text: string): StoreUri {
  const parsed = parseStoreUri(text);
  if (!parsed.ok) throw new CheckpointError({ code: "InvalidUri", uri: text }, parsed.reason);
  return parsed.uri;
}

function parseS3(rest: string): UriResult {
  const [bucket = "", ...path] = rest.split("/");
  if (!BUCKET.test(bucket)) {
    return fail(`s3://${rest}`, `"${bucket}" is not a valid bucket name (3-63 of a-z, 0-9, '.', '-')`);
  }
  return { ok: true, uri: { kind: "s3", bucket, prefix: normalizePrefix(path.join("/")) } };
}

function parseBlob(text: string): UriResult {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return fail(text, "it is not a URL");
  }
  const segments = url.pathname.split("/").filter((s) => s.length > 0);
  const hostAccount = HOST_STYLE.exec(url.hostname)?.[1];
  const account = hostAccount ?? segments.shift() ?? "";
  if (!ACCOUNT.test(account)) return fail(text, `"${account}" is not a storage account name (3-24 of a-z, 0-9)`);
  const container = segments.shift() ?? "";
  if (!CONTAINER.test(container)) {
    return fail(text, `"${container}" is not a valid container name (3-63 of a-z, 0-9, '-')`);
  }
  const accountUrl = hostAccount ? url.origin : `${url.origin}/${account}`;
  return {
    ok: true,
    uri: { kind: "azure-blob", accountUrl, account, container, prefix: normalizePrefix(segments.join("/")) },
  };
}

function fail(text: string, why: string): UriResult {
  return {
    ok: false,
    reason: `checkpoint store URI "${text}": ${why}; expected s3://bucket/prefix or https://account.blob.core.windows.net/container/prefix`,
  };
}

/** The URI as text, in the form parseStoreUri reads back. */
export function formatStoreUri(uri: StoreUri): string {
  const tail = uri.prefix ? `/${uri.prefix}` : "";
  if (uri.kind === "s3") return `s3://${uri.bucket}${tail}`;
  return `${uri.accountUrl}/${uri.container}${tail}`;
}

/** The same store with `path` appended to its prefix. */
export function childUri(uri: StoreUri, path: string): StoreUri {
  return { ...uri, prefix: joinKey(uri.prefix, path) };
}

/** Joins key segments with single slashes, dropping empty ones. */
export function joinKey(...parts: readonly string[]): string {
  return normalizePrefix(parts.filter((p) => p.length > 0).join("/"));
}

function normalizePrefix(prefix: string): string {
  return prefix
    .split("/")
    .filter((s) => s.length > 0)
    .join("/");
}
