// Row normalisations over the last dimension: LayerNorm (affine optional), RMSNorm, and the adaLN form
// LayerNorm(x) * (1 + scale) + shift that FLUX/SD3 blocks use. One workgroup per row, vectorised loads; mean and
// variance are taken exactly in two passes (no E[x^2]-E[x]^2 cancellation: the f32 residual stream of FLUX has
// rows with large means). Rows of up to 4 vectors per invocation (C <= 4096 f32 / 4096 f16 with vec4, e.g.
// FLUX's 3072) are held in registers and read from memory once; longer rows re-read memory in each pass (the
// re-reads are L1/L2 hits: one row is at most tens of KiB). The register cap also bounds lavapipe's JIT time.
// The row length C is compiled in, so each distinct C gets its own pipeline (models have only a few).
import type { GpuContext } from '../gpu/context.js';
import { type DType, type KernelCall, type TensorView, bindGroup, expectShape, grid1d, numel, paramsBuffer } from '../gpu/kernel.js';
import {
  LINEAR_WG, type ReduceMode, type VecWidth, enables, expectBindable, expectPositiveShape, inPlaceIndex, laneSum, overlaps,
  pow2Clamp, reduceMode, reduceWgsl, SEG_ARGS, segSumWgsl, vecType, vecWidth,
} from './wgsl-util.js';

type NormKind = 'layer' | 'rms' | 'modulate';

interface NormSpec {
  kind: NormKind;
  C: number;
  v: VecWidth;
  wg: number;
  /** registers per thread (vectors); 0 = re-read the row from memory in every pass (very long rows). */
  per: number;
  /**
   * Lanes per row in the short-row layout (several rows per workgroup, each owned by `seg` lanes of one subgroup
   * and reduced with subgroupShuffleXor butterflies: no barrier at all). 0 = one workgroup per row.
   */
  seg: number;
  xType: DType;
  outType: DType;
  inPlace: boolean;
  weightType?: DType;
  biasType?: DType;
  modType?: DType;
  reduce: ReduceMode;
  /** The adapter's minimum subgroup size (bounds the reduction's unrolling and the short-row layout). */
  sgMin: number;
}

/** Rows longer than wg * v * MAX_PER elements re-read memory instead of holding the row in registers. */
const MAX_PER = 4;
const SEG_WG = 256;

function planRow(C: number, v: VecWidth, mode: ReduceMode, sgMin: number): { wg: number; per: number; seg: number } {
  const nv = C / v;
  // Short rows (FLUX's per-head qk RMSNorm has C = 128): a whole workgroup per row would leave most lanes idle
  // and cap occupancy, so rows share a workgroup, `seg` lanes each. Needs subgroups; seg <= the smallest
  // subgroup so a row never straddles two subgroups.
  if (mode === 'subgroup' && sgMin >= 4 && nv <= MAX_PER * sgMin) {
    const seg = Math.min(pow2Clamp(nv, 1, sgMin), sgMin);
    return { wg: SEG_WG, per: Math.ceil(nv / seg), seg };
  }
  const wg = pow2Clamp(nv, 32, 256);
  const per = Math.ceil(nv / wg);
  return { wg, per: per <= MAX_PER ? per : 0, seg: 0 };
}

/** Rows handled by one workgroup. */
function rowsPerGroup(s: Pick<NormSpec, 'seg' | 'wg'>): number {
  return s.seg ? s.wg / s.seg : 1;
}

