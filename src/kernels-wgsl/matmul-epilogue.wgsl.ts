// WGSL shared by both matmul paths: the parameter struct, the storage bindings, and the fused epilogue
// (alpha, bias, activation, gate, residual, output conversion). Both kernel generators emit these and call
// `store_out(batch, row, col, acc)` for every in-bounds output element, so the epilogue is defined once.
//
// Which epilogue steps run is a runtime flag word in the uniform params, not a compile-time variant: the branches
// are uniform (free next to a K-long dot product), and one pipeline per dtype combination instead of one per
// epilogue combination matters on lavapipe, where compiling one matmul pipeline takes seconds. Absent tensors are
// bound to a 16-byte dummy buffer.
import type { DType } from '../gpu/kernel.js';

export type Activation = 'none' | 'gelu_tanh' | 'silu';

/** How an input is bound: read-only, or read_write because it lives in the same GPUBuffer as `out`
 *  (WebGPU forbids one buffer bound read-only and read-write in one dispatch, even for disjoint ranges). */
export type Access = 'read' | 'read_write';

/** B's memory layout: 'nk' = [N, K] (nn.Linear weights, transposeB), 'kn' = [K, N]. */
export type BLayout = 'nk' | 'kn';

/** Everything that changes the generated WGSL (the pipeline cache key is derived from it). */
export interface GemmSpec {
  aType: DType;
  bType: DType;
  outType: DType;
  bLayout: BLayout;
  /** a/b are bound as vec4<u32> (8 f16 per element) for 16-byte global loads; subgroup-matrix path only. */
  vecA?: boolean;
  vecB?: boolean;
  aAccess: Access;
  bAccess: Access;
  /** Dtype/access of the bias, gate and residual bindings (dummy bindings when the tensor is absent). */
  biasType: DType;
  gateType: DType;
  biasAccess: Access;
  gateAccess: Access;
  resAccess: Access;
  /**
   * OUT (and RES) bound as 16-byte vectors (vec4<u32> = 8 halves for f16, vec4<f32> for f32) and written through
   * store_out8, 8 columns per call: the tensor-core kernel's vecSmem epilogue when N % 8 == 0 (matmul.ts decides).
   */
  vecOut?: boolean;
}

/**
 * The f16 linear the FLUX graph runs most (B as [N, K], 16-byte vector loads, every epilogue operand f16 and
 * read-only): the spec the tensor-core shader checks and the tile sweep's reference kernel compile.
 */
export const F16_LINEAR_SPEC: GemmSpec = {
  aType: 'f16', bType: 'f16', outType: 'f16', bLayout: 'nk', vecA: true, vecB: true, aAccess: 'read', bAccess: 'read',
  biasType: 'f16', gateType: 'f16', biasAccess: 'read', gateAccess: 'read', resAccess: 'read',
};

/** The W8A8 linear's spec as int8TilingProblem checks it: F16_LINEAR_SPEC with both operands bound as packed u32 words. */
export const I8_LINEAR_SPEC: GemmSpec = { ...F16_LINEAR_SPEC, aType: 'u32', bType: 'u32' };

export const ACT_CODE: Record<Activation, number> = { none: 0, gelu_tanh: 1, silu: 2 };

/** The runtime epilogue flag word: bit 0 bias, bits 1-2 activation, bit 3 gate, bits 4-5 residual mode. */
export function epilogueFlags(e: { bias: boolean; activation: Activation; gate: boolean; residual: 'none' | 'separate' | 'inplace' }): number {
  const res = { none: 0, separate: 1, inplace: 2 }[e.residual];
  return (e.bias ? 1 : 0) | (ACT_CODE[e.activation] << 1) | (e.gate ? 8 : 0) | (res << 4);
}

/** Uniform parameters, in the order of the WGSL struct `Params` below. */
export interface GemmParams {
  M: number;
  N: number;
  K: number;
  batchA: number; // element strides between batches (0 = broadcast)
  batchB: number;
  batchOut: number;
  rowsPerBatch: number; // gate: row r uses gate row floor(r / rowsPerBatch)
  gateStride: number; // elements per gate row (G*N)
  gateOffset: number; // gateChunk * N
  tilesM: number;
  tilesN: number;
  alpha: number;
  flags: number; // epilogueFlags
  loopK: number; // tiled path: inner K loop length (a uniform, so lavapipe's LLVM does not unroll it)
  epiStride: number; // tiled path: epilogue loop stride (= threads; uniform for the same reason)
  /** Tensor-core split-K: K elements per split (a multiple of the K step; = K without split). Default K. */
  kSplit?: number;
  /** Split-K reduce pass: number of f32 partial slices to sum. Default 1. */
  splits?: number;
}

