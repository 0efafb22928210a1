// Nearest-neighbour 2x upsample over channels-last [B, H, W, C] (diffusers Upsample2D's interpolate step).
// The VAE decoder can skip this kernel entirely: conv2d({ upsampleInput: true }) reads through the upsample
// without materialising the 4x-sized tensor. This standalone op exists for graphs that need the tensor itself.
import type { GpuContext } from '../gpu/context.js';
import { bindGroup, byteSize, expectShape, grid1d, numel, paramsBuffer, type DType, type KernelCall, type TensorView } from '../gpu/kernel.js';

const WG = 256;

function source(xDtype: DType, outDtype: DType, vec: 1 | 4): string {
  const v = (t: string) => (vec === 4 ? `vec4<${t}>` : t);
  return `enable f16;
alias XT = ${xDtype};
alias OT = ${outDtype};
struct Params { n: u32, Q: u32, W: u32, H: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<${v('XT')}>;
@group(0) @binding(2) var<storage, read_write> out: array<${v('OT')}>;

// One thread per output element (or 4 channels): out[b, oy, ox, c] = x[b, oy / 2, ox / 2, c].
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * ${WG}u;
  if (i >= p.n) { return; }
  let q = i % p.Q;
  var t = i / p.Q;
  let ox = t % (2u * p.W);
  t = t / (2u * p.W);
  let oy = t % (2u * p.H);
  let b = t / (2u * p.H);
  out[i] = ${v('OT')}(x[((b * p.H + oy / 2u) * p.W + ox / 2u) * p.Q + q]);
}
`;
}

export async function upsampleNearest2x(ctx: GpuContext, args: { x: TensorView; out: TensorView; label?: string }): Promise<KernelCall> {
  const op = `upsampleNearest2x${args.label ? ` '${args.label}'` : ''}`;
  const { x, out } = args;
  if (x.shape.length !== 4) throw new Error(`${op}: 'x' must be [B, H, W, C] (channels-last), got [${x.shape}]`);
  const [B, H, W, C] = x.shape;
  expectShape(op, 'out', out, [B, 2 * H, 2 * W, C]);
  if (out.buffer === x.buffer && out.offset < x.offset + byteSize(x) && x.offset < out.offset + byteSize(out)) {
    throw new Error(`${op}: 'out' overlaps 'x'; give the output its own range`);
  }
  const limit = ctx.caps.limits.maxStorageBufferBindingSize;
  if (byteSize(out) > limit) throw new Error(`${op}: 'out' is ${byteSize(out)} bytes, over maxStorageBufferBindingSize ${limit}; tile the image, or fuse the upsample into the next conv (conv2d upsampleInput)`);
  if (numel(out.shape) >= 2 ** 32) throw new Error(`${op}: tensors over 2^32 elements are not supported (u32 indexing)`);
  const vec: 1 | 4 = C % 4 === 0 ? 4 : 1;
  const Q = C / vec;
  const n = numel(out.shape) / vec;
  const pipeline = await ctx.pipeline(`upsample-nearest2x:${x.dtype}:${out.dtype}:v${vec}`, source(x.dtype, out.dtype, vec));
  const params = paramsBuffer(ctx, [n, Q, W, H].map((u32) => ({ u32 })), `${op}-params`);
  return {
    label: args.label ?? 'upsample-nearest2x',
    pipeline,
    bindGroup: bindGroup(ctx, pipeline, [params, x, out], args.label),
    workgroups: grid1d(Math.ceil(n / WG), ctx.caps.limits.maxComputeWorkgroupsPerDimension),
    flops: 0,
    bytes: byteSize(x) + byteSize(out),
  };
}
