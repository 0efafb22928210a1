import { describe, expect, it } from 'vitest';
import { layerNorm, layerNormModulate, rmsNorm } from '../../src/kernels-wgsl/norm.js';
import { type DType, runCalls } from '../../src/gpu/kernel.js';
import type { ReduceMode } from '../../src/kernels-wgsl/wgsl-util.js';
import { expectClose, freshSeed, poisonedTensor, randn, readTensor, rng, testContext, uploadTensor } from '../helpers/gpu.js';

/** float64 reference: per-row normalisation with an optional per-element epilogue. */
function refNorm(x: Float64Array, C: number, eps: number, rms: boolean, epi: (y: number, r: number, c: number) => number): Float64Array {
  const rows = x.length / C;
  const out = new Float64Array(x.length);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    if (!rms) {
      for (let c = 0; c < C; c++) mean += x[r * C + c];
      mean /= C;
    }
    let v = 0;
    for (let c = 0; c < C; c++) v += (x[r * C + c] - mean) ** 2;
    const rstd = 1 / Math.sqrt(v / C + eps);
    for (let c = 0; c < C; c++) out[r * C + c] = epi((x[r * C + c] - mean) * rstd, r, c);
  }
  return out;
}

const bound = (d: DType) => ({ relL2: d === 'f16' ? 1.5e-3 : 2e-5 });

describe('layerNorm', () => {
  const cases: { R: number; C: number; x: DType; out: DType; affine: boolean; reduce?: ReduceMode; inPlace?: boolean }[] = [
    { R: 5, C: 7, x: 'f16', out: 'f16', affine: true },
    { R: 3, C: 3077, x: 'f32', out: 'f16', affine: true, reduce: 'subgroup' }, // long odd row: re-read path
    { R: 1, C: 1, x: 'f16', out: 'f16', affine: true },
    { R: 300, C: 24, x: 'f16', out: 'f16', affine: true }, // short rows: many rows per workgroup, last one partial
    { R: 4, C: 3072, x: 'f32', out: 'f32', affine: false }, // vec4, row held in registers
    { R: 6, C: 34, x: 'f32', out: 'f32', affine: true, inPlace: true, reduce: 'workgroup' },
  ];
  for (const k of cases) {
    it(`R=${k.R} C=${k.C} ${k.x}->${k.out}${k.affine ? ' affine' : ''}${k.inPlace ? ' in-place' : ''} ${k.reduce ?? ''}`, async () => {
      const ctx = await testContext();
      const seed = freshSeed();
      const rand = rng(seed);
      // A large common offset per row checks the two-pass variance (no E[x^2]-E[x]^2 cancellation).
      const x = randn(rand, k.R * k.C, 3, k.x).map((v, i) => (k.x === 'f32' ? Math.fround(v + 100 * ((i / k.C) | 0)) : v));
      const w = randn(rand, k.C, 1, 'f16');
      const b = randn(rand, k.C, 1, 'f16');
      const xt = uploadTensor(ctx, x, [k.R, k.C], k.x);
      const out = k.inPlace ? xt : poisonedTensor(ctx, [k.R, k.C], k.out);
      const call = await layerNorm(ctx, {
        x: xt, out, eps: 1e-6, reduce: k.reduce,
        ...(k.affine ? { weight: uploadTensor(ctx, w, [k.C], 'f16'), bias: uploadTensor(ctx, b, [k.C], 'f16') } : {}),
      });
      await runCalls(ctx, [call]);
      const want = refNorm(x, k.C, 1e-6, false, (y, _r, c) => (k.affine ? y * w[c] + b[c] : y));
      expectClose(await readTensor(ctx, out), want, bound(k.out), `layerNorm seed=${seed}`);
    });
  }

  it('rejects bad shapes and partial overlaps with clear errors', async () => {
    const ctx = await testContext();
    const x = uploadTensor(ctx, new Float64Array(12), [3, 4], 'f16');
    await expect(layerNorm(ctx, { x, out: poisonedTensor(ctx, [4, 3], 'f16'), eps: 1e-6 })).rejects.toThrow(/'out' has shape \[4,3\] but \[3,4\]/);
    await expect(layerNorm(ctx, { x, out: poisonedTensor(ctx, [3, 4], 'f16'), weight: uploadTensor(ctx, new Float64Array(3), [3], 'f16'), eps: 1e-6 }))
      .rejects.toThrow(/'weight' has shape \[3\] but \[4\]/);
    const part = { ...x, shape: [2, 4] };
    await expect(layerNorm(ctx, { x, out: part, eps: 1e-6 })).rejects.toThrow(/shape/);
    const shifted = { ...x, offset: 8, shape: [1, 4] };
    await expect(layerNorm(ctx, { x: { ...x, shape: [1, 4] }, out: shifted, eps: 1e-6 })).rejects.toThrow(/offset 8, not a multiple of 256/);
    const big = uploadTensor(ctx, new Float64Array(512), [2, 256], 'f16');
    await expect(layerNorm(ctx, { x: { ...big, shape: [1, 256] }, out: { ...big, offset: 256, shape: [1, 256] }, eps: 1e-6 }))
      .rejects.toThrow(/partially overlaps 'x'/);
    await expect(layerNorm(ctx, { x, out: poisonedTensor(ctx, [3, 4], 'f16'), eps: NaN })).rejects.toThrow(/eps/);
  });
});

