import { describe, expect, it } from 'vitest';
import { convert, type SourceFormat } from '../../src/kernels-wgsl/convert.js';
import { type DType, allocTensor, runCalls } from '../../src/gpu/kernel.js';
import { bf16BitsToF32, f32ToBf16Bits, roundF16, toF16Array } from '../../src/util/f16.js';
import { expectClose, freshSeed, poisonedTensor, randn, readTensor, rng, testContext } from '../helpers/gpu.js';

describe('convert', () => {
  const cases: { n: number; from: SourceFormat; to: DType; count?: boolean }[] = [
    { n: 1000, from: 'bf16', to: 'f16', count: true },
    { n: 7, from: 'bf16', to: 'f16', count: true }, // odd count: scalar path, half-used last word
    { n: 1, from: 'bf16', to: 'f32' },
    { n: 13, from: 'f32', to: 'f16', count: true },
    { n: 4096, from: 'f32', to: 'f16' },
    { n: 9, from: 'f16', to: 'f32' },
    { n: 12, from: 'f16', to: 'f32' },
  ];
  for (const k of cases) {
    it(`${k.from} -> ${k.to}, n=${k.n}${k.count ? ', counting saturations' : ''}`, async () => {
      const ctx = await testContext();
      const seed = freshSeed();
      const rand = rng(seed);
      // Mostly weight-like values, plus some beyond f16's range (and tiny ones) to exercise saturation.
      const vals = randn(rand, k.n, 0.05, 'f32').map((v, i) =>
        i % 5 === 1 ? Math.fround((v < 0 ? -1 : 1) * (7e4 + Math.abs(v) * 4e6)) : i % 7 === 2 ? Math.fround(v * 1e-6) : v);
      let raw: Uint16Array | Float32Array;
      let exactIn: number[];
      if (k.from === 'bf16') {
        raw = Uint16Array.from(vals, (v) => f32ToBf16Bits(v));
        exactIn = Array.from(raw, bf16BitsToF32);
      } else if (k.from === 'f16') {
        const clampedIn = Array.from(vals, (v) => Math.max(-65504, Math.min(65504, v)));
        raw = toF16Array(clampedIn);
        exactIn = clampedIn.map(roundF16);
      } else {
        raw = Float32Array.from(vals);
        exactIn = Array.from(raw);
      }
      const src = allocTensor(ctx, [k.n], k.from === 'f32' ? 'f32' : 'f16');
      ctx.write(src.buffer, raw);
      const dst = poisonedTensor(ctx, [k.n], k.to);
      const counter = ctx.createBuffer(4);
      ctx.write(counter, new Uint32Array([0]));
      await runCalls(ctx, [await convert(ctx, { src, srcFormat: k.from, dst, ...(k.count ? { saturatedCount: counter } : {}) })]);
      const want = exactIn.map((v) => (k.to === 'f16' ? roundF16(Math.max(-65504, Math.min(65504, v))) : v));
      // f32 -> f16 may round either way on some GPUs: allow one f16 ulp; every other conversion is exact.
      expectClose(await readTensor(ctx, dst), want, { relL2: k.from === 'f32' && k.to === 'f16' ? 1e-3 : 1e-6 }, `convert seed=${seed}`);
      if (k.count) {
        const saturated = new Uint32Array(await ctx.readback(counter, 4))[0];
        expect(saturated).toBe(exactIn.filter((v) => Math.abs(v) > 65504).length);
        expect(saturated).toBeGreaterThan(0);
      }
    });
  }
  it('rejects mismatched sizes and bf16 given as a 4-byte view', async () => {
    const ctx = await testContext();
    const src = allocTensor(ctx, [6], 'f16');
    await expect(convert(ctx, { src, srcFormat: 'bf16', dst: poisonedTensor(ctx, [5], 'f16') })).rejects.toThrow(/has 5 elements but 'src' \[6\] has 6/);
    await expect(convert(ctx, { src: allocTensor(ctx, [6], 'f32'), srcFormat: 'bf16', dst: poisonedTensor(ctx, [6], 'f16') })).rejects.toThrow(/2-byte view/);
    await expect(convert(ctx, { src, dst: src })).rejects.toThrow(/overlap/);
  });
});
