// Compiled transformer plans kept per (text tokens, latent grid), least recently used first out: a plan holds its
// activation arenas on the GPU, so only a few shapes stay resident. Both executors (one GPU, and a sequence-parallel
// group) keep their plans here; what "destroy" means for an entry is theirs.
export class PlanCache<V> {
  // Map iteration order is insertion order: re-inserting on every hit makes it the LRU order.
  private readonly entries = new Map<string, V>();

  constructor(private readonly capacity: number, private readonly destroy: (entry: V) => void) {}

  /** The entry for `key`, now the most recently used; undefined when absent. */
  get(key: string): V | undefined {
    const hit = this.entries.get(key);
    if (hit !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, hit);
    }
    return hit;
  }

  /** Destroys least recently used entries until one more fits (before compiling a new plan, so memory is freed first). */
  makeRoom(): void {
    while (this.entries.size >= Math.max(1, this.capacity)) {
      const [key, old] = this.entries.entries().next().value!;
      this.destroy(old);
      this.entries.delete(key);
    }
  }

  set(key: string, entry: V): void {
    this.entries.set(key, entry);
  }

  clear(): void {
    for (const e of this.entries.values()) this.destroy(e);
    this.entries.clear();
  }
}
