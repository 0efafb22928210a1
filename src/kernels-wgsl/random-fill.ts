// Fills a tensor with pseudo-random normal values on the GPU. Random-weight models at full size (FLUX.1-dev has
// 12 B parameters) and benchmark inputs are initialised here without generating gigabytes on the host.
// Counter-based (PCG hash of element index and seed), so the same seed gives the same tensor on any device.
import type { GpuContext } from '../gpu/context.js';
import { bindGroup, grid1d, numel, paramsBuffer, type KernelCall, type TensorView } from '../gpu/kernel.js';
import { dtypePreamble } from './wgsl-util.js';

const WG = 256;

function source(dtype: TensorView['dtype']): string {
  return `${dtypePreamble(dtype)}
struct Params { n: u32, seed: u32, mean: f32, sigma: f32 }
@group(0) @binding(0) var<storage, read_write> out: array<T>;
@group(0) @binding(1) var<uniform> p: Params;

fn pcg(v: u32) -> u32 {
  let s = v * 747796405u + 2891336453u;
  let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
  return (w >> 22u) ^ w;
}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * ${WG}u;
  if (i >= p.n) { return; }
  let a = pcg(i ^ pcg(p.seed));
  let b = pcg(a ^ 0x9e3779b9u);
  // Box-Muller from two 24-bit uniforms in (0, 1].
  let u1 = (f32(a >> 8u) + 1.0) / 16777216.0;
  let u2 = f32(b >> 8u) / 16777216.0;
  let z = sqrt(-2.0 * log(u1)) * cos(6.283185307 * u2);
  out[i] = T(p.mean + p.sigma * z);
}
`;
}

export async function randomFill(ctx: GpuContext, args: { out: TensorView; seed: number; std?: number; mean?: number }): Promise<KernelCall> {
  const n = numel(args.out.shape);
  const pipeline = await ctx.pipeline(`random-fill:${args.out.dtype}`, source(args.out.dtype));
  const params = paramsBuffer(ctx, [{ u32: n }, { u32: args.seed }, { f32: args.mean ?? 0 }, { f32: args.std ?? 1 }]);
  return {
    label: 'random-fill',
    pipeline,
    bindGroup: bindGroup(ctx, pipeline, [args.out, params]),
    workgroups: grid1d(Math.ceil(n / WG)),
    flops: 0,
    bytes: n * (args.out.dtype === 'f16' ? 2 : 4),
  };
}
