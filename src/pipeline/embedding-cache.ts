// An LRU cache of prompt embeddings, bounded by bytes (a FLUX.1-dev entry is 512 x 4096 float32 = 8 MiB).
// Keys name everything the embedding depends on: the model (its folder), the family, every prompt string the
// encoders see and the settings (max_sequence_length); see conditioningKey. Concurrent requests for the same key
// share one computation (the server gets many identical prompts at once). Values are treated as immutable:
// callers must not write into the returned arrays.

export interface CachedConditioning {
  /** Text hidden states [tokens, dim] float32. */
  context: Float32Array;
  tokens: number;
  /** Pooled vector float32. */
  pooled: Float32Array;
}

export interface EmbeddingCacheStats {
  entries: number;
  bytes: number;
  maxBytes: number;
  hits: number;
  misses: number;
  evictions: number;
}

const bytesOf = (v: CachedConditioning) => v.context.byteLength + v.pooled.byteLength;

export class EmbeddingCache<V extends CachedConditioning = CachedConditioning> {
  private readonly map = new Map<string, V>(); // insertion order = recency (oldest first)
  private readonly pending = new Map<string, Promise<V>>();
  private bytes = 0;
  private hits = 0;
  private misses = 0;
  private evictions = 0;

  /** @param maxBytes total float32 bytes kept (default 256 MiB: 32 FLUX.1-dev prompts); 0 disables caching. */
  constructor(readonly maxBytes = 256 * 1024 * 1024) {
    if (!Number.isFinite(maxBytes) || maxBytes < 0) throw new Error(`EmbeddingCache: maxBytes ${maxBytes} must be a non-negative number`);
  }

  get(key: string): V | undefined {
    const v = this.map.get(key);
    if (v === undefined) return undefined;
    this.map.delete(key);
    this.map.set(key, v);
    return v;
  }

  set(key: string, value: V): void {
    const size = bytesOf(value);
    const old = this.map.get(key);
    if (old !== undefined) {
      this.map.delete(key);
      this.bytes -= bytesOf(old);
    }
    if (size > this.maxBytes) return; // larger than the whole cache: not kept
    this.map.set(key, value);
    this.bytes += size;
    for (const [k, v] of this.map) {
      if (this.bytes <= this.maxBytes) break;
      this.map.delete(k);
      this.bytes -= bytesOf(v);
      this.evictions++;
    }
  }

  /** The cached value, or `compute()`'s (stored); concurrent callers of one key share a single computation. */
  async getOrCompute(key: string, compute: () => Promise<V>): Promise<V> {
    const hit = this.get(key);
    if (hit !== undefined) {
      this.hits++;
      return hit;
    }
    const inflight = this.pending.get(key);
    if (inflight) {
      this.hits++;
      return inflight;
    }
    this.misses++;
    const p = compute().then(
      (v) => {
        this.pending.delete(key);
        this.set(key, v);
        return v;
      },
      (e: unknown) => {
        this.pending.delete(key);
        throw e;
      },
    );
    this.pending.set(key, p);
    return p;
  }

  clear(): void {
    this.map.clear();
    this.bytes = 0;
  }

  get stats(): EmbeddingCacheStats {
    return { entries: this.map.size, bytes: this.bytes, maxBytes: this.maxBytes, hits: this.hits, misses: this.misses, evictions: this.evictions };
  }
}

/** A cache key from the parts an embedding depends on (JSON: no separator can collide with prompt text). */
export function conditioningKey(parts: { model: string; family: string; prompts: readonly (string | null)[]; settings: Record<string, number | string | boolean | null> }): string {
  const settings = Object.keys(parts.settings).sort().map((k) => [k, parts.settings[k]]);
  return JSON.stringify([parts.model, parts.family, parts.prompts, settings]);
}
