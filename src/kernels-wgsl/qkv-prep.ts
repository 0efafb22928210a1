// The fused attention-input kernel: takes the QKV projection output of one stream, splits heads, RMS-normalises
// q and k per head (FLUX QKNorm / SD3.5 qk-norm, f32 math), applies FLUX RoPE to q and k, and writes q, k, v
// as [B, H, Ltotal, D] at rows seqOffset.. of the joint sequence. FLUX's double blocks run it once for the text
// stream (seqOffset 0) and once for the image stream (seqOffset Ltxt) into the same q/k/v, so the joint
// attention needs no concat op.
//
// Each invocation owns rotation pairs (2j, 2j+1) of a head, which is exactly RoPE's pairing (see rope.ts for
// FLUX's convention), so a pair is loaded once as a vec2, normalised with the head's RMS and rotated in registers.
// Layouts: with subgroups and D <= 8 * (smallest subgroup), several heads share a 256-lane workgroup, `seg`
// adjacent lanes of one subgroup per head, reduced by shuffles (no barriers; D = 128 on NVIDIA: 8 heads per
// workgroup); otherwise one workgroup per (batch, token, head) with a workgroup reduction.
import type { GpuContext } from '../gpu/context.js';
import { type DType, type KernelCall, type TensorView, bindGroup, expectShape, grid1d, paramsBuffer } from '../gpu/kernel.js';
import {
  LINEAR_WG, type ReduceMode, enables, expectBindable, expectPositiveShape, expectStorageBindings, overlaps, pow2Clamp, reduceMode, reduceWgsl,
  SEG_ARGS, segSumWgsl,
} from './wgsl-util.js';

interface PrepSpec {
  fused: boolean;
  D: number;
  wg: number;
  per: number;
  /** Lanes per head in the short-row layout (several heads per workgroup, shuffle reductions); 0 = one head per workgroup. */
  seg: number;
  inTypes: DType[]; // fused: [qkv]; separate: [q, k, v]
  outTypes: [DType, DType, DType];
  qNorm?: DType;
  kNorm?: DType;
  rope: boolean;
  reduce: ReduceMode;
  /** The adapter's minimum subgroup size (bounds the reduction's unrolling). */
  sgMin: number;
}

function prepWgsl(s: PrepSpec): string {
  const r = s.seg ? { args: SEG_ARGS, init: '', fns: segSumWgsl(s.seg) } : reduceWgsl(s.reduce, s.wg, s.sgMin, 2);
  const sum = (x: string, slot: number) => (s.seg ? `segSum(${x})` : `wgSum(${x}, ${slot}u)`);
  const rpg = s.seg ? s.wg / s.seg : 1;
  const stride = s.seg || s.wg;
  const dts = [...s.inTypes, ...s.outTypes, ...(s.qNorm ? [s.qNorm] : []), ...(s.kNorm ? [s.kNorm] : [])];
  const v2 = (t: DType) => `vec2<${t}>`;
  const lines: string[] = [];
  let b = 0;
  const bind = (name: string, type: string, rw = false) =>
    lines.push(`@group(0) @binding(${b++}) var<storage, ${rw ? 'read_write' : 'read'}> ${name}: array<${type}>;`);
  if (s.fused) bind('qkv', v2(s.inTypes[0]));
  else ['qin', 'kin', 'vin'].forEach((n, i) => bind(n, v2(s.inTypes[i])));
  ['qout', 'kout', 'vout'].forEach((n, i) => bind(n, v2(s.outTypes[i]), true));
  if (s.qNorm) bind('qw', v2(s.qNorm));
  if (s.kNorm) bind('kw', v2(s.kNorm));
  if (s.rope) { bind('cosT', 'f32'); bind('sinT', 'f32'); }
  lines.push(`@group(0) @binding(${b++}) var<uniform> p: Params;`);
  // Input pair index of pair j of head h of token t for q (which = 0), k (1), v (2).
  const src = s.fused
    ? (which: number) => `qkv[(tok * 3u + ${which}u) * p.hd2 + h * HALF + j]`
    : (which: number) => `${['qin', 'kin', 'vin'][which]}[tok * p.hd2 + h * HALF + j]`;
  const loop = (body: string) => `for (var k = 0u; k < ${s.per}u; k++) { let j = e + k * ${stride}u; if (valid && j < HALF) { ${body} } }`;
  const prologue = s.seg
    ? `let gw = ${LINEAR_WG};
  if (gw * ${rpg}u >= p.n) { return; }
  // Full subgroups (wg is a multiple of every subgroup size): sid * size + lane enumerates 0..wg-1, and the seg
  // lanes of one head are adjacent lanes of one subgroup.
  let slot = sg_id * sg_size + sg_lane;
  let gRaw = gw * ${rpg}u + slot / ${s.seg}u;
  let e = slot % ${s.seg}u;
  let valid = gRaw < p.n;
  let g = min(gRaw, p.n - 1u);`
    : `let g = ${LINEAR_WG};
  if (g >= p.n) { return; }
  let e = lid;
  let valid = true;`;
  const rot = s.rope
    ? `let ri = ropeRow * HALF + j; let c = cosT[ri]; let sn = sinT[ri];
       qv = vec2<f32>(c * qv.x - sn * qv.y, sn * qv.x + c * qv.y);
       kv = vec2<f32>(c * kv.x - sn * kv.y, sn * kv.x + c * kv.y);`
    : '';
  return `${enables(dts, s.reduce === 'subgroup')}
struct Params { n: u32, L: u32, H: u32, hd2: u32, Ltot: u32, seqOffset: u32, eps: f32 }
${lines.join('\n')}
const D: u32 = ${s.D}u;
const HALF: u32 = ${s.D / 2}u;
${r.fns}
@compute @workgroup_size(${s.wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32${r.args}) {
  ${r.init}
  ${prologue}
  let h = g % p.H;
  let tok = g / p.H;          // b * L + l
  let l = tok % p.L;
  let bIdx = tok / p.L;
  let ropeRow = p.seqOffset + l;
  let dst = ((bIdx * p.H + h) * p.Ltot + ropeRow) * HALF;
  var qs: array<vec2<f32>, ${s.per}>;
  var ks: array<vec2<f32>, ${s.per}>;
  var qss = 0.0;
  var kss = 0.0;
  ${loop(`let qv = vec2<f32>(${src(0)}); let kv = vec2<f32>(${src(1)}); qs[k] = qv; ks[k] = kv;
    qss += dot(qv, qv); kss += dot(kv, kv);
    vout[dst + j] = ${v2(s.outTypes[2])}(vec2<f32>(${src(2)}));`)}
  ${s.qNorm ? `let qr = inverseSqrt(${sum('qss', 0)} / f32(D) + p.eps);` : ''}
  ${s.kNorm ? `let kr = inverseSqrt(${sum('kss', 1)} / f32(D) + p.eps);` : ''}
  ${loop(`var qv = qs[k]; var kv = ks[k];
    ${s.qNorm ? 'qv = qv * qr * vec2<f32>(qw[j]);' : ''}
    ${s.kNorm ? 'kv = kv * kr * vec2<f32>(kw[j]);' : ''}
    ${rot}
    qout[dst + j] = ${v2(s.outTypes[0])}(qv);
    kout[dst + j] = ${v2(s.outTypes[1])}(kv);`)}
}
`;
}

