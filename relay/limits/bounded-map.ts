/**
 * A Map with a fixed number of keys: past `maxKeys` the least recently used
 * entry is forgotten. For state kept about strangers (per client, per
 * token), where a flood of distinct keys must cost accuracy, never memory.
 */
export class BoundedMap<K, V> {
  private readonly entries = new Map<K, V>();

  constructor(private readonly maxKeys: number) {
    if (!(maxKeys >= 1)) throw new Error("a bounded map needs room for one key");
  }

  get(key: K): V | undefined {
    const value = this.entries.get(key);
    if (value === undefined) return undefined;
    // Re-inserting keeps the Map in least-recently-used order: the first key is the one to forget.
    this.entries.delete(key);
    this.entries.set(key, value);
    return value;
  }

  set(key: K, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    while (this.entries.size > this.maxKeys) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.entries.delete(oldest.value);
    }
  }

  delete(key: K): void {
    this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }
}
