// Small pieces shared by the non-matmul kernels (norms, elementwise, softmax, RoPE, layout, conversion):
// vector-width choice, WGSL vector type names, workgroup reductions (subgroup and workgroup-memory flavours)
// and the aliasing checks WebGPU needs when an op runs in place.
import type { GpuContext } from '../gpu/context.js';
import { DTYPE_BYTES, type DType, type TensorView, numel } from '../gpu/kernel.js';

export type VecWidth = 1 | 2 | 4;

/** Largest width in {4,2,1} dividing every count: vector loads stay aligned and tails never straddle rows. */
export function vecWidth(...counts: number[]): VecWidth {
  if (counts.every((n) => n % 4 === 0)) return 4;
  if (counts.every((n) => n % 2 === 0)) return 2;
  return 1;
}

/** WGSL type of `v` lanes of scalar `s` (`f32`, `vec2<f16>`, ...). */
export function vecType(s: string, v: VecWidth): string {
  return v === 1 ? s : `vec${v}<${s}>`;
}

/** WGSL expression summing the lanes of an f32 vector expression. */
export function laneSum(expr: string, v: VecWidth): string {
  return v === 1 ? `(${expr})` : `dot(${expr}, vec${v}<f32>(1.0))`;
}

/** WGSL preamble for a float storage type: `enable f16;` where needed and the alias `T`. */
export function dtypePreamble(dtype: DType): string {
  return `${dtype === 'f16' ? 'enable f16;\n' : ''}alias T = ${dtype};\n`;
}

/** WGSL `enable` lines for the storage dtypes used by a kernel. */
export function enables(dtypes: readonly DType[], subgroups = false): string {
  return (dtypes.includes('f16') ? 'enable f16;\n' : '') + (subgroups ? 'enable subgroups;\n' : '');
}

export type ReduceMode = 'subgroup' | 'workgroup';

/** The reduction flavour for this adapter, unless a caller (tests, benchmarks) forces one. */
export function reduceMode(ctx: GpuContext, forced?: ReduceMode): ReduceMode {
  if (forced === 'subgroup' && !ctx.caps.subgroups) throw new Error(`reduce 'subgroup' was requested but the adapter has no subgroups`);
  return forced ?? (ctx.caps.subgroups ? 'subgroup' : 'workgroup');
}

/**
 * WGSL for workgroup-wide sum and max of one f32 per invocation: `wgSum(v, slot)` / `wgMax(v, slot)`.
 * `wg` must be a power of two. Each call site passes its own constant `slot` (0 .. slots-1): every reduction
 * owns a scratch region, so no trailing barrier is needed before the next one. Put `init` first in main, whose
 * parameters must include `@builtin(local_invocation_index) lid: u32` followed by `args`. Call from
 * workgroup-uniform control flow.
 *
 * Subgroup flavour (one barrier): subgroupAdd/Max per subgroup, the leaders store their partials, then each
 * subgroup re-reduces all partials with lane i taking partials i, i + size, ... (K of them, unrolled) and a
 * second subgroup op. The subgroup size is read from the builtin, never assumed (8 on lavapipe, 32 on NVIDIA);
 * `sgMin` (the adapter's minimum) only bounds K. `subgroup_id` is used rather than lid / size because Vulkan
 * does not promise that subgroups are contiguous ranges of local_invocation_index.
 * Loop-free on purpose: lavapipe JIT-compiles loops around barriers very slowly (~0.5 s per reduction).
 *
 * Workgroup-memory flavour: an unrolled tree, log2(wg) barriers.
 */