export interface QkvPrepCommon {
  /** Destinations [B, H, Ltotal, D]; rows seqOffset .. seqOffset + L - 1 are written. */
  q: TensorView;
  k: TensorView;
  v: TensorView;
  seqOffset: number;
  /** Per-head RMSNorm weights [D] (FLUX QKNorm query_norm.scale / key_norm.scale); omitted = no norm. */
  qNormWeight?: TensorView;
  kNormWeight?: TensorView;
  /** RoPE tables [Ltotal, D/2] f32 (rope.ts fluxRopeTable), row seqOffset + l for token l; omitted = no RoPE. */
  ropeCos?: TensorView;
  ropeSin?: TensorView;
  /** RMSNorm epsilon (FLUX and SD3.5 use 1e-6). */
  eps?: number;
  reduce?: ReduceMode;
}

export interface QkvPrepArgs extends QkvPrepCommon {
  /** [B, L, 3*H*D]: the fused QKV linear output, laid out (3, H, D) along the last dim as FLUX's rearrange
   * "B L (K H D) -> K B H L D" expects. */
  qkv: TensorView;
}

export interface QkvPrepSeparateArgs extends QkvPrepCommon {
  /** Separate projections [B, L, H*D] each (diffusers SD3, T5, CLIP). */
  qIn: TensorView;
  kIn: TensorView;
  vIn: TensorView;
}

