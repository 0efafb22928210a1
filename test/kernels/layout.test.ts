import { describe, expect, it } from 'vitest';
import { concatSeq, copyStrided, mergeHeads, sliceSeq, splitHeads, transpose2d } from '../../src/kernels-wgsl/layout.js';
import { type DType, numel, runCalls } from '../../src/gpu/kernel.js';
import { expectClose, freshSeed, poisonedTensor, randn, readTensor, rng, testContext, uploadTensor } from '../helpers/gpu.js';

/** Exact expectation: a copy only rounds when converting f32 -> f16. */
const exact = (dst: DType, src: DType) => ({ relL2: src === 'f32' && dst === 'f16' ? 1e-3 : 0 });

describe('copyStrided', () => {
  it('3-D gather with offsets and f16 -> f32 conversion', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const src = randn(rng(seed), 200, 1, 'f16');
    const shape = [3, 4, 5];
    const ss = [50, 1, 9]; // non-contiguous, innermost stride 9
    const so = 7;
    const dst = poisonedTensor(ctx, shape, 'f32');
    await runCalls(ctx, [await copyStrided(ctx, { src: uploadTensor(ctx, src, [200], 'f16'), dst, shape, srcStrides: ss, dstStrides: [20, 5, 1], srcOffsetElems: so })]);
    const want: number[] = [];
    for (let a = 0; a < 3; a++) for (let b = 0; b < 4; b++) for (let c = 0; c < 5; c++) want.push(src[so + a * ss[0] + b * ss[1] + c * ss[2]]);
    expectClose(await readTensor(ctx, dst), want, { relL2: 0 }, `copyStrided seed=${seed}`);
  });
  it('rejects out-of-bounds strides and overlapping src/dst', async () => {
    const ctx = await testContext();
    const t = uploadTensor(ctx, new Float64Array(10), [10], 'f16');
    const d = poisonedTensor(ctx, [10], 'f16');
    await expect(copyStrided(ctx, { src: t, dst: d, shape: [2, 5], srcStrides: [5, 1], dstStrides: [5, 1], srcOffsetElems: 1 })).rejects.toThrow(/reads src element 10 but src \[10\] has 10/);
    await expect(copyStrided(ctx, { src: t, dst: t, shape: [10], srcStrides: [1], dstStrides: [1] })).rejects.toThrow(/overlap/);
    await expect(copyStrided(ctx, { src: t, dst: d, shape: [10], srcStrides: [1, 1], dstStrides: [1] })).rejects.toThrow(/one entry per dim/);
  });
});

