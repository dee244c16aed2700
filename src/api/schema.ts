// A small schema language for the CRDs: each builder carries its TypeScript
// type and renders its structural OpenAPI v3 schema, so `crds/*.yaml`,
// `docs/api.md` and the operator's types all come from one definition.
// Every builder takes a description first: `kubectl explain` answers for every field.

/** A CEL validation rule (x-kubernetes-validations). */
export interface Rule {
  readonly rule: string;
  readonly message: string;
  /** JSONPath of the field the error names, relative to the schema it is on (e.g. `.replicas`). */
  readonly fieldPath?: string;
  readonly reason?: "FieldValueInvalid" | "FieldValueForbidden" | "FieldValueRequired" | "FieldValueDuplicate";
}

/** The plain OpenAPI v3 schema object a CRD carries. */
export interface OpenAPISchema {
  type?: "string" | "integer" | "number" | "boolean" | "object" | "array";
  /** Required by every builder; only metadata, which the API server restricts, has none. */
  description?: string;
  format?: string;
  enum?: readonly (string | number)[];
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  default?: unknown;
  items?: OpenAPISchema;
  properties?: Record<string, OpenAPISchema>;
  required?: string[];
  additionalProperties?: OpenAPISchema;
  "x-kubernetes-validations"?: Rule[];
  "x-kubernetes-preserve-unknown-fields"?: boolean;
  "x-kubernetes-embedded-resource"?: boolean;
  "x-kubernetes-list-type"?: "atomic" | "set" | "map";
  "x-kubernetes-list-map-keys"?: string[];
  "x-kubernetes-int-or-string"?: boolean;
}

/**
 * A schema for values of type T. `Defaulted` records whether the API server
 * fills the field in when it is absent, which makes it always present when
 * read back, so the TypeScript type of its object makes it required.
 */
export interface Schema<T, Defaulted extends boolean = false> {
  readonly openapi: OpenAPISchema;
  /** Type-level only: never set. */
  readonly _type?: T;
  readonly _defaulted?: Defaulted;
}

export type Infer<S> = S extends Schema<infer T, boolean> ? T : never;

type AnySchema = Schema<unknown, boolean>;
type Props = Record<string, AnySchema>;
type DefaultedKeys<P extends Props> = { [K in keyof P]: P[K] extends Schema<unknown, true> ? K : never }[keyof P];
type Simplify<T> = { [K in keyof T]: T[K] } & {};

/** An object's type: required and defaulted keys present, the others optional. */
export type ObjectOf<P extends Props, R extends keyof P> = Simplify<
  { -readonly [K in R | DefaultedKeys<P>]-?: Infer<P[K]> } & {
    -readonly [K in Exclude<keyof P, R | DefaultedKeys<P>>]?: Infer<P[K]>;
  }
>;

interface Common<D> {
  readonly default?: D;
  readonly rules?: readonly Rule[];
}

type WithDefault<T, O> = O extends { default: unknown } ? Schema<T, true> : Schema<T, false>;

function make<T, O extends Common<unknown>>(
  description: string,
  openapi: Omit<OpenAPISchema, "description">,
  options: O,
) {
  const schema: OpenAPISchema = { description, ...openapi };
  if (options.default !== undefined) schema.default = options.default;
  if (options.rules && options.rules.length > 0) schema["x-kubernetes-validations"] = [...options.rules];
  return { openapi: schema } as WithDefault<T, O>;
}

export interface StringOptions extends Common<string> {
  readonly pattern?: string;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly format?: string;
}

export function string<const O extends StringOptions>(description: string, options: O = {} as O) {
  const { default: _d, rules: _r, ...rest } = options;
  return make<string, O>(description, { type: "string", ...rest }, options);
}

export function enumOf<const V extends string, const O extends Common<NoInfer<V>>>(
  description: string,
  values: readonly V[],
  options: O = {} as O,
) {
  return make<V, O>(description, { type: "string", enum: values }, options);
}

export interface IntegerOptions extends Common<number> {
  readonly minimum?: number;
  readonly maximum?: number;
  readonly format?: "int32" | "int64";
}

export function integer<const O extends IntegerOptions>(description: string, options: O = {} as O) {
  const { default: _d, rules: _r, ...rest } = options;
  return make<number, O>(description, { type: "integer", ...rest }, options);
}

export function boolean<const O extends Common<boolean>>(description: string, options: O = {} as O) {
  return make<boolean, O>(description, { type: "boolean" }, options);
}

export interface ArrayOptions<T> extends Common<T[]> {
  readonly minItems?: number;
  readonly maxItems?: number;
  readonly listType?: "atomic" | "set" | "map";
  readonly listMapKeys?: string[];
}

export function array<I extends AnySchema, const O extends ArrayOptions<Infer<I>>>(
  description: string,
  items: I,
  options: O = {} as O,
) {
  const openapi: Omit<OpenAPISchema, "description"> = { type: "array", items: items.openapi };
  if (options.minItems !== undefined) openapi.minItems = options.minItems;
  if (options.maxItems !== undefined) openapi.maxItems = options.maxItems;
  if (options.listType) openapi["x-kubernetes-list-type"] = options.listType;
  if (options.listMapKeys) openapi["x-kubernetes-list-map-keys"] = options.listMapKeys;
  return make<Infer<I>[], O>(description, openapi, options);
}

export interface ObjectOptions<R> extends Common<Record<string, never>> {
  /** Keys that must be given. */
  readonly required?: readonly R[];
}

export function object<P extends Props, const O extends ObjectOptions<keyof P & string>>(
  description: string,
  properties: P,
  options: O = {} as O,
) {
  type R = O extends { readonly required: readonly (infer K)[] } ? K & keyof P : never;
  const openapi: Omit<OpenAPISchema, "description"> = {
    type: "object",
    properties: Object.fromEntries(Object.entries(properties).map(([k, v]) => [k, v.openapi])),
  };
  if (options.required && options.required.length > 0) openapi.required = [...options.required];
  return make<ObjectOf<P, R>, O>(description, openapi, options);
}

/** A map from string keys to values of one schema (additionalProperties). */
export function map<V extends AnySchema, const O extends Common<Record<string, never>>>(
  description: string,
  values: V,
  options: O = {} as O,
) {
  return make<Record<string, Infer<V>>, O>(
    description,
    { type: "object", additionalProperties: values.openapi },
    options,
  );
}

/** A schema written out by hand, for embedded Kubernetes types (e.g. a PodTemplateSpec). */
export function raw<T>(description: string, openapi: Omit<OpenAPISchema, "description">): Schema<T, false> {
  return { openapi: { description, ...openapi } };
}

/** Durations as API.md writes them: 90s, 15m, 2h, 1h30m. */
export const DURATION_PATTERN = "^([0-9]+(ms|s|m|h))+$";

export function duration<const O extends Common<string>>(description: string, options: O = {} as O) {
  return make<string, O>(description, { type: "string", pattern: DURATION_PATTERN }, options);
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds of a duration written as DURATION_PATTERN allows ("90s", "1h30m"); undefined when it does not match. */
export function durationMs(text: string): number | undefined {
  if (!new RegExp(DURATION_PATTERN).test(text)) return undefined;
  let total = 0;
  for (const m of text.matchAll(/([0-9]+)(ms|s|m|h)/g)) total += Number(m[1]) * (UNIT_MS[m[2] ?? ""] ?? 0);
  return total;
}
