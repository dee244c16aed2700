// Azure Storage connection strings (`AZURE_STORAGE_CONNECTION_STRING`), as
// Azure documents them: `Key=Value` pairs joined by `;`, e.g.
// `DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=...;EndpointSuffix=core.windows.net`
// or, for an emulator, `...;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;`.
// Only shared-key strings are read: the store signs with the account key.

export interface BlobConnection {
  readonly accountName: string;
  readonly accountKey: string;
  /** The blob endpoint: BlobEndpoint, else <protocol>://<account>.blob.<suffix>. No trailing slash. */
  readonly blobEndpoint: string;
}

export type ConnectionResult =
  | { readonly ok: true; readonly value: BlobConnection }
  | { readonly ok: false; readonly reason: string };

/**
 * Parses a connection string. The reason of a failure names the missing or unusable part and never
 * repeats the string itself (it holds the account key).
 */
export function parseConnectionString(text: string): ConnectionResult {
  const pairs = new Map<string, string>();
  for (const part of text.split(";")) {
    const trimmed = part.trim();
    if (trimmed === "") continue;
    const eq = trimmed.indexOf("=");
    // The key ends at the first "=": an account key (base64) ends in "=" itself.
    if (eq <= 0) return fail(`a part is not Key=Value`);
    pairs.set(trimmed.slice(0, eq).trim().toLowerCase(), trimmed.slice(eq + 1).trim());
  }
  if (pairs.has("sharedaccesssignature") && !pairs.has("accountkey")) {
    return fail("it holds a SharedAccessSignature, which the operator does not use: give AccountName and AccountKey");
  }
  if (pairs.get("usedevelopmentstorage")?.toLowerCase() === "true") {
    return fail("UseDevelopmentStorage is not read: give AccountName, AccountKey and BlobEndpoint of the emulator");
  }
  const accountName = pairs.get("accountname") ?? "";
  const accountKey = pairs.get("accountkey") ?? "";
  if (!accountName) return fail("it has no AccountName");
  if (!accountKey) return fail("it has no AccountKey");
  const explicit = pairs.get("blobendpoint");
  if (explicit !== undefined && !/^https?:\/\/[^/]/.test(explicit))
    return fail("its BlobEndpoint is not an http(s) URL");
  const protocol = pairs.get("defaultendpointsprotocol") ?? "https";
  if (protocol !== "https" && protocol !== "http")
    return fail("its DefaultEndpointsProtocol is neither https nor http");
  const suffix = pairs.get("endpointsuffix") ?? "core.windows.net";
  const blobEndpoint = (explicit ?? `${protocol}://${accountName}.blob.${suffix}`).replace(/\/+$/, "");
  return { ok: true, value: { accountName, accountKey, blobEndpoint } };
}

function fail(why: string): ConnectionResult {
  return { ok: false, reason: `AZURE_STORAGE_CONNECTION_STRING: ${why}` };
}

/**
 * The account key a connection string gives for the store at `accountUrl` (of account `account`);
 * the reason names the string's endpoint and account when they are another store's. Never the key.
 */
export function connectionKeyFor(
  text: string,
  accountUrl: string,
  account: string,
): { readonly ok: true; readonly key: string } | { readonly ok: false; readonly reason: string } {
  const parsed = parseConnectionString(text);
  if (!parsed.ok) return parsed;
  const url = accountUrl.replace(/\/+$/, "");
  const { blobEndpoint, accountName, accountKey } = parsed.value;
  if (blobEndpoint !== url || accountName !== account) {
    return {
      ok: false,
      reason: `AZURE_STORAGE_CONNECTION_STRING is for the blob endpoint ${blobEndpoint} (account ${accountName}), but the store is ${url} (account ${account})`,
    };
  }
  return { ok: true, key: accountKey };
}
