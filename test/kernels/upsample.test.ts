// Nearest 2x upsample (NHWC) against a float64 reference; it is a pure copy, so the match must be exact.
import { describe, expect, it } from 'vitest';
import { upsampleNearest2x } from '../../src/kernels-wgsl/upsample.js';
import { allocTensor, runCalls, type DType } from '../../src/gpu/kernel.js';
import { roundF16 } from '../../src/util/f16.js';
import { freshSeed, poisonedTensor, randn, readTensor, rng, testContext, uploadTensor } from '../helpers/gpu.js';

function refUpsample(x: Float64Array, [B, H, W, C]: number[]): Float64Array {
  const y = new Float64Array(B * 4 * H * W * C);
  for (let b = 0; b < B; b++) for (let oy = 0; oy < 2 * H; oy++) for (let ox = 0; ox < 2 * W; ox++) for (let c = 0; c < C; c++) {
    y[((b * 2 * H + oy) * 2 * W + ox) * C + c] = x[((b * H + (oy >> 1)) * W + (ox >> 1)) * C + c];
  }
  return y;
}

describe('upsampleNearest2x', () => {
  const cases: { shape: number[]; x: DType; out: DType }[] = [
    { shape: [1, 5, 7, 3], x: 'f16', out: 'f16' }, // C % 4 != 0: scalar path
    { shape: [2, 3, 4, 20], x: 'f16', out: 'f16' }, // vec4 path, B = 2
    { shape: [1, 1, 1, 1], x: 'f32', out: 'f32' },
    { shape: [2, 6, 3, 12], x: 'f32', out: 'f16' }, // converting
  ];
  for (const c of cases) {
    it(`[${c.shape}] ${c.x} -> ${c.out}`, async () => {
      const ctx = await testContext();
      const seed = freshSeed();
      const x = randn(rng(seed), c.shape.reduce((a, b) => a * b, 1), 1, c.x);
      const [B, H, W, C] = c.shape;
      const out = poisonedTensor(ctx, [B, 2 * H, 2 * W, C], c.out);
      await runCalls(ctx, [await upsampleNearest2x(ctx, { x: uploadTensor(ctx, x, c.shape, c.x), out })]);
      const want = refUpsample(x, c.shape).map((v) => (c.out === 'f16' ? roundF16(v) : v));
      const got = await readTensor(ctx, out);
      const bad = want.findIndex((v, i) => got[i] !== v);
      expect(bad, `first mismatch at ${bad}: got ${got[bad]}, want ${want[bad]} (seed ${seed})`).toBe(-1);
    });
  }

  it('rejects a wrongly sized output', async () => {
    const ctx = await testContext();
    const x = allocTensor(ctx, [1, 4, 5, 8], 'f16');
    await expect(upsampleNearest2x(ctx, { x, out: allocTensor(ctx, [1, 8, 9, 8], 'f16') })).rejects.toThrow(/'out' has shape \[1,8,9,8\] but \[1,8,10,8\]/);
    await expect(upsampleNearest2x(ctx, { x: allocTensor(ctx, [4, 5, 8], 'f16'), out: allocTensor(ctx, [1, 8, 10, 8], 'f16') })).rejects.toThrow(/\[B, H, W, C\]/);
  });
});
