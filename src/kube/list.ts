// Lists in pages, as client-go's pager does: each page is one request with
// its own deadline, and the pages together are one snapshot of the collection.

/** Objects per page of a list: each page is one request with its own deadline, as client-go's pager does. */
export const LIST_PAGE_SIZE = 500;

interface Page<T> {
  readonly items: T[];
  readonly metadata?: { readonly resourceVersion?: string; readonly continue?: string };
}

/** The whole collection, fetched in pages of LIST_PAGE_SIZE; its resourceVersion is the list's snapshot. */
export async function listPaged<T>(
  page: (params: { limit: number; continue?: string }) => Promise<Page<T>>,
): Promise<{ items: T[]; resourceVersion: string | undefined }> {
  const items: T[] = [];
  let next: string | undefined;
  let resourceVersion: string | undefined;
  do {
    const p = await page({ limit: LIST_PAGE_SIZE, ...(next ? { continue: next } : {}) });
    for (const item of p.items) items.push(item);
    resourceVersion = p.metadata?.resourceVersion;
    next = p.metadata?.continue || undefined;
  } while (next);
  return { items, resourceVersion };
}
