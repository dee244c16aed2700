// Structured logs for the operator: winston writing one JSON object a line
// ({"timestamp","level","msg",...fields}), with fields such as job and cluster
// added through logger.child(), and secrets masked before anything is written.

import winston from "winston";

export type Logger = winston.Logger;

export interface LoggerOptions {
  /** Lowest level written (error, warn, info, debug). Default LOG_LEVEL or "info". */
  readonly level?: string;
  /** Where the JSON lines go. Default process.stdout. */
  readonly stream?: NodeJS.WritableStream;
}

export const REDACTED = "[REDACTED]";

/** Field names whose values are secrets: token, password, secret, key, authorization, kubeconfig, ... */
const SECRET_FIELD =
  /token|passw(or)?d|secret|authorization|kubeconfig|credential|cookie|(^|[-_.]|[a-z])key$|^key|private.?key/i;

/** Credentials inside free text: bearer tokens and key=value pairs with a secret-like key. */
const SECRET_TEXT = [
  { pattern: /\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+/gi, replace: `$1 ${REDACTED}` },
  {
    pattern:
      /\b(token|password|secret|authorization|access[_-]?key|secret[_-]?key|api[_-]?key|account[_-]?key|sig|x-amz-signature|x-amz-credential|x-amz-security-token)(["']?\s*[:=]\s*["']?)[^\s"',;&]+/gi,
    replace: `$1$2${REDACTED}`,
  },
];

/** True when a field named `name` holds a secret. */
export function isSecretField(name: string): boolean {
  return SECRET_FIELD.test(name);
}

/** Masks credentials that appear inside a string. */
export function redactText(text: string): string {
  let out = text;
  for (const { pattern, replace } of SECRET_TEXT) out = out.replace(pattern, replace);
  return out;
}

function errorFields(error: Error): Record<string, unknown> {
  const fields: Record<string, unknown> = { name: error.name, message: error.message };
  for (const extra of ["code", "statusCode", "reason"] as const) {
    const value = (error as unknown as Record<string, unknown>)[extra];
    if (value !== undefined) fields[extra] = value;
  }
  if (error.stack) fields.stack = error.stack;
  return fields;
}

/** A copy of `value` with secret-named fields masked, secrets in strings masked, Errors made plain. */
export function redact(value: unknown, seen: WeakSet<object> = new WeakSet()): unknown {
  if (typeof value === "string") return redactText(value);
  if (value === null || typeof value !== "object") return value;
  if (seen.has(value)) return "[Circular]";
  seen.add(value);
  if (Array.isArray(value)) return value.map((item) => redact(item, seen));
  if (value instanceof Date) return value;
  const source = value instanceof Error ? errorFields(value) : (value as Record<string, unknown>);
  const out: Record<string, unknown> = {};
  for (const [field, inner] of Object.entries(source)) {
    out[field] = isSecretField(field) ? REDACTED : redact(inner, seen);
  }
  return out;
}

/** The winston format that redacts every field of a log entry, keeping winston's symbol keys. */
export const redactFormat = winston.format((info) => {
  const seen = new WeakSet<object>([info]);
  for (const field of Object.keys(info)) {
    if (field === "level") continue;
    info[field] = isSecretField(field) ? REDACTED : redact(info[field], seen);
  }
  return info;
});

const MESSAGE = Symbol.for("message");

function jsonValue(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}

/** Writes the line: timestamp, level and msg (winston's `message`) first, then the fields. */
const lineFormat = winston.format((info) => {
  const { level, message, timestamp, ...fields } = info;
  const line = JSON.stringify({ timestamp, level, msg: message, ...fields }, jsonValue);
  (info as unknown as Record<symbol, string>)[MESSAGE] = line;
  return info;
});

/** A JSON-lines logger; add fields with logger.child({ job: "ns/name", cluster: "aws-sim" }). */
export function makeLogger(options: LoggerOptions = {}): Logger {
  return winston.createLogger({
    level: options.level ?? process.env.LOG_LEVEL ?? "info",
    format: winston.format.combine(
      winston.format.errors({ stack: true }),
      winston.format.timestamp(),
      redactFormat(),
      lineFormat(),
    ),
    transports: [new winston.transports.Stream({ stream: options.stream ?? process.stdout })],
  });
}

/** A logger that writes nothing, the default where a logger is optional. */
export function silentLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}
