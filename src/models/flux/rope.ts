// FLUX's RoPE tables on the host (float64 math, f32 tables): EmbedND over the position ids of the joint
// sequence (src/kernels-wgsl/rope.ts applies them and explains the pair convention).
export interface RopeTable {
  /** [L, D/2] row-major, f32. */
  cos: Float32Array;
  sin: Float32Array;
  L: number;
  /** D/2: rotation pairs per head. */
  pairs: number;
}

/**
 * FLUX EmbedND on the host: ids is [L, nAxes] (row-major float64; FLUX uses 3 axes), axesDim the per-axis
 * share of the head dim (each even; sum = D). Returns cos/sin [L, D/2] in FLUX's pair order.
 */
export function fluxRopeTable(ids: Float64Array, axesDim: readonly number[] = [16, 56, 56], theta = 10000): RopeTable {
  const nAxes = axesDim.length;
  if (nAxes === 0 || axesDim.some((d) => !Number.isInteger(d) || d <= 0 || d % 2 !== 0)) {
    throw new Error(`fluxRopeTable: axesDim [${axesDim}] must be positive even integers (each axis rotates pairs)`);
  }
  if (ids.length % nAxes !== 0) throw new Error(`fluxRopeTable: ids has ${ids.length} values, not a multiple of ${nAxes} axes`);
  const L = ids.length / nAxes;
  const pairs = axesDim.reduce((a, b) => a + b, 0) / 2;
  const cos = new Float32Array(L * pairs);
  const sin = new Float32Array(L * pairs);
  // Frequencies per axis, float64 as in FLUX (`torch.arange(0, dim, 2, dtype=float64) / dim`).
  const omegas: number[] = [];
  for (const dim of axesDim) for (let i = 0; i < dim / 2; i++) omegas.push(1 / theta ** ((2 * i) / dim));
  const axisOf: number[] = [];
  axesDim.forEach((dim, a) => { for (let i = 0; i < dim / 2; i++) axisOf.push(a); });
  for (let l = 0; l < L; l++) {
    for (let j = 0; j < pairs; j++) {
      const angle = ids[l * nAxes + axisOf[j]] * omegas[j];
      cos[l * pairs + j] = Math.cos(angle);
      sin[l * pairs + j] = Math.sin(angle);
    }
  }
  return { cos, sin, L, pairs };
}

/**
 * FLUX's position ids for a joint sequence: txtLen text tokens with ids (0,0,0), then an h x w grid of image
 * tokens with ids (0, row, col) (FLUX `prepare`: img_ids[..., 1] = row, img_ids[..., 2] = col).
 */
export function fluxPositionIds(txtLen: number, h: number, w: number): Float64Array {
  const ids = new Float64Array((txtLen + h * w) * 3);
  for (let r = 0; r < h; r++) {
    for (let c = 0; c < w; c++) {
      const t = txtLen + r * w + c;
      ids[t * 3 + 1] = r;
      ids[t * 3 + 2] = c;
    }
  }
  return ids;
}
