// T5's relative position buckets (bidirectional, as the encoder uses them): bucket(i, j) for query i and key j,
// with relative position j - i. Half the buckets are for keys after the query; within each half, distances below
// half the bucket count get a bucket each and larger ones share log-spaced buckets up to maxDistance.
// The log-spaced branch follows transformers' T5Attention._relative_position_bucket step by step in float32
// (torch computes it on a float32 tensor), so bucket boundaries land on the same distances.

export function relativePositionBucket(relative: number, numBuckets: number, maxDistance: number): number {
  const half = Math.floor(numBuckets / 2);
  let bucket = relative > 0 ? half : 0;
  const n = Math.abs(relative);
  const maxExact = Math.floor(half / 2);
  if (n < maxExact) return bucket + n;
  const f = Math.fround;
  const ratio = f(f(n) / f(maxExact));
  const scaled = f(f(f(Math.log(ratio)) / f(Math.log(maxDistance / maxExact))) * f(half - maxExact));
  const large = Math.min(maxExact + Math.trunc(scaled), half - 1);
  bucket += large;
  return bucket;
}

/** Bucket ids [L * L] (row = query i, column = key j) as u32, the index input of the bias lookup. */
export function relativePositionBuckets(L: number, numBuckets: number, maxDistance: number): Uint32Array {
  const out = new Uint32Array(L * L);
  // The bucket depends only on j - i: compute each of the 2L-1 distances once.
  const byRel = new Uint32Array(2 * L - 1);
  for (let r = -(L - 1); r <= L - 1; r++) byRel[r + L - 1] = relativePositionBucket(r, numBuckets, maxDistance);
  for (let i = 0; i < L; i++) for (let j = 0; j < L; j++) out[i * L + j] = byRel[j - i + L - 1];
  return out;
}
