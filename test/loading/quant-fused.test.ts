// The fused form of resident weights (kernels-wgsl/matmul-packed.ts): the tensor-core linear decodes fp8 / GGUF
// blocks while staging its B tile. With the same tiling, its output must equal, bit for bit, the linear over the
// weight expanded by the dequant kernel (whose values are pinned to torch / gguf by dequant.test.ts): the decode
// and the f16 rounding are the same WGSL, so the staged halves are the same. Random valid blocks, fresh seed,
// ragged M and N, a row range (element offset) and a per-tensor fp8 scale; outputs poisoned first.
//
// On tensor-core adapters (the H200 run of scripts/gpu-quant.sh) the real kernel runs for every format. Elsewhere
// the subgroup-matrix builtins are emulated, which costs about a minute of LLVM JIT per pipeline on lavapipe, so
// there the test is opt-in: QUANT_FUSED_EMULATE=1 (three formats).
import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context.js';
import { allocTensor, encodeCalls } from '../../src/gpu/kernel.js';
import { randomBlocks } from '../../src/bench/bench-quant.js';
import { DEQUANT_BLOCKS, dequant, type DequantFormat } from '../../src/kernels-wgsl/dequant.js';
import { emulateSubgroupMatrix } from '../../src/kernels-wgsl/matmul-emulate.js';
import { linearPacked } from '../../src/kernels-wgsl/matmul-packed.js';
import { defaultSgTiling, linearWithTiling, type SgTiling } from '../../src/kernels-wgsl/matmul.js';
import { freshSeed, POISON_F16, randn, rng, testContext, uploadTensor } from '../helpers/gpu.js';

const ctx0 = await testContext();
const native = ctx0.caps.tensorCores;
const EMULATE = !!process.env.QUANT_FUSED_EMULATE;

async function run(ctx: GpuContext, calls: Parameters<typeof encodeCalls>[1]): Promise<void> {
  const enc = ctx.device.createCommandEncoder();
  encodeCalls(enc, calls);
  ctx.device.queue.submit([enc.finish()]);
  await ctx.sync();
}

async function fusedVsExpanded(ctx: GpuContext, format: DequantFormat, M: number, N: number, K: number, rowOffset: number, scale: number | undefined, tuning: { tiling: SgTiling; transform?: { name: string; fn: (s: string) => string } }, seed: number) {
  const blk = DEQUANT_BLOCKS[format];
  const rowsAll = N + rowOffset;
  const raw = randomBlocks(format, ((rowsAll * K) / blk.elems) * blk.bytes);
  // The packed weight, at byte 0 of a buffer as large as the f16 weight (matmul.ts binds B at f16 size).
  const packed = ctx.createBuffer(Math.max(rowsAll * K * 2, Math.ceil(raw.byteLength / 4) * 4), 'packed');
  const padded = new Uint8Array(Math.ceil(raw.byteLength / 4) * 4);
  padded.set(raw);
  ctx.write(packed, padded);
  // Expanded rows [rowOffset, rowOffset + N) by the dequant kernel.
  const wf16 = allocTensor(ctx, [N, K], 'f16');
  const counts = ctx.createBuffer(8);
  ctx.fill(counts, 0, 8);
  const first = (rowOffset * K) / blk.elems * blk.bytes;
  const srcBytes = (N * K) / blk.elems * blk.bytes;
  // The dequant source must be bindable (256-aligned): copy the row range to its own buffer.
  const src = ctx.createBuffer(Math.ceil(srcBytes / 4) * 4 + 4);
  const part = new Uint8Array(Math.ceil(srcBytes / 4) * 4);
  part.set(raw.subarray(first, first + srcBytes));
  ctx.write(src, part);
  await run(ctx, [await dequant(ctx, { format, src: { buffer: src, offset: 0, shape: [part.byteLength / 4], dtype: 'u32' }, n: N * K, dst: wf16, dstBase: 0, scale, counts, slot: 0 })]);
  const r = rng(seed);
  const x = uploadTensor(ctx, randn(r, M * K, 1), [M, K], 'f16');
  const bias = uploadTensor(ctx, randn(r, N, 0.1), [N], 'f32');
  const outRef = allocTensor(ctx, [M, N], 'f32');
  const outFused = allocTensor(ctx, [M, N], 'f32');
  ctx.fill(outRef.buffer, POISON_F16);
  ctx.fill(outFused.buffer, POISON_F16);
  await run(ctx, [await linearWithTiling(ctx, { x, w: wf16, out: outRef, bias }, tuning)]);
  const { call, params } = await linearPacked(ctx, { x, out: outFused, bias }, { format, w: { buffer: packed, offset: 0, shape: [N, K], dtype: 'f16' }, scale, elemOffset: rowOffset * K }, tuning);
  await run(ctx, [call]);
  const want = new Float32Array(await ctx.readback(outRef.buffer, M * N * 4));
  const got = new Float32Array(await ctx.readback(outFused.buffer, M * N * 4));
  for (const b of [packed, wf16.buffer, counts, src, x.buffer, bias.buffer, outRef.buffer, outFused.buffer, params]) b.destroy();
  return { want, got };
}

const FORMATS = Object.keys(DEQUANT_BLOCKS) as DequantFormat[];

describe.skipIf(!native && !EMULATE)('fused B-tile dequantization (linearPacked) = linear over the expanded weight, bit for bit', { timeout: 900_000 }, () => {
  const formats = native ? FORMATS : (['Q8_0', 'Q4_K', 'F8_E4M3'] as DequantFormat[]);
  const tuning = native
    ? { tiling: defaultSgTiling(ctx0.caps.subgroupMaxSize, ctx0.caps.limits.maxComputeWorkgroupStorageSize) }
    : { tiling: { sgM: 1, sgN: 2, fragM: 1, fragN: 1, bk: 16, staging: 'staged', groupM: 2, subgroupSize: 8 } as SgTiling, transform: { name: 'emulated', fn: emulateSubgroupMatrix } };
  for (const format of formats) {
    it(format, async () => {
      const seed = freshSeed();
      const K = DEQUANT_BLOCKS[format].elems === 256 ? 512 : 96;
      const scale = format.startsWith('F8') ? 0.0123 : undefined;
      const { want, got } = await fusedVsExpanded(ctx0, format, native ? 200 : 37, native ? 150 : 45, K, 3, scale, tuning, seed);
      expect(got.every(Number.isFinite), `${format} seed ${seed}`).toBe(true);
      let diff = 0;
      for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) diff++;
      expect(diff, `${format}: outputs differing from the expanded-weight linear (seed ${seed})`).toBe(0);
    });
  }
});
