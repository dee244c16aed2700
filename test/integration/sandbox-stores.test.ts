// The sandbox's object stores answer the official SDKs: an object written and
// read back through @aws-sdk/client-s3 (versitygw) and @azure/storage-blob (Azurite).

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { blobServiceClient, SANDBOX_BUCKET, SANDBOX_CONTAINER, s3Client } from "../../scripts/sandbox/sandbox.ts";

describe("sandbox object stores", () => {
  it("round-trips an object through S3", async () => {
    const s3 = s3Client();
    const key = `roundtrip/${Date.now()}.bin`;
    const body = randomBytes(64 * 1024);
    await s3.send(new PutObjectCommand({ Bucket: SANDBOX_BUCKET, Key: key, Body: body }));
    const got = await s3.send(new GetObjectCommand({ Bucket: SANDBOX_BUCKET, Key: key }));
    assert.deepEqual(Buffer.from((await got.Body?.transformToByteArray()) ?? []), body);
    // conditional write: a second create of the same key is refused
    await assert.rejects(
      s3.send(new PutObjectCommand({ Bucket: SANDBOX_BUCKET, Key: key, Body: "again", IfNoneMatch: "*" })),
      (err: { name?: string }) => err.name === "PreconditionFailed",
    );
    const head = await s3.send(new HeadObjectCommand({ Bucket: SANDBOX_BUCKET, Key: key }));
    assert.equal(head.ContentLength, body.length);
    s3.destroy();
  });

  it("round-trips a blob through Azure Blob Storage", async () => {
    const container = blobServiceClient().getContainerClient(SANDBOX_CONTAINER);
    const blob = container.getBlockBlobClient(`roundtrip/${Date.now()}.bin`);
    const body = randomBytes(64 * 1024);
    await blob.uploadData(body);
    assert.deepEqual(await blob.downloadToBuffer(), body);
    const props = await blob.getProperties();
    assert.equal(props.contentLength, body.length);
  });
});
