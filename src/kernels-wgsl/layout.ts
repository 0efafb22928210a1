// Layout changes as one generic strided copy (up to 4-D, with f16<->f32 conversion in the copy) and thin
// helpers on it: transpose2d, splitHeads / mergeHeads ([B,L,H*D] <-> [B,H,L,D]), concatSeq / sliceSeq along the
// sequence axis of [B,L,C]. The copy walks the destination-ordered index space; when the innermost dimension is
// contiguous on both sides (and everything else is a multiple of 4 or 2 elements) it moves vec4/vec2 at a time.
import type { GpuContext } from '../gpu/context.js';
import { DTYPE_BYTES, type DType, type KernelCall, type TensorView, bindGroup, expectShape, grid1d, numel, paramsBuffer } from '../gpu/kernel.js';
import { LINEAR_WG, type VecWidth, enables, expectBindable, expectPositiveShape, overlaps, vecType } from './wgsl-util.js';

const WG = 256;

function copyWgsl(srcType: DType, dstType: DType, v: VecWidth): string {
  return `${enables([srcType, dstType])}
struct Params { n: u32, s1: u32, s2: u32, s3: u32,
  a0: u32, a1: u32, a2: u32, a3: u32, b0: u32, b1: u32, b2: u32, b3: u32, aOff: u32, bOff: u32 }
@group(0) @binding(0) var<storage, read> src: array<${vecType(srcType, v)}>;
@group(0) @binding(1) var<storage, read_write> dst: array<${vecType(dstType, v)}>;
@group(0) @binding(2) var<uniform> p: Params;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (${LINEAR_WG}) * ${WG}u + lid;
  if (i >= p.n) { return; }
  let i3 = i % p.s3;
  var t = i / p.s3;
  let i2 = t % p.s2;
  t = t / p.s2;
  let i1 = t % p.s1;
  let i0 = t / p.s1;
  let a = p.aOff + i0 * p.a0 + i1 * p.a1 + i2 * p.a2 + i3 * p.a3;
  let b = p.bOff + i0 * p.b0 + i1 * p.b1 + i2 * p.b2 + i3 * p.b3;
  dst[b] = ${vecType(dstType, v)}(src[a]);
}
`;
}

export interface CopyStridedArgs {
  src: TensorView;
  dst: TensorView;
  /** Index space (1 to 4 dims) walked by the copy. */
  shape: readonly number[];
  /** Element strides (in each tensor's own elements) for each dim of `shape`; non-negative. */
  srcStrides: readonly number[];
  dstStrides: readonly number[];
  srcOffsetElems?: number;
  dstOffsetElems?: number;
}

