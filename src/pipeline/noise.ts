// Initial noise that is the same on every machine: computed on the host from the seed alone, never on the GPU.
//
// Generator: Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11; the generator
// of Random123, cuRAND and JAX), a counter-based PRNG: block i of the output is philox(key = seed, counter = i),
// so any element can be computed independently and the result does not depend on how the work is split.
//   key   = (seed mod 2^32, floor(seed / 2^32))        seed: integer in [0, 2^53)
//   block = philox4x32_10(counter = (i, stream, 0, 0), key) -> 4 uint32 words w0..w3
//   uniforms u = (w + 0.5) / 2^32 in (0, 1) (never 0, so log is finite)
//   Box-Muller on (u0, u1) and (u2, u3): r = sqrt(-2 ln u_a), z = r cos(2 pi u_b), r sin(2 pi u_b)
//   element 4i + j of the noise is z_j, in float64, rounded to float32.
// The noise fills the latent in [C, H, W] order (the diffusers layout before FLUX's 2x2 packing).

const PHILOX_M0 = 0xd2511f53;
const PHILOX_M1 = 0xcd9e8d57;
const PHILOX_W0 = 0x9e3779b9;
const PHILOX_W1 = 0xbb67ae85;

/** High 32 bits of the 64-bit product of two uint32 (exact, via 16-bit halves). */
function mulhi32(a: number, b: number): number {
  const aH = a >>> 16, aL = a & 0xffff, bH = b >>> 16, bL = b & 0xffff;
  const lo = aL * bL;
  const mid1 = aH * bL;
  const mid2 = aL * bH;
  const carry = ((lo >>> 16) + (mid1 & 0xffff) + (mid2 & 0xffff)) >>> 16;
  return (aH * bH + (mid1 >>> 16) + (mid2 >>> 16) + carry) >>> 0;
}

/** Philox4x32 with 10 rounds; returns 4 uint32 words. */
export function philox4x32(counter: readonly [number, number, number, number], key: readonly [number, number]): [number, number, number, number] {
  let [c0, c1, c2, c3] = counter.map((x) => x >>> 0);
  let [k0, k1] = key.map((x) => x >>> 0);
  for (let r = 0; r < 10; r++) {
    const hi0 = mulhi32(PHILOX_M0, c0), lo0 = Math.imul(PHILOX_M0, c0) >>> 0;
    const hi1 = mulhi32(PHILOX_M1, c2), lo1 = Math.imul(PHILOX_M1, c2) >>> 0;
    const n0 = (hi1 ^ c1 ^ k0) >>> 0;
    const n2 = (hi0 ^ c3 ^ k1) >>> 0;
    c0 = n0; c1 = lo1; c2 = n2; c3 = lo0;
    k0 = (k0 + PHILOX_W0) >>> 0;
    k1 = (k1 + PHILOX_W1) >>> 0;
  }
  return [c0, c1, c2, c3];
}

function seedKey(seed: number): [number, number] {
  if (!(Number.isInteger(seed) && seed >= 0 && seed <= Number.MAX_SAFE_INTEGER)) {
    throw new Error(`seed must be an integer from 0 to ${Number.MAX_SAFE_INTEGER}, got ${seed}`);
  }
  return [seed % 2 ** 32, Math.floor(seed / 2 ** 32)];
}

const TWO_PI = 2 * Math.PI;
const INV_2_32 = 1 / 2 ** 32;

/** `count` standard normal values from (seed, stream). Different streams give independent noise for one seed. */
export function gaussianNoise(seed: number, count: number, stream = 0): Float32Array {
  const key = seedKey(seed);
  const out = new Float32Array(count);
  for (let i = 0, blk = 0; i < count; i += 4, blk++) {
    const w = philox4x32([blk, stream, 0, 0], key);
    for (let p = 0; p < 2; p++) {
      const u1 = (w[2 * p] + 0.5) * INV_2_32;
      const u2 = (w[2 * p + 1] + 0.5) * INV_2_32;
      const r = Math.sqrt(-2 * Math.log(u1));
      if (i + 2 * p < count) out[i + 2 * p] = r * Math.cos(TWO_PI * u2);
      if (i + 2 * p + 1 < count) out[i + 2 * p + 1] = r * Math.sin(TWO_PI * u2);
    }
  }
  return out;
}

/** A fresh random seed for requests that give none (printed and stored in the image so it can be reproduced). */
export function randomSeed(): number {
  return Math.floor(Math.random() * 2 ** 32);
}
