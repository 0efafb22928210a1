// Elementwise kernels: activations (SiLU, GELU tanh/erf, QuickGELU, scale), binary ops with broadcasting of the
// second operand along leading dimensions (bias / positional-embedding adds), and a*alpha + b*beta (the sampler's
// Euler step x + dt*v and the CFG combine). f32 math whatever the storage dtypes; each input and the output may be
// f16 or f32 independently (the FLUX residual stream is f32, branch outputs f16). Each invocation handles one
// vec4/vec2/scalar: the widest that divides every element count, so there is never a tail to special-case.
// In place: `out` may be the very same view as an input; that input is then read through out's read_write
// binding, because WebGPU forbids binding one range both read-only and read-write in a dispatch.
import type { GpuContext } from '../gpu/context.js';
import { DTYPE_BYTES, type DType, type KernelCall, type TensorView, bindGroup, expectShape, grid1d, numel, paramsBuffer } from '../gpu/kernel.js';
import { LINEAR_WG, type VecWidth, enables, expectBindable, expectPositiveShape, inPlaceIndex, vecType, vecWidth } from './wgsl-util.js';

export type UnaryOp = 'silu' | 'gelu_tanh' | 'gelu_erf' | 'quick_gelu' | 'scale';
export type BinaryOp = 'add' | 'mul' | 'sub';

const WG = 256;

/** f32 expressions of the vector `a` (and `b`), with `p.alpha`/`p.beta` available. */
const UNARY_EXPR: Record<UnaryOp, string> = {
  silu: 'a / (1.0 + exp(-a))',
  // tanh's argument is clamped: tanh(+-10) is +-1 in f32 and some GPUs return NaN for huge arguments.
  gelu_tanh: '0.5 * a * (1.0 + tanh(clamp(0.7978845608028654 * (a + 0.044715 * a * a * a), VF(-10.0), VF(10.0))))',
  gelu_erf: '0.5 * a * (1.0 + erf_approx(a * 0.7071067811865476))',
  quick_gelu: 'a / (1.0 + exp(-1.702 * a))',
  scale: 'p.alpha * a',
};

const BINARY_EXPR: Record<BinaryOp | 'axpby', string> = {
  add: 'a + b',
  mul: 'a * b',
  sub: 'a - b',
  axpby: 'p.alpha * a + p.beta * b',
};

// WGSL has no erf: Abramowitz & Stegun 7.1.26, |error| <= 1.5e-7, below f32 GELU's own rounding at these scales.
const ERF_WGSL = `
fn erf_approx(x: VF) -> VF {
  let s = sign(x);
  let z = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * z);
  let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return s * (1.0 - poly * exp(-z * z));
}`;

interface EwSpec {
  expr: string;
  v: VecWidth;
  aType: DType;
  bType?: DType;
  outType: DType;
  /** Which input reads through the out binding (in place), if any. */
  aIsOut: boolean;
  bIsOut: boolean;
  broadcastB: boolean;
  needsErf: boolean;
}

function ewWgsl(s: EwSpec): string {
  const dts = [s.aType, s.outType, ...(s.bType ? [s.bType] : [])];
  const lines: string[] = [];
  let k = 0;
  lines.push(`@group(0) @binding(${k++}) var<storage, read_write> outs: array<${vecType(s.outType, s.v)}>;`);
  if (!s.aIsOut) lines.push(`@group(0) @binding(${k++}) var<storage, read> ina: array<${vecType(s.aType, s.v)}>;`);
  if (s.bType && !s.bIsOut) lines.push(`@group(0) @binding(${k++}) var<storage, read> inb: array<${vecType(s.bType, s.v)}>;`);
  lines.push(`@group(0) @binding(${k++}) var<uniform> p: Params;`);
  const loadA = `VF(${s.aIsOut ? 'outs' : 'ina'}[i])`;
  const bIndex = s.broadcastB ? 'i % p.nb' : 'i';
  const loadB = s.bType ? `let b = VF(${s.bIsOut ? 'outs' : 'inb'}[${bIndex}]);` : '';
  return `${enables(dts)}
alias VF = ${vecType('f32', s.v)};
struct Params { n: u32, nb: u32, alpha: f32, beta: f32 }
${lines.join('\n')}
${s.needsErf ? ERF_WGSL : ''}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (${LINEAR_WG}) * ${WG}u + lid;
  if (i >= p.n) { return; }
  let a = ${loadA};
  ${loadB}
  outs[i] = ${vecType(s.outType, s.v)}(${s.expr});
}
`;
}

