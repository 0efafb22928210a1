// Symmetric per-row int8 quantization, the operand format of the W8A8 linears (matmul-i8-tiled.wgsl.ts and the
// tensor-core generator's int8 mode): for each row r of x [R, K] (activations: one row per token; weights [N, K]:
// one row per output feature),
//   scale[r] = max_k |x[r, k]| / 127,   q[r, k] = clamp(round(x[r, k] * 127 / max_k |x[r, k]|), -127, 127)
// (round half to even, WGSL's round), so x[r, k] ~ q[r, k] * scale[r]. A row of zeros has scale 0 and q 0. q is
// packed 4 int8 per u32 (element 4w + j in byte j of word w, the byte order the int8 subgroup matrices and
// dot4I8Packed read), rows padded with zeros to a multiple of 16 int8 (one 16-byte chunk: the tensor-core kernel
// stages whole chunks). Non-finite inputs give a non-finite scale, so the linear's output is NaN, never a
// silently clipped value.
//
// One workgroup per row: a max-reduction, then each invocation packs whole words. Shapes: x [..., K] (rows
// flattened), q [R, int8RowWords(K)] u32, scale [R] f32. x may also be given as column parts [R, K_i] whose
// concatenation is the row (FLUX's single blocks: attention output | MLP hidden, the input of linear2), so the
// concatenated f16 copy is never written; then every K_i must be a multiple of 4 (each part read as vec4).
import type { GpuContext } from '../gpu/context.js';
import { type KernelCall, type TensorView, bindGroup, byteSize, grid1d, numel, paramsBuffer } from '../gpu/kernel.js';
import { enables, expectBindable, LINEAR_WG, overlaps, reduceMode, reduceWgsl } from './wgsl-util.js';

/** u32 words per quantized row of K values: K rounded up to 16 int8, 4 per word. */
export function int8RowWords(K: number): number {
  return Math.ceil(K / 16) * 4;
}

export interface QuantizeRowsArgs {
  /** [..., K] f16 or f32, or column parts [R, K_i] of one dtype (the row is their concatenation, K = sum K_i). */
  x: TensorView | TensorView[];
  /** [R, int8RowWords(K)] u32 out (R = rows of x). */
  q: TensorView;
  /** [R] f32 out. */
  scale: TensorView;
  label?: string;
}

const WG = 256;

/**
 * partK: the row's column parts (one entry: plain x). xAccess: per part. vec: every part's K % 4 == 0, each part
 * read as vec4 (4 values = one output word); required with more than one part.
 */
function quantizeWgsl(xType: 'f16' | 'f32', partK: number[], vec: boolean, xAccess: ('read' | 'read_write')[], mode: 'subgroup' | 'workgroup', sgMin: number): string {
  const r = reduceWgsl(mode, WG, sgMin, 1);
  const K = partK.reduce((a, b) => a + b, 0);
  const words = int8RowWords(K);
  const n = partK.length;
  // Word w of the row comes from the part whose word range holds it (uniform per word, no barrier inside).
  const wordStarts = partK.map((_, i) => partK.slice(0, i).reduce((a, b) => a + b / 4, 0));
  const readWord = !vec
    ? `var v = vec4<f32>(0.0);
    for (var j = 0u; j < 4u; j++) { let k = w * 4u + j; if (k < ${K}u) { v[j] = f32(X0[row * ${K}u + k]); } }`
    : n === 1
      ? `let v = vec4<f32>(X0[row * ${K / 4}u + w]);`
      : `var v: vec4<f32>;
    ${partK.map((k, i) => `${i === 0 ? '' : ' else '}${i === n - 1 ? '' : `if (w < ${wordStarts[i] + k / 4}u) `}{ v = vec4<f32>(X${i}[row * ${k / 4}u + w - ${wordStarts[i]}u]); }`).join('')}`;
  return `${enables([xType], mode === 'subgroup')}
struct Params { rows: u32 }
${partK.map((_, i) => `@group(0) @binding(${i}) var<storage, ${xAccess[i]}> X${i}: array<${vec ? `vec4<${xType}>` : xType}>;`).join('\n')}
@group(0) @binding(${n}) var<storage, read_write> Q: array<u32>;
@group(0) @binding(${n + 1}) var<storage, read_write> S: array<f32>;
@group(0) @binding(${n + 2}) var<uniform> p: Params;
${r.fns}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32${r.args}) {
  ${r.init}
  let row = ${LINEAR_WG};
  if (row >= p.rows) { return; }
  var m = 0.0;
  for (var w = lid; w < ${Math.ceil(K / 4)}u; w += ${WG}u) {
    ${readWord}
    let a = abs(v);
    m = max(m, max(max(a.x, a.y), max(a.z, a.w)));
  }
  let amax = wgMax(m, 0u);
  if (lid == 0u) { S[row] = amax / 127.0; }
  let inv = select(127.0 / amax, 0.0, amax == 0.0);
  for (var w = lid; w < ${words}u; w += ${WG}u) {
    var packed = 0u;
    if (w < ${Math.ceil(K / 4)}u) {
      ${readWord}
      let qv = vec4<i32>(clamp(round(v * inv), vec4<f32>(-127.0), vec4<f32>(127.0)));
      packed = (u32(qv.x) & 0xffu) | ((u32(qv.y) & 0xffu) << 8u) | ((u32(qv.z) & 0xffu) << 16u) | ((u32(qv.w) & 0xffu) << 24u);
    }
    Q[row * ${words}u + w] = packed;
  }
}
`;
}

