/** mulberry32: a small, fast, seeded generator of uniforms in [0, 1) for synthetic weights and test data (not crypto). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * n seeded uniform values with mean 0 and standard deviation `std` (a linear congruential generator: cheap enough
 * for the millions of values a full-size benchmark input needs).
 */
export function uniformArray(n: number, seed: number, std = 1): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = ((s / 4294967296) * 2 - 1) * std * 1.7320508;
  }
  return a;
}
