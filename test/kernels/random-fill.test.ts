import { describe, expect, it } from 'vitest';
import { randomFill } from '../../src/kernels-wgsl/random-fill.js';
import { runCalls } from '../../src/gpu/kernel.js';
import { freshSeed, poisonedTensor, readTensor, testContext } from '../helpers/gpu.js';

describe('randomFill', () => {
  it.each(['f16', 'f32'] as const)('writes every element with mean/std close to the request (%s)', async (dtype) => {
    const ctx = await testContext();
    const seed = freshSeed();
    const n = 70_001; // not a multiple of the workgroup size
    const t = poisonedTensor(ctx, [n], dtype);
    await runCalls(ctx, [await randomFill(ctx, { out: t, seed, mean: 0.5, std: 2 })]);
    const v = await readTensor(ctx, t);
    let s = 0;
    let s2 = 0;
    for (const x of v) {
      expect(Number.isFinite(x), `seed ${seed}`).toBe(true);
      s += x;
      s2 += x * x;
    }
    const mean = s / n;
    const std = Math.sqrt(s2 / n - mean * mean);
    expect(Math.abs(mean - 0.5), `seed ${seed}`).toBeLessThan(0.05);
    expect(Math.abs(std - 2), `seed ${seed}`).toBeLessThan(0.05);
  });

  it('is deterministic per seed and differs across seeds', async () => {
    const ctx = await testContext();
    const fill = async (seed: number) => {
      const t = poisonedTensor(ctx, [1000], 'f32');
      await runCalls(ctx, [await randomFill(ctx, { out: t, seed })]);
      return Array.from(await readTensor(ctx, t));
    };
    const a = await fill(7);
    expect(await fill(7)).toEqual(a);
    expect(await fill(8)).not.toEqual(a);
  });
});