export async function quantizeRowsI8(ctx: GpuContext, args: QuantizeRowsArgs): Promise<KernelCall> {
  const op = `quantize_i8${args.label ? ` '${args.label}'` : ''}`;
  const { q, scale } = args;
  const parts = Array.isArray(args.x) ? args.x : [args.x];
  if (parts.length < 1) throw new Error(`${op}: 'x' is an empty list of column parts; give x [..., K] or at least one part [R, K_i]`);
  for (const [i, x] of parts.entries()) {
    const name = parts.length > 1 ? `x[${i}]` : 'x';
    if (x.shape.length < 1 || x.shape.some((d) => !(Number.isInteger(d) && d > 0))) throw new Error(`${op}: '${name}' must be a non-empty [..., K] tensor, got [${x.shape}]`);
    if (x.dtype !== 'f16' && x.dtype !== 'f32') throw new Error(`${op}: '${name}' is ${x.dtype} but must be f16 or f32`);
  }
  const partK = parts.map((x) => x.shape[x.shape.length - 1]);
  const K = partK.reduce((a, b) => a + b, 0);
  const R = numel(parts[0].shape) / partK[0];
  if (parts.length > 1) {
    for (const [i, x] of parts.entries()) {
      if (x.dtype !== parts[0].dtype) throw new Error(`${op}: column parts must share one dtype: x[0] is ${parts[0].dtype}, x[${i}] is ${x.dtype}`);
      if (numel(x.shape) / partK[i] !== R) throw new Error(`${op}: column parts must have the same rows: x[0] has ${R}, x[${i}] [${x.shape}] has ${numel(x.shape) / partK[i]}`);
      if (partK[i] % 4 !== 0) throw new Error(`${op}: column part x[${i}] has ${partK[i]} columns; parts are read 4 columns at a time, so each needs a multiple of 4 (concatenate them first otherwise)`);
    }
  }
  const want = [R, int8RowWords(K)];
  if (q.dtype !== 'u32' || q.shape.join() !== want.join()) throw new Error(`${op}: 'q' is [${q.shape}] ${q.dtype} but [${want}] u32 is required (K=${K} rounded up to 16 int8, 4 per word)`);
  if (scale.dtype !== 'f32' || scale.shape.join() !== String(R)) throw new Error(`${op}: 'scale' is [${scale.shape}] ${scale.dtype} but [${R}] f32 is required (one per row)`);
  for (const [i, x] of parts.entries()) expectBindable(ctx, op, parts.length > 1 ? `x[${i}]` : 'x', x);
  for (const [n, t] of [['q', q], ['scale', scale]] as const) expectBindable(ctx, op, n, t);
  if (parts.some((x) => overlaps(q, x) || overlaps(scale, x)) || overlaps(q, scale)) throw new Error(`${op}: 'x', 'q' and 'scale' must not overlap`);
  // x shares a buffer with an output (graph arenas): bound read_write, since WebGPU forbids one buffer bound
  // read-only and read-write in one dispatch even for disjoint ranges. Two parts in one buffer are both read-only.
  const xAccess = parts.map((x) => (q.buffer === x.buffer || scale.buffer === x.buffer ? 'read_write' : 'read') as 'read' | 'read_write');
  const mode = reduceMode(ctx);
  const vec = partK.every((k) => k % 4 === 0);
  const dtype = parts[0].dtype as 'f16' | 'f32';
  const pipeline = await ctx.pipeline(
    `quantize-i8:${dtype}:${partK.join('+')}:${vec}:${xAccess.join('+')}:${mode}:${ctx.caps.subgroupMinSize}`,
    quantizeWgsl(dtype, partK, vec, xAccess, mode, ctx.caps.subgroupMinSize),
  );
  const pbuf = paramsBuffer(ctx, [{ u32: R }], `${op}:params`);
  return {
    label: args.label ?? 'quantize_i8',
    pipeline,
    bindGroup: bindGroup(ctx, pipeline, [...parts, q, scale, pbuf], op),
    workgroups: grid1d(R, ctx.caps.limits.maxComputeWorkgroupsPerDimension),
    flops: 0,
    bytes: parts.reduce((a, x) => a + byteSize(x) * 2, 0) + R * int8RowWords(K) * 4 + R * 4,
  };
}
