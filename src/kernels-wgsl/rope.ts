// FLUX's rotary position embedding (3 axes: text/time, image row, image column).
//
// FLUX (black-forest-labs/flux, src/flux/math.py) builds, per axis of the position ids,
//   rope(pos, dim, theta): omega_i = 1 / theta^(2i/dim) for i < dim/2 (computed in float64),
//                          angle = pos * omega_i, and a 2x2 matrix [[cos, -sin], [sin, cos]] per i;
// EmbedND concatenates the axes' matrices along the frequency index (axes_dim = [16, 56, 56], theta = 10000,
// so the head dim 128 holds 8 + 28 + 28 = 64 rotation pairs), and apply_rope reshapes the head dim into
// (D/2, 2): the pairs are ADJACENT elements (2i, 2i+1) (interleaved, not the rotate-half convention), with
//   out[2i]   = cos_i * x[2i] - sin_i * x[2i+1]
//   out[2i+1] = sin_i * x[2i] + cos_i * x[2i+1].
// diffusers' FluxPosEmbed (use_real, repeat_interleave_real) gives the same values and pairing.
// The tables are computed once on the host in float64 (positions only change with the resolution) and stored
// as f32 [L, D/2]; the kernels only multiply.
import type { GpuContext } from '../gpu/context.js';
import { type DType, type KernelCall, type TensorView, bindGroup, expectShape, grid1d, numel, paramsBuffer } from '../gpu/kernel.js';
import { LINEAR_WG, enables, expectBindable, expectPositiveShape, inPlaceIndex } from './wgsl-util.js';

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

function ropeWgsl(xType: DType, outType: DType, pp: 1 | 2, inPlace: boolean): string {
  const vx = (t: DType) => `vec${2 * pp}<${t}>`;
  const vc = pp === 1 ? 'f32' : 'vec2<f32>';
  const split = pp === 1 ? 'let ev = x.x; let od = x.y;' : 'let ev = x.xz; let od = x.yw;';
  const merge = pp === 1 ? 'vec2<f32>(ne, no)' : 'vec4<f32>(ne.x, no.x, ne.y, no.y)';
  return `${enables([xType, outType])}
struct Params { n: u32, hq: u32, L: u32 }
${inPlace ? `@group(0) @binding(0) var<storage, read_write> xs: array<${vx(xType)}>;` :
    `@group(0) @binding(0) var<storage, read> xs: array<${vx(xType)}>;
@group(0) @binding(1) var<storage, read_write> ys: array<${vx(outType)}>;`}
@group(0) @binding(${inPlace ? 1 : 2}) var<storage, read> cosT: array<${vc}>;
@group(0) @binding(${inPlace ? 2 : 3}) var<storage, read> sinT: array<${vc}>;
@group(0) @binding(${inPlace ? 3 : 4}) var<uniform> p: Params;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (${LINEAR_WG}) * 256u + lid;
  if (i >= p.n) { return; }
  let j = i % p.hq;
  let t = ((i / p.hq) % p.L) * p.hq + j;
  let c = cosT[t];
  let s = sinT[t];
  let x = vec${2 * pp}<f32>(xs[i]);
  ${split}
  let ne = c * ev - s * od;
  let no = s * ev + c * od;
  ${inPlace ? 'xs' : 'ys'}[i] = ${vx(outType)}(${merge});
}
`;
}

export interface ApplyRopeArgs {
  /** [B, H, L, D] */
  x: TensorView;
  /** [B, H, L, D]; may be x itself (in place). */
  out: TensorView;
  /** [L, D/2] f32 tables from fluxRopeTable (uploaded). */
  cos: TensorView;
  sin: TensorView;
}

/** Applies FLUX RoPE to x [B, H, L, D] (all heads, every position l uses table row l). */
export async function applyRope(ctx: GpuContext, a: ApplyRopeArgs): Promise<KernelCall> {
  const op = 'applyRope';
  expectPositiveShape(op, 'x', a.x.shape);
  if (a.x.shape.length !== 4) throw new Error(`${op}: 'x' has shape [${a.x.shape}] but [B, H, L, D] is required`);
  const [, , L, D] = a.x.shape;
  if (D % 2 !== 0) throw new Error(`${op}: head dim D = ${D} is odd; RoPE rotates pairs (2i, 2i+1)`);
  expectShape(op, 'out', a.out, a.x.shape);
  expectShape(op, 'cos', a.cos, [L, D / 2], 'f32');
  expectShape(op, 'sin', a.sin, [L, D / 2], 'f32');
  for (const [n, t] of [['x', a.x], ['out', a.out], ['cos', a.cos], ['sin', a.sin]] as const) expectBindable(ctx, op, n, t);
  const inPlace = inPlaceIndex(op, a.out, [['x', a.x]]) === 0;
  if (inPlaceIndex(op, a.out, [['cos', a.cos], ['sin', a.sin]]) >= 0) throw new Error(`${op}: 'out' must not alias the tables`);
  const half = D / 2;
  const pp: 1 | 2 = half % 2 === 0 ? 2 : 1;
  const pipeline = await ctx.pipeline(`rope:${a.x.dtype}:${a.out.dtype}:${pp}:${inPlace}`, ropeWgsl(a.x.dtype, a.out.dtype, pp, inPlace));
  const n = numel(a.x.shape) / (2 * pp);
  const params = paramsBuffer(ctx, [{ u32: n }, { u32: half / pp }, { u32: L }], `${op}.params`);
  const res = inPlace ? [a.x, a.cos, a.sin, params] : [a.x, a.out, a.cos, a.sin, params];
  const elems = numel(a.x.shape);
  return {
    label: op,
    pipeline,
    bindGroup: bindGroup(ctx, pipeline, res, op),
    workgroups: grid1d(Math.ceil(n / 256), ctx.caps.limits.maxComputeWorkgroupsPerDimension),
    flops: 3 * elems,
    bytes: elems * ((a.x.dtype === 'f16' ? 2 : 4) + (a.out.dtype === 'f16' ? 2 : 4)) + 8 * L * half,
  };
}