export function reduceWgsl(mode: ReduceMode, wg: number, sgMin: number, slots: number): { args: string; init: string; fns: string } {
  if ((wg & (wg - 1)) !== 0) throw new Error(`reduceWgsl: workgroup size ${wg} is not a power of two`);
  if (mode === 'subgroup') {
    const minSize = Math.max(4, sgMin || 4); // WebGPU's smallest subgroup size is 4
    const np = Math.max(1, Math.ceil(wg / minSize)); // max subgroups per workgroup
    const k = Math.ceil(np / minSize); // partials per lane in the second stage
    const fold = (op: 'Add' | 'Max') => {
      const identity = op === 'Add' ? '0.0' : '-3.4e38';
      const combine = op === 'Add' ? (x: string) => `t += ${x};` : (x: string) => `t = max(t, ${x});`;
      let body = '';
      for (let j = 0; j < k; j++) {
        body += `  { let i = r_lane + ${j}u * r_size; if (i < r_nsg) { ${combine(`r_scratch[min(slot * ${np}u + i, ${slots * np - 1}u)]`)} } }
`;
      }
      return `fn wg${op === 'Add' ? 'Sum' : 'Max'}(v: f32, slot: u32) -> f32 {
  let s = subgroup${op}(v);
  if (r_lane == 0u) { r_scratch[min(slot * ${np}u + r_sid, ${slots * np - 1}u)] = s; }
  workgroupBarrier();
  var t = ${identity};
${body}  return subgroup${op}(t);
}`;
    };
    return {
      args: ', @builtin(subgroup_id) r_sg_id: u32, @builtin(num_subgroups) r_sg_count: u32, ' +
        '@builtin(subgroup_invocation_id) r_sg_lane: u32, @builtin(subgroup_size) r_sg_size: u32',
      init: 'r_sid = r_sg_id; r_nsg = min(r_sg_count, ' + np + 'u); r_lane = r_sg_lane; r_size = r_sg_size;',
      fns: `
var<workgroup> r_scratch: array<f32, ${slots * np}>;
var<private> r_sid: u32;
var<private> r_nsg: u32;
var<private> r_lane: u32;
var<private> r_size: u32;
${fold('Add')}
${fold('Max')}
`,
    };
  }
  const tree = (name: string, comb: (a: string, b: string) => string) => {
    let body = '';
    for (let st = wg / 2; st >= 1; st /= 2) {
      body += `  if (r_lid < ${st}u) { r_scratch[o + r_lid] = ${comb('r_scratch[o + r_lid]', `r_scratch[o + r_lid + ${st}u]`)}; }
  workgroupBarrier();
`;
    }
    return `fn ${name}(v: f32, slot: u32) -> f32 {
  let o = min(slot, ${slots - 1}u) * ${wg}u;
  r_scratch[o + r_lid] = v;
  workgroupBarrier();
${body}  return r_scratch[o];
}`;
  };
  return {
    args: '',
    init: 'r_lid = lid;',
    fns: `
var<workgroup> r_scratch: array<f32, ${slots * wg}>;
var<private> r_lid: u32;
${tree('wgSum', (a, b) => `${a} + ${b}`)}
${tree('wgMax', (a, b) => `max(${a}, ${b})`)}
`,
  };
}

/**
 * `segSum(v)`: sum over aligned groups of `seg` adjacent lanes of a subgroup (seg a power of two dividing the
 * subgroup size) by subgroupShuffleXor butterflies: no barrier, no workgroup memory. Used by the short-row
 * layouts where several rows share a workgroup.
 */
export function segSumWgsl(seg: number): string {
  if (seg < 1 || (seg & (seg - 1)) !== 0) throw new Error(`segSumWgsl: seg ${seg} is not a power of two`);
  let body = '';
  for (let o = seg / 2; o >= 1; o /= 2) body += `  t += subgroupShuffleXor(t, ${o}u);\n`;
  return `fn segSum(v: f32) -> f32 {\n  var t = v;\n${body}  return t;\n}`;
}

/** WGSL builtins for the short-row layouts (append to main's parameters). */
export const SEG_ARGS = ', @builtin(subgroup_id) sg_id: u32, @builtin(subgroup_invocation_id) sg_lane: u32, @builtin(subgroup_size) sg_size: u32';

