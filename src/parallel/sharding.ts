// Which tokens each rank of a sequence-parallel group holds. A DiT's joint sequence has a text part and an image
// part; each is split into contiguous, near-equal slices (the first n % size ranks one longer), and rank r holds
// text slice r and image slice r. Every per-token op (linear, norm, MLP, RoPE at the token's global position)
// then runs on the rank's own rows; only attention needs the other ranks (src/parallel/attention.ts).
import { shardRange } from './attention.js';

export interface RowRange {
  start: number;
  count: number;
}

/** The rows of the text and image sequences one rank holds. */
export interface TokenShard {
  text: RowRange;
  image: RowRange;
}

export function tokenShards(textTokens: number, imageTokens: number, size: number): TokenShard[] {
  if (!Number.isInteger(size) || size < 1) throw new Error(`sequence parallelism: degree ${size} must be a positive integer`);
  if (imageTokens < size) throw new Error(`sequence parallelism: ${imageTokens} image tokens cannot be split over ${size} GPUs (each needs at least one); use a lower degree`);
  return Array.from({ length: size }, (_, r) => ({ text: shardRange(textTokens, size, r), image: shardRange(imageTokens, size, r) }));
}

/** Joint-sequence rows of every rank (what parallelAttention's `rows` needs). */
export function jointRows(shards: readonly TokenShard[]): number[] {
  return shards.map((s) => s.text.count + s.image.count);
}

/** Rows [start, start + count) of a row-major [n, width] host array. */
export function sliceRows(data: ArrayLike<number>, width: number, r: RowRange): Float32Array {
  const out = new Float32Array(r.count * width);
  if ('subarray' in data && typeof (data as Float32Array).subarray === 'function') {
    out.set((data as Float32Array).subarray(r.start * width, (r.start + r.count) * width));
  } else {
    for (let i = 0; i < out.length; i++) out[i] = data[r.start * width + i];
  }
  return out;
}

/** Concatenates per-rank row blocks back into one array (rank order = row order). */
export function concatRows(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