function normWgsl(s: NormSpec): string {
  const vf = vecType('f32', s.v);
  const vx = vecType(s.xType, s.v);
  const vo = vecType(s.outType, s.v);
  const nv = s.C / s.v;
  const r = s.seg
    ? {
      args: SEG_ARGS,
      init: '',
      fns: segSumWgsl(s.seg),
    }
    : reduceWgsl(s.reduce, s.wg, s.sgMin, 2);
  const sum = (x: string, slot: number) => (s.seg ? `segSum(${x})` : `wgSum(${x}, ${slot}u)`);
  const dtypes: DType[] = [s.xType, s.outType, s.weightType, s.biasType, s.modType].filter((d): d is DType => !!d);
  const bindings: string[] = [];
  let b = 0;
  if (s.inPlace) bindings.push(`@group(0) @binding(${b++}) var<storage, read_write> xs: array<${vx}>;`);
  else {
    bindings.push(`@group(0) @binding(${b++}) var<storage, read> xs: array<${vx}>;`);
    bindings.push(`@group(0) @binding(${b++}) var<storage, read_write> ys: array<${vo}>;`);
  }
  const out = s.inPlace ? 'xs' : 'ys';
  if (s.weightType) bindings.push(`@group(0) @binding(${b++}) var<storage, read> wts: array<${vecType(s.weightType, s.v)}>;`);
  if (s.biasType) bindings.push(`@group(0) @binding(${b++}) var<storage, read> bias: array<${vecType(s.biasType, s.v)}>;`);
  if (s.modType) bindings.push(`@group(0) @binding(${b++}) var<storage, read> mods: array<${vecType(s.modType, s.v)}>;`);
  bindings.push(`@group(0) @binding(${b++}) var<uniform> p: Params;`);

  // Which row this invocation works on, and how it strides through the row's vectors.
  const prologue = s.seg
    ? `let g = ${LINEAR_WG};
  if (g * ${rowsPerGroup(s)}u >= p.rows) { return; }
  // Full subgroups (wg is a multiple of every subgroup size), so sid * size + lane enumerates 0..wg-1 and the
  // seg lanes of a row are adjacent lanes of one subgroup (seg divides the subgroup size).
  let slot = sg_id * sg_size + sg_lane;
  let row = g * ${rowsPerGroup(s)}u + slot / ${s.seg}u;
  let e = slot % ${s.seg}u;
  let valid = row < p.rows;`
    : `let row = ${LINEAR_WG};
  if (row >= p.rows) { return; }
  let e = lid;
  let valid = true;`;
  const stride = s.seg || s.wg;
  const load = (i: string) => `${vf}(xs[base + ${i}])`;
  const val = (k: string, i: string) => (s.per ? `vals[${k}]` : load(i));
  const loopHead = s.per
    ? (body: string) => `for (var k = 0u; k < ${s.per}u; k++) { let i = e + k * ${stride}u; if (valid && i < NV) { ${body} } }`
    : (body: string) => `for (var i = e; i < NV; i += ${stride}u) { ${body} }`;

  const term = s.kind === 'rms' ? laneSum('x * x', s.v) : laneSum('x', s.v);
  const firstPass = loopHead(`let x = ${load('i')}; ${s.per ? 'vals[k] = x;' : ''} acc += ${term};`);
  const stats = s.kind === 'rms'
    ? `let mean = 0.0;
  let rstd = inverseSqrt(${sum('acc', 0)} / f32(C) + p.eps);`
    : `let mean = ${sum('acc', 0)} / f32(C);
  var acc2 = 0.0;
  ${loopHead(`let d = ${val('k', 'i')} - mean; acc2 += ${laneSum('d * d', s.v)};`)}
  let rstd = inverseSqrt(${sum('acc2', 1)} / f32(C) + p.eps);`;
  let affine = '';
  if (s.weightType) affine += ` y = y * ${vf}(wts[i]);`;
  if (s.biasType) affine += ` y = y + ${vf}(bias[i]);`;
  if (s.modType) {
    affine += ` let mb = (row / p.rowsPerBatch) * p.modStride;`;
    affine += ` y = y * (1.0 + ${vf}(mods[mb + p.scaleOff + i])) + ${vf}(mods[mb + p.shiftOff + i]);`;
  }
  const write = loopHead(`var y = (${val('k', 'i')} - mean) * rstd;${affine} ${out}[base + i] = ${vo}(y);`);

  return `${enables(dtypes, s.reduce === 'subgroup')}
struct Params { rows: u32, eps: f32, rowsPerBatch: u32, modStride: u32, shiftOff: u32, scaleOff: u32 }
${bindings.join('\n')}
const C: u32 = ${s.C}u;
const NV: u32 = ${nv}u;
${r.fns}
@compute @workgroup_size(${s.wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32${r.args}) {
  ${r.init}
  ${prologue}
  let base = row * NV;
  ${s.per ? `var vals: array<${vf}, ${s.per}>;` : ''}
  var acc = 0.0;
  ${firstPass}
  ${stats}
  ${write}
}
`;
}

