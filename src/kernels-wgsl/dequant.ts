// Dequantization on the GPU, for checkpoint loading: fp8 (F8_E4M3 "fn", F8_E5M2, optionally times a per-tensor
// scale) and the GGUF block formats Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K, into the engine's f16 (or
// f32) weight storage. The source is raw file bytes (a whole number of blocks, read as u32 words: GGUF blocks are
// not 4-byte aligned, so every field is assembled from bytes).
//
// Bit-exactness (against torch's float8 dtypes and the Python `gguf` package's dequantize):
// - every decode is integer arithmetic ending in a bitcast, so the f32 value of an fp8 code or of an f16 block
//   scale (including subnormals, NaN payloads and infinities) is exact and independent of the GPU's float modes;
// - block formats compute d*q (+ m, or - dmin*m) exactly as the reference orders it. Every product there is
//   exact in f32 (f16 significand 11 bits x 6-bit sub-scale x <= 6-bit quant < 2^24), so the only rounding is
//   the final add, and an FMA contraction by the shader compiler cannot change the result;
// - the f32 -> f16 rounding is done in integers (round to nearest even, subnormals kept, NaN payload kept and
//   quieted the way torch/numpy do), never by the GPU's conversion, whose rounding WGSL leaves open.
// So an f32 destination equals the reference's f32 bit for bit, and an f16 destination equals the reference's
// value rounded to f16 by numpy/torch bit for bit.
//
// Two things differ on purpose from `.to(float16)` and are counted, never silent:
// - NaN/inf in the data (an fp8 NaN/inf code, a block whose f16 scale is NaN/inf): the value's bits are written as
//   torch would, and the weight's "bad" counter grows; the loader turns a non-zero count into an error naming the
//   file, tensor and type (a NaN weight is a wrong image);
// - finite values beyond f16's range saturate to +-65504 (as kernels-wgsl/convert.ts does) and are counted.
import type { GpuContext } from '../gpu/context.js';
import { type KernelCall, type TensorView, bindGroup, grid1d, paramsBuffer } from '../gpu/kernel.js';
import { LINEAR_WG, expectBindable } from './wgsl-util.js';

/** The quantized formats this kernel decodes (names as checkpoints spell them). */
export type DequantFormat = 'F8_E4M3' | 'F8_E5M2' | 'Q8_0' | 'Q4_0' | 'Q4_1' | 'Q5_0' | 'Q5_1' | 'Q4_K' | 'Q5_K' | 'Q6_K';

/** Values and bytes per block of each format. */
export const DEQUANT_BLOCKS: Record<DequantFormat, { elems: number; bytes: number }> = {
  F8_E4M3: { elems: 1, bytes: 1 }, F8_E5M2: { elems: 1, bytes: 1 },
  Q8_0: { elems: 32, bytes: 34 }, Q4_0: { elems: 32, bytes: 18 }, Q4_1: { elems: 32, bytes: 20 },
  Q5_0: { elems: 32, bytes: 22 }, Q5_1: { elems: 32, bytes: 24 },
  Q4_K: { elems: 256, bytes: 144 }, Q5_K: { elems: 256, bytes: 176 }, Q6_K: { elems: 256, bytes: 210 },
};

export function isDequantFormat(s: string): s is DequantFormat {
  return Object.prototype.hasOwnProperty.call(DEQUANT_BLOCKS, s);
}

const WG = 256;

