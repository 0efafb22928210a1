// 2-D convolution for the VAE: NHWC activations, implicit GEMM with workgroup-memory tiling, f16 storage and
// f32 accumulation, fused bias / residual add / nearest-2x input upsample. Weights are packed once from
// PyTorch's [Cout, Cin, kh, kw] to [kh, kw, Cin, Cout] (packConv2dWeight). Design notes: docs/vae-kernels.md.
import type { GpuContext } from '../gpu/context.js';
import {
  CONV_PARAM_FIELDS,
  CONV_SIGNED_FIELDS,
  CONV_TILES,
  convSource,
  convVariantKey,
  packWeightSource,
  type ConvTileName,
  type ConvVariant,
} from './conv2d-wgsl.js';
import { bindGroup, byteSize, DTYPE_BYTES, expectShape, grid1d, numel, paramsBuffer, type KernelCall, type TensorView } from '../gpu/kernel.js';

export type { ConvTileName } from './conv2d-wgsl.js';

export type Conv2dPadding = number | readonly [top: number, bottom: number, left: number, right: number];

export interface Conv2dArgs {
  /** [B, H, W, Cin] f16 (channels-last). */
  x: TensorView;
  /** Packed weight [kernel, kernel, Cin, Cout] f16 (see packConv2dWeight / packedConv2dWeightShape). */
  w: TensorView;
  /** [Cout], f16 or f32. */
  bias?: TensorView;
  /** [B, Ho, Wo, Cout], f16 or f32. */
  out: TensorView;
  kernel: 1 | 3;
  stride?: 1 | 2;
  /** Symmetric padding, or [top, bottom, left, right] (the VAE encoder's downsample uses [0, 1, 0, 1]). Default: 1 for 3x3, 0 for 1x1. */
  padding?: Conv2dPadding;
  /** [B, Ho, Wo, Cout], f16 or f32, added after the bias (ResnetBlock2D skip connection). Must not overlap `out`. */
  residual?: TensorView;
  /**
   * Reads x through a nearest 2x upsample: the convolution sees a [B, 2H, 2W, Cin] input without it being
   * materialised (diffusers Upsample2D = interpolate(nearest, 2x) + conv3x3). Saves a 4x-sized tensor round trip.
   */
  upsampleInput?: boolean;
  /** Workgroup tile override (tests, benchmarks); default picks from Cout. */
  tile?: ConvTileName;
  /** Compile-time unrolled inner loop (benchmark knob; see ConvVariant.unrollK). */
  unrollK?: boolean;
  label?: string;
}

/** Output spatial size of a convolution (PyTorch's formula). */
export function conv2dOutputSize(h: number, w: number, kernel: number, stride: number, padding: Conv2dPadding = kernel === 3 ? 1 : 0): [number, number] {
  const [pt, pb, pl, pr] = normalizePadding(padding);
  return [Math.floor((h + pt + pb - kernel) / stride) + 1, Math.floor((w + pl + pr - kernel) / stride) + 1];
}

function normalizePadding(padding: Conv2dPadding): [number, number, number, number] {
  const p: number[] = typeof padding === 'number' ? [padding, padding, padding, padding] : [...padding];
  if (p.length !== 4 || p.some((v) => !Number.isInteger(v) || v < 0 || v > 16)) {
    throw new Error(`conv2d: padding must be an integer 0..16 or [top, bottom, left, right] of such integers, got ${JSON.stringify(padding)}`);
  }
  return p as [number, number, number, number];
}

/** Shape of the packed weight for a PyTorch conv weight of shape [Cout, Cin, kh, kw]: [kh, kw, Cin, Cout]. */
export function packedConv2dWeightShape(torchShape: readonly number[]): [number, number, number, number] {
  if (torchShape.length !== 4 || torchShape[2] !== torchShape[3] || (torchShape[2] !== 1 && torchShape[2] !== 3)) {
    throw new Error(`conv2d weight must be [Cout, Cin, k, k] with k = 1 or 3 (PyTorch layout), got [${torchShape}]`);
  }
  const [cout, cin, kh, kw] = torchShape;
  return [kh, kw, cin, cout];
}

