// The first-block cache's change statistic (kernels-wgsl/abs-diff-sums.ts): per-workgroup partial sums of |a - b|
// and |b| against float64 sums of the same inputs, fresh random data, odd sizes (a partial last workgroup, more
// elements than the 1024 workgroups cover in one pass), f16/f32 operands, NaN-poisoned outputs, inputs that share
// a buffer, and the argument errors.
import { describe, expect, it } from 'vitest';
import { allocTensor, runCalls, type DType } from '../../src/gpu/kernel.js';
import { absDiffGroups, absDiffRatio, absDiffSums } from '../../src/kernels-wgsl/abs-diff-sums.js';
import { freshSeed, poisonedTensor, randn, readTensor, rng, testContext, uploadTensor } from '../helpers/gpu.js';

const ctx = await testContext();
const SEED = freshSeed();

function ref(a: Float64Array, b: Float64Array): { diff: number; base: number } {
  let diff = 0;
  let base = 0;
  for (let i = 0; i < a.length; i++) {
    diff += Math.abs(a[i] - b[i]);
    base += Math.abs(b[i]);
  }
  return { diff, base };
}

describe(`abs-diff sums (seed ${SEED})`, () => {
  const cases: [number, DType, DType][] = [[1, 'f32', 'f32'], [7, 'f16', 'f32'], [4097, 'f32', 'f16'], [123457, 'f32', 'f32'], [4_500_001, 'f32', 'f32']];
  for (const [n, at, bt] of cases) {
    it(`n=${n} ${at}/${bt}`, async () => {
      const rand = rng(SEED + n);
      const b = randn(rand, n, 2, bt);
      // a = b + a small change (what the cache sees) plus a few large outliers.
      const d = randn(rand, n, 0.05, 'f32');
      const a = Float64Array.from(b, (v, i) => v + d[i] + (i % 997 === 3 ? 5 : 0));
      const av = uploadTensor(ctx, a, [n], at);
      const bv = uploadTensor(ctx, b, [n], bt);
      const aStored = Float64Array.from(await readTensor(ctx, av));
      const G = absDiffGroups(n);
      const out = poisonedTensor(ctx, [G, 2], 'f32');
      await runCalls(ctx, [await absDiffSums(ctx, { a: av, b: bv, out })]);
      const partials = await readTensor(ctx, out);
      expect(partials.every(Number.isFinite), `seed ${SEED}: a partial is not finite (poison left)`).toBe(true);
      const want = ref(aStored, b);
      let diff = 0;
      let base = 0;
      for (let g = 0; g < G; g++) {
        diff += partials[2 * g];
        base += partials[2 * g + 1];
      }
      // f32 accumulation over <= ~4400 values per invocation, then a tree: relative error well below 1e-4.
      expect(Math.abs(diff - want.diff) / want.diff, `seed ${SEED}: Σ|a-b| ${diff} vs ${want.diff}`).toBeLessThan(1e-4);
      expect(Math.abs(base - want.base) / want.base, `seed ${SEED}: Σ|b| ${base} vs ${want.base}`).toBeLessThan(1e-4);
      expect(absDiffRatio(partials)).toBeCloseTo(want.diff / want.base, 5);
    });
  }

  it('a and b in one buffer (the graph arena case); identical inputs give 0', async () => {
    const n = 4096; // the second half starts 16384 bytes in: a bindable (256-byte aligned) offset
    const x = randn(rng(SEED), 2 * n, 1, 'f32');
    const both = uploadTensor(ctx, x, [2 * n], 'f32');
    const a = { ...both, shape: [n], offset: both.offset };
    const b = { ...both, shape: [n], offset: both.offset + n * 4 };
    const out = poisonedTensor(ctx, [absDiffGroups(n), 2], 'f32');
    await runCalls(ctx, [await absDiffSums(ctx, { a, b, out })]);
    const want = ref(x.subarray(0, n), x.subarray(n));
    expect(absDiffRatio(await readTensor(ctx, out))).toBeCloseTo(want.diff / want.base, 5);
    const same = poisonedTensor(ctx, [absDiffGroups(n), 2], 'f32');
    await runCalls(ctx, [await absDiffSums(ctx, { a: b, b, out: same })]);
    expect(absDiffRatio(await readTensor(ctx, same))).toBe(0);
  });

  it('absDiffRatio: zeros, a zero reference, non-finite sums', () => {
    expect(absDiffRatio([0, 0, 0, 0])).toBe(0);
    expect(absDiffRatio([1, 0])).toBe(Infinity);
    expect(absDiffRatio([NaN, 1])).toBeNaN();
    expect(absDiffRatio([1, 2, 3, 4])).toBeCloseTo(4 / 6, 12);
  });

  it('rejects mismatched sizes, wrong dtypes and a wrong output shape with the fix', async () => {
    const a = uploadTensor(ctx, [1, 2, 3], [3], 'f32');
    const b = uploadTensor(ctx, [1, 2], [2], 'f32');
    const out = allocTensor(ctx, [1, 2], 'f32');
    await expect(absDiffSums(ctx, { a, b, out })).rejects.toThrow(/same number of elements/);
    await expect(absDiffSums(ctx, { a, b: a, out: allocTensor(ctx, [2, 2], 'f32') })).rejects.toThrow(/\[1, 2\] f32 is required/);
    await expect(absDiffSums(ctx, { a: { ...a, dtype: 'u32' }, b: a, out })).rejects.toThrow(/must be f16 or f32/);
  });
});
