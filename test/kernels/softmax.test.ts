import { describe, expect, it } from 'vitest';
import { softmax } from '../../src/kernels-wgsl/softmax.js';
import { type DType, runCalls } from '../../src/gpu/kernel.js';
import type { ReduceMode } from '../../src/kernels-wgsl/wgsl-util.js';
import { expectClose, freshSeed, poisonedTensor, randn, readTensor, rng, testContext, uploadTensor } from '../helpers/gpu.js';

function refSoftmax(x: Float64Array, C: number, scale: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / C; r++) {
    let m = -Infinity;
    for (let c = 0; c < C; c++) m = Math.max(m, scale * x[r * C + c]);
    let s = 0;
    for (let c = 0; c < C; c++) s += Math.exp(scale * x[r * C + c] - m);
    for (let c = 0; c < C; c++) y[r * C + c] = Math.exp(scale * x[r * C + c] - m) / s;
  }
  return y;
}

describe('softmax', () => {
  const cases: { R: number; C: number; x: DType; out: DType; scale?: number; std: number; reduce?: ReduceMode; inPlace?: boolean }[] = [
    { R: 5, C: 7, x: 'f16', out: 'f16', scale: 0.125, std: 4 },
    { R: 3, C: 3077, x: 'f32', out: 'f32', std: 3 },
    { R: 2, C: 1, x: 'f16', out: 'f32', std: 1 },
    { R: 2, C: 1024, x: 'f32', out: 'f16', std: 2 }, // vec4, row held in registers
    { R: 4, C: 130, x: 'f16', out: 'f16', std: 2, inPlace: true, reduce: 'workgroup' },
    { R: 3, C: 64, x: 'f32', out: 'f32', std: 300, scale: 2 }, // huge logits: max subtraction must keep it finite
  ];
  for (const k of cases) {
    it(`R=${k.R} C=${k.C} ${k.x}->${k.out} scale=${k.scale ?? 1}${k.inPlace ? ' in-place' : ''} ${k.reduce ?? ''}`, async () => {
      const ctx = await testContext();
      const seed = freshSeed();
      const x = randn(rng(seed), k.R * k.C, k.std, k.x);
      const xt = uploadTensor(ctx, x, [k.R, k.C], k.x);
      const out = k.inPlace ? xt : poisonedTensor(ctx, [k.R, k.C], k.out);
      await runCalls(ctx, [await softmax(ctx, { x: xt, out, scale: k.scale, reduce: k.reduce })]);
      const want = refSoftmax(x, k.C, k.scale ?? 1);
      expectClose(await readTensor(ctx, out), want, { relL2: out.dtype === 'f16' ? 1.5e-3 : 2e-5 }, `softmax seed=${seed}`);
    });
  }
  it('rejects a mismatched output and a non-finite scale', async () => {
    const ctx = await testContext();
    const x = uploadTensor(ctx, new Float64Array(6), [2, 3], 'f16');
    await expect(softmax(ctx, { x, out: poisonedTensor(ctx, [3, 2], 'f16') })).rejects.toThrow(/'out' has shape \[3,2\] but \[2,3\]/);
    await expect(softmax(ctx, { x, out: x, scale: Infinity })).rejects.toThrow(/scale must be finite/);
  });
});
