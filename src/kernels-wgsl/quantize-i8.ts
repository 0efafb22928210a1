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
// flattened), q [R, int8RowWords(K)] u32, scale [R] f32.
import type { GpuContext } from '../gpu/context.js';
import { type KernelCall, type TensorView, bindGroup, byteSize, grid1d, numel, paramsBuffer } from '../gpu/kernel.js';
import { enables, expectBindable, LINEAR_WG, overlaps, reduceMode, reduceWgsl } from './wgsl-util.js';

/** u32 words per quantized row of K values: K rounded up to 16 int8, 4 per word. */
export function int8RowWords(K: number): number {
  return Math.ceil(K / 16) * 4;
}

export interface QuantizeRowsArgs {
  /** [..., K] f16 or f32. */
  x: TensorView;
  /** [R, int8RowWords(K)] u32 out (R = rows of x). */
  q: TensorView;
  /** [R] f32 out. */
  scale: TensorView;
  label?: string;
}

const WG = 256;

function quantizeWgsl(xType: 'f16' | 'f32', K: number, vec: boolean, xAccess: 'read' | 'read_write', mode: 'subgroup' | 'workgroup', sgMin: number): string {
  const r = reduceWgsl(mode, WG, sgMin, 1);
  const words = int8RowWords(K);
  // vec: K % 4 == 0, x read as vec4 (4 values = one output word).
  const readWord = vec
    ? `let v = vec4<f32>(X[row * ${K / 4}u + w]);`
    : `var v = vec4<f32>(0.0);
    for (var j = 0u; j < 4u; j++) { let k = w * 4u + j; if (k < ${K}u) { v[j] = f32(X[row * ${K}u + k]); } }`;
  return `${enables([xType], mode === 'subgroup')}
struct Params { rows: u32 }
@group(0) @binding(0) var<storage, ${xAccess}> X: array<${vec ? `vec4<${xType}>` : xType}>;
@group(0) @binding(1) var<storage, read_write> Q: array<u32>;
@group(0) @binding(2) var<storage, read_write> S: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
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
  const { x, q, scale } = args;
  if (x.shape.length < 1 || x.shape.some((d) => !(Number.isInteger(d) && d > 0))) throw new Error(`${op}: 'x' must be a non-empty [..., K] tensor, got [${x.shape}]`);
  if (x.dtype !== 'f16' && x.dtype !== 'f32') throw new Error(`${op}: 'x' is ${x.dtype} but must be f16 or f32`);
  const K = x.shape[x.shape.length - 1];
  const R = numel(x.shape) / K;
  const want = [R, int8RowWords(K)];
  if (q.dtype !== 'u32' || q.shape.join() !== want.join()) throw new Error(`${op}: 'q' is [${q.shape}] ${q.dtype} but [${want}] u32 is required (K=${K} rounded up to 16 int8, 4 per word)`);
  if (scale.dtype !== 'f32' || scale.shape.join() !== String(R)) throw new Error(`${op}: 'scale' is [${scale.shape}] ${scale.dtype} but [${R}] f32 is required (one per row)`);
  for (const [n, t] of [['x', x], ['q', q], ['scale', scale]] as const) expectBindable(ctx, op, n, t);
  if (overlaps(q, x) || overlaps(scale, x) || overlaps(q, scale)) throw new Error(`${op}: 'x', 'q' and 'scale' must not overlap`);
  // x shares a buffer with an output (graph arenas): bound read_write, since WebGPU forbids one buffer bound
  // read-only and read-write in one dispatch even for disjoint ranges.
  const xAccess = q.buffer === x.buffer || scale.buffer === x.buffer ? 'read_write' : 'read';
  const mode = reduceMode(ctx);
  const vec = K % 4 === 0;
  const pipeline = await ctx.pipeline(
    `quantize-i8:${x.dtype}:${K}:${vec}:${xAccess}:${mode}:${ctx.caps.subgroupMinSize}`,
    quantizeWgsl(x.dtype, K, vec, xAccess, mode, ctx.caps.subgroupMinSize),
  );
  const pbuf = paramsBuffer(ctx, [{ u32: R }], `${op}:params`);
  return {
    label: args.label ?? 'quantize_i8',
    pipeline,
    bindGroup: bindGroup(ctx, pipeline, [x, q, scale, pbuf], op),
    workgroups: grid1d(R, ctx.caps.limits.maxComputeWorkgroupsPerDimension),
    flops: 0,
    bytes: byteSize(x) * 2 + R * int8RowWords(K) * 4 + R * 4,
  };
}
