// The logger writes one JSON object a line with timestamp, level and msg,
// carries child fields, and never writes secrets.

import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { describe, it } from "node:test";
import { isSecretField, makeLogger, REDACTED } from "../../src/runtime/logger.ts";

function capture(level = "debug") {
  const stream = new PassThrough();
  const lines: string[] = [];
  let buffer = "";
  stream.on("data", (chunk: Buffer) => {
    buffer += chunk.toString();
    const parts = buffer.split("\n");
    buffer = parts.pop() ?? "";
    lines.push(...parts);
  });
  const logger = makeLogger({ level, stream });
  const entries = async () => {
    await new Promise((r) => setImmediate(r));
    return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  };
  return { logger, entries, lines };
}

describe("makeLogger", () => {
  it("writes JSON lines with timestamp, level, msg and child fields", async () => {
    const { logger, entries } = capture();
    logger.child({ job: "ml/llama", cluster: "aws-sim" }).info("job placed", { epoch: 2 });
    const [entry] = await entries();
    assert.ok(entry);
    assert.deepEqual(Object.keys(entry).slice(0, 3), ["timestamp", "level", "msg"]);
    assert.equal(entry.level, "info");
    assert.equal(entry.msg, "job placed");
    assert.equal(entry.job, "ml/llama");
    assert.equal(entry.cluster, "aws-sim");
    assert.equal(entry.epoch, 2);
    assert.ok(!Number.isNaN(Date.parse(String(entry.timestamp))));
  });

  it("respects the level", async () => {
    const { logger, entries } = capture("warn");
    logger.info("hidden");
    logger.warn("shown");
    assert.deepEqual(
      (await entries()).map((e) => e.msg),
      ["shown"],
    );
  });

  it("writes an Error field with its message and status, not as {}", async () => {
    const { logger, entries } = capture();
    const err = Object.assign(new Error("conflict on lease"), { statusCode: 409 });
    logger.warn("renew failed", { error: err });
    const [entry] = await entries();
    const error = entry?.error as Record<string, unknown>;
    assert.equal(error.message, "conflict on lease");
    assert.equal(error.statusCode, 409);
  });
});

describe("redaction", () => {
  const secrets = {
    token: "tok-123",
    bearerToken: "bt-456",
    password: "hunter2",
    clientSecret: "cs-789",
    secretAccessKey: "sak-000",
    apiKey: "ak-111",
    key: "k-222",
    privateKey: "pk-333",
    Authorization: "Bearer abc.def.ghi",
    kubeconfig: "apiVersion: v1\nusers: [...]",
    kubeConfigPath: "/secret/path",
  };

  it("masks every secret-named field, at any depth and in arrays", async () => {
    const { logger, entries, lines } = capture();
    logger.child({ password: "child-pass" }).info("connecting", {
      ...secrets,
      nested: { deeper: { token: "deep-token" }, list: [{ password: "in-array" }] },
      cluster: "aws-sim",
    });
    const [entry] = await entries();
    assert.ok(entry);
    for (const field of Object.keys(secrets)) assert.equal(entry[field], REDACTED, field);
    assert.equal(entry.password, REDACTED);
    assert.deepEqual(entry.nested, { deeper: { token: REDACTED }, list: [{ password: REDACTED }] });
    assert.equal(entry.cluster, "aws-sim", "ordinary fields are kept");
    const raw = lines.join("\n");
    for (const value of [...Object.values(secrets), "deep-token", "in-array", "child-pass", "abc.def.ghi"]) {
      assert.ok(!raw.includes(value), `the secret ${JSON.stringify(value)} must not reach the log`);
    }
  });

  it("masks credentials inside messages and string fields", async () => {
    const { logger, lines } = capture();
    logger.error("request failed: Authorization: Bearer eyJhbGciOi.payload.sig", {
      detail: "retry with password=hunter2&user=x",
    });
    await new Promise((r) => setImmediate(r));
    const raw = lines.join("\n");
    assert.ok(!raw.includes("eyJhbGciOi"), raw);
    assert.ok(!raw.includes("hunter2"), raw);
    assert.match(raw, /user=x/);
  });

  it("does not mutate the caller's objects", async () => {
    const { logger } = capture();
    const meta = { auth: { token: "t" } };
    logger.info("x", meta);
    assert.equal(meta.auth.token, "t");
  });

  it("survives circular metadata", async () => {
    const { logger, entries } = capture();
    const loop: Record<string, unknown> = { name: "a" };
    loop.self = loop;
    logger.info("cycle", { loop });
    const [entry] = await entries();
    assert.deepEqual(entry?.loop, { name: "a", self: "[Circular]" });
  });

  const names: Array<[string, boolean]> = [
    ["token", true],
    ["accessToken", true],
    ["PASSWORD", true],
    ["secretRef", true],
    ["key", true],
    ["sshKey", true],
    ["authorization", true],
    ["kubeconfig", true],
    ["job", false],
    ["cluster", false],
    ["object", false],
    ["namespace", false],
    ["phase", false],
  ];
  for (const [name, secret] of names) {
    it(`field ${name} is ${secret ? "" : "not "}a secret`, () => assert.equal(isSecretField(name), secret));
  }
});
