// Row softmax over the last dimension with an optional pre-scale: y = exp(s*x - max(s*x)) / sum(...), f32 math.
// One workgroup per row; rows up to 4 vectors per invocation (4096 elements with vec4) stay in registers (one read
// of x), longer rows are re-read from memory in each of the three passes (max, sum, write): any row length works.
import type { GpuContext } from '../gpu/context.js';
import { type DType, type KernelCall, type TensorView, bindGroup, expectShape, grid1d, numel, paramsBuffer } from '../gpu/kernel.js';
import {
  LINEAR_WG, type ReduceMode, type VecWidth, enables, expectBindable, expectPositiveShape, inPlaceIndex, pow2Clamp,
  reduceMode, reduceWgsl, vecType, vecWidth,
} from './wgsl-util.js';

const MAX_PER = 4;

interface SoftmaxSpec {
  C: number;
  v: VecWidth;
  wg: number;
  per: number;
  xType: DType;
  outType: DType;
  inPlace: boolean;
  reduce: ReduceMode;
  /** The adapter's minimum subgroup size (bounds the reduction's unrolling). */
  sgMin: number;
}

function lanesMax(expr: string, v: VecWidth): string {
  if (v === 1) return expr;
  if (v === 2) return `max((${expr}).x, (${expr}).y)`;
  return `max(max((${expr}).x, (${expr}).y), max((${expr}).z, (${expr}).w))`;
}

function softmaxWgsl(s: SoftmaxSpec): string {
  const vf = vecType('f32', s.v);
  const r = reduceWgsl(s.reduce, s.wg, s.sgMin, 2);
  const nv = s.C / s.v;
  const out = s.inPlace ? 'xs' : 'ys';
  const load = (i: string) => `p.scale * ${vf}(xs[base + ${i}])`;
  const loop = s.per
    ? (body: string) => `for (var k = 0u; k < ${s.per}u; k++) { let i = lid + k * ${s.wg}u; if (i < NV) { ${body} } }`
    : (body: string) => `for (var i = lid; i < NV; i += ${s.wg}u) { ${body} }`;
  const val = s.per ? 'vals[k]' : load('i');
  const sumLanes = s.v === 1 ? 'e' : `dot(e, ${vf}(1.0))`;
  return `${enables([s.xType, s.outType], s.reduce === 'subgroup')}
struct Params { rows: u32, scale: f32 }
${s.inPlace ? `@group(0) @binding(0) var<storage, read_write> xs: array<${vecType(s.xType, s.v)}>;
@group(0) @binding(1) var<uniform> p: Params;` : `@group(0) @binding(0) var<storage, read> xs: array<${vecType(s.xType, s.v)}>;
@group(0) @binding(1) var<storage, read_write> ys: array<${vecType(s.outType, s.v)}>;
@group(0) @binding(2) var<uniform> p: Params;`}
const NV: u32 = ${nv}u;
${r.fns}
@compute @workgroup_size(${s.wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32${r.args}) {
  ${r.init}
  let row = ${LINEAR_WG};
  if (row >= p.rows) { return; }
  let base = row * NV;
  ${s.per ? `var vals: array<${vf}, ${s.per}>;` : ''}
  // -3.4e38 rather than -inf: WGSL has no infinity literal and the row always has >= 1 element.
  var m = -3.4e38;
  ${loop(`let x = ${load('i')}; ${s.per ? 'vals[k] = x;' : ''} m = max(m, ${lanesMax('x', s.v)});`)}
  let rowMax = wgMax(m, 0u);
  var acc = 0.0;
  ${loop(`let e = exp(${val} - rowMax); acc += ${sumLanes};`)}
  let inv = 1.0 / wgSum(acc, 1u);
  ${loop(`${out}[base + i] = ${vecType(s.outType, s.v)}(exp(${val} - rowMax) * inv);`)}
}
`;
}

export interface SoftmaxArgs {
  /** [..., C]: softmax over the last dimension. */
  x: TensorView;
  /** Same shape; f16 or f32; may be x (in place). */
  out: TensorView;
  /** Multiplies x before the softmax (attention's 1/sqrt(d)); default 1. */
  scale?: number;
  reduce?: ReduceMode;
}

export async function softmax(ctx: GpuContext, a: SoftmaxArgs): Promise<KernelCall> {
  const op = 'softmax';
  expectPositiveShape(op, 'x', a.x.shape);
  expectShape(op, 'out', a.out, a.x.shape);
  const scale = a.scale ?? 1;
  if (!Number.isFinite(scale)) throw new Error(`${op}: scale must be finite, got ${scale}`);
  expectBindable(ctx, op, 'x', a.x);
  expectBindable(ctx, op, 'out', a.out);
  const inPlace = inPlaceIndex(op, a.out, [['x', a.x]]) === 0;
  const C = a.x.shape[a.x.shape.length - 1];
  const rows = numel(a.x.shape) / C;
  const v = vecWidth(C);
  const nv = C / v;
  const wg = pow2Clamp(nv, 32, 256);
  const per = Math.ceil(nv / wg);
  const spec: SoftmaxSpec = { C, v, wg, per: per <= MAX_PER ? per : 0, xType: a.x.dtype, outType: a.out.dtype, inPlace, reduce: reduceMode(ctx, a.reduce), sgMin: ctx.caps.subgroupMinSize };
  const pipeline = await ctx.pipeline(`softmax:${JSON.stringify(spec)}`, softmaxWgsl(spec));
  const params = paramsBuffer(ctx, [{ u32: rows }, { f32: scale }], `${op}.params`);
  const res = inPlace ? [a.x, params] : [a.x, a.out, params];
  const elems = rows * C;
  return {
    label: op,
    pipeline,
    bindGroup: bindGroup(ctx, pipeline, res, op),
    workgroups: grid1d(rows, ctx.caps.limits.maxComputeWorkgroupsPerDimension),
    flops: 5 * elems,
    bytes: elems * ((a.x.dtype === 'f16' ? 2 : 4) + (a.out.dtype === 'f16' ? 2 : 4)),
  };
}
