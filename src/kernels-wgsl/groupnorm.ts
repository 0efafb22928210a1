// GroupNorm (+ optional fused SiLU) over channels-last [B, H, W, C] activations, as diffusers' VAE uses it:
// GroupNorm(32, C, eps=1e-6, affine). Statistics in f32 via a split reduction (stats -> finalize -> apply);
// see groupnorm-wgsl.ts for the passes and docs/vae-kernels.md for why.
import type { GpuContext } from '../gpu/context.js';
import { GN_WG, gnApplySource, gnFinalizeSource, gnStatsSource } from './groupnorm-wgsl.js';
import { bindGroup, byteSize, expectShape, grid1d, numel, paramsBuffer, type KernelCall, type TensorView } from '../gpu/kernel.js';

export interface GroupNormArgs {
  /** [B, H, W, C] f16 or f32 (also accepts [B, N, C] or [N, C]: the leading dims before C are batch x pixels). */
  x: TensorView;
  /** Same shape as x; f16 (or f32). Must not overlap x. */
  out: TensorView;
  /** [C] affine scale (gamma), f16 or f32. */
  weight: TensorView;
  /** [C] affine shift (beta), f16 or f32. */
  bias: TensorView;
  groups: number;
  eps: number;
  /** Apply SiLU after the affine transform (ResnetBlock2D's norm -> nonlinearity pair). */
  silu?: boolean;
  label?: string;
  /** Pixels each stats thread reduces sequentially; default aims at ~1024 chunks per image. Tests force small chunks. */
  rowsPerThread?: number;
}

const TARGET_CHUNKS = 1024;

/** Returns [stats, finalize, apply]; replay all three in order. */
export async function groupNorm(ctx: GpuContext, args: GroupNormArgs): Promise<KernelCall[]> {
  const op = `groupNorm${args.label ? ` '${args.label}'` : ''}`;
  const { x, out, weight, bias, groups, eps } = args;
  if (x.shape.length < 2) throw new Error(`${op}: 'x' must be [B, H, W, C] (channels-last), got [${x.shape}]`);
  const C = x.shape[x.shape.length - 1];
  const B = x.shape.length >= 3 ? x.shape[0] : 1;
  const HW = numel(x.shape) / (B * C);
  if (!Number.isInteger(groups) || groups < 1) throw new Error(`${op}: groups must be a positive integer, got ${groups}`);
  if (C % groups !== 0) throw new Error(`${op}: channels C=${C} are not divisible by groups=${groups}; GroupNorm needs C % groups == 0`);
  if (!(eps >= 0) || !Number.isFinite(eps)) throw new Error(`${op}: eps must be a finite number >= 0, got ${eps}`);
  if (HW < 1) throw new Error(`${op}: 'x' [${x.shape}] has no pixels`);
  expectShape(op, 'out', out, x.shape);
  expectShape(op, 'weight', weight, [C]);
  expectShape(op, 'bias', bias, [C]);
  if (out.buffer === x.buffer && out.offset < x.offset + byteSize(x) && x.offset < out.offset + byteSize(out)) {
    throw new Error(`${op}: 'out' overlaps 'x'; WebGPU cannot bind them as read and read-write together, use separate ranges`);
  }
  const limit = ctx.caps.limits.maxStorageBufferBindingSize;
  for (const [name, t] of [['x', x], ['out', out]] as const) {
    if (byteSize(t) > limit) throw new Error(`${op}: '${name}' is ${byteSize(t)} bytes, over maxStorageBufferBindingSize ${limit}; tile the image`);
  }
  if (numel(x.shape) >= 2 ** 32) throw new Error(`${op}: tensors over 2^32 elements are not supported (u32 indexing)`);
  const cpg = C / groups;
  const vec: 1 | 4 = C % 4 === 0 ? 4 : 1;
  const Q = C / vec;
  const QT = Math.min(Q, GN_WG);
  const colBlocks = Math.ceil(Q / QT);
  const R = Math.floor(GN_WG / QT);
  const maxDim = ctx.caps.limits.maxComputeWorkgroupsPerDimension;
  let rowsPerThread = args.rowsPerThread ?? Math.max(1, Math.ceil(HW / (R * TARGET_CHUNKS)));
  rowsPerThread = Math.max(rowsPerThread, Math.ceil(HW / (R * maxDim)));
  const P = R * rowsPerThread;
  const chunks = Math.ceil(HW / P);
  if (B * colBlocks > maxDim || B * groups > maxDim) throw new Error(`${op}: batch ${B} too large for one dispatch; split it`);

  const partials = ctx.createBuffer(B * chunks * C * 8, `${op}-partials`);
  const scaleShift = ctx.createBuffer(B * C * 8, `${op}-scale-shift`);
  const label = args.label ?? 'groupnorm';

  const statsPipe = await ctx.pipeline(`groupnorm-stats:${x.dtype}:v${vec}`, gnStatsSource(x.dtype, vec));
  const rPow2 = 2 ** Math.ceil(Math.log2(R));
  const statsParams = paramsBuffer(ctx, [HW, C, Q, QT, R, rowsPerThread, P, chunks, colBlocks, rPow2].map((u32) => ({ u32 })), `${op}-stats-params`);
  const stats: KernelCall = {
    label: `${label}-stats`,
    pipeline: statsPipe,
    bindGroup: bindGroup(ctx, statsPipe, [statsParams, x, partials]),
    workgroups: [chunks, B * colBlocks, 1],
    flops: 0,
    bytes: byteSize(x) + B * chunks * C * 8,
  };

  const finPipe = await ctx.pipeline(`groupnorm-finalize:${weight.dtype}:${bias.dtype}`, gnFinalizeSource(weight.dtype, bias.dtype));
  const finParams = paramsBuffer(ctx, [{ u32: HW }, { u32: C }, { u32: cpg }, { u32: groups }, { u32: P }, { u32: chunks }, { f32: eps }, { u32: B * C }], `${op}-finalize-params`);
  const finalize: KernelCall = {
    label: `${label}-finalize`,
    pipeline: finPipe,
    bindGroup: bindGroup(ctx, finPipe, [finParams, partials, weight, bias, scaleShift]),
    workgroups: [B * groups, 1, 1],
    flops: 0,
    bytes: B * chunks * C * 8 + B * C * 8,
  };

  const silu = args.silu ?? false;
  const applyPipe = await ctx.pipeline(`groupnorm-apply:${x.dtype}:${out.dtype}:v${vec}`, gnApplySource(x.dtype, out.dtype, vec));
  const nVec = numel(x.shape) / vec;
  const applyParams = paramsBuffer(ctx, [nVec, Q, HW * Q, silu ? 1 : 0, B * Q].map((u32) => ({ u32 })), `${op}-apply-params`);
  const apply: KernelCall = {
    label: `${label}-apply${silu ? '-silu' : ''}`,
    pipeline: applyPipe,
    bindGroup: bindGroup(ctx, applyPipe, [applyParams, x, scaleShift, out]),
    workgroups: grid1d(Math.ceil(nVec / GN_WG), maxDim),
    flops: 0,
    bytes: byteSize(x) + byteSize(out),
  };
  return [stats, finalize, apply];
}