/** Host-side packing, for loaders that prefer to upload the packed layout: same permutation as packConv2dWeight. */
export function packConv2dWeightOnHost<A extends { length: number; [i: number]: number }>(src: A, torchShape: readonly number[], make: (n: number) => A): A {
  const [kh, kw, cin, cout] = packedConv2dWeightShape(torchShape);
  if (src.length !== cout * cin * kh * kw) throw new Error(`packConv2dWeightOnHost: ${src.length} values for shape [${torchShape}]`);
  const dst = make(src.length);
  for (let co = 0; co < cout; co++) {
    for (let ci = 0; ci < cin; ci++) {
      for (let ky = 0; ky < kh; ky++) {
        for (let kx = 0; kx < kw; kx++) {
          dst[((ky * kw + kx) * cin + ci) * cout + co] = src[((co * cin + ci) * kh + ky) * kw + kx];
        }
      }
    }
  }
  return dst;
}

/** One-time GPU re-layout of a PyTorch conv weight [Cout, Cin, kh, kw] (f16 or f32) into dst [kh, kw, Cin, Cout] f16. */
export async function packConv2dWeight(ctx: GpuContext, args: { src: TensorView; dst: TensorView; label?: string }): Promise<KernelCall> {
  const op = 'packConv2dWeight';
  const shape = packedConv2dWeightShape(args.src.shape);
  expectShape(op, 'dst', args.dst, shape, 'f16');
  checkBindingSize(ctx, op, { src: args.src, dst: args.dst });
  const [kh, kw, cin, cout] = shape;
  const n = numel(shape);
  const pipeline = await ctx.pipeline(`conv2d-pack:${args.src.dtype}`, packWeightSource(args.src.dtype, 'f16'));
  const params = paramsBuffer(ctx, [{ u32: cout }, { u32: cin }, { u32: kh }, { u32: kw }, { u32: n }], `${op}-params`);
  return {
    label: args.label ?? op,
    pipeline,
    bindGroup: bindGroup(ctx, pipeline, [params, args.src, args.dst]),
    workgroups: grid1d(Math.ceil(n / 256)),
    flops: 0,
    bytes: byteSize(args.src) + byteSize(args.dst),
  };
}

// A 16-byte placeholder bound where bias / residual are absent (the shader never reads it then).
function dummy(ctx: GpuContext): GPUBuffer {
  return ctx.sharedBuffer('conv2d-unused-operand');
}

function overlaps(a: TensorView, b: TensorView): boolean {
  return a.buffer === b.buffer && a.offset < b.offset + byteSize(b) && b.offset < a.offset + byteSize(a);
}

function checkBindingSize(ctx: GpuContext, op: string, tensors: Record<string, TensorView | undefined>): void {
  const limit = ctx.caps.limits.maxStorageBufferBindingSize;
  for (const [name, t] of Object.entries(tensors)) {
    if (t && byteSize(t) > limit) {
      throw new Error(`${op}: '${name}' [${t.shape}] ${t.dtype} is ${byteSize(t)} bytes, over this adapter's maxStorageBufferBindingSize ${limit}; split the batch or tile the image`);
    }
  }
}