// Helpers shared by every format. `bad` marks a value decoded from NaN/inf data.
const COMMON = /* wgsl */ `
var<private> bad: bool = false;
fn byte_at(o: u32) -> u32 { return (src[o >> 2u] >> ((o & 3u) * 8u)) & 0xffu; }
fn i8_at(o: u32) -> i32 { return i32(byte_at(o) << 24u) >> 24u; }
fn u16_at(o: u32) -> u32 { return byte_at(o) | (byte_at(o + 1u) << 8u); }
// m * 2^(p0) for an integer 0 < m < 2^24 and a result in f32's normal range: exact, by building the bits.
fn scaled_int(m: u32, p0: i32) -> u32 {
  let p = 31u - countLeadingZeros(m);
  let e = u32(i32(p) + p0 + 127);
  return (e << 23u) | ((m << (23u - p)) & 0x7fffffu);
}
// An IEEE half (16 bits) as f32, exactly. NaN/inf set \`bad\` and keep torch's bits (payload kept, quiet bit set).
fn half_bits_to_f32(h: u32) -> f32 {
  let s = (h & 0x8000u) << 16u;
  let e = (h >> 10u) & 0x1fu;
  let m = h & 0x3ffu;
  if (e == 31u) {
    bad = true;
    if (m == 0u) { return bitcast<f32>(s | 0x7f800000u); }
    return bitcast<f32>(s | 0x7fc00000u | (m << 13u));
  }
  if (e == 0u) {
    if (m == 0u) { return bitcast<f32>(s); }
    return bitcast<f32>(s | scaled_int(m, -24));
  }
  return bitcast<f32>(s | ((e + 112u) << 23u) | (m << 13u));
}
fn half_at(o: u32) -> f32 { return half_bits_to_f32(u16_at(o)); }
`;

// Per format: fn deq_<format>(e: u32) -> f32, the value of element e of the chunk (element 0 starts block 0 at byte 0).
const DECODERS: Record<DequantFormat, string> = {
  F8_E4M3: /* wgsl */ `
fn deq_F8_E4M3(e: u32) -> f32 {
  let b = byte_at(e);
  let s = (b & 0x80u) << 24u;
  let x = (b >> 3u) & 15u;
  let m = b & 7u;
  if (x == 15u && m == 7u) { bad = true; return bitcast<f32>(s | 0x7f800000u | (m << 20u)); } // e4m3fn: no inf, one NaN
  if (x == 0u) {
    if (m == 0u) { return bitcast<f32>(s); }
    return bitcast<f32>(s | scaled_int(m, -9));
  }
  return bitcast<f32>(s | ((x + 120u) << 23u) | (m << 20u));
}`,
  // e5m2 is the top byte of an IEEE half.
  F8_E5M2: /* wgsl */ `
fn deq_F8_E5M2(e: u32) -> f32 { return half_bits_to_f32(byte_at(e) << 8u); }`,
  Q8_0: /* wgsl */ `
fn deq_Q8_0(e: u32) -> f32 {
  let base = (e >> 5u) * 34u; let j = e & 31u;
  return f32(i8_at(base + 2u + j)) * half_at(base);
}`,
  Q4_0: /* wgsl */ `
fn deq_Q4_0(e: u32) -> f32 {
  let base = (e >> 5u) * 18u; let j = e & 31u;
  let b = byte_at(base + 2u + (j & 15u));
  let q = i32(select(b & 15u, b >> 4u, j >= 16u)) - 8;
  return half_at(base) * f32(q);
}`,
  Q4_1: /* wgsl */ `
fn deq_Q4_1(e: u32) -> f32 {
  let base = (e >> 5u) * 20u; let j = e & 31u;
  let b = byte_at(base + 4u + (j & 15u));
  let q = select(b & 15u, b >> 4u, j >= 16u);
  return half_at(base) * f32(q) + half_at(base + 2u);
}`,
  Q5_0: /* wgsl */ `
fn deq_Q5_0(e: u32) -> f32 {
  let base = (e >> 5u) * 22u; let j = e & 31u;
  let b = byte_at(base + 6u + (j & 15u));
  let hi = (byte_at(base + 2u + (j >> 3u)) >> (j & 7u)) & 1u;
  let q = i32(select(b & 15u, b >> 4u, j >= 16u) | (hi << 4u)) - 16;
  return half_at(base) * f32(q);
}`,
  Q5_1: /* wgsl */ `
fn deq_Q5_1(e: u32) -> f32 {
  let base = (e >> 5u) * 24u; let j = e & 31u;
  let b = byte_at(base + 8u + (j & 15u));
  let hi = (byte_at(base + 4u + (j >> 3u)) >> (j & 7u)) & 1u;
  let q = select(b & 15u, b >> 4u, j >= 16u) | (hi << 4u);
  return half_at(base) * f32(q) + half_at(base + 2u);
}`,
  // K-quants: 8 sub-blocks of 32 with 6-bit scales and mins packed in 12 bytes (scales at byte 4).
  Q4_K: /* wgsl */ `
fn deq_Q4_K(e: u32) -> f32 {
  let base = (e >> 8u) * 144u; let j = e & 255u;
  let sm = k_scale_min(base + 4u, j >> 5u);
  let b = byte_at(base + 16u + (j >> 6u) * 32u + (j & 31u));
  let q = select(b & 15u, b >> 4u, (j & 63u) >= 32u);
  return (half_at(base) * f32(sm.x)) * f32(q) - half_at(base + 2u) * f32(sm.y);
}`,
  Q5_K: /* wgsl */ `
fn deq_Q5_K(e: u32) -> f32 {
  let base = (e >> 8u) * 176u; let j = e & 255u;
  let sm = k_scale_min(base + 4u, j >> 5u);
  let b = byte_at(base + 48u + (j >> 6u) * 32u + (j & 31u));
  let hi = (byte_at(base + 16u + (j & 31u)) >> (j >> 5u)) & 1u;
  let q = select(b & 15u, b >> 4u, (j & 63u) >= 32u) | (hi << 4u);
  return (half_at(base) * f32(sm.x)) * f32(q) - half_at(base + 2u) * f32(sm.y);
}`,
  Q6_K: /* wgsl */ `
fn deq_Q6_K(e: u32) -> f32 {
  let base = (e >> 8u) * 210u; let j = e & 255u;
  let h = j >> 7u; let w = j & 127u;
  let lb = byte_at(base + h * 64u + (w & 63u));
  let lo = select(lb & 15u, lb >> 4u, w >= 64u);
  let hb = (byte_at(base + 128u + h * 32u + (w & 31u)) >> ((w >> 5u) * 2u)) & 3u;
  let q = i32(lo | (hb << 4u)) - 32;
  return (half_at(base + 208u) * f32(i8_at(base + 192u + (j >> 4u)))) * f32(q);
}`,
};

