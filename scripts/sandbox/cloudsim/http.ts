// The simulator's small HTTP vocabulary: a parsed request and the response a
// route returns, shared by the EKS, ARM and admin routes.

export interface SimRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly body: unknown;
  /** The simulator's own URL, for links it hands out (ARM operation URLs). */
  readonly baseUrl: string;
}

export interface SimResponse {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: unknown;
}

export const json = (status: number, body: unknown, headers: Record<string, string> = {}): SimResponse => ({
  status,
  body,
  headers,
});
