// What the operator sent, from its own counter crosscloud_api_requests_total
// {cluster,verb} on /metrics: read before and after a measured window, the
// difference is what the window cost, by cluster and verb.

/** Requests by "cluster verb". */
export type RequestCounts = Map<string, number>;

export const WRITE_VERBS = new Set(["create", "patch", "replace", "delete"]);

/** The operator's counter, scraped from its health port's /metrics. */
export async function scrapeRequests(port: number): Promise<RequestCounts> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const counts: RequestCounts = new Map();
  for (const m of text.matchAll(/^crosscloud_api_requests_total\{cluster="([^"]+)",verb="([^"]+)"\} (\S+)$/gm)) {
    counts.set(`${m[1]} ${m[2]}`, Number(m[3]));
  }
  return counts;
}

export interface RequestRow {
  readonly cluster: string;
  readonly verb: string;
  readonly count: number;
}

/** after - before, per cluster and verb, largest first; rows that did not move are left out. */
export function requestsBetween(before: RequestCounts, after: RequestCounts): RequestRow[] {
  return [...after]
    .map(([key, n]) => {
      const [cluster = "", verb = ""] = key.split(" ");
      return { cluster, verb, count: n - (before.get(key) ?? 0) };
    })
    .filter((r) => r.count > 0)
    .sort((a, b) => b.count - a.count);
}

/** The sum of the rows' counts, of writes only when `writes` is true. */
export function total(rows: readonly RequestRow[], writes = false): number {
  return rows.filter((r) => !writes || WRITE_VERBS.has(r.verb)).reduce((n, r) => n + r.count, 0);
}