// The 6-bit (scale, min) of sub-block s from the 12 packed bytes at o (llama.cpp's get_scale_min_k4).
const K_SCALE_MIN = /* wgsl */ `
fn k_scale_min(o: u32, s: u32) -> vec2<u32> {
  if (s < 4u) { return vec2<u32>(byte_at(o + s) & 63u, byte_at(o + s + 4u) & 63u); }
  let k = s - 4u;
  let md = byte_at(o + 8u + k);
  return vec2<u32>((md & 15u) | ((byte_at(o + k) >> 2u) & 0x30u), (md >> 4u) | ((byte_at(o + 4u + k) >> 2u) & 0x30u));
}`;

// f32 -> IEEE half bits, round to nearest even, in integers. Finite overflow saturates to +-65504 (counted).
const TO_HALF = /* wgsl */ `
var<private> saturated: u32 = 0u;
fn f32_to_half_bits(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  let s = (b >> 16u) & 0x8000u;
  let e = (b >> 23u) & 0xffu;
  let m = b & 0x7fffffu;
  if (e == 255u) {
    if (m == 0u) { return s | 0x7c00u; }
    return s | 0x7e00u | (m >> 13u);
  }
  let E = i32(e) - 127;
  if (E > 15) { saturated += 1u; return s | 0x7bffu; }
  if (E >= -14) {
    let hm = m >> 13u; let rem = m & 0x1fffu;
    var r = (u32(E + 15) << 10u) + hm;
    if (rem > 0x1000u || (rem == 0x1000u && (hm & 1u) == 1u)) { r += 1u; }
    if (r >= 0x7c00u) { saturated += 1u; return s | 0x7bffu; }
    return s | r;
  }
  if (e == 0u || E < -25) { return s; }
  let mant = m | 0x800000u;
  let sh = u32(-1 - E);                 // 14..24: the half subnormal is mant * 2^-sh (units of 2^-24)
  let hm = mant >> sh;
  let rem = mant & ((1u << sh) - 1u);
  let half = 1u << (sh - 1u);
  var r = hm;
  if (rem > half || (rem == half && (hm & 1u) == 1u)) { r += 1u; }
  return s | r;
}`;


