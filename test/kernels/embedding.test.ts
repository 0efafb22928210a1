import { describe, expect, it } from 'vitest';
import { embedding, timestepEmbedding, validateTokenIds } from '../../src/kernels-wgsl/embedding.js';
import { type DType, runCalls } from '../../src/gpu/kernel.js';
import { expectClose, freshSeed, poisonedTensor, randn, readTensor, rng, testContext, uploadTensor } from '../helpers/gpu.js';

describe('embedding', () => {
  const cases: { V: number; C: number; ids: number[]; table: DType; out: DType; idType?: 'i32' }[] = [
    { V: 11, C: 7, ids: [2, 5], table: 'f16', out: 'f32' },
    { V: 13, C: 9, ids: [3, 4], table: 'f16', out: 'f32', idType: 'i32' },
    { V: 5, C: 3077, ids: [3], table: 'f32', out: 'f16' },
    { V: 300, C: 8, ids: [1, 1, 9], table: 'f16', out: 'f16' },
    { V: 1, C: 1, ids: [1], table: 'f32', out: 'f32' },
  ];
  for (const k of cases) {
    it(`V=${k.V} C=${k.C} ${k.idType ?? 'u32'} ids [${k.ids}] ${k.table}->${k.out}, out-of-range ids clamped`, async () => {
      const ctx = await testContext();
      const seed = freshSeed();
      const rand = rng(seed);
      const N = k.ids.reduce((a, b) => a * b, 1);
      const table = randn(rand, k.V * k.C, 1, k.table);
      const ids = Uint32Array.from({ length: N }, () => Math.floor(rand() * k.V));
      if (N > 1) ids[N - 1] = k.V + 7; // out of range: the GPU clamps it to the last row
      const signed = Int32Array.from(ids);
      if (k.idType === 'i32') signed[0] = -3; // negative: the GPU clamps it to row 0
      const idBuf = ctx.upload(k.idType === 'i32' ? signed : ids);
      const out = poisonedTensor(ctx, [...k.ids, k.C], k.out);
      await runCalls(ctx, [await embedding(ctx, { ids: { buffer: idBuf, offset: 0, shape: k.ids, dtype: k.idType ?? 'u32' }, table: uploadTensor(ctx, table, [k.V, k.C], k.table), out })]);
      const want = new Float64Array(N * k.C);
      for (let n = 0; n < N; n++) for (let c = 0; c < k.C; c++) {
        const id = k.idType === 'i32' ? Math.max(0, signed[n]) : ids[n];
        want[n * k.C + c] = table[Math.min(id, k.V - 1) * k.C + c];
      }
      expectClose(await readTensor(ctx, out), want, { relL2: k.table === 'f32' && k.out === 'f16' ? 1e-3 : 0 }, `embedding seed=${seed}`);
    });
  }
  it('validates ids on the host and shapes on launch', async () => {
    expect(() => validateTokenIds([0, 4, 5], 5)).toThrow(/token id 5 at position 2 is outside the vocabulary \[0, 5\)/);
    expect(() => validateTokenIds([0, 4], 5)).not.toThrow();
    const ctx = await testContext();
    const table = uploadTensor(ctx, new Float64Array(12), [3, 4], 'f16');
    const ids = { buffer: ctx.upload(new Uint32Array(2)), offset: 0, shape: [2] };
    await expect(embedding(ctx, { ids, table, out: poisonedTensor(ctx, [2, 3], 'f16') })).rejects.toThrow(/'out' has shape \[2,3\] but \[2,4\]/);
    await expect(embedding(ctx, { ids: { ...ids, dtype: 'f32' }, table, out: poisonedTensor(ctx, [2, 4], 'f16') })).rejects.toThrow(/'ids' is f32 but u32 or i32/);
  });
});

