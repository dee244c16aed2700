// What S3Store sends with a body: a body with its SHA-256 goes with an unsigned
// payload (the signed x-amz-checksum-sha256 header is what proves the bytes);
// a body without one keeps the SDK's signed payload hash. Checked on the wire,
// against a local HTTP server that records each request's headers.

import assert from "node:assert/strict";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { S3Client } from "@aws-sdk/client-s3";
import { hexToBase64, sha256Hex } from "../../src/checkpoint/hash.ts";
import { S3Store } from "../../src/checkpoint/s3/s3-store.ts";

const seen: { method: string; url: string; headers: IncomingHttpHeaders; bytes: number }[] = [];
const server = createServer((req, res) => {
  let bytes = 0;
  req.on("data", (c: Buffer) => {
    bytes += c.length;
  });
  req.on("end", () => {
    seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, bytes });
    res.writeHead(200, { ETag: '"etag"', "content-type": "application/xml" });
    res.end(
      req.url?.includes("uploads")
        ? "<InitiateMultipartUploadResult><UploadId>up-1</UploadId></InitiateMultipartUploadResult>"
        : "",
    );
  });
});
let store: S3Store;

before(async () => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const client = new S3Client({
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: "key", secretAccessKey: "secret" },
    requestChecksumCalculation: "WHEN_REQUIRED",
  });
  store = new S3Store({ client, bucket: "bucket" });
});
after(() => server.close());

describe("S3Store payload signing", () => {
  const body = Buffer.from("the bytes of a part");
  const sha = sha256Hex(body);

  it("sends a part with its SHA-256 and an unsigned payload", async () => {
    seen.length = 0;
    const upload = await store.openUpload("step-1/a");
    await upload.putPart({ index: 0, offset: 0, size: body.length }, body, sha);
    const part = seen.find((r) => r.method === "PUT");
    assert.equal(part?.headers["x-amz-content-sha256"], "UNSIGNED-PAYLOAD");
    assert.equal(part?.headers["x-amz-checksum-sha256"], hexToBase64(sha));
    assert.match(String(part?.headers.authorization), /x-amz-checksum-sha256/, "the checksum header is signed");
    assert.equal(part?.bytes, body.length);
  });

  it("sends a put with a SHA-256 unsigned, and one without a SHA-256 signed over its bytes", async () => {
    seen.length = 0;
    await store.put("step-1/b", body, { sha256: sha });
    await store.put("step-1/c", body);
    const [withSha, without] = seen;
    assert.equal(withSha?.headers["x-amz-content-sha256"], "UNSIGNED-PAYLOAD");
    assert.equal(withSha?.headers["x-amz-checksum-sha256"], hexToBase64(sha));
    assert.equal(without?.headers["x-amz-content-sha256"], sha, "the payload hash the signature covers");
  });
});