interface CommonArgs {
  x: TensorView;
  out: TensorView;
  eps: number;
  /** Forces a reduction flavour (tests cover both; default: subgroups where the adapter has them). */
  reduce?: ReduceMode;
}

async function launchNorm(
  ctx: GpuContext,
  op: string,
  kind: NormKind,
  a: CommonArgs & { weight?: TensorView; bias?: TensorView; mod?: TensorView },
  modParams: { rowsPerBatch: number; modStride: number; shiftOff: number; scaleOff: number } | null,
  outDtypes: readonly DType[],
): Promise<KernelCall> {
  const { x, out } = a;
  expectPositiveShape(op, 'x', x.shape);
  if (!(a.eps >= 0) || !Number.isFinite(a.eps)) throw new Error(`${op}: eps must be a finite number >= 0, got ${a.eps}`);
  const C = x.shape[x.shape.length - 1];
  const rows = numel(x.shape) / C;
  if (!outDtypes.includes(out.dtype)) throw new Error(`${op}: 'out' is ${out.dtype} but must be ${outDtypes.join(' or ')}`);
  expectShape(op, 'out', out, x.shape);
  if (a.weight) expectShape(op, 'weight', a.weight, [C]);
  if (a.bias) expectShape(op, 'bias', a.bias, [C]);
  for (const [n, t] of [['x', x], ['out', out], ['weight', a.weight], ['bias', a.bias], ['mod', a.mod]] as const) {
    if (t) expectBindable(ctx, op, n, t);
  }
  const inPlace = inPlaceIndex(op, out, [['x', x]]) === 0;
  for (const [n, t] of [['weight', a.weight], ['bias', a.bias], ['mod', a.mod]] as const) {
    if (t && overlaps(out, t)) throw new Error(`${op}: 'out' must not overlap '${n}'`);
  }
  const v = vecWidth(C);
  const reduce = reduceMode(ctx, a.reduce);
  const sgMin = ctx.caps.subgroupMinSize;
  const { wg, per, seg } = planRow(C, v, reduce, sgMin);
  const spec: NormSpec = {
    kind, C, v, wg, per, seg, xType: x.dtype, outType: out.dtype, inPlace,
    weightType: a.weight?.dtype, biasType: a.bias?.dtype, modType: a.mod?.dtype, reduce, sgMin,
  };
  const key = `norm:${JSON.stringify(spec)}`;
  const pipeline = await ctx.pipeline(key, normWgsl(spec));
  const mp = modParams ?? { rowsPerBatch: 1, modStride: 0, shiftOff: 0, scaleOff: 0 };
  const params = paramsBuffer(ctx, [
    { u32: rows }, { f32: a.eps }, { u32: mp.rowsPerBatch }, { u32: mp.modStride / v }, { u32: mp.shiftOff / v }, { u32: mp.scaleOff / v },
  ], `${op}.params`);
  const resources: (TensorView | GPUBuffer)[] = inPlace ? [x] : [x, out];
  if (a.weight) resources.push(a.weight);
  if (a.bias) resources.push(a.bias);
  if (a.mod) resources.push(a.mod);
  resources.push(params);
  const elems = rows * C;
  const bytes = elems * (bytesOf(x.dtype) + bytesOf(out.dtype)) + (a.mod ? 2 * C * bytesOf(a.mod.dtype) * Math.ceil(rows / mp.rowsPerBatch) : 0);
  return {
    label: op,
    pipeline,
    bindGroup: bindGroup(ctx, pipeline, resources, op),
    workgroups: grid1d(Math.ceil(rows / rowsPerGroup(spec)), ctx.caps.limits.maxComputeWorkgroupsPerDimension),
    flops: 8 * elems,
    bytes,
  };
}