/** The params as paramsBuffer entries, in struct order. */
export function paramsList(p: GemmParams): ({ u32: number } | { f32: number })[] {
  return [
    { u32: p.M }, { u32: p.N }, { u32: p.K }, { u32: p.batchA },
    { u32: p.batchB }, { u32: p.batchOut }, { u32: p.rowsPerBatch }, { u32: p.gateStride },
    { u32: p.gateOffset }, { u32: p.tilesM }, { u32: p.tilesN }, { f32: p.alpha },
    { u32: p.flags }, { u32: p.loopK }, { u32: p.epiStride }, { u32: p.kSplit ?? p.K },
    { u32: p.splits ?? 1 },
  ];
}

export const PARAMS_WGSL = `struct Params {
  M: u32, N: u32, K: u32, batchA: u32,
  batchB: u32, batchOut: u32, rowsPerBatch: u32, gateStride: u32,
  gateOffset: u32, tilesM: u32, tilesN: u32, alpha: f32,
  flags: u32, loopK: u32, epiStride: u32, kSplit: u32,
  splits: u32,
}`;

/** Bindings in order: params, a, b, out, bias, gate, residual. Returns the WGSL declarations. */
export function gemmBindings(spec: GemmSpec, bElem?: string): string {
  const lines: string[] = [`@group(0) @binding(0) var<uniform> P: Params;`];
  const elem = (t: DType, vec?: boolean) => (vec ? 'vec4<u32>' : t);
  let b = 1;
  lines.push(`@group(0) @binding(${b++}) var<storage, ${spec.aAccess}> A: array<${elem(spec.aType, spec.vecA)}>;`);
  // bElem: a replaced B loader (matmul-subgroup-matrix BLoader) reads B as its own element type.
  lines.push(`@group(0) @binding(${b++}) var<storage, ${spec.bAccess}> B: array<${bElem ?? elem(spec.bType, spec.vecB)}>;`);
  // vecOut: 8 halves (f16) or 4 floats (f32) per element.
  const outElem = spec.vecOut ? (spec.outType === 'f16' ? 'vec4<u32>' : 'vec4<f32>') : spec.outType;
  lines.push(`@group(0) @binding(${b++}) var<storage, read_write> OUT: array<${outElem}>;`);
  lines.push(`@group(0) @binding(${b++}) var<storage, ${spec.biasAccess}> BIAS: array<${spec.biasType}>;`);
  lines.push(`@group(0) @binding(${b++}) var<storage, ${spec.gateAccess}> GATE: array<${spec.gateType}>;`);
  lines.push(`@group(0) @binding(${b++}) var<storage, ${spec.resAccess}> RES: array<${outElem}>;`);
  return lines.join('\n');
}

/** Bindings 7 and 8 of every W8A8 kernel: the per-row scales of A (activations) and B (weights). */
export const I8_SCALE_BINDINGS = `@group(0) @binding(7) var<storage, read> SX: array<f32>;  // [M] activation row scales
@group(0) @binding(8) var<storage, read> SW: array<f32>;  // [N] weight row scales`;

/** The epilogue. Callers guarantee row < M and col < N, so every index below is in bounds. */
export function epilogueWgsl(spec: GemmSpec): string {
  return `fn act_gelu_tanh(y: f32) -> f32 {
  // tanh is clamped: some drivers evaluate tanh via exp and return NaN for large |u| (inf/inf).
  // |u| >= 10 gives tanh = +-1 to f32 precision, so the clamp changes nothing else.
  let u = 0.7978845608028654 * (y + 0.044715 * y * y * y);
  return 0.5 * y * (1.0 + tanh(clamp(u, -10.0, 10.0)));
}
fn act_silu(y: f32) -> f32 {
  // exp(-y) overflows to +inf for y < -88: y / inf = -0, the right limit, so no clamp is needed.
  return y / (1.0 + exp(-y));
}
fn store_out(batch: u32, row: u32, col: u32, acc: f32) {
  let flags = P.flags;
  var y = acc * P.alpha;
  if ((flags & 1u) != 0u) { y = y + f32(BIAS[col]); }
  let act = (flags >> 1u) & 3u;
  if (act == 1u) { y = act_gelu_tanh(y); } else if (act == 2u) { y = act_silu(y); }
  if ((flags & 8u) != 0u) { y = y * f32(GATE[(row / P.rowsPerBatch) * P.gateStride + P.gateOffset + col]); }
  let idx = batch * P.batchOut + row * P.N + col;
  let res = (flags >> 4u) & 3u;
  if (res == 1u) { y = f32(RES[idx]) + y; } else if (res == 2u) { y = f32(OUT[idx]) + y; }
  OUT[idx] = ${spec.outType}(y);
}`;
}

