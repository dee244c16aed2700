// readUrlInto (src/checkpoint/url-read.ts) against real sockets: a TCP server
// answering each case's bytes as a store would (or would not), and a TLS one
// with a certificate made here by openssl. The stores' use of it runs in the
// integration suite against versitygw and Azurite.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createServer as createTlsServer, getCACertificates, setDefaultCACertificates } from "node:tls";
import { headMismatch, parseHead, readUrlInto, requestHead, UrlReadError } from "../../src/checkpoint/url-read.ts";

const object = randomBytes(3 * 2 ** 20 + 17);

/** Answers a ranged GET of `object` as S3 does: 206 with Content-Range. */
function answerRange(socket: Socket, request: string, extra = Buffer.alloc(0)): void {
  const [, a, b] = /Range: bytes=(\d+)-(\d+)/.exec(request) ?? [];
  const start = Number(a);
  const end = Number(b);
  const body = object.subarray(start, end + 1);
  socket.write(
    `HTTP/1.1 206 Partial Content\r\nContent-Length: ${body.length}\r\nContent-Range: bytes ${start}-${end}/${object.length}\r\n\r\n`,
  );
  socket.end(Buffer.concat([body, extra]));
}

type Handler = (socket: Socket, request: string) => void;
let handler: Handler = answerRange;
const sockets = new Set<Socket>();
function serve(socket: Socket) {
  sockets.add(socket);
  socket.on("close", () => sockets.delete(socket));
  socket.on("error", () => {});
  let text = "";
  socket.on("data", (d) => {
    text += d.toString("latin1");
    if (text.includes("\r\n\r\n")) handler(socket, text);
  });
}

