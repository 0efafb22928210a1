// Token-embedding lookup (T5/CLIP) and the sinusoidal timestep embedding (FLUX, SD3).
import type { GpuContext } from '../gpu/context.js';
import { DTYPE_BYTES, type DType, type KernelCall, type TensorView, bindGroup, expectShape, grid1d, numel, paramsBuffer } from '../gpu/kernel.js';
import { LINEAR_WG, enables, expectBindable, expectPositiveShape, overlaps, vecType, vecWidth } from './wgsl-util.js';

/** Token ids in a GPU buffer: a u32 or i32 tensor (a view without dtype is read as u32). */
export interface IdsView {
  buffer: GPUBuffer;
  offset: number;
  shape: readonly number[];
  dtype?: DType;
}

/**
 * Host-side check of token ids before upload: a GPU cannot throw, so out-of-range ids are caught here (the
 * tokenizer calls this) and the kernel only clamps, as a last line of defence against reading outside the table.
 */
export function validateTokenIds(ids: ArrayLike<number>, vocabSize: number): void {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new Error(`token id ${id} at position ${i} is outside the vocabulary [0, ${vocabSize}); check the tokenizer/vocab pairing`);
    }
  }
}

function embeddingWgsl(idType: 'u32' | 'i32', tableType: DType, outType: DType, v: 1 | 2 | 4): string {
  // i32 ids: negative ones clamp to 0 (u32(max(id, 0))), the same last line of defence as too-large ones.
  const readId = idType === 'i32' ? 'u32(max(ids[tok], 0))' : 'ids[tok]';
  return `${enables([tableType, outType])}
struct Params { n: u32, nvc: u32, vocab: u32 }
@group(0) @binding(0) var<storage, read> ids: array<${idType}>;
@group(0) @binding(1) var<storage, read> tbl: array<${vecType(tableType, v)}>;
@group(0) @binding(2) var<storage, read_write> outs: array<${vecType(outType, v)}>;
@group(0) @binding(3) var<uniform> p: Params;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (${LINEAR_WG}) * 256u + lid;
  if (i >= p.n) { return; }
  let tok = i / p.nvc;
  let c = i - tok * p.nvc;
  // Clamped: ids are validated on the host (validateTokenIds); this only keeps a bad id inside the table.
  let id = min(${readId}, p.vocab - 1u);
  outs[i] = ${vecType(outType, v)}(tbl[id * p.nvc + c]);
}
`;
}

export interface EmbeddingArgs {
  /** u32 or i32 token ids [N] (any leading shape; flattened). */
  ids: IdsView;
  /** [V, C] f16 or f32. */
  table: TensorView;
  /** [...ids.shape, C] f16 or f32. */
  out: TensorView;
}

