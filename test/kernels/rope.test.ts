import { describe, expect, it } from 'vitest';
import { applyRope } from '../../src/kernels-wgsl/rope.js';
import { fluxPositionIds, fluxRopeTable } from '../../src/models/flux/rope.js';
import { type DType, runCalls } from '../../src/gpu/kernel.js';
import { expectClose, freshSeed, poisonedTensor, randn, readTensor, rng, testContext, uploadTensor } from '../helpers/gpu.js';

/**
 * FLUX's formulation, written independently: per axis a 2x2 matrix [[cos, -sin], [sin, cos]] per frequency,
 * the axes concatenated, and out[.., i, :] = M_i @ (x[2i], x[2i+1]).
 */
function fluxRotationMatrices(ids: Float64Array, axesDim: number[], theta: number): number[][][][] {
  const L = ids.length / axesDim.length;
  const out: number[][][][] = [];
  for (let l = 0; l < L; l++) {
    const mats: number[][][] = [];
    axesDim.forEach((dim, a) => {
      for (let d = 0; d < dim; d += 2) {
        const ang = ids[l * axesDim.length + a] * (1 / Math.pow(theta, d / dim));
        mats.push([[Math.cos(ang), -Math.sin(ang)], [Math.sin(ang), Math.cos(ang)]]);
      }
    });
    out.push(mats);
  }
  return out;
}

function refRope(x: Float64Array, B: number, H: number, L: number, D: number, m: number[][][][]): Float64Array {
  const y = new Float64Array(x.length);
  for (let bh = 0; bh < B * H; bh++) {
    for (let l = 0; l < L; l++) {
      for (let i = 0; i < D / 2; i++) {
        const o = (bh * L + l) * D + 2 * i;
        const M = m[l][i];
        y[o] = M[0][0] * x[o] + M[0][1] * x[o + 1];
        y[o + 1] = M[1][0] * x[o] + M[1][1] * x[o + 1];
      }
    }
  }
  return y;
}

describe('fluxRopeTable', () => {
  it('matches FLUX EmbedND rotation matrices for the joint text+image ids', () => {
    const ids = fluxPositionIds(3, 4, 5);
    const t = fluxRopeTable(ids);
    expect(t.L).toBe(23);
    expect(t.pairs).toBe(64);
    const m = fluxRotationMatrices(ids, [16, 56, 56], 10000);
    let worst = 0;
    for (let l = 0; l < t.L; l++) {
      for (let j = 0; j < 64; j++) {
        worst = Math.max(worst, Math.abs(t.cos[l * 64 + j] - m[l][j][0][0]), Math.abs(t.sin[l * 64 + j] - m[l][j][1][0]));
      }
    }
    expect(worst).toBeLessThan(1e-7);
    // image token (row 2, col 3) = index 3 + 2*5 + 3: pair 8 is axis 1's first frequency (omega 1), pair 36 axis 2's.
    const l = 3 + 2 * 5 + 3;
    expect(t.sin[l * 64 + 8]).toBeCloseTo(Math.sin(2), 6);
    expect(t.sin[l * 64 + 36]).toBeCloseTo(Math.sin(3), 6);
    expect(t.cos[l * 64 + 9]).toBeCloseTo(Math.cos(2 / 10000 ** (2 / 56)), 6);
    expect(t.sin[0]).toBe(0); // text tokens: all angles zero
  });
  it('rejects odd axis dims', () => {
    expect(() => fluxRopeTable(new Float64Array(3), [15, 56, 57])).toThrow(/even/);
  });
});

describe('applyRope', () => {
  const cases: { B: number; H: number; L: number; axes: number[]; x: DType; out: DType; inPlace?: boolean }[] = [
    { B: 1, H: 2, L: 7, axes: [16, 56, 56], x: 'f16', out: 'f16' }, // FLUX head dim 128
    { B: 2, H: 3, L: 5, axes: [2, 2, 2], x: 'f32', out: 'f32', inPlace: true }, // D = 6: odd pair count (scalar pairs)
    { B: 1, H: 1, L: 1, axes: [2], x: 'f32', out: 'f16' }, // D = 2
    { B: 2, H: 1, L: 9, axes: [8, 12, 12], x: 'f16', out: 'f32', inPlace: false },
    { B: 1, H: 2, L: 4, axes: [16, 56, 56], x: 'f16', out: 'f16', inPlace: true },
  ];
  for (const k of cases) {
    const D = k.axes.reduce((a, b) => a + b, 0);
    it(`B=${k.B} H=${k.H} L=${k.L} D=${D} ${k.x}->${k.out}${k.inPlace ? ' in-place' : ''}`, async () => {
      const ctx = await testContext();
      const seed = freshSeed();
      const rand = rng(seed);
      const ids = new Float64Array(k.L * k.axes.length).map(() => Math.floor(rand() * 64));
      const table = fluxRopeTable(ids, k.axes);
      const x = randn(rand, k.B * k.H * k.L * D, 1, k.x);
      const shape = [k.B, k.H, k.L, D];
      const xt = uploadTensor(ctx, x, shape, k.x);
      const out = k.inPlace ? xt : poisonedTensor(ctx, shape, k.out);
      const call = await applyRope(ctx, {
        x: xt, out, cos: uploadTensor(ctx, table.cos, [k.L, D / 2], 'f32'), sin: uploadTensor(ctx, table.sin, [k.L, D / 2], 'f32'),
      });
      await runCalls(ctx, [call]);
      const want = refRope(x, k.B, k.H, k.L, D, fluxRotationMatrices(ids, k.axes, 10000));
      expectClose(await readTensor(ctx, out), want, { relL2: out.dtype === 'f16' ? 1e-3 : 1e-5 }, `applyRope seed=${seed}`);
    });
  }
  it('rejects mismatched tables and odd head dims', async () => {
    const ctx = await testContext();
    const x = uploadTensor(ctx, new Float64Array(2 * 3 * 8), [1, 2, 3, 8], 'f16');
    const c = uploadTensor(ctx, new Float64Array(3 * 4), [3, 4], 'f32');
    await expect(applyRope(ctx, { x, out: x, cos: c, sin: uploadTensor(ctx, new Float64Array(12), [4, 3], 'f32') })).rejects.toThrow(/'sin' has shape \[4,3\] but \[3,4\]/);
    await expect(applyRope(ctx, { x, out: x, cos: { ...c, dtype: 'f16', shape: [3, 4] }, sin: c })).rejects.toThrow(/'cos' is f16 but f32/);
    const odd = uploadTensor(ctx, new Float64Array(3), [1, 1, 1, 3], 'f16');
    await expect(applyRope(ctx, { x: odd, out: odd, cos: c, sin: c })).rejects.toThrow(/odd/);
  });
});