let server: Server;
let base = "";
before(async () => {
  server = createServer(serve);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
after(() => {
  for (const s of sockets) s.destroy();
  server.close();
});

const timeoutError = () => new Error("idle");
const read = (offset: number, length: number, url = `${base}/bucket/key?X-Amz-Signature=abc`, idleTimeoutMs = 2000) => {
  const into = Buffer.alloc(length);
  return readUrlInto(url, { offset, length }, into, { idleTimeoutMs, timeoutError }).then(() => into);
};

describe("readUrlInto", () => {
  it("reads ranges of every size into the buffer, byte for byte", async () => {
    handler = answerRange;
    for (const [offset, length] of [
      [0, 1],
      [0, object.length],
      [5, 100_000],
      [2 ** 20, 2 ** 21],
      [object.length - 17, 17],
    ] as const) {
      const got = await read(offset, length);
      assert.ok(got.equals(object.subarray(offset, offset + length)), `${offset}+${length}`);
    }
  });

  it("reads a body that comes after its head into a small buffer from Node's pool", async () => {
    // The head and the body in separate packets: the body's reads go to views of the caller's buffer,
    // which (allocUnsafe under Buffer.poolSize / 2) may share an ArrayBuffer with the reader's own.
    handler = (socket, request) => {
      const [, a] = /Range: bytes=(\d+)-/.exec(request) ?? [];
      const start = Number(a);
      socket.write(
        `HTTP/1.1 206 Partial Content\r\nContent-Length: 5000\r\nContent-Range: bytes ${start}-${start + 4999}/${object.length}\r\n\r\n`,
      );
      setTimeout(() => socket.end(object.subarray(start, start + 5000)), 20);
    };
    for (let i = 0; i < 5; i++) {
      const into = Buffer.allocUnsafe(5000);
      await readUrlInto(`${base}/k`, { offset: 1000 + i, length: 5000 }, into, { idleTimeoutMs: 2000, timeoutError });
      assert.ok(into.equals(object.subarray(1000 + i, 6000 + i)));
    }
  });

  it("sends the URL's path and query, the Range and Connection: close", async () => {
    let seen = "";
    handler = (socket, request) => {
      seen = request;
      answerRange(socket, request);
    };
    await read(10, 20, `${base}/b/a%20b/c.distcp?sv=2024&sig=x%2By`);
    assert.match(seen, /^GET \/b\/a%20b\/c\.distcp\?sv=2024&sig=x%2By HTTP\/1\.1\r\n/);
    assert.match(seen, /\r\nRange: bytes=10-29\r\n/);
    assert.match(seen, /\r\nConnection: close\r\n/);
  });

  const failures: [string, Handler, number, number, RegExp, { status?: number; received?: number }][] = [
    [
      "an error status, with the start of its body",
      (s) => s.end("HTTP/1.1 403 Forbidden\r\nContent-Length: 40\r\n\r\n<Error><Code>AccessDenied</Code></Error>"),
      0,
      10,
      /status 403: <Error><Code>AccessDenied/,
      { status: 403 },
    ],
    [
      "a 404 whose server keeps the connection open after its body",
      (s) => s.write("HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nNoSuchKey"),
      0,
      10,
      /status 404: NoSuchKey/,
      { status: 404 },
    ],
    [
      "a body shorter than asked (the object shrank)",
      (s) => s.end("HTTP/1.1 206 Partial Content\r\nContent-Length: 5\r\nContent-Range: bytes 0-4/5\r\n\r\nhello"),
      0,
      10,
      /Content-Range "bytes 0-4\/5", asked for bytes 0-9\//,
      { status: 206, received: 5 },
    ],
    [
      "a connection closed in the middle of the body",
      (s) => s.end("HTTP/1.1 206 Partial Content\r\nContent-Length: 10\r\nContent-Range: bytes 0-9/99\r\n\r\nhel"),
      0,
      10,
      /closed the connection after 3 of 10 bytes/,
      { status: 206, received: 3 },
    ],
    [
      "more bytes than Content-Length",
      (s, r) => answerRange(s, r, Buffer.from("trailing")),
      0,
      10,
      /more than the 10 bytes/,
      { status: 206, received: -1 },
    ],
    [
      "another range than asked",
      (s) =>
        s.end("HTTP/1.1 206 Partial Content\r\nContent-Length: 10\r\nContent-Range: bytes 5-14/99\r\n\r\n0123456789"),
      0,
      10,
      /Content-Range "bytes 5-14\/99", asked for bytes 0-9\//,
      { status: 206 },
    ],
    [
      "the whole object for a range inside it",
      (s) => s.end("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789"),
      3,
      10,
      /the whole object \(status 200\) for a range at offset 3/,
      { status: 200 },
    ],
    [
      "a chunked body",
      (s) => s.end("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
      0,
      5,
      /a chunked body/,
      { status: 200 },
    ],
    ["no response at all", (s) => s.end(), 0, 5, /closed the connection before its response head/, {}],
    ["a response that is not HTTP", (s) => s.end("SSH-2.0-OpenSSH\r\n\r\n"), 0, 5, /malformed response head/, {}],
  ];
  for (const [what, answer, offset, length, message, fields] of failures) {
    it(`fails on ${what}`, async () => {
      handler = answer;
      const err = await read(offset, length).then(
        () => assert.fail("resolved"),
        (e: unknown) => e,
      );
      assert.ok(err instanceof UrlReadError, String(err));
      assert.match(err.message, message);
      assert.equal(err.status, fields.status);
      assert.equal(err.received, fields.received);
    });
  }

  it("a 200 for a range that is the whole object is those bytes", async () => {
    handler = (s) => s.end("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789");
    assert.equal((await read(0, 10)).toString(), "0123456789");
  });

  it("gives up on a server that accepts and never answers, and on one that stops mid-body", async () => {
    for (const stall of [
      () => {},
      (s: Socket) =>
        s.write("HTTP/1.1 206 Partial Content\r\nContent-Length: 10\r\nContent-Range: bytes 0-9/10\r\n\r\n01"),
    ]) {
      handler = stall;
      const started = Date.now();
      await assert.rejects(read(0, 10, undefined, 300), /idle/);
      const took = Date.now() - started;
      assert.ok(took >= 250, `gave up after ${took} ms`);
    }
  });

  it("stops when its signal aborts, with the signal's reason", async () => {
    handler = () => {};
    const abort = new AbortController();
    const into = Buffer.alloc(10);
    const reading = readUrlInto(`${base}/k`, { offset: 0, length: 10 }, into, {
      signal: abort.signal,
      idleTimeoutMs: 10_000,
      timeoutError,
    });
    setTimeout(() => abort.abort(new Error("stop")), 50);
    await assert.rejects(reading, /stop/);
  });

  it("reads over TLS from a server whose certificate the process trusts", async () => {
    const dir = mkdtempSync(join(tmpdir(), "url-read-"));
    const defaults = getCACertificates("default");
    try {
      execFileSync(
        "openssl",
        [
          ...["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"],
          ...["-addext", "subjectAltName=DNS:localhost", "-keyout", join(dir, "k.pem"), "-out", join(dir, "c.pem")],
        ],
        { stdio: "ignore" },
      );
      const cert = readFileSync(join(dir, "c.pem"), "utf8");
      const tls = createTlsServer({ key: readFileSync(join(dir, "k.pem")), cert }, serve);
      await new Promise<void>((resolve) => tls.listen(0, "127.0.0.1", resolve));
      const port = (tls.address() as { port: number }).port;
      handler = answerRange;
      try {
        setDefaultCACertificates([...defaults, cert]);
        const got = await read(7, 2 ** 21, `https://localhost:${port}/b/k?sig=1`);
        assert.ok(got.equals(object.subarray(7, 7 + 2 ** 21)));
        setDefaultCACertificates(defaults);
        await assert.rejects(read(0, 10, `https://localhost:${port}/b/k`), /self-signed certificate/);
      } finally {
        tls.close();
      }
    } finally {
      setDefaultCACertificates(defaults);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the response head", () => {
  const cases: [string, string, { offset: number; length: number }, string | undefined][] = [
    [
      "206 of the range",
      "HTTP/1.1 206 Partial Content\r\nContent-Length: 10\r\nContent-Range: bytes 0-9/20",
      { offset: 0, length: 10 },
      undefined,
    ],
    ["HTTP/1.0 200 whole", "HTTP/1.0 200 OK\r\ncontent-length: 4", { offset: 0, length: 4 }, undefined],
    [
      "206 of another length",
      "HTTP/1.1 206 X\r\nContent-Length: 9\r\nContent-Range: bytes 0-8/20",
      { offset: 0, length: 10 },
      'Content-Range "bytes 0-8/20", asked for bytes 0-9/',
    ],
    [
      "no Content-Length",
      "HTTP/1.1 206 X\r\nContent-Range: bytes 0-9/20",
      { offset: 0, length: 10 },
      "no Content-Length",
    ],
    ["a 304", "HTTP/1.1 304 Not Modified\r\nContent-Length: 0", { offset: 0, length: 10 }, "status 304"],
  ];
  for (const [what, text, range, want] of cases) {
    it(what, () => {
      const head = parseHead(text);
      assert.ok(head);
      assert.equal(headMismatch(head, range), want);
    });
  }

  it("is undefined for a malformed head", () => {
    assert.equal(parseHead("HTTP/2 200"), undefined);
    assert.equal(parseHead("HTTP/1.1 200 OK\r\nno colon here"), undefined);
  });

  it("asks for the bytes from offset to its end, inclusive", () => {
    assert.equal(
      requestHead(new URL("http://h:9/p?q=1"), { offset: 16, length: 16 }),
      "GET /p?q=1 HTTP/1.1\r\nHost: h:9\r\nRange: bytes=16-31\r\nUser-Agent: crosscloud-operator\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n",
    );
  });
});
