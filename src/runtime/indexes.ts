// Named indexes over a cache: each maps an object to a key, and finds the
// objects under a key without scanning the cache.

export class Indexes<T> {
  readonly #keyOf: Readonly<Record<string, (obj: T) => string | undefined>>;
  /** Per index: its key for each object id, and the objects under each key by id. */
  readonly #entries = new Map<string, { keys: Map<string, string>; objects: Map<string, Map<string, T>> }>();

  /** `keyOf`: per index name, an object's key (undefined: not in that index). */
  constructor(keyOf: Readonly<Record<string, (obj: T) => string | undefined>>) {
    this.#keyOf = keyOf;
    for (const index of Object.keys(keyOf)) this.#entries.set(index, { keys: new Map(), objects: new Map() });
  }

  /** Indexes `obj` under `id`, in place of what `id` held before. */
  put(id: string, obj: T): void {
    this.remove(id);
    for (const [index, keyOf] of Object.entries(this.#keyOf)) {
      const entry = this.#entries.get(index);
      const key = keyOf(obj);
      if (!entry || key === undefined) continue;
      entry.keys.set(id, key);
      const objects = entry.objects.get(key) ?? new Map<string, T>();
      entry.objects.set(key, objects);
      objects.set(id, obj);
    }
  }

  remove(id: string): void {
    for (const entry of this.#entries.values()) {
      const key = entry.keys.get(id);
      if (key === undefined) continue;
      entry.keys.delete(id);
      const objects = entry.objects.get(key);
      objects?.delete(id);
      if (objects?.size === 0) entry.objects.delete(key);
    }
  }

  /** The objects whose key in `index` is `key`; undefined when there is no such index. */
  get(index: string, key: string): T[] | undefined {
    const entry = this.#entries.get(index);
    return entry ? [...(entry.objects.get(key)?.values() ?? [])] : undefined;
  }
}