/** FLUX timestep_embedding (math in float64). */
function refFlux(t: number[], dim: number, maxPeriod = 10000, timeFactor = 1000): Float64Array {
  const half = Math.floor(dim / 2);
  const out = new Float64Array(t.length * dim);
  t.forEach((tv, b) => {
    for (let k = 0; k < half; k++) {
      const arg = timeFactor * tv * Math.exp((-Math.log(maxPeriod) * k) / half);
      out[b * dim + k] = Math.cos(arg);
      out[b * dim + half + k] = Math.sin(arg);
    }
  });
  return out;
}

/** diffusers get_timestep_embedding (math in float64). */
function refDiffusers(t: number[], dim: number, flip: boolean, shift: number, scale: number, maxPeriod = 10000): Float64Array {
  const half = Math.floor(dim / 2);
  const out = new Float64Array(t.length * dim);
  t.forEach((tv, b) => {
    const emb: number[] = [];
    for (let k = 0; k < half; k++) emb.push(scale * tv * Math.exp((-Math.log(maxPeriod) * k) / (half - shift)));
    const row = [...emb.map(Math.sin), ...emb.map(Math.cos)];
    const fin = flip ? [...row.slice(half), ...row.slice(0, half)] : row;
    fin.forEach((v, j) => { out[b * dim + j] = v; });
  });
  return out;
}

describe('timestepEmbedding', () => {
  it('matches FLUX timestep_embedding (t in [0,1], time_factor 1000, dim 256)', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const rand = rng(seed);
    const t = [0, 1, ...Array.from({ length: 3 }, () => Math.fround(rand()))];
    const out = poisonedTensor(ctx, [t.length, 256], 'f32');
    await runCalls(ctx, [await timestepEmbedding(ctx, { t: uploadTensor(ctx, t, [t.length], 'f32'), out, dim: 256, flipSinToCos: true, downscaleFreqShift: 0, scale: 1000 })]);
    expectClose(await readTensor(ctx, out), refFlux(t, 256), { relL2: 2e-4, maxAbs: 1e-3 }, `flux timestep seed=${seed}`);
  });
  it('matches diffusers Timesteps as SD3 uses it (t in [0,1000], flip, shift 0), f16 out', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const rand = rng(seed);
    const t = [999, ...Array.from({ length: 2 }, () => Math.fround(rand() * 1000))];
    const out = poisonedTensor(ctx, [t.length, 256], 'f16');
    await runCalls(ctx, [await timestepEmbedding(ctx, { t: uploadTensor(ctx, t, [t.length], 'f32'), out, dim: 256, flipSinToCos: true, downscaleFreqShift: 0, scale: 1 })]);
    expectClose(await readTensor(ctx, out), refDiffusers(t, 256, true, 0, 1), { relL2: 1e-3, maxAbs: 2e-3 }, `sd3 timestep seed=${seed}`);
  });
  it('unflipped, shift 1, odd dim (zero pad)', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const t = [Math.fround(rng(seed)() * 50), 3];
    const out = poisonedTensor(ctx, [2, 7], 'f32');
    await runCalls(ctx, [await timestepEmbedding(ctx, { t: uploadTensor(ctx, t, [2], 'f32'), out, dim: 7, maxPeriod: 100, flipSinToCos: false, downscaleFreqShift: 1, scale: 2 })]);
    const got = await readTensor(ctx, out);
    expect(got[6]).toBe(0);
    expectClose(got, refDiffusers(t, 7, false, 1, 2, 100), { relL2: 2e-5 }, `odd timestep seed=${seed}`);
  });
  it('rejects a singular frequency denominator and a bad t', async () => {
    const ctx = await testContext();
    const t = uploadTensor(ctx, [1], [1], 'f32');
    await expect(timestepEmbedding(ctx, { t, out: poisonedTensor(ctx, [1, 2], 'f32'), dim: 2, flipSinToCos: true, downscaleFreqShift: 1, scale: 1 })).rejects.toThrow(/non-zero/);
    await expect(timestepEmbedding(ctx, { t: uploadTensor(ctx, [1], [1], 'f16'), out: poisonedTensor(ctx, [1, 4], 'f32'), dim: 4, flipSinToCos: true, downscaleFreqShift: 0, scale: 1 })).rejects.toThrow(/'t' must be f32/);
  });
});