async function launchPrep(ctx: GpuContext, op: string, a: QkvPrepCommon, inputs: [string, TensorView][], fused: boolean): Promise<KernelCall> {
  for (const [n, t] of [['q', a.q], ['k', a.k], ['v', a.v]] as const) {
    expectPositiveShape(op, n, t.shape);
    if (t.shape.length !== 4) throw new Error(`${op}: '${n}' has shape [${t.shape}] but [B, H, Ltotal, D] is required`);
  }
  const [B, H, Ltot, D] = a.q.shape;
  expectShape(op, 'k', a.k, a.q.shape);
  expectShape(op, 'v', a.v, a.q.shape);
  if (D % 2 !== 0) throw new Error(`${op}: head dim D = ${D} must be even (pairs of elements are processed together)`);
  const first = inputs[0][1];
  expectPositiveShape(op, inputs[0][0], first.shape);
  if (first.shape.length !== 3 || first.shape[0] !== B) {
    throw new Error(`${op}: '${inputs[0][0]}' has shape [${first.shape}] but [${B}, L, ${fused ? 3 * H * D : H * D}] is required`);
  }
  const L = first.shape[1];
  for (const [n, t] of inputs) expectShape(op, n, t, [B, L, fused ? 3 * H * D : H * D]);
  if (!Number.isInteger(a.seqOffset) || a.seqOffset < 0 || a.seqOffset + L > Ltot) {
    throw new Error(`${op}: seqOffset ${a.seqOffset} + L ${L} exceeds the destination sequence length ${Ltot}`);
  }
  if (a.qNormWeight) expectShape(op, 'qNormWeight', a.qNormWeight, [D]);
  if (a.kNormWeight) expectShape(op, 'kNormWeight', a.kNormWeight, [D]);
  if (!!a.ropeCos !== !!a.ropeSin) throw new Error(`${op}: pass both ropeCos and ropeSin, or neither`);
  if (a.ropeCos) expectShape(op, 'ropeCos', a.ropeCos, [Ltot, D / 2], 'f32');
  if (a.ropeSin) expectShape(op, 'ropeSin', a.ropeSin, [Ltot, D / 2], 'f32');
  const eps = a.eps ?? 1e-6;
  if (!(eps >= 0) || !Number.isFinite(eps)) throw new Error(`${op}: eps must be a finite number >= 0, got ${eps}`);
  const all: [string, TensorView | undefined][] = [...inputs, ['q', a.q], ['k', a.k], ['v', a.v],
    ['qNormWeight', a.qNormWeight], ['kNormWeight', a.kNormWeight], ['ropeCos', a.ropeCos], ['ropeSin', a.ropeSin]];
  for (const [n, t] of all) if (t) expectBindable(ctx, op, n, t);
  // Outputs are written in place of nothing: they must be disjoint from each other and from every input.
  for (const [on, ot] of [['q', a.q], ['k', a.k], ['v', a.v]] as const) {
    for (const [n, t] of all) {
      if (t && n !== on && overlaps(ot, t)) throw new Error(`${op}: '${on}' overlaps '${n}'; destinations must be disjoint from each other and the inputs`);
    }
  }
  const half = D / 2;
  const reduce = reduceMode(ctx, a.reduce);
  const sgMin = ctx.caps.subgroupMinSize;
  // Short heads (FLUX/SD3 D = 64, 128): several heads per 256-lane workgroup, seg lanes each, shuffle reductions.
  const useSeg = reduce === 'subgroup' && sgMin >= 4 && half <= 4 * sgMin;
  const seg = useSeg ? Math.min(pow2Clamp(half, 1, sgMin), sgMin) : 0;
  const wg = useSeg ? 256 : pow2Clamp(half, 32, 64);
  const spec: PrepSpec = {
    fused, D, wg, per: Math.ceil(half / (seg || wg)), seg, inTypes: inputs.map(([, t]) => t.dtype), outTypes: [a.q.dtype, a.k.dtype, a.v.dtype],
    qNorm: a.qNormWeight?.dtype, kNorm: a.kNormWeight?.dtype, rope: !!a.ropeCos, reduce, sgMin,
  };
  const n = B * L * H;
  const res: (TensorView | GPUBuffer)[] = [...inputs.map(([, t]) => t), a.q, a.k, a.v];
  if (a.qNormWeight) res.push(a.qNormWeight);
  if (a.kNormWeight) res.push(a.kNormWeight);
  if (a.ropeCos && a.ropeSin) res.push(a.ropeCos, a.ropeSin);
  expectStorageBindings(ctx, op, res.length);
  const params = paramsBuffer(ctx, [
    { u32: n }, { u32: L }, { u32: H }, { u32: H * half }, { u32: Ltot }, { u32: a.seqOffset }, { f32: eps },
  ], `${op}.params`);
  res.push(params);
  const pipeline = await ctx.pipeline(`qkvPrep:${JSON.stringify(spec)}`, prepWgsl(spec));
  const elems = 3 * n * D;
  const bpe = (d: DType) => (d === 'f16' ? 2 : 4);
  return {
    label: op,
    pipeline,
    bindGroup: bindGroup(ctx, pipeline, res, op),
    workgroups: grid1d(seg ? Math.ceil(n / (wg / seg)) : n, ctx.caps.limits.maxComputeWorkgroupsPerDimension),
    flops: 12 * n * D,
    bytes: elems * (bpe(first.dtype) + bpe(a.q.dtype)) + (a.ropeCos ? 8 * L * half : 0),
  };
}

/** Fused QKV [B, L, 3*H*D] -> q, k, v [B, H, Ltotal, D] at seqOffset, with optional per-head RMSNorm and RoPE. */
export async function qkvPrep(ctx: GpuContext, a: QkvPrepArgs): Promise<KernelCall> {
  return launchPrep(ctx, 'qkvPrep', a, [['qkv', a.qkv]], true);
}

/** Separate q, k, v [B, L, H*D] -> [B, H, Ltotal, D] at seqOffset, with optional per-head RMSNorm and RoPE. */
export async function qkvPrepSeparate(ctx: GpuContext, a: QkvPrepSeparateArgs): Promise<KernelCall> {
  return launchPrep(ctx, 'qkvPrepSeparate', a, [['qIn', a.qIn], ['kIn', a.kIn], ['vIn', a.vIn]], false);
}
