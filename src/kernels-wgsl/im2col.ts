// im2col for the tensor-core conv path: x [B, H, W, Cin] f16 (channels-last) -> cols [rows, kh*kw*Cin] f16 for
// the output pixels [rowStart, rowStart + rows) of the flattened [B*Ho*Wo] output. Column order is
// (ky, kx, ci), matching packConv2dWeightForGemm's [Cout, kh*kw*Cin] weight, so conv = cols x W^T (linear()).
// Padding taps read as zero; upsampleInput reads x through a nearest 2x upsample (index >> 1), never materialised.
// Where Cin % 4 == 0 a thread moves 4 channels (one 8-byte load/store): all 4 share one tap, so one bounds check.
import type { GpuContext } from '../gpu/context.js';
import { bindGroup, grid1d, paramsBuffer, type KernelCall, type TensorView } from '../gpu/kernel.js';

export interface Im2colArgs {
  x: TensorView;
  /** f16 [rows, kernel*kernel*Cin] (a view into scratch). */
  cols: TensorView;
  kernel: number;
  stride: number;
  padTop: number;
  padLeft: number;
  upsampleInput: boolean;
  Ho: number;
  Wo: number;
  rowStart: number;
  label?: string;
}

function im2colSource(vec: 1 | 4): string {
  const V = vec === 4 ? 'vec4<f16>' : 'f16';
  return `enable f16;
alias V = ${V};
struct Params { H: u32, W: u32, Cin: u32, Ho: u32, Wo: u32, kernel: u32, stride: u32, padTop: i32, padLeft: i32,
  shift: u32, rowStart: u32, kv: u32, total: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<V>;
@group(0) @binding(2) var<storage, read_write> cols: array<V>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u; // index into cols in units of V
  if (i >= p.total) { return; }
  let r = i / p.kv;                 // chunk row
  let c = (i % p.kv) * ${vec}u;      // column: (ky * kernel + kx) * Cin + ci
  let ci = c % p.Cin;
  let tap = c / p.Cin;
  let ky = tap / p.kernel;
  let kx = tap % p.kernel;
  let m = p.rowStart + r;
  let hw = p.Ho * p.Wo;
  let b = m / hw;
  let rem = m % hw;
  let oy = rem / p.Wo;
  let ox = rem % p.Wo;
  // Coordinates in the (possibly upsampled) input the convolution sees.
  let iy = i32(oy * p.stride + ky) - p.padTop;
  let ix = i32(ox * p.stride + kx) - p.padLeft;
  let hs = i32(p.H << p.shift);
  let ws = i32(p.W << p.shift);
  var v = V(0.0);
  if (iy >= 0 && iy < hs && ix >= 0 && ix < ws) {
    let sy = u32(iy) >> p.shift;
    let sx = u32(ix) >> p.shift;
    v = x[(((b * p.H + sy) * p.W + sx) * p.Cin + ci) / ${vec}u];
  }
  cols[i] = v;
}
`;
}

export async function im2col(ctx: GpuContext, args: Im2colArgs): Promise<KernelCall> {
  const op = `im2col${args.label ? ` '${args.label}'` : ''}`;
  const { x, cols } = args;
  if (x.shape.length !== 4 || x.dtype !== 'f16') throw new Error(`${op}: 'x' must be f16 [B, H, W, Cin], got ${x.dtype} [${x.shape}]`);
  const [, H, W, Cin] = x.shape;
  const K = args.kernel * args.kernel * Cin;
  if (cols.shape.length !== 2 || cols.shape[1] !== K || cols.dtype !== 'f16') {
    throw new Error(`${op}: 'cols' must be f16 [rows, ${K}], got ${cols.dtype} [${cols.shape}]`);
  }
  const rows = cols.shape[0];
  const vec: 1 | 4 = Cin % 4 === 0 ? 4 : 1;
  const total = (rows * K) / vec;
  const pipeline = await ctx.pipeline(`im2col:v${vec}`, im2colSource(vec));
  const params = paramsBuffer(ctx, [
    { u32: H }, { u32: W }, { u32: Cin }, { u32: args.Ho }, { u32: args.Wo }, { u32: args.kernel }, { u32: args.stride },
    { i32: args.padTop }, { i32: args.padLeft }, { u32: args.upsampleInput ? 1 : 0 }, { u32: args.rowStart }, { u32: K / vec },
    { u32: total },
  ], `${op}-params`);
  return {
    label: args.label ?? 'im2col',
    pipeline,
    bindGroup: bindGroup(ctx, pipeline, [params, x, cols], args.label),
    workgroups: grid1d(Math.ceil(total / 256), ctx.caps.limits.maxComputeWorkgroupsPerDimension),
    flops: 0,
    bytes: rows * K * 4,
  };
}

/** [K, Cout] (conv2d's packed [kh, kw, Cin, Cout]) -> [Cout, K] (nn.Linear layout), f16. */
function transposeSource(): string {
  return `enable f16;
struct Params { K: u32, Cout: u32, n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f16>;
@group(0) @binding(2) var<storage, read_write> dst: array<f16>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u; // dst index: co * K + k
  if (i >= p.n) { return; }
  let co = i / p.K;
  let k = i % p.K;
  dst[i] = src[k * p.Cout + co];
}
`;
}

/**
 * Re-layout conv2d's packed weight [kh, kw, Cin, Cout] f16 into the GEMM weight [Cout, kh*kw*Cin] f16 whose K
 * order (ky, kx, ci) matches im2col's columns.
 */
export async function packConv2dWeightForGemm(ctx: GpuContext, args: { src: TensorView; dst: TensorView; label?: string }): Promise<KernelCall> {
  const op = 'packConv2dWeightForGemm';
  const { src, dst } = args;
  if (src.shape.length !== 4 || src.dtype !== 'f16') throw new Error(`${op}: 'src' must be f16 packed [kh, kw, Cin, Cout], got ${src.dtype} [${src.shape}]`);
  const [kh, kw, cin, cout] = src.shape;
  const K = kh * kw * cin;
  if (dst.shape.length !== 2 || dst.shape[0] !== cout || dst.shape[1] !== K || dst.dtype !== 'f16') {
    throw new Error(`${op}: 'dst' must be f16 [${cout}, ${K}], got ${dst.dtype} [${dst.shape}]`);
  }
  const n = cout * K;
  const pipeline = await ctx.pipeline('conv2d-pack-gemm', transposeSource());
  const params = paramsBuffer(ctx, [{ u32: K }, { u32: cout }, { u32: n }], `${op}-params`);
  return {
    label: args.label ?? op,
    pipeline,
    bindGroup: bindGroup(ctx, pipeline, [params, src, dst]),
    workgroups: grid1d(Math.ceil(n / 256), ctx.caps.limits.maxComputeWorkgroupsPerDimension),
    flops: 0,
    bytes: n * 4,
  };
}