/**
 * The decoder of one format as module-scope WGSL for another kernel (the fused B-tile loader in matmul-packed.ts):
 * `fn deq_<format>(e: u32) -> f32` (element e of a block stream starting at word 0 of `srcName`, an array<u32>),
 * `fn f32_to_half_bits(x: f32) -> u32`, and the private flags `bad` / `saturated` they set. The same text as this
 * file's kernel, so a value decoded there is bit-identical to the one the dequant kernel writes.
 */
export function dequantDecoderWgsl(format: DequantFormat, srcName: string): string {
  if (!isDequantFormat(format)) throw new Error(`dequant: unknown format '${String(format)}'`);
  const common = COMMON.replace(/\bsrc\[/g, `${srcName}[`);
  return `${common}\n${format === 'Q4_K' || format === 'Q5_K' ? K_SCALE_MIN : ''}\n${DECODERS[format]}\n${TO_HALF}`;
}

// One pipeline per format (a model uses two or three); the destination type is a uniform. Each invocation decodes
// ONE value (the decoder is inlined once: lavapipe's compile time grows fast with inlined copies); for an f16
// destination, neighbouring invocations pair their halves through workgroup memory into one u32 word.
function dequantWgsl(format: DequantFormat): string {
  return `
struct Params { n: u32, dst_base: u32, words: u32, slot: u32, scale: f32, use_scale: u32, out_f32: u32, _pad: u32 }
@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
@group(0) @binding(2) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read_write> counts: array<atomic<u32>>;
var<workgroup> halves: array<u32, ${WG}>;
${COMMON}
${format === 'Q4_K' || format === 'Q5_K' ? K_SCALE_MIN : ''}
${DECODERS[format]}
${TO_HALF}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = (${LINEAR_WG}) * ${WG}u + lid;
  // f32: invocation t writes element dst_base + t. f16: invocation t owns half t of the words starting at word
  // dst_base / 2 (the first and last words may hold halves outside [dst_base, dst_base + n): those keep their bits).
  let pos = select(2u * (p.dst_base >> 1u) + t, p.dst_base + t, p.out_f32 == 1u);
  let inside = pos >= p.dst_base && pos < p.dst_base + p.n;
  var v = 0.0;
  if (inside) {
    bad = false;
    v = deq_${format}(pos - p.dst_base);
    if (bad) { atomicAdd(&counts[p.slot * 2u], 1u); } else if (p.use_scale == 1u) { v = v * p.scale; }
  }
  if (p.out_f32 == 1u) {
    if (inside) { dst[pos] = bitcast<u32>(v); }
    return;
  }
  let w = pos >> 1u;
  var bits = 0u;
  if (inside) {
    bits = f32_to_half_bits(v);
  } else if (t < 2u * p.words) {
    bits = (dst[w] >> (16u * (pos & 1u))) & 0xffffu;
  }
  halves[lid] = bits;
  workgroupBarrier();
  if ((lid & 1u) == 0u && t < 2u * p.words) { dst[w] = halves[lid] | (halves[lid + 1u] << 16u); }
  if (saturated > 0u) { atomicAdd(&counts[p.slot * 2u + 1u], saturated); }
}
`;
}

export interface DequantArgs {
  format: DequantFormat;
  /** Raw bytes of whole blocks, starting at the view's offset (any dtype tag; read as u32 words). */
  src: TensorView;
  /** Number of values to decode (a multiple of the format's block size). */
  n: number;
  /**
   * Destination window: a view whose offset is 256-byte aligned (bindable); the values go to elements
   * [dstBase, dstBase + n) of it, in its dtype (f16 or f32). Halves of f16 words outside that range keep their bits.
   */
  dst: TensorView;
  dstBase: number;
  /** Per-tensor scale multiplied into every value (fp8 "scaled" checkpoints); omitted = none. */
  scale?: number;
  /** u32 counters [2*slot] (values from NaN/inf data) and [2*slot+1] (values saturated to +-65504). */
  counts: GPUBuffer;
  slot: number;
}

export async function dequant(ctx: GpuContext, a: DequantArgs): Promise<KernelCall> {
  const op = 'dequant';
  const blk = DEQUANT_BLOCKS[a.format];
  if (!blk) throw new Error(`${op}: unknown format '${a.format}'`);
  if (a.dst.dtype !== 'f16' && a.dst.dtype !== 'f32') throw new Error(`${op}: dst must be f16 or f32, got ${a.dst.dtype}`);
  if (!(Number.isInteger(a.n) && a.n > 0) || a.n % blk.elems !== 0) throw new Error(`${op}: n=${a.n} is not a positive multiple of the ${a.format} block size ${blk.elems}`);
  const dstElems = a.dst.shape.reduce((x, y) => x * y, 1);
  if (!Number.isInteger(a.dstBase) || a.dstBase < 0 || a.dstBase + a.n > dstElems) throw new Error(`${op}: elements [${a.dstBase}, ${a.dstBase + a.n}) do not fit dst [${a.dst.shape}]`);
  const srcBytes = a.src.shape.reduce((x, y) => x * y, 1) * (a.src.dtype === 'f16' ? 2 : 4);
  if (srcBytes < (a.n / blk.elems) * blk.bytes) throw new Error(`${op}: src holds ${srcBytes} bytes but ${a.n} ${a.format} values need ${(a.n / blk.elems) * blk.bytes}`);
  if (a.scale !== undefined && !Number.isFinite(a.scale)) throw new Error(`${op}: scale ${a.scale} is not finite`);
  expectBindable(ctx, op, 'src', a.src);
  expectBindable(ctx, op, 'dst', a.dst);
  const pipeline = await ctx.pipeline(`dequant:${a.format}`, dequantWgsl(a.format));
  const words = a.dst.dtype === 'f16' ? Math.ceil((a.dstBase + a.n) / 2) - Math.floor(a.dstBase / 2) : a.n;
  const invocations = a.dst.dtype === 'f16' ? 2 * words : a.n;
  const params = paramsBuffer(ctx, [
    { u32: a.n }, { u32: a.dstBase }, { u32: words }, { u32: a.slot }, { f32: a.scale ?? 1 }, { u32: a.scale === undefined ? 0 : 1 },
    { u32: a.dst.dtype === 'f32' ? 1 : 0 }, { u32: 0 },
  ], `${op}.params`);
  const countsView: TensorView = { buffer: a.counts, offset: 0, shape: [2 * (a.slot + 1)], dtype: 'u32' };
  return {
    label: `${op} ${a.format}`,
    pipeline,
    bindGroup: bindGroup(ctx, pipeline, [a.src, a.dst, params, countsView], op),
    workgroups: grid1d(Math.ceil(invocations / WG), ctx.caps.limits.maxComputeWorkgroupsPerDimension),
    flops: 0,
    bytes: (a.n / blk.elems) * blk.bytes + a.n * (a.dst.dtype === 'f16' ? 2 : 4),
  };
}
