// The operands of a linear benchmark at one shape, shared by the GEMM benches: f16 x [M, K] ~ N(0, 1) and
// w [N, K] ~ N(0, 1/K) filled on the GPU (seeded), the f16 output [M, N], the sampled float64 check of out = x wᵀ,
// and for the W8A8 kernel both operands quantized per row (int8 codes and scales) plus the activation quantize call.
import type { GpuContext } from '../../src/gpu/context.js';
import { allocTensor, runCalls, type KernelCall, type TensorView } from '../../src/gpu/kernel.js';
import { int8RowWords, quantizeRowsI8 } from '../../src/kernels-wgsl/quantize-i8.js';
import { randomFill } from '../../src/kernels-wgsl/random-fill.js';
import { SampledLinearCheck } from './sampled-linear-check.js';

export interface LinearOperands { M: number; K: number; N: number; x: TensorView; w: TensorView; out: TensorView; check: SampledLinearCheck }
export interface LinearOperandsI8 extends LinearOperands {
  xq: TensorView; xs: TensorView; wq: TensorView; ws: TensorView;
  /** Quantizes x into xq / xs again (what the W8A8 path runs before each GEMM). */
  quantX: KernelCall;
}

/** x, w (seeds default to 1 + K and 2 + N), the output and the sampled check. */
export async function linearOperands(ctx: GpuContext, M: number, K: number, N: number, seeds: [number, number] = [1 + K, 2 + N]): Promise<LinearOperands> {
  const x = allocTensor(ctx, [M, K], 'f16', 'x');
  const w = allocTensor(ctx, [N, K], 'f16', 'w');
  const out = allocTensor(ctx, [M, N], 'f16', 'out');
  await runCalls(ctx, [await randomFill(ctx, { out: x, seed: seeds[0], std: 1 }), await randomFill(ctx, { out: w, seed: seeds[1], std: 1 / Math.sqrt(K) })]);
  return { M, K, N, x, w, out, check: await SampledLinearCheck.create(ctx, x, w, M, K, N) };
}

/** linearOperands plus both operands quantized per row for linearI8Calls. */
export async function linearOperandsI8(ctx: GpuContext, M: number, K: number, N: number, seeds?: [number, number]): Promise<LinearOperandsI8> {
  const o = await linearOperands(ctx, M, K, N, seeds);
  const Kw = int8RowWords(K);
  const xq = allocTensor(ctx, [M, Kw], 'u32', 'xq');
  const xs = allocTensor(ctx, [M], 'f32', 'xs');
  const wq = allocTensor(ctx, [N, Kw], 'u32', 'wq');
  const ws = allocTensor(ctx, [N], 'f32', 'ws');
  const quantX = await quantizeRowsI8(ctx, { x: o.x, q: xq, scale: xs });
  await runCalls(ctx, [await quantizeRowsI8(ctx, { x: o.w, q: wq, scale: ws }), quantX]);
  return { ...o, xq, xs, wq, ws, quantX };
}

/** Frees every buffer of the operands. */
export function freeLinearOperands(o: LinearOperands | LinearOperandsI8): void {
  const i8 = 'xq' in o ? [o.xq, o.xs, o.wq, o.ws] : [];
  for (const t of [o.x, o.w, o.out, ...i8]) t.buffer.destroy();
}