export async function conv2d(ctx: GpuContext, args: Conv2dArgs): Promise<KernelCall> {
  const op = `conv2d${args.label ? ` '${args.label}'` : ''}`;
  const { x, w, out } = args;
  const kernel = args.kernel;
  const stride = args.stride ?? 1;
  if (kernel !== 1 && kernel !== 3) throw new Error(`${op}: kernel must be 1 or 3, got ${kernel}`);
  if (stride !== 1 && stride !== 2) throw new Error(`${op}: stride must be 1 or 2, got ${stride}`);
  const [pt, pb, pl, pr] = normalizePadding(args.padding ?? (kernel === 3 ? 1 : 0));
  if (x.shape.length !== 4) throw new Error(`${op}: 'x' must be [B, H, W, Cin] (channels-last), got [${x.shape}]`);
  if (x.dtype !== 'f16') throw new Error(`${op}: 'x' must be f16, got ${x.dtype}`);
  if (out.shape.length !== 4) throw new Error(`${op}: 'out' must be [B, Ho, Wo, Cout], got [${out.shape}]`);
  const [B, H, W, Cin] = x.shape;
  const Cout = out.shape[3];
  const scale = args.upsampleInput ? 2 : 1;
  const [Ho, Wo] = conv2dOutputSize(H * scale, W * scale, kernel, stride, [pt, pb, pl, pr]);
  if (Ho < 1 || Wo < 1) throw new Error(`${op}: input ${H * scale}x${W * scale} is too small for a ${kernel}x${kernel} kernel with padding [${[pt, pb, pl, pr]}]`);
  expectShape(op, 'out', out, [B, Ho, Wo, Cout]);
  if (w.shape.length === 4 && w.shape[0] === Cout && w.shape[1] === Cin && w.shape[2] === kernel && w.shape[3] === kernel && Cout !== kernel) {
    throw new Error(`${op}: 'w' [${w.shape}] looks like PyTorch layout [Cout, Cin, kh, kw]; pack it once with packConv2dWeight into [${kernel}, ${kernel}, ${Cin}, ${Cout}]`);
  }
  expectShape(op, 'w (packed [kh, kw, Cin, Cout])', w, [kernel, kernel, Cin, Cout], 'f16');
  if (args.bias) expectShape(op, 'bias', args.bias, [Cout]);
  if (args.residual) {
    expectShape(op, 'residual', args.residual, [B, Ho, Wo, Cout]);
  }
  // WebGPU rejects a writable binding that overlaps another binding of the same dispatch.
  for (const [name, t] of [['x', x], ['w', w], ['bias', args.bias], ['residual', args.residual]] as const) {
    if (t && overlaps(t, out)) throw new Error(`${op}: 'out' overlaps '${name}'; a convolution cannot run in place, give 'out' its own range`);
  }
  checkBindingSize(ctx, op, { x, w, out, residual: args.residual });
  const M = B * Ho * Wo;
  if (M * Math.max(Cout, Cin) >= 2 ** 32 || B * H * W * Cin >= 2 ** 32) throw new Error(`${op}: tensors over 2^32 elements are not supported (u32 indexing)`);

  // CPU adapters get the small tile: same code, a third of the cold compile time of 'large' on lavapipe.
  const tileName: ConvTileName = args.tile ?? (Cout <= 16 ? 'narrow' : ctx.caps.isCpu ? 'small' : 'large');
  const tile = CONV_TILES[tileName];
  if (!tile) throw new Error(`${op}: unknown tile '${tileName}' (one of ${Object.keys(CONV_TILES).join(', ')})`);
  const variant: ConvVariant = {
    tile,
    outDtype: out.dtype,
    unrollK: args.unrollK ?? false,
    biasDtype: args.bias?.dtype ?? 'f16',
    residualDtype: args.residual?.dtype ?? 'f16',
  };
  const pipeline = await ctx.pipeline(convVariantKey(variant), convSource(variant));
  const nChunks = Math.ceil(Cin / tile.BK);
  const mTiles = Math.ceil(M / tile.BM);
  const nTiles = Math.ceil(Cout / tile.BN);
  const maxDim = ctx.caps.limits.maxComputeWorkgroupsPerDimension;
  if (nTiles > maxDim) throw new Error(`${op}: Cout ${Cout} needs ${nTiles} workgroup columns, over the limit ${maxDim}`);
  const [gx, gy] = grid1d(mTiles, maxDim);
  const values: Record<(typeof CONV_PARAM_FIELDS)[number], number> = {
    H, W, Cin, Ho, Wo, Cout, M, nChunks, mTiles, kernel, stride, padTop: pt, padLeft: pl, bk: tile.BK, inputShift: scale === 2 ? 1 : 0,
    hasBias: args.bias ? 1 : 0, hasResidual: args.residual ? 1 : 0, epiIters: 16,
  };
  const params = paramsBuffer(
    ctx,
    CONV_PARAM_FIELDS.map((f) => (CONV_SIGNED_FIELDS.has(f) ? { i32: values[f] } : { u32: values[f] })),
    `${op}-params`,
  );
  const resources: (TensorView | GPUBuffer)[] = [params, x, w, out, args.bias ?? dummy(ctx), args.residual ?? dummy(ctx)];
  const elemOut = DTYPE_BYTES[out.dtype];
  return {
    label: args.label ?? `conv2d-${kernel}x${kernel}`,
    pipeline,
    bindGroup: bindGroup(ctx, pipeline, resources, args.label),
    workgroups: [gx, gy, nTiles],
    flops: 2 * M * Cout * kernel * kernel * Cin,
    bytes: byteSize(x) + byteSize(w) + M * Cout * elemOut + (args.residual ? byteSize(args.residual) : 0) + (args.bias ? byteSize(args.bias) : 0),
  };
}
