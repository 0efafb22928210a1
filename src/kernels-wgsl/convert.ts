// Dtype conversion on the GPU, for checkpoint loading: bf16 (FLUX/SD3 release format) or f32 -> f16, and any
// of them -> f32. 16-bit sources are read as packed u32 words (two elements each; bf16 is the top half of an
// f32, so widening is a shift). Odd element counts take the one-element-per-invocation path.
//
// Saturation: values beyond f16's range (|x| > 65504) become +-65504 instead of +-inf. FLUX's weights are
// small, but one inf in a weight poisons every activation it touches (inf * 0 = NaN) and yields a black image
// with no error; a clamped outlier costs a little accuracy in one weight. Pass `saturatedCount` to learn how
// many were clamped (the weight loader can warn). NaN inputs are not guaranteed to stay NaN (GPU clamp).
import type { GpuContext } from '../gpu/context.js';
import { DTYPE_BYTES, type DType, type KernelCall, type TensorView, bindGroup, grid1d, numel, paramsBuffer } from '../gpu/kernel.js';
import { LINEAR_WG, type VecWidth, enables, expectBindable, overlaps, vecType } from './wgsl-util.js';

export type SourceFormat = 'bf16' | 'f16' | 'f32';

const WG = 256;
const F16_MAX = 65504;

interface ConvertSpec {
  from: SourceFormat;
  to: DType;
  v: 1 | 4;
  count: boolean;
}

function convertWgsl(s: ConvertSpec): string {
  const dtypes: DType[] = [s.to, ...(s.from === 'f16' ? (['f16'] as DType[]) : [])];
  const vf = vecType('f32', s.v as VecWidth);
  let srcDecl: string;
  let load: string;
  if (s.from === 'f32') {
    srcDecl = `array<${vf}>`;
    load = 'let x = src[i];';
  } else {
    const widen = (w: string) => s.from === 'f16' ? `unpack2x16float(${w})` : `vec2<f32>(bitcast<f32>(${w} << 16u), bitcast<f32>(${w} & 0xffff0000u))`;
    if (s.v === 4) {
      srcDecl = 'array<vec2<u32>>';
      load = `let w = src[i]; let lo = ${widen('w.x')}; let hi = ${widen('w.y')}; let x = vec4<f32>(lo, hi);`;
    } else {
      srcDecl = 'array<u32>';
      load = `let w = src[i >> 1u]; let pair = ${widen('w')}; let x = select(pair.x, pair.y, (i & 1u) == 1u);`;
    }
  }
  const sat = s.to === 'f16';
  const over = s.v === 4 ? 'dot(select(vec4<u32>(0u), vec4<u32>(1u), abs(x) > vec4<f32>(F16_MAX)), vec4<u32>(1u))' : 'select(0u, 1u, abs(x) > F16_MAX)';
  return `${enables(dtypes)}
const F16_MAX: f32 = ${F16_MAX}.0;
struct Params { n: u32 }
@group(0) @binding(0) var<storage, read> src: ${srcDecl};
@group(0) @binding(1) var<storage, read_write> dst: array<${vecType(s.to, s.v as VecWidth)}>;
@group(0) @binding(2) var<uniform> p: Params;
${s.count ? '@group(0) @binding(3) var<storage, read_write> saturated: array<atomic<u32>>;' : ''}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (${LINEAR_WG}) * ${WG}u + lid;
  if (i >= p.n) { return; }
  ${load}
  ${s.count && sat ? `let c = ${over}; if (c > 0u) { atomicAdd(&saturated[0], c); }` : ''}
  dst[i] = ${vecType(s.to, s.v as VecWidth)}(${sat ? `clamp(x, ${vf}(-F16_MAX), ${vf}(F16_MAX))` : 'x'});
}
`;
}

export interface ConvertArgs {
  /** Source data. For bf16 pass the raw 16-bit data as a view with dtype 'f16' and srcFormat 'bf16'. */
  src: TensorView;
  /** How to interpret src's bytes; defaults to src.dtype. */
  srcFormat?: SourceFormat;
  /** f16 or f32, same number of elements as src (the shape may differ: a reshape is free). */
  dst: TensorView;
  /** Optional u32 buffer (offset 0, zeroed by the caller) that accumulates how many values were clamped to +-65504. */
  saturatedCount?: GPUBuffer;
}

export async function convert(ctx: GpuContext, a: ConvertArgs): Promise<KernelCall> {
  const op = 'convert';
  if (a.src.dtype === 'u32' || a.src.dtype === 'i32' || a.dst.dtype === 'u32' || a.dst.dtype === 'i32') {
    throw new Error(`${op}: converts float data only (got ${a.src.dtype} -> ${a.dst.dtype})`);
  }
  const from: SourceFormat = a.srcFormat ?? a.src.dtype;
  if (from === 'bf16' && a.src.dtype !== 'f16') {
    throw new Error(`${op}: bf16 data must be passed as a 2-byte view (dtype 'f16' + srcFormat 'bf16'), got dtype ${a.src.dtype}`);
  }
  if (from !== 'bf16' && from !== a.src.dtype) throw new Error(`${op}: srcFormat '${from}' does not match src dtype ${a.src.dtype}`);
  if (!['bf16', 'f16', 'f32'].includes(from)) throw new Error(`${op}: unknown srcFormat '${from}'`);
  const n = numel(a.src.shape);
  if (!(n > 0) || !a.src.shape.every((d) => Number.isInteger(d) && d > 0)) throw new Error(`${op}: 'src' has invalid shape [${a.src.shape}]`);
  if (numel(a.dst.shape) !== n) throw new Error(`${op}: 'dst' [${a.dst.shape}] has ${numel(a.dst.shape)} elements but 'src' [${a.src.shape}] has ${n}`);
  expectBindable(ctx, op, 'src', a.src);
  expectBindable(ctx, op, 'dst', a.dst);
  if (overlaps(a.src, a.dst)) throw new Error(`${op}: src and dst overlap; convert into a separate buffer`);
  const v: 1 | 4 = n % 4 === 0 ? 4 : 1;
  const spec: ConvertSpec = { from, to: a.dst.dtype, v, count: !!a.saturatedCount && a.dst.dtype === 'f16' };
  const pipeline = await ctx.pipeline(`convert:${JSON.stringify(spec)}`, convertWgsl(spec));
  const threads = n / v;
  const params = paramsBuffer(ctx, [{ u32: threads }], `${op}.params`);
  // bindGroup binds each view's bytes rounded up to 4 (16-bit odd counts: the last word is half padding); the
  // saturation counter binds as a one-word view.
  const resources: (TensorView | GPUBuffer)[] = [a.src, a.dst, params];
  if (spec.count && a.saturatedCount) resources.push({ buffer: a.saturatedCount, offset: 0, shape: [1], dtype: 'u32' });
  return {
    label: op,
    pipeline,
    bindGroup: bindGroup(ctx, pipeline, resources, op),
    workgroups: grid1d(Math.ceil(threads / WG), ctx.caps.limits.maxComputeWorkgroupsPerDimension),
    flops: 0,
    bytes: n * (DTYPE_BYTES[a.src.dtype] + DTYPE_BYTES[a.dst.dtype]),
  };
}