async function launchEw(
  ctx: GpuContext,
  op: string,
  expr: string,
  a: TensorView,
  b: TensorView | undefined,
  out: TensorView,
  alpha: number,
  beta: number,
): Promise<KernelCall> {
  expectPositiveShape(op, 'a', a.shape);
  expectShape(op, 'out', out, a.shape);
  const n = numel(a.shape);
  let nb = 0;
  if (b) {
    expectPositiveShape(op, 'b', b.shape);
    nb = numel(b.shape);
    if (nb > n || n % nb !== 0) {
      throw new Error(`${op}: 'b' has shape [${b.shape}] (${nb} elements), which does not broadcast onto 'a' [${a.shape}]: ` +
        `b must have the same number of elements or repeat a whole number of times along a's leading dimensions`);
    }
    // b repeats every nb elements, so its shape must equal a trailing part of a's shape (ignoring leading 1s).
    let lead = 0;
    while (lead < b.shape.length - 1 && b.shape[lead] === 1) lead++;
    const bs = b.shape.slice(lead);
    const tail = a.shape.slice(a.shape.length - bs.length);
    if (bs.length > a.shape.length || !bs.every((d, i) => d === tail[i])) {
      throw new Error(`${op}: 'b' has shape [${b.shape}] but must match the trailing dimensions of 'a' [${a.shape}] to broadcast`);
    }
  }
  for (const [nm, t] of [['a', a], ['b', b], ['out', out]] as const) if (t) expectBindable(ctx, op, nm, t);
  // Out may be a and/or b exactly; any other overlap is an error.
  const aIsOut = inPlaceIndex(op, out, [['a', a]]) === 0;
  const bIsOut = b ? inPlaceIndex(op, out, [['b', b]]) === 0 : false;
  const v = b ? vecWidth(n, nb) : vecWidth(n);
  const spec: EwSpec = {
    expr, v, aType: a.dtype, bType: b?.dtype, outType: out.dtype, aIsOut, bIsOut,
    broadcastB: !!b && nb !== n, needsErf: expr.includes('erf_approx'),
  };
  const pipeline = await ctx.pipeline(`elementwise:${JSON.stringify(spec)}`, ewWgsl(spec));
  const params = paramsBuffer(ctx, [{ u32: n / v }, { u32: Math.max(1, nb / v) }, { f32: alpha }, { f32: beta }], `${op}.params`);
  const resources: (TensorView | GPUBuffer)[] = [out];
  if (!aIsOut) resources.push(a);
  if (b && !bIsOut) resources.push(b);
  resources.push(params);
  const groups = Math.ceil(n / v / WG);
  return {
    label: op,
    pipeline,
    bindGroup: bindGroup(ctx, pipeline, resources, op),
    workgroups: grid1d(groups, ctx.caps.limits.maxComputeWorkgroupsPerDimension),
    flops: n * (b ? 2 : 8),
    bytes: n * (DTYPE_BYTES[a.dtype] + DTYPE_BYTES[out.dtype]) + (b ? nb * DTYPE_BYTES[b.dtype] : 0),
  };
}

export interface UnaryArgs {
  x: TensorView;
  out: TensorView;
  op: UnaryOp;
  /** Multiplier for op 'scale'. */
  alpha?: number;
}

/** out = op(x). GELU variants: 'gelu_tanh' (FLUX/SD3 MLPs, T5 gated-gelu), 'gelu_erf' (exact), 'quick_gelu' (CLIP). */
export async function unary(ctx: GpuContext, a: UnaryArgs): Promise<KernelCall> {
  const expr = UNARY_EXPR[a.op];
  if (!expr) throw new Error(`unary: unknown op '${a.op}'; use one of ${Object.keys(UNARY_EXPR).join(', ')}`);
  if (a.op === 'scale' && (a.alpha === undefined || !Number.isFinite(a.alpha))) throw new Error(`unary: op 'scale' needs a finite alpha`);
  return launchEw(ctx, `unary.${a.op}`, expr, a.x, undefined, a.out, a.alpha ?? 1, 0);
}

export interface BinaryArgs {
  a: TensorView;
  /** Same element count as a, or fewer: b then repeats every numel(b) elements (broadcast along a's leading dims). */
  b: TensorView;
  out: TensorView;
  op: BinaryOp;
}

/** out = a (op) b, with b broadcast along a's leading dimensions when it is smaller. out may be a or b (in place). */
export async function binary(ctx: GpuContext, a: BinaryArgs): Promise<KernelCall> {
  const expr = BINARY_EXPR[a.op];
  if (!expr || a.op === ('axpby' as BinaryOp)) throw new Error(`binary: unknown op '${a.op}'; use add, mul or sub`);
  return launchEw(ctx, `binary.${a.op}`, expr, a.a, a.b, a.out, 1, 0);
}

export interface AddScaledArgs {
  a: TensorView;
  b: TensorView;
  out: TensorView;
  alpha: number;
  beta: number;
}

/**
 * out = a * alpha + b * beta (b may broadcast like binary's). The sampler's Euler step x + dt * v and the CFG
 * combine uncond + g * (cond - uncond) = (1 - g) * uncond + g * cond. In place allowed (out === a).
 * alpha/beta are baked into a uniform at build time: a step whose dt changes needs its own call (cheap).
 */
export async function addScaled(ctx: GpuContext, a: AddScaledArgs): Promise<KernelCall> {
  if (!Number.isFinite(a.alpha) || !Number.isFinite(a.beta)) throw new Error(`addScaled: alpha and beta must be finite, got ${a.alpha}, ${a.beta}`);
  return launchEw(ctx, 'addScaled', BINARY_EXPR.axpby, a.a, a.b, a.out, a.alpha, a.beta);
}