/** Reduction WGSL for a launch: picks the flavour and passes the adapter's minimum subgroup size. */
export function reduceFor(ctx: GpuContext, mode: ReduceMode, wg: number, slots: number): ReturnType<typeof reduceWgsl> {
  return reduceWgsl(mode, wg, ctx.caps.subgroupMinSize, slots);
}

/** Smallest power of two >= n, clamped to [lo, hi]. */
export function pow2Clamp(n: number, lo: number, hi: number): number {
  let p = lo;
  while (p < n && p < hi) p *= 2;
  return p;
}

function byteRange(t: TensorView): [number, number] {
  return [t.offset, t.offset + Math.ceil((numel(t.shape) * DTYPE_BYTES[t.dtype]) / 4) * 4];
}

/** True when two views are the same tensor (same buffer, offset, size): the in-place case. */
export function sameView(a: TensorView, b: TensorView): boolean {
  return a.buffer === b.buffer && a.offset === b.offset && numel(a.shape) * DTYPE_BYTES[a.dtype] === numel(b.shape) * DTYPE_BYTES[b.dtype];
}

/** True when the bound byte ranges of two views intersect. */
export function overlaps(a: TensorView, b: TensorView): boolean {
  if (a.buffer !== b.buffer) return false;
  const [a0, a1] = byteRange(a);
  const [b0, b1] = byteRange(b);
  return a0 < b1 && b0 < a1;
}

/**
 * Validates an output against the inputs: either exactly one of them (in place, handled with one read_write
 * binding, since WebGPU forbids binding a range read-only and read-write at once), or disjoint from all.
 * Returns the index of the input `out` aliases, or -1.
 */
export function inPlaceIndex(op: string, out: TensorView, inputs: readonly [string, TensorView][]): number {
  let found = -1;
  inputs.forEach(([name, t], i) => {
    if (!overlaps(out, t)) return;
    if (sameView(out, t) && out.dtype === t.dtype && found < 0) {
      found = i;
      return;
    }
    throw new Error(`${op}: 'out' partially overlaps '${name}' (or aliases it with another dtype); ` +
      `pass the identical view for in-place use or a disjoint output`);
  });
  return found;
}

/** Throws unless every dimension is a positive integer. */
export function expectPositiveShape(op: string, name: string, shape: readonly number[]): void {
  if (shape.length === 0 || !shape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new Error(`${op}: '${name}' has shape [${shape}]; every dimension must be a positive integer`);
  }
}

/** Throws when a view cannot be bound: misaligned offset, or over the adapter's maxStorageBufferBindingSize. */
export function expectBindable(ctx: GpuContext, op: string, name: string, t: TensorView): void {
  const align = ctx.caps.limits.minStorageBufferOffsetAlignment;
  if (t.offset % align !== 0) {
    throw new Error(`${op}: '${name}' starts at byte offset ${t.offset}, not a multiple of ${align} (minStorageBufferOffsetAlignment); ` +
      `allocate it at an aligned offset or copy it first`);
  }
  const bytes = numel(t.shape) * DTYPE_BYTES[t.dtype];
  if (bytes > ctx.caps.limits.maxStorageBufferBindingSize) {
    throw new Error(`${op}: '${name}' is ${bytes} bytes, over this adapter's maxStorageBufferBindingSize ` +
      `${ctx.caps.limits.maxStorageBufferBindingSize}; split the op into smaller pieces`);
  }
}

/** Throws when a kernel would bind more storage buffers than the adapter allows in one shader stage. */
export function expectStorageBindings(ctx: GpuContext, op: string, count: number): void {
  const max = ctx.caps.limits.maxStorageBuffersPerShaderStage;
  if (count > max) {
    throw new Error(`${op}: needs ${count} storage buffers but this adapter allows ${max} per shader stage; ` +
      `drop an optional input (e.g. fuse q/k/v into one qkv tensor) or split the op`);
  }
}

/** Linear workgroup id for 1-D grids spread by grid1d over x and y. */
export const LINEAR_WG = 'wid.x + wid.y * nwg.x';