describe('layout helpers', () => {
  for (const [R, C, dt] of [[5, 7, 'f32'], [1, 1, 'f16'], [64, 3, 'f16']] as [number, number, DType][]) {
    it(`transpose2d [${R},${C}] ${dt}`, async () => {
      const ctx = await testContext();
      const seed = freshSeed();
      const x = randn(rng(seed), R * C, 1, dt);
      const dst = poisonedTensor(ctx, [C, R], dt);
      await runCalls(ctx, [await transpose2d(ctx, { src: uploadTensor(ctx, x, [R, C], dt), dst })]);
      const want = new Float64Array(R * C);
      for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) want[c * R + r] = x[r * C + c];
      expectClose(await readTensor(ctx, dst), want, { relL2: 0 }, `transpose2d seed=${seed}`);
    });
  }

  for (const [B, L, H, D, sdt, ddt] of [[2, 3, 4, 6, 'f16', 'f16'], [1, 5, 3, 8, 'f32', 'f16'], [1, 1, 1, 1, 'f16', 'f32'], [2, 7, 2, 3, 'f32', 'f32']] as [number, number, number, number, DType, DType][]) {
    it(`splitHeads then mergeHeads round trip B=${B} L=${L} H=${H} D=${D} ${sdt}->${ddt}`, async () => {
      const ctx = await testContext();
      const seed = freshSeed();
      const x = randn(rng(seed), B * L * H * D, 1, sdt);
      const split = poisonedTensor(ctx, [B, H, L, D], ddt);
      const merged = poisonedTensor(ctx, [B, L, H * D], sdt);
      await runCalls(ctx, [
        await splitHeads(ctx, { src: uploadTensor(ctx, x, [B, L, H * D], sdt), dst: split, heads: H }),
        await mergeHeads(ctx, { src: split, dst: merged }),
      ]);
      const want = new Float64Array(x.length);
      for (let b = 0; b < B; b++) for (let l = 0; l < L; l++) for (let h = 0; h < H; h++) for (let d = 0; d < D; d++) {
        want[((b * H + h) * L + l) * D + d] = x[((b * L + l) * H + h) * D + d];
      }
      expectClose(await readTensor(ctx, split), want, exact(ddt, sdt), `splitHeads seed=${seed}`);
      expectClose(await readTensor(ctx, merged), x, exact(ddt, sdt), `mergeHeads seed=${seed}`);
    });
  }

  for (const [C, sdt, ddt] of [[3, 'f16', 'f16'], [8, 'f32', 'f16'], [1, 'f16', 'f32']] as [number, DType, DType][]) {
    it(`concatSeq (text+image style) then sliceSeq back, C=${C} ${sdt}->${ddt}`, async () => {
      const ctx = await testContext();
      const seed = freshSeed();
      const rand = rng(seed);
      const B = 2;
      const lens = [1, 4, 2];
      const parts = lens.map((L) => randn(rand, B * L * C, 1, sdt));
      const Ltot = 7;
      const dst = poisonedTensor(ctx, [B, Ltot, C], ddt);
      await runCalls(ctx, await concatSeq(ctx, { srcs: parts.map((p, i) => uploadTensor(ctx, p, [B, lens[i], C], sdt)), dst }));
      const want = new Float64Array(B * Ltot * C);
      let off = 0;
      parts.forEach((p, i) => {
        for (let b = 0; b < B; b++) for (let l = 0; l < lens[i]; l++) for (let c = 0; c < C; c++) want[(b * Ltot + off + l) * C + c] = p[(b * lens[i] + l) * C + c];
        off += lens[i];
      });
      expectClose(await readTensor(ctx, dst), want, exact(ddt, sdt), `concatSeq seed=${seed}`);
      const slice = poisonedTensor(ctx, [B, 4, C], ddt);
      await runCalls(ctx, [await sliceSeq(ctx, { src: dst, dst: slice, start: 1 })]);
      const got = await readTensor(ctx, slice);
      const wantSlice = new Float64Array(numel(slice.shape));
      for (let b = 0; b < B; b++) for (let l = 0; l < 4; l++) for (let c = 0; c < C; c++) wantSlice[(b * 4 + l) * C + c] = want[(b * Ltot + 1 + l) * C + c];
      expectClose(got, wantSlice, exact(ddt, sdt), `sliceSeq seed=${seed}`);
    });
  }

  it('rejects mismatched shapes with clear errors', async () => {
    const ctx = await testContext();
    const x = uploadTensor(ctx, new Float64Array(24), [2, 3, 4], 'f16');
    await expect(splitHeads(ctx, { src: x, dst: poisonedTensor(ctx, [2, 3, 3, 1], 'f16'), heads: 3 })).rejects.toThrow(/heads = 3 does not divide/);
    await expect(sliceSeq(ctx, { src: x, dst: poisonedTensor(ctx, [2, 2, 4], 'f16'), start: 2 })).rejects.toThrow(/rows \[2, 4\) are outside the source sequence of length 3/);
    await expect(concatSeq(ctx, { srcs: [x, x], dst: poisonedTensor(ctx, [2, 5, 4], 'f16') })).rejects.toThrow(/'dst' has shape \[2,5,4\] but \[2,6,4\]/);
    await expect(mergeHeads(ctx, { src: x, dst: x })).rejects.toThrow(/\[B, H, L, D\]/);
  });
});
