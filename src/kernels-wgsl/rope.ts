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
// The tables are computed once on the host in float64 (positions only change with the resolution; the FLUX
// model builds them, src/models/flux/rope.ts) and stored as f32 [L, D/2]; the kernels only multiply.
import type { GpuContext } from '../gpu/context.js';
import { type DType, type KernelCall, type TensorView, bindGroup, expectShape, grid1d, numel, paramsBuffer } from '../gpu/kernel.js';
import { LINEAR_WG, enables, expectBindable, expectPositiveShape, inPlaceIndex } from './wgsl-util.js';

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