/** out[n, :] = table[clamp(ids[n], 0, V-1), :]. Out-of-range ids are clamped on the GPU; validate on the host. */
export async function embedding(ctx: GpuContext, a: EmbeddingArgs): Promise<KernelCall> {
  const op = 'embedding';
  expectPositiveShape(op, 'ids', a.ids.shape);
  expectPositiveShape(op, 'table', a.table.shape);
  if (a.table.shape.length !== 2) throw new Error(`${op}: 'table' has shape [${a.table.shape}] but [V, C] is required`);
  const [V, C] = a.table.shape;
  expectShape(op, 'out', a.out, [...a.ids.shape, C]);
  const align = ctx.caps.limits.minStorageBufferOffsetAlignment;
  if (a.ids.offset % align !== 0) throw new Error(`${op}: 'ids' starts at byte offset ${a.ids.offset}, not a multiple of ${align}`);
  expectBindable(ctx, op, 'table', a.table);
  expectBindable(ctx, op, 'out', a.out);
  if (overlaps(a.out, a.table) || (a.out.buffer === a.ids.buffer && rangesIntersect(a.out, a.ids))) {
    throw new Error(`${op}: 'out' must not overlap 'table' or 'ids'`);
  }
  const idType = a.ids.dtype ?? 'u32';
  if (idType !== 'u32' && idType !== 'i32') throw new Error(`${op}: 'ids' is ${idType} but u32 or i32 is required`);
  if (a.table.dtype !== 'f16' && a.table.dtype !== 'f32') throw new Error(`${op}: 'table' is ${a.table.dtype} but f16 or f32 is required`);
  if (a.out.dtype !== 'f16' && a.out.dtype !== 'f32') throw new Error(`${op}: 'out' is ${a.out.dtype} but f16 or f32 is required`);
  const N = numel(a.ids.shape);
  const v = vecWidth(C);
  const pipeline = await ctx.pipeline(`embedding:${idType}:${a.table.dtype}:${a.out.dtype}:${v}`, embeddingWgsl(idType, a.table.dtype, a.out.dtype, v));
  const n = (N * C) / v;
  const params = paramsBuffer(ctx, [{ u32: n }, { u32: C / v }, { u32: V }], `${op}.params`);
  const ids: TensorView = { buffer: a.ids.buffer, offset: a.ids.offset, shape: [N], dtype: idType };
  return {
    label: op,
    pipeline,
    bindGroup: bindGroup(ctx, pipeline, [ids, a.table, a.out, params], op),
    workgroups: grid1d(Math.ceil(n / 256), ctx.caps.limits.maxComputeWorkgroupsPerDimension),
    flops: 0,
    bytes: N * 4 + N * C * (DTYPE_BYTES[a.table.dtype] + DTYPE_BYTES[a.out.dtype]),
  };
}

function alignedBytes(t: TensorView): number {
  return Math.ceil((numel(t.shape) * DTYPE_BYTES[t.dtype]) / 4) * 4;
}

function rangesIntersect(t: TensorView, ids: IdsView): boolean {
  const a0 = t.offset;
  const a1 = t.offset + alignedBytes(t);
  const b0 = ids.offset;
  const b1 = ids.offset + numel(ids.shape) * 4;
  return a0 < b1 && b0 < a1;
}

// 2*pi split for Cody-Waite range reduction: HI has few mantissa bits so n * HI is exact in f32 for the
// n (< 2^16) that timesteps up to ~4e5 produce. GPU sin/cos are only accurate near [-pi, pi] (Vulkan leaves
// larger arguments unspecified and NVIDIA's fast path degrades), and FLUX's arguments reach 1000.
const TWO_PI_HI = 6.28125;
const TWO_PI_LO = 2 * Math.PI - TWO_PI_HI;

function timestepWgsl(outType: DType): string {
  return `${enables([outType])}
struct Params { n: u32, dim: u32, half: u32, flip: u32, negLogMaxPeriod: f32, denom: f32, scale: f32 }
@group(0) @binding(0) var<storage, read> ts: array<f32>;
@group(0) @binding(1) var<storage, read_write> outs: array<${outType}>;
@group(0) @binding(2) var<uniform> p: Params;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (${LINEAR_WG}) * 256u + lid;
  if (i >= p.n) { return; }
  let b = i / p.dim;
  let j = i - b * p.dim;
  if (j >= 2u * p.half) { outs[i] = ${outType}(0.0); return; } // odd dim: zero pad, as both references do
  let firstHalf = j < p.half;
  let k = select(j - p.half, j, firstHalf);
  let freq = exp(p.negLogMaxPeriod * f32(k) / p.denom);
  let arg = ts[b] * freq * p.scale;
  let n = round(arg * ${1 / (2 * Math.PI)});
  let r = (arg - n * ${TWO_PI_HI}) - n * ${TWO_PI_LO};
  // Unflipped order is [sin, cos] (diffusers); flip_sin_to_cos (and FLUX) gives [cos, sin].
  let useCos = firstHalf == (p.flip == 1u);
  outs[i] = ${outType}(select(sin(r), cos(r), useCos));
}
`;
}

