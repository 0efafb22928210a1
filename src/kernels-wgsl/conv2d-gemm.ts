// conv2d on tensor cores: im2col (chunk of output pixels -> cols [rows, kh*kw*Cin]) followed by linear() with
// the conv's bias and residual fused, writing that chunk's rows of out [B*Ho*Wo, Cout]. The direct kernel in
// conv2d.ts runs on CUDA-core math (~2 TFLOP/s on an H100); linear's subgroup-matrix path does ~150. The cols
// scratch is one ctx.sharedBuffer per device (dispatches run in order, so every conv can reuse it).
// Design notes and numbers: docs/vae-kernels.md.
import type { GpuContext } from '../gpu/context.js';
import { conv2d, conv2dOutputSize, type Conv2dArgs } from './conv2d.js';
import { im2col, packConv2dWeightForGemm } from './im2col.js';
import { allocTensor, DTYPE_BYTES, type KernelCall, type TensorView } from '../gpu/kernel.js';
import { linear } from './matmul.js';

export { packConv2dWeightForGemm } from './im2col.js';

export type Conv2dPath = 'auto' | 'direct' | 'gemm';

export interface Conv2dCallsArgs extends Conv2dArgs {
  /** auto: gemm where ctx.caps.tensorCores and the views allow it, else the direct kernel. */
  path?: Conv2dPath;
  /** Upper bound on the im2col scratch in bytes (default 512 MiB, capped by maxStorageBufferBindingSize); tests shrink it to get several chunks. */
  colsBudgetBytes?: number;
  /**
   * The weight already in the GEMM layout [Cout, kh*kw*Cin] f16 (packConv2dWeightForGemm of `w`, done once at load):
   * the gemm path then skips its per-replay re-layout. Ignored by the direct kernel.
   */
  wGemm?: TensorView;
}

const DEFAULT_COLS_BUDGET = 512 * 2 ** 20;

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** Smallest row count r such that r * bytesPerRow is a multiple of 256 (bound views need 256-byte offsets). */
function rowQuantum(bytesPerRow: number): number {
  return 256 / gcd(256, bytesPerRow);
}

function lcm(a: number, b: number): number {
  return (a / gcd(a, b)) * b;
}

/** Why the gemm path cannot take this conv, or null when it can. */
function gemmBlocker(args: Conv2dCallsArgs): string | null {
  if (args.out.offset % 256 !== 0) return `'out' view offset ${args.out.offset} is not 256-byte aligned`;
  if (args.residual && args.residual.offset % 256 !== 0) return `'residual' view offset ${args.residual.offset} is not 256-byte aligned`;
  if (args.residual && args.residual.dtype !== args.out.dtype) return `'residual' dtype ${args.residual.dtype} differs from out's ${args.out.dtype}`;
  return null;
}

/**
 * conv2d as KernelCall[]: the tensor-core path (weight re-layout, then per chunk im2col + linear) where
 * `path` is 'gemm', or 'auto' on an adapter with tensor cores; otherwise conv2d's direct kernel. Forced 'gemm'
 * works on any adapter (linear has a portable path), which is how the tests run it.
 */
export async function conv2dCalls(ctx: GpuContext, args: Conv2dCallsArgs): Promise<KernelCall[]> {
  const path = args.path ?? 'auto';
  // The direct kernel validates every argument with clear errors; building it first also keeps one validator.
  const direct = await conv2d(ctx, args);
  if (path === 'direct' || (path === 'auto' && !ctx.caps.tensorCores)) return [direct];
  const op = `conv2d${args.label ? ` '${args.label}'` : ''}`;
  const blocker = gemmBlocker(args);
  if (blocker) {
    if (path === 'gemm') throw new Error(`${op}: path 'gemm' impossible: ${blocker}; use path 'auto' to fall back to the direct kernel`);
    return [direct];
  }
  const { x, w, out } = args;
  const kernel = args.kernel;
  const stride = args.stride ?? 1;
  const pad = args.padding ?? (kernel === 3 ? 1 : 0);
  const [pt, , pl] = typeof pad === 'number' ? [pad, pad, pad, pad] : pad;
  const [B, H, W, Cin] = x.shape;
  const Cout = out.shape[3];
  const scale = args.upsampleInput ? 2 : 1;
  const [Ho, Wo] = conv2dOutputSize(H * scale, W * scale, kernel, stride, pad);
  const M = B * Ho * Wo;
  const K = kernel * kernel * Cin;
  const outBytes = DTYPE_BYTES[out.dtype];

  // cols always starts at scratch offset 0, so only the out / residual chunk offsets need 256-byte alignment.
  let quantum = rowQuantum(Cout * outBytes);
  if (args.residual) quantum = lcm(quantum, rowQuantum(Cout * DTYPE_BYTES[args.residual.dtype]));
  const budget = Math.min(args.colsBudgetBytes ?? DEFAULT_COLS_BUDGET, ctx.caps.limits.maxStorageBufferBindingSize);
  let chunkRows = Math.floor(budget / (K * 2 * quantum)) * quantum;
  if (chunkRows < quantum) chunkRows = quantum; // tiny test budgets: one quantum per chunk
  chunkRows = Math.min(chunkRows, M);
  if (chunkRows * K * 2 > ctx.caps.limits.maxStorageBufferBindingSize) {
    throw new Error(`${op}: im2col rows of K=${K} do not fit this adapter's binding limit; use path 'direct'`);
  }
  const scratch = ctx.sharedBuffer('conv2d-gemm:cols', Math.max(16, chunkRows * K * 2));

  // Weight in nn.Linear layout: given (args.wGemm, packed once at load), or else re-derived from the packed weight
  // in the first call of every replay (the graph may upload weights after build time). Cost: one pass over the weight.
  let wGemm = args.wGemm;
  const calls: KernelCall[] = [];
  if (wGemm) {
    if (wGemm.dtype !== 'f16' || wGemm.shape.length !== 2 || wGemm.shape[0] !== Cout || wGemm.shape[1] !== K) {
      throw new Error(`${op}: 'wGemm' must be f16 [${Cout}, ${K}] (packConv2dWeightForGemm of w), got ${wGemm.dtype} [${wGemm.shape}]`);
    }
  } else {
    wGemm = allocTensor(ctx, [Cout, K], 'f16', `${op}-w-gemm`);
    calls.push(await packConv2dWeightForGemm(ctx, { src: w, dst: wGemm, label: `${args.label ?? 'conv2d'}-w-gemm` }));
  }
  for (let rowStart = 0; rowStart < M; rowStart += chunkRows) {
    const rows = Math.min(chunkRows, M - rowStart);
    const cols: TensorView = { buffer: scratch, offset: 0, shape: [rows, K], dtype: 'f16' };
    calls.push(await im2col(ctx, {
      x, cols, kernel, stride, padTop: pt, padLeft: pl, upsampleInput: !!args.upsampleInput, Ho, Wo, rowStart,
      label: `${args.label ?? 'conv2d'}-im2col`,
    }));
    const outChunk: TensorView = { buffer: out.buffer, offset: out.offset + rowStart * Cout * outBytes, shape: [rows, Cout], dtype: out.dtype };
    const res = args.residual;
    const resChunk: TensorView | undefined = res && {
      buffer: res.buffer, offset: res.offset + rowStart * Cout * DTYPE_BYTES[res.dtype], shape: [rows, Cout], dtype: res.dtype,
    };
    calls.push(await linear(ctx, { x: cols, w: wGemm, out: outChunk, bias: args.bias, residual: resChunk, label: `${args.label ?? 'conv2d'}-gemm` }));
  }
  return calls;
}