function bytesOf(d: DType): number {
  return d === 'f16' ? 2 : 4;
}

/** LayerNorm over the last dimension: (x - mean) / sqrt(var + eps) [* weight] [+ bias]. f32 math; out may be x. */
export async function layerNorm(
  ctx: GpuContext,
  a: CommonArgs & { weight?: TensorView; bias?: TensorView },
): Promise<KernelCall> {
  return launchNorm(ctx, 'layerNorm', 'layer', a, null, ['f16', 'f32']);
}

/** RMSNorm over the last dimension: x / sqrt(mean(x^2) + eps) [* weight]. f32 math; out may be x. */
export async function rmsNorm(ctx: GpuContext, a: CommonArgs & { weight?: TensorView }): Promise<KernelCall> {
  return launchNorm(ctx, 'rmsNorm', 'rms', { ...a, bias: undefined }, null, ['f16', 'f32']);
}

export interface LayerNormModulateArgs extends CommonArgs {
  /** [B, G*C]: G chunks of C modulation values per batch element (the adaLN linear's output). */
  mod: TensorView;
  /** Chunk index (0..G-1) holding the shift, and the one holding the scale. */
  shiftChunk: number;
  scaleChunk: number;
  /** Rows of x per batch element: row r uses mod row floor(r / rowsPerBatch). */
  rowsPerBatch: number;
}

/**
 * adaLN: LayerNorm without affine, then y * (1 + scale) + shift with scale/shift for row r taken from
 * mod[floor(r / rowsPerBatch), chunk * C + c] (FLUX `Modulation`, SD3 `AdaLayerNormZero`). Chunks are indices,
 * so no 256-byte-aligned slicing of mod is needed. out is f16 (it feeds a matmul).
 */
export async function layerNormModulate(ctx: GpuContext, a: LayerNormModulateArgs): Promise<KernelCall> {
  const op = 'layerNormModulate';
  expectPositiveShape(op, 'x', a.x.shape);
  const C = a.x.shape[a.x.shape.length - 1];
  const rows = numel(a.x.shape) / C;
  if (!Number.isInteger(a.rowsPerBatch) || a.rowsPerBatch < 1) throw new Error(`${op}: rowsPerBatch must be a positive integer, got ${a.rowsPerBatch}`);
  if (rows % a.rowsPerBatch !== 0) throw new Error(`${op}: x has ${rows} rows, not a multiple of rowsPerBatch ${a.rowsPerBatch}`);
  const B = rows / a.rowsPerBatch;
  const m = a.mod.shape;
  if (m.length !== 2 || m[0] !== B || m[1] % C !== 0) {
    throw new Error(`${op}: 'mod' has shape [${m}] but [${B}, G*${C}] is required (B = rows / rowsPerBatch = ${B}, G chunks of C = ${C})`);
  }
  const G = m[1] / C;
  for (const [n, c] of [['shiftChunk', a.shiftChunk], ['scaleChunk', a.scaleChunk]] as const) {
    if (!Number.isInteger(c) || c < 0 || c >= G) throw new Error(`${op}: ${n} = ${c} is out of range; mod holds chunks 0..${G - 1}`);
  }
  return launchNorm(ctx, op, 'modulate', { ...a }, {
    rowsPerBatch: a.rowsPerBatch, modStride: G * C, shiftOff: a.shiftChunk * C, scaleOff: a.scaleChunk * C,
  }, ['f16']);
}