export interface TimestepEmbeddingArgs {
  /** f32 [B] timesteps, in device memory (the sampler writes it each step; the graph replays this call). */
  t: TensorView;
  /** [B, dim] f32 or f16. */
  out: TensorView;
  dim: number;
  /** default 10000 */
  maxPeriod?: number;
  /** true: [cos, sin] halves (FLUX, SD3); false: [sin, cos]. */
  flipSinToCos: boolean;
  /** Frequencies are exp(-ln(maxPeriod) * k / (dim/2 - downscaleFreqShift)); 0 for FLUX and SD3. */
  downscaleFreqShift: number;
  /** Multiplies t: 1000 for FLUX (time_factor, t in [0,1]); 1 for SD3 (t already in [0,1000]). */
  scale: number;
}

/**
 * Sinusoidal timestep embedding, the common form of
 *  - FLUX `timestep_embedding(t, dim, max_period=10000, time_factor=1000)`: args = (1000 t) * exp(-ln(P) k / half),
 *    output [cos(args), sin(args)], zero column appended for odd dim
 *    => flipSinToCos = true, downscaleFreqShift = 0, scale = 1000;
 *  - diffusers `get_timestep_embedding` as SD3's `Timesteps(256, flip_sin_to_cos=True, downscale_freq_shift=0)`
 *    uses it: exponent = -ln(P) k / (half - shift), emb = scale * t * exp(exponent), [sin, cos] then swapped
 *    to [cos, sin] by flip_sin_to_cos, zero pad for odd dim
 *    => flipSinToCos = true, downscaleFreqShift = 0, scale = 1.
 */
export async function timestepEmbedding(ctx: GpuContext, a: TimestepEmbeddingArgs): Promise<KernelCall> {
  const op = 'timestepEmbedding';
  expectPositiveShape(op, 't', a.t.shape);
  if (a.t.shape.length !== 1 || a.t.dtype !== 'f32') throw new Error(`${op}: 't' must be f32 [B], got ${a.t.dtype} [${a.t.shape}]`);
  const B = a.t.shape[0];
  if (!Number.isInteger(a.dim) || a.dim < 1) throw new Error(`${op}: dim must be a positive integer, got ${a.dim}`);
  expectShape(op, 'out', a.out, [B, a.dim]);
  const half = Math.floor(a.dim / 2);
  const maxPeriod = a.maxPeriod ?? 10000;
  const denom = half - a.downscaleFreqShift;
  if (half > 0 && !(denom !== 0 && Number.isFinite(denom))) {
    throw new Error(`${op}: dim/2 - downscaleFreqShift = ${denom} must be a finite non-zero number`);
  }
  if (!(maxPeriod > 0) || !Number.isFinite(a.scale)) throw new Error(`${op}: maxPeriod must be > 0 and scale finite`);
  expectBindable(ctx, op, 't', a.t);
  expectBindable(ctx, op, 'out', a.out);
  if (overlaps(a.out, a.t)) throw new Error(`${op}: 'out' must not overlap 't'`);
  const pipeline = await ctx.pipeline(`timestepEmbedding:${a.out.dtype}`, timestepWgsl(a.out.dtype));
  const n = B * a.dim;
  const params = paramsBuffer(ctx, [
    { u32: n }, { u32: a.dim }, { u32: half }, { u32: a.flipSinToCos ? 1 : 0 },
    { f32: -Math.log(maxPeriod) }, { f32: half > 0 ? denom : 1 }, { f32: a.scale },
  ], `${op}.params`);
  return {
    label: op,
    pipeline,
    bindGroup: bindGroup(ctx, pipeline, [a.t, a.out, params], op),
    workgroups: grid1d(Math.ceil(n / 256), ctx.caps.limits.maxComputeWorkgroupsPerDimension),
    flops: 10 * n,
    bytes: B * 4 + n * DTYPE_BYTES[a.out.dtype],
  };
}
