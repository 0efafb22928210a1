// GroupNorm (split reduction: stats -> finalize -> apply) against a float64 two-pass reference.
import { describe, expect, it } from 'vitest';
import { groupNorm } from '../../src/kernels-wgsl/groupnorm.js';
import { allocTensor, runCalls, type DType } from '../../src/gpu/kernel.js';
import { roundF16 } from '../../src/util/f16.js';
import { expectClose, freshSeed, poisonedTensor, randn, readTensor, rng, testContext, uploadTensor } from '../helpers/gpu.js';
import { refGroupNorm } from '../helpers/vae-reference.js';


interface Case {
  name: string;
  shape: number[];
  groups: number;
  silu?: boolean;
  xDtype?: DType;
  outDtype?: DType;
  affineDtype?: DType;
  rowsPerThread?: number;
  /** Per-group offsets added to x: exercises centred variance when |mean| >> std. */
  offset?: number;
  std?: number;
  eps?: number;
}

async function runCase(c: Case): Promise<void> {
  const ctx = await testContext();
  const seed = freshSeed();
  const rand = rng(seed);
  const xDtype = c.xDtype ?? 'f16';
  const C = c.shape[c.shape.length - 1];
  const B = c.shape.length >= 3 ? c.shape[0] : 1;
  const n = c.shape.reduce((a, b) => a * b, 1);
  const HW = n / (B * C);
  const x = randn(rand, n, c.std ?? 1, xDtype);
  if (c.offset) {
    const round = xDtype === 'f16' ? roundF16 : Math.fround;
    const cpg = C / c.groups;
    // A different large mean per (batch, group), so each group's statistics are distinct.
    for (let i = 0; i < n; i++) {
      const g = Math.floor((i % C) / cpg);
      const b = Math.floor(i / (HW * C));
      x[i] = round(x[i] + c.offset * (1 + 0.1 * g - 0.3 * b));
    }
  }
  const aff = c.affineDtype ?? 'f16';
  const gamma = randn(rand, C, 0.3, aff).map((v) => (aff === 'f16' ? roundF16(1 + v) : Math.fround(1 + v)));
  const beta = randn(rand, C, 0.3, aff);
  const eps = c.eps ?? 1e-6;
  const ref = refGroupNorm(x, B, HW, C, gamma, beta, c.groups, eps, c.silu ?? false);
  const out = poisonedTensor(ctx, c.shape, c.outDtype ?? 'f16');
  const calls = await groupNorm(ctx, {
    x: uploadTensor(ctx, x, c.shape, xDtype), out,
    weight: uploadTensor(ctx, gamma, [C], aff), bias: uploadTensor(ctx, beta, [C], aff),
    groups: c.groups, eps, silu: c.silu, rowsPerThread: c.rowsPerThread,
  });
  expect(calls).toHaveLength(3);
  await runCalls(ctx, calls);
  // Statistics in f32 are near-exact; the output rounding to f16 (relative 2^-11) dominates.
  const bound = (c.outDtype ?? 'f16') === 'f16' ? 1e-3 : 2e-5;
  expectClose(await readTensor(ctx, out), ref, { relL2: bound }, `groupNorm ${c.name} (seed ${seed})`);
}

describe('groupNorm', () => {
  const cases: Case[] = [
    { name: 'groups=32 C=64, 37x41 pixels, split over many chunks, 3 rows per thread', shape: [1, 37, 41, 64], groups: 32, rowsPerThread: 3 },
    { name: 'groups=32 C=64 B=2 fused SiLU, default chunking', shape: [2, 23, 19, 64], groups: 32, silu: true },
    { name: 'C=128 (4 channels/group), f32 input, large mean offset (centred variance)', shape: [2, 13, 11, 128], groups: 32, xDtype: 'f32', offset: 300, std: 0.5, rowsPerThread: 5 },
    { name: 'f16 input with |mean| >> std', shape: [1, 17, 16, 96], groups: 32, offset: 40, std: 0.25, silu: true, rowsPerThread: 2 },
    { name: 'C=1088 (> 256 vec4 columns: 2 column blocks), f32 affine, f32 out', shape: [1, 5, 7, 1088], groups: 32, affineDtype: 'f32', outDtype: 'f32', rowsPerThread: 1 },
    { name: 'C not a multiple of 4 (C=15, 5 groups), odd sizes, scalar path', shape: [2, 7, 9, 15], groups: 5, silu: true, rowsPerThread: 2 },
    { name: 'groups=1 (LayerNorm over all of H*W*C), 1x1 image', shape: [3, 1, 1, 12], groups: 1 },
    { name: 'groups=C (InstanceNorm-like), large eps', shape: [1, 6, 5, 8], groups: 8, eps: 0.5 },
  ];
  for (const c of cases) it(c.name, () => runCase(c));

  it('rejects bad arguments with errors that name the problem', async () => {
    const ctx = await testContext();
    const x = allocTensor(ctx, [1, 4, 4, 48], 'f16');
    const out = allocTensor(ctx, [1, 4, 4, 48], 'f16');
    const w = allocTensor(ctx, [48], 'f16');
    await expect(groupNorm(ctx, { x, out, weight: w, bias: w, groups: 32, eps: 1e-6 })).rejects.toThrow(/C=48 are not divisible by groups=32/);
    await expect(groupNorm(ctx, { x, out: allocTensor(ctx, [1, 4, 4, 47], 'f16'), weight: w, bias: w, groups: 16, eps: 1e-6 })).rejects.toThrow(/'out' has shape/);
    await expect(groupNorm(ctx, { x, out, weight: allocTensor(ctx, [32], 'f16'), bias: w, groups: 16, eps: 1e-6 })).rejects.toThrow(/'weight' has shape \[32\] but \[48\]/);
    await expect(groupNorm(ctx, { x, out: x, weight: w, bias: w, groups: 16, eps: 1e-6 })).rejects.toThrow(/overlaps 'x'/);
    await expect(groupNorm(ctx, { x, out, weight: w, bias: w, groups: 16, eps: -1 })).rejects.toThrow(/eps/);
  });
});