/** dst[dstOff + sum(i_k * dstStride_k)] = src[srcOff + sum(i_k * srcStride_k)] for every index i of shape. */
export async function copyStrided(ctx: GpuContext, a: CopyStridedArgs, label = 'copyStrided'): Promise<KernelCall> {
  const op = label;
  const d = a.shape.length;
  if (d < 1 || d > 4) throw new Error(`${op}: shape [${a.shape}] must have 1 to 4 dimensions`);
  expectPositiveShape(op, 'shape', a.shape);
  if (a.srcStrides.length !== d || a.dstStrides.length !== d) {
    throw new Error(`${op}: srcStrides [${a.srcStrides}] and dstStrides [${a.dstStrides}] need one entry per dim of shape [${a.shape}]`);
  }
  const srcOff = a.srcOffsetElems ?? 0;
  const dstOff = a.dstOffsetElems ?? 0;
  for (const [n, x] of [['srcStrides', a.srcStrides], ['dstStrides', a.dstStrides], ['offsets', [srcOff, dstOff]]] as const) {
    if (!x.every((s) => Number.isInteger(s) && s >= 0)) throw new Error(`${op}: ${n} [${x}] must be non-negative integers`);
  }
  // The furthest element touched must lie inside each view: bounds-correct by construction.
  const last = (strides: readonly number[], off: number) => off + a.shape.reduce((acc, s, k) => acc + (s - 1) * strides[k], 0);
  const srcN = numel(a.src.shape);
  const dstN = numel(a.dst.shape);
  if (last(a.srcStrides, srcOff) >= srcN) throw new Error(`${op}: the copy reads src element ${last(a.srcStrides, srcOff)} but src [${a.src.shape}] has ${srcN}`);
  if (last(a.dstStrides, dstOff) >= dstN) throw new Error(`${op}: the copy writes dst element ${last(a.dstStrides, dstOff)} but dst [${a.dst.shape}] has ${dstN}`);
  expectBindable(ctx, op, 'src', a.src);
  expectBindable(ctx, op, 'dst', a.dst);
  if (overlaps(a.src, a.dst)) throw new Error(`${op}: src and dst overlap; a strided copy cannot run in place`);
  // Pad to 4 dims (leading size-1 dims).
  const pad = 4 - d;
  const shape = [...Array(pad).fill(1), ...a.shape];
  const sa = [...Array(pad).fill(0), ...a.srcStrides];
  const sb = [...Array(pad).fill(0), ...a.dstStrides];
  const v = pickWidth(shape, sa, sb, srcOff, dstOff, srcN, dstN);
  shape[3] /= v;
  for (let k = 0; k < 3; k++) { sa[k] /= v; sb[k] /= v; }
  const n = numel(shape);
  const pipeline = await ctx.pipeline(`copyStrided:${a.src.dtype}:${a.dst.dtype}:${v}`, copyWgsl(a.src.dtype, a.dst.dtype, v));
  const params = paramsBuffer(ctx, [
    { u32: n }, { u32: shape[1] }, { u32: shape[2] }, { u32: shape[3] },
    ...sa.map((s) => ({ u32: s })), ...sb.map((s) => ({ u32: s })), { u32: srcOff / v }, { u32: dstOff / v },
  ], `${op}.params`);
  return {
    label: op,
    pipeline,
    bindGroup: bindGroup(ctx, pipeline, [a.src, a.dst, params], op),
    workgroups: grid1d(Math.ceil(n / WG), ctx.caps.limits.maxComputeWorkgroupsPerDimension),
    flops: 0,
    bytes: n * v * (DTYPE_BYTES[a.src.dtype] + DTYPE_BYTES[a.dst.dtype]),
  };
}

function pickWidth(shape: number[], sa: number[], sb: number[], srcOff: number, dstOff: number, srcN: number, dstN: number): VecWidth {
  if (sa[3] !== 1 || sb[3] !== 1) return 1;
  for (const v of [4, 2] as const) {
    const ok = shape[3] % v === 0 && [0, 1, 2].every((k) => sa[k] % v === 0 && sb[k] % v === 0) &&
      srcOff % v === 0 && dstOff % v === 0 && srcN % v === 0 && dstN % v === 0;
    if (ok) return v;
  }
  return 1;
}

function dims(op: string, name: string, t: TensorView, rank: number, what: string): number[] {
  if (t.shape.length !== rank) throw new Error(`${op}: '${name}' has shape [${t.shape}] but ${what} is required`);
  expectPositiveShape(op, name, t.shape);
  return [...t.shape];
}

/** dst [C, R] = src [R, C] transposed. */
export async function transpose2d(ctx: GpuContext, a: { src: TensorView; dst: TensorView }): Promise<KernelCall> {
  const [R, C] = dims('transpose2d', 'src', a.src, 2, '[R, C]');
  expectShape('transpose2d', 'dst', a.dst, [C, R]);
  return copyStrided(ctx, { src: a.src, dst: a.dst, shape: [C, R], srcStrides: [1, C], dstStrides: [R, 1] }, 'transpose2d');
}