describe('rmsNorm', () => {
  const cases: { R: number; C: number; x: DType; out: DType; weight: boolean; reduce?: ReduceMode; inPlace?: boolean }[] = [
    { R: 7, C: 128, x: 'f16', out: 'f16', weight: true },
    { R: 3, C: 3077, x: 'f32', out: 'f32', weight: true },
    { R: 2, C: 1, x: 'f32', out: 'f16', weight: false },
    { R: 100, C: 40, x: 'f32', out: 'f32', weight: true }, // short rows, 2 vectors per lane
    { R: 9, C: 12, x: 'f32', out: 'f32', weight: true, inPlace: true }, // short rows, in place
    { R: 5, C: 66, x: 'f16', out: 'f16', weight: false, inPlace: true, reduce: 'workgroup' },
  ];
  for (const k of cases) {
    it(`R=${k.R} C=${k.C} ${k.x}->${k.out}${k.weight ? ' weight' : ''}${k.inPlace ? ' in-place' : ''}`, async () => {
      const ctx = await testContext();
      const seed = freshSeed();
      const rand = rng(seed);
      const x = randn(rand, k.R * k.C, 2, k.x);
      const w = randn(rand, k.C, 1, 'f16');
      const xt = uploadTensor(ctx, x, [k.R, k.C], k.x);
      const out = k.inPlace ? xt : poisonedTensor(ctx, [k.R, k.C], k.out);
      const call = await rmsNorm(ctx, { x: xt, out, eps: 1e-6, reduce: k.reduce, ...(k.weight ? { weight: uploadTensor(ctx, w, [k.C], 'f16') } : {}) });
      await runCalls(ctx, [call]);
      const want = refNorm(x, k.C, 1e-6, true, (y, _r, c) => (k.weight ? y * w[c] : y));
      expectClose(await readTensor(ctx, out), want, bound(k.out), `rmsNorm seed=${seed}`);
    });
  }

  it('handles more than 65535 rows (2-D grid)', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const R = 70001;
    const C = 257; // long enough for one workgroup per row on any subgroup size up to 64 (shorter rows share workgroups)
    const x = randn(rng(seed), R * C, 1, 'f16');
    const xt = uploadTensor(ctx, x, [R, C], 'f16');
    const out = poisonedTensor(ctx, [R, C], 'f16');
    const call = await rmsNorm(ctx, { x: xt, out, eps: 1e-6 });
    expect(call.workgroups[1]).toBeGreaterThan(1);
    await runCalls(ctx, [call]);
    expectClose(await readTensor(ctx, out), refNorm(x, C, 1e-6, true, (y) => y), bound('f16'), `rmsNorm many rows seed=${seed}`);
  });
});

describe('layerNormModulate', () => {
  const cases: { B: number; L: number; C: number; G: number; shift: number; scale: number; x: DType; mod: DType; reduce?: ReduceMode }[] = [
    { B: 2, L: 5, C: 24, G: 6, shift: 3, scale: 4, x: 'f32', mod: 'f16' },
    { B: 3, L: 2, C: 7, G: 3, shift: 0, scale: 1, x: 'f16', mod: 'f32' },
    { B: 1, L: 3, C: 3077, G: 2, shift: 1, scale: 0, x: 'f32', mod: 'f32' },
  ];
  for (const k of cases) {
    it(`B=${k.B} L=${k.L} C=${k.C} G=${k.G} x ${k.x} mod ${k.mod}`, async () => {
      const ctx = await testContext();
      const seed = freshSeed();
      const rand = rng(seed);
      const R = k.B * k.L;
      const x = randn(rand, R * k.C, 4, k.x);
      const mod = randn(rand, k.B * k.G * k.C, 0.5, k.mod);
      const out = poisonedTensor(ctx, [k.B, k.L, k.C], 'f16');
      const call = await layerNormModulate(ctx, {
        x: uploadTensor(ctx, x, [k.B, k.L, k.C], k.x), out, mod: uploadTensor(ctx, mod, [k.B, k.G * k.C], k.mod),
        shiftChunk: k.shift, scaleChunk: k.scale, rowsPerBatch: k.L, eps: 1e-6, reduce: k.reduce,
      });
      await runCalls(ctx, [call]);
      const want = refNorm(x, k.C, 1e-6, false, (y, r, c) => {
        const b = Math.floor(r / k.L);
        return y * (1 + mod[b * k.G * k.C + k.scale * k.C + c]) + mod[b * k.G * k.C + k.shift * k.C + c];
      });
      expectClose(await readTensor(ctx, out), want, bound('f16'), `layerNormModulate seed=${seed}`);
    });
  }

  it('rejects bad modulation layouts', async () => {
    const ctx = await testContext();
    const x = uploadTensor(ctx, new Float64Array(24), [2, 3, 4], 'f32');
    const out = poisonedTensor(ctx, [2, 3, 4], 'f16');
    const mod = uploadTensor(ctx, new Float64Array(2 * 12), [2, 12], 'f16');
    await expect(layerNormModulate(ctx, { x, out, mod, shiftChunk: 3, scaleChunk: 1, rowsPerBatch: 3, eps: 1e-6 })).rejects.toThrow(/shiftChunk = 3 is out of range/);
    await expect(layerNormModulate(ctx, { x, out, mod, shiftChunk: 0, scaleChunk: 1, rowsPerBatch: 2, eps: 1e-6 })).rejects.toThrow(/\[3, G\*4\]/);
    await expect(layerNormModulate(ctx, { x, out, mod, shiftChunk: 0, scaleChunk: 1, rowsPerBatch: 4, eps: 1e-6 })).rejects.toThrow(/not a multiple/);
    await expect(layerNormModulate(ctx, { x, out: poisonedTensor(ctx, [2, 3, 4], 'f32'), mod, shiftChunk: 0, scaleChunk: 1, rowsPerBatch: 3, eps: 1e-6 }))
      .rejects.toThrow(/'out' is f32 but must be f16/);
  });
});