/**
 * The epilogue for 8 consecutive columns [col, col + 8) of one row (spec.vecOut): the same steps as store_out on
 * each element, with one 16-byte store (f16 out) or two (f32 out) instead of 8 scalar ones. Callers guarantee
 * row < M, col + 8 <= N and col % 8 == 0 (N % 8 == 0), so the vector index idx / 8 (or / 4) is exact.
 */
export function epilogueVec8Wgsl(spec: GemmSpec): string {
  const f16 = spec.outType === 'f16';
  // Residual (separate RES or in place in OUT) as two vec4<f32>.
  const readRes = (arr: string) => (f16
    ? `let w = ${arr}[idx / 8u];
    r0 = vec4<f32>(vec2<f32>(bitcast<vec2<f16>>(w.x)), vec2<f32>(bitcast<vec2<f16>>(w.y)));
    r1 = vec4<f32>(vec2<f32>(bitcast<vec2<f16>>(w.z)), vec2<f32>(bitcast<vec2<f16>>(w.w)));`
    : `r0 = ${arr}[idx / 4u];
    r1 = ${arr}[idx / 4u + 1u];`);
  const store = f16
    ? `OUT[idx / 8u] = vec4<u32>(bitcast<u32>(vec2<f16>(y0.xy)), bitcast<u32>(vec2<f16>(y0.zw)), bitcast<u32>(vec2<f16>(y1.xy)), bitcast<u32>(vec2<f16>(y1.zw)));`
    : `OUT[idx / 4u] = y0;
  OUT[idx / 4u + 1u] = y1;`;
  return `fn act_gelu_tanh4(y: vec4<f32>) -> vec4<f32> {
  let u = 0.7978845608028654 * (y + 0.044715 * y * y * y);
  return 0.5 * y * (1.0 + tanh(clamp(u, vec4<f32>(-10.0), vec4<f32>(10.0))));
}
fn act_silu4(y: vec4<f32>) -> vec4<f32> {
  return y / (1.0 + exp(-y));
}
fn store_out8(batch: u32, row: u32, col: u32, a0: vec4<f32>, a1: vec4<f32>) {
  let flags = P.flags;
  var y0 = a0 * P.alpha;
  var y1 = a1 * P.alpha;
  if ((flags & 1u) != 0u) {
    y0 = y0 + vec4<f32>(f32(BIAS[col]), f32(BIAS[col + 1u]), f32(BIAS[col + 2u]), f32(BIAS[col + 3u]));
    y1 = y1 + vec4<f32>(f32(BIAS[col + 4u]), f32(BIAS[col + 5u]), f32(BIAS[col + 6u]), f32(BIAS[col + 7u]));
  }
  let act = (flags >> 1u) & 3u;
  if (act == 1u) { y0 = act_gelu_tanh4(y0); y1 = act_gelu_tanh4(y1); } else if (act == 2u) { y0 = act_silu4(y0); y1 = act_silu4(y1); }
  if ((flags & 8u) != 0u) {
    let g = (row / P.rowsPerBatch) * P.gateStride + P.gateOffset + col;
    y0 = y0 * vec4<f32>(f32(GATE[g]), f32(GATE[g + 1u]), f32(GATE[g + 2u]), f32(GATE[g + 3u]));
    y1 = y1 * vec4<f32>(f32(GATE[g + 4u]), f32(GATE[g + 5u]), f32(GATE[g + 6u]), f32(GATE[g + 7u]));
  }
  let idx = batch * P.batchOut + row * P.N + col;
  let res = (flags >> 4u) & 3u;
  var r0 = vec4<f32>();
  var r1 = vec4<f32>();
  if (res == 1u) {
    ${readRes('RES')}
  } else if (res == 2u) {
    ${readRes('OUT')}
  }
  y0 = y0 + r0;
  y1 = y1 + r1;
  ${store}
}`;
}

/** `enable f16;` is needed when any binding is f16. */
export function needsF16(spec: GemmSpec): boolean {
  return [spec.aType, spec.bType, spec.outType, spec.biasType, spec.gateType].includes('f16');
}

export function specKey(spec: GemmSpec): string {
  return JSON.stringify(spec);
}