/** [B, L, H*D] -> [B, H, L, D]. */
export async function splitHeads(ctx: GpuContext, a: { src: TensorView; dst: TensorView; heads: number }): Promise<KernelCall> {
  const op = 'splitHeads';
  const [B, L, HD] = dims(op, 'src', a.src, 3, '[B, L, H*D]');
  const H = a.heads;
  if (!Number.isInteger(H) || H < 1 || HD % H !== 0) throw new Error(`${op}: heads = ${H} does not divide the last dim ${HD}`);
  const D = HD / H;
  expectShape(op, 'dst', a.dst, [B, H, L, D]);
  return copyStrided(ctx, { src: a.src, dst: a.dst, shape: [B, H, L, D], srcStrides: [L * HD, D, HD, 1], dstStrides: [H * L * D, L * D, D, 1] }, op);
}

/** [B, H, L, D] -> [B, L, H*D]. */
export async function mergeHeads(ctx: GpuContext, a: { src: TensorView; dst: TensorView }): Promise<KernelCall> {
  const op = 'mergeHeads';
  const [B, H, L, D] = dims(op, 'src', a.src, 4, '[B, H, L, D]');
  expectShape(op, 'dst', a.dst, [B, L, H * D]);
  return copyStrided(ctx, { src: a.src, dst: a.dst, shape: [B, L, H, D], srcStrides: [H * L * D, D, L * D, 1], dstStrides: [L * H * D, H * D, D, 1] }, op);
}

/** dst [B, sum(L_i), C] = concat of srcs [B, L_i, C] along the sequence axis: one copy per source. */
export async function concatSeq(ctx: GpuContext, a: { srcs: readonly TensorView[]; dst: TensorView }): Promise<KernelCall[]> {
  const op = 'concatSeq';
  if (a.srcs.length === 0) throw new Error(`${op}: no sources`);
  const [B, , C] = dims(op, 'srcs[0]', a.srcs[0], 3, '[B, L, C]');
  const lens = a.srcs.map((s, i) => {
    const [b, l, c] = dims(op, `srcs[${i}]`, s, 3, '[B, L, C]');
    if (b !== B || c !== C) throw new Error(`${op}: 'srcs[${i}]' has shape [${s.shape}] but [${B}, L, ${C}] is required`);
    return l;
  });
  const Ltot = lens.reduce((x, y) => x + y, 0);
  expectShape(op, 'dst', a.dst, [B, Ltot, C]);
  const calls: KernelCall[] = [];
  let off = 0;
  for (let i = 0; i < a.srcs.length; i++) {
    const L = lens[i];
    calls.push(await copyStrided(ctx, {
      src: a.srcs[i], dst: a.dst, shape: [B, L, C], srcStrides: [L * C, C, 1], dstStrides: [Ltot * C, C, 1], dstOffsetElems: off * C,
    }, op));
    off += L;
  }
  return calls;
}

/** dst [B, length, C] = src [B, L, C][:, start : start + length, :]. */
export async function sliceSeq(ctx: GpuContext, a: { src: TensorView; dst: TensorView; start: number }): Promise<KernelCall> {
  const op = 'sliceSeq';
  const [B, L, C] = dims(op, 'src', a.src, 3, '[B, L, C]');
  const [b, len, c] = dims(op, 'dst', a.dst, 3, '[B, length, C]');
  if (b !== B || c !== C) throw new Error(`${op}: 'dst' has shape [${a.dst.shape}] but [${B}, length, ${C}] is required`);
  if (!Number.isInteger(a.start) || a.start < 0 || a.start + len > L) {
    throw new Error(`${op}: rows [${a.start}, ${a.start + len}) are outside the source sequence of length ${L}`);
  }
  return copyStrided(ctx, { src: a.src, dst: a.dst, shape: [B, len, C], srcStrides: [L * C, C, 1], dstStrides: [len * C, C, 1], srcOffsetElems: a.start * C }, op);
}
