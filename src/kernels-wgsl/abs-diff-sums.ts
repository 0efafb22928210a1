// The first-block cache's change statistic, reduced on the GPU so a step reads back a few KiB instead of the
// image stream: per workgroup w, the partial sums  Σ|a_i - b_i|  and  Σ|b_i|  over the elements it visits
// (i = w*WG + lid + k*G*WG). The host adds the G partials in float64 (absDiffRatio):
//   change = Σ|a - b| / Σ|b|   (= mean|a - b| / mean|b|, the relative L1 distance diffusers' and ParaAttention's
//   first-block caches compare with their threshold).
// Shapes: a, b [...] f16 or f32 (same element count), out [G, 2] f32 with G = absDiffGroups(numel). Each invocation
// accumulates ~numel / (G*WG) values in f32 before the workgroup tree: at FLUX.1 1024² (12.6 M values) 48 each.
import type { GpuContext } from '../gpu/context.js';
import { type KernelCall, type TensorView, bindGroup, byteSize, numel, paramsBuffer } from '../gpu/kernel.js';
import { enables, expectBindable, overlaps, reduceMode, reduceWgsl } from './wgsl-util.js';

const WG = 256;
/** At most this many workgroups: the partials stay small (8 KiB) and every workgroup has real work. */
const MAX_GROUPS = 1024;

/** Workgroups (rows of the partial-sum output) for n elements. */
export function absDiffGroups(n: number): number {
  return Math.max(1, Math.min(MAX_GROUPS, Math.ceil(n / (WG * 16))));
}

export interface AbsDiffSumsArgs {
  a: TensorView;
  b: TensorView;
  /** [absDiffGroups(numel), 2] f32: per workgroup (Σ|a - b|, Σ|b|). */
  out: TensorView;
  label?: string;
}

function absDiffWgsl(aType: 'f16' | 'f32', bType: 'f16' | 'f32', access: { a: string; b: string }, mode: 'subgroup' | 'workgroup', sgMin: number): string {
  const r = reduceWgsl(mode, WG, sgMin, 2);
  return `${enables([aType, bType], mode === 'subgroup')}
struct Params { n: u32, groups: u32 }
@group(0) @binding(0) var<storage, ${access.a}> A: array<${aType}>;
@group(0) @binding(1) var<storage, ${access.b}> B: array<${bType}>;
@group(0) @binding(2) var<storage, read_write> OUT: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
${r.fns}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32${r.args}) {
  ${r.init}
  var diff = 0.0;
  var base = 0.0;
  for (var i = wid.x * ${WG}u + lid; i < p.n; i += p.groups * ${WG}u) {
    let x = f32(A[i]);
    let y = f32(B[i]);
    diff += abs(x - y);
    base += abs(y);
  }
  // Every invocation reaches both reductions (they contain barriers).
  let d = wgSum(diff, 0u);
  let s = wgSum(base, 1u);
  if (lid == 0u) {
    OUT[wid.x * 2u] = d;
    OUT[wid.x * 2u + 1u] = s;
  }
}
`;
}

/** out[w] = (Σ|a - b|, Σ|b|) over workgroup w's elements; see the file comment. */
export async function absDiffSums(ctx: GpuContext, args: AbsDiffSumsArgs): Promise<KernelCall> {
  const op = `abs_diff_sums${args.label ? ` '${args.label}'` : ''}`;
  const { a, b, out } = args;
  for (const [n, t] of [['a', a], ['b', b]] as const) {
    if (t.dtype !== 'f16' && t.dtype !== 'f32') throw new Error(`${op}: '${n}' is ${t.dtype} but must be f16 or f32`);
  }
  const n = numel(a.shape);
  if (n < 1) throw new Error(`${op}: 'a' is empty`);
  if (numel(b.shape) !== n) throw new Error(`${op}: 'a' [${a.shape}] and 'b' [${b.shape}] must hold the same number of elements`);
  const G = absDiffGroups(n);
  if (out.dtype !== 'f32' || out.shape.join() !== `${G},2`) throw new Error(`${op}: 'out' is [${out.shape}] ${out.dtype} but [${G}, 2] f32 is required (absDiffGroups(${n}))`);
  for (const [name, t] of [['a', a], ['b', b], ['out', out]] as const) expectBindable(ctx, op, name, t);
  if (overlaps(out, a) || overlaps(out, b)) throw new Error(`${op}: 'out' must not overlap 'a' or 'b'`);
  // An input in the output's buffer (graph arenas) is bound read_write: WebGPU forbids one buffer bound read-only
  // and read-write in one dispatch, even for disjoint ranges. a and b may share a buffer (both read-only).
  const access = { a: a.buffer === out.buffer ? 'read_write' : 'read', b: b.buffer === out.buffer ? 'read_write' : 'read' };
  if (a.buffer === b.buffer && access.a !== access.b) access.a = access.b = 'read_write';
  const mode = reduceMode(ctx);
  const pipeline = await ctx.pipeline(
    `abs-diff-sums:${a.dtype}:${b.dtype}:${access.a}:${access.b}:${mode}:${ctx.caps.subgroupMinSize}`,
    absDiffWgsl(a.dtype as 'f16' | 'f32', b.dtype as 'f16' | 'f32', access, mode, ctx.caps.subgroupMinSize),
  );
  const pbuf = paramsBuffer(ctx, [{ u32: n }, { u32: G }], `${op}:params`);
  return {
    label: args.label ?? 'abs_diff_sums',
    pipeline,
    bindGroup: bindGroup(ctx, pipeline, [a, b, out, pbuf], op),
    workgroups: [G, 1, 1],
    flops: 0,
    bytes: byteSize(a) + byteSize(b) + G * 8,
  };
}

/** Σ|a - b| / Σ|b| from the partial sums (float64); Infinity when Σ|b| is 0 and a differs, 0 when both are 0. */
export function absDiffRatio(partials: ArrayLike<number>): number {
  let d = 0;
  let s = 0;
  for (let i = 0; i + 1 < partials.length; i += 2) {
    d += partials[i];
    s += partials[i + 1];
  }
  if (!Number.isFinite(d) || !Number.isFinite(s)) return NaN;
  return s > 0 ? d / s : d > 0 ? Infinity : 0;
}
