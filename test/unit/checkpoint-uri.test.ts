// Store URIs: the S3 form, the Azure host-style form, the emulator's
// path-style form, and the messages for what is refused.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { childUri, formatStoreUri, joinKey, parseStoreUri, type StoreUri } from "../../src/checkpoint/uri.ts";

describe("parseStoreUri", () => {
  const accepted: [string, StoreUri][] = [
    ["s3://ckpt-use1/ml/llama-8b", { kind: "s3", bucket: "ckpt-use1", prefix: "ml/llama-8b" }],
    ["s3://ckpt-use1", { kind: "s3", bucket: "ckpt-use1", prefix: "" }],
    ["s3://ckpt.use1/ml//llama-8b/", { kind: "s3", bucket: "ckpt.use1", prefix: "ml/llama-8b" }],
    [
      "https://acct.blob.core.windows.net/ckpt/ml/llama-8b",
      {
        kind: "azure-blob",
        accountUrl: "https://acct.blob.core.windows.net",
        account: "acct",
        container: "ckpt",
        prefix: "ml/llama-8b",
      },
    ],
    [
      "https://acct01.blob.core.chinacloudapi.cn/ckpt",
      {
        kind: "azure-blob",
        accountUrl: "https://acct01.blob.core.chinacloudapi.cn",
        account: "acct01",
        container: "ckpt",
        prefix: "",
      },
    ],
    [
      "http://127.0.0.1:21910/devstoreaccount1/ckpt-azure-sim/ml/job",
      {
        kind: "azure-blob",
        accountUrl: "http://127.0.0.1:21910/devstoreaccount1",
        account: "devstoreaccount1",
        container: "ckpt-azure-sim",
        prefix: "ml/job",
      },
    ],
  ];
  for (const [text, uri] of accepted) {
    it(`parses ${text}`, () => assert.deepEqual(parseStoreUri(text), { ok: true, uri }));
  }

  const refused: [string, RegExp][] = [
    ["gs://bucket/x", /the scheme must be s3:\/\//],
    ["s3://", /"" is not a valid bucket name/],
    ["s3://Upper/x", /"Upper" is not a valid bucket name/],
    ["s3://ab/x", /"ab" is not a valid bucket name/],
    ["https://acct.blob.core.windows.net/", /"" is not a valid container name/],
    ["https://acct.blob.core.windows.net/Ckpt/x", /"Ckpt" is not a valid container name/],
    ["https://acct.blob.core.windows.net/a--b/x", /"a--b" is not a valid container name/],
    ["https://acct.blob.core.windows.net/ckpt?sv=2024", /takes no query/],
    ["http://127.0.0.1:10000/", /"" is not a storage account name/],
    ["http://127.0.0.1:10000/Dev_Account/ckpt", /"Dev_Account" is not a storage account name/],
    // Paths that would leave the prefix, or the container, once a URL parser or a client resolves them.
    ["https://acct.blob.core.windows.net/ckpt/ml/../../other/ml/job", /a '\.' or '\.\.' segment/],
    ["http://127.0.0.1:10000/devstoreaccount1/ckpt/../ckpt2/ml/job", /a '\.' or '\.\.' segment/],
    ["https://acct.blob.core.windows.net/ckpt/ml/./job", /a '\.' or '\.\.' segment/],
    ["https://acct.blob.core.windows.net/ckpt/ml/..", /a '\.' or '\.\.' segment/],
    ["https://acct.blob.core.windows.net/ckpt/ml/..?", /takes no query/],
    ["https://acct.blob.core.windows.net/ckpt/ml/..#", /takes no query/],
    ["https://acct.blob.core.windows.net/ckpt/ml/%2e%2e/other", /a '%'/],
    ["https://acct.blob.core.windows.net/ckpt/ml/.%2E/other", /a '%'/],
    ["https://acct.blob.core.windows.net/ckpt/ml\\..\\other", /a backslash/],
    ["s3://ckpt-use1/ml/../other-ns/job", /a '\.' or '\.\.' segment/],
    ["s3://ckpt-use1/ml/job\\x", /a backslash/],
    ["s3://ckpt-use1/ml/job\nx", /a control character/],
  ];
  for (const [text, reason] of refused) {
    it(`refuses ${text}`, () => {
      const r = parseStoreUri(text);
      assert.equal(r.ok, false);
      if (!r.ok) {
        assert.match(r.reason, reason);
        assert.match(r.reason, /expected s3:\/\/bucket\/prefix or https:\/\/account\.blob/);
      }
    });
  }
});

describe("formatStoreUri", () => {
  for (const text of [
    "s3://ckpt-use1/ml/llama-8b",
    "s3://ckpt-use1",
    "https://acct.blob.core.windows.net/ckpt/ml/llama-8b",
    "http://127.0.0.1:21910/devstoreaccount1/ckpt-azure-sim/ml/job",
  ]) {
    it(`round-trips ${text}`, () => {
      const r = parseStoreUri(text);
      assert.ok(r.ok);
      assert.equal(formatStoreUri(r.uri), text);
    });
  }
  it("appends to the prefix", () => {
    const r = parseStoreUri("s3://ckpt-use1/ml");
    assert.ok(r.ok);
    assert.equal(formatStoreUri(childUri(r.uri, "llama/step-3")), "s3://ckpt-use1/ml/llama/step-3");
  });
  it("joins keys with single slashes", () => assert.equal(joinKey("a/", "", "/b/c/"), "a/b/c"));
});
