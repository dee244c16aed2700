// SHA-256 helpers: checksums are hex in manifests and in StagedPart, base64 on the S3 wire.

import { createHash } from "node:crypto";

export function sha256Hex(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

export function hexToBase64(hex: string): string {
  return Buffer.from(hex, "hex").toString("base64");
}

export function base64ToHex(b64: string): string {
  return Buffer.from(b64, "base64").toString("hex");
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

export function isSha256Hex(text: string): boolean {
  return SHA256_HEX.test(text);
}
