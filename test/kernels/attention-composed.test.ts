// The composed (GEMM + softmax + GEMM) attention path against a float64 reference. In CI its GEMMs run on the
// portable matmul; on the GPU machine the same test exercises the tensor-core GEMMs.
import { describe, expect, it } from 'vitest';
import { attentionComposed, composedAttentionUnsupported } from '../../src/kernels-wgsl/attention-composed.js';
import { attentionCalls } from '../../src/kernels-wgsl/attention.js';
import { runCalls } from '../../src/gpu/kernel.js';
import { expectClose, freshSeed, poisonedTensor, randn, readTensor, rng, testContext, uploadTensor } from '../helpers/gpu.js';

function reference(q: Float64Array, k: Float64Array, v: Float64Array, B: number, H: number, Sq: number, Skv: number, D: number, scale: number): Float64Array {
  const out = new Float64Array(B * Sq * H * D);
  const s = new Float64Array(Skv);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let i = 0; i < Sq; i++) {
        const qo = ((b * H + h) * Sq + i) * D;
        let m = -Infinity;
        for (let j = 0; j < Skv; j++) {
          const ko = ((b * H + h) * Skv + j) * D;
          let acc = 0;
          for (let d = 0; d < D; d++) acc += q[qo + d] * k[ko + d];
          s[j] = acc * scale;
          m = Math.max(m, s[j]);
        }
        let z = 0;
        for (let j = 0; j < Skv; j++) z += (s[j] = Math.exp(s[j] - m));
        for (let d = 0; d < D; d++) {
          let acc = 0;
          for (let j = 0; j < Skv; j++) acc += s[j] * v[((b * H + h) * Skv + j) * D + d];
          out[(b * Sq + i) * H * D + h * D + d] = acc / z;
        }
      }
  return out;
}

const CASES = [
  { B: 2, H: 3, Sq: 37, Skv: 53, D: 128, budget: undefined },
  { B: 1, H: 5, Sq: 38, Skv: 22, D: 64, budget: 2 * 38 * 22 * 4 }, // 2 heads per chunk: 3 chunks, the last partial
  { B: 1, H: 2, Sq: 1, Skv: 130, D: 128, budget: 1 }, // one head per chunk, a single query
  { B: 2, H: 3, Sq: 7, Skv: 9, D: 64, budget: 7 * 9 * 4 }, // per-head slices not 256-byte aligned: staged copies
];

describe('attention, composed from GEMMs', () => {
  it.each(CASES)('B=$B H=$H Sq=$Sq Skv=$Skv D=$D', async ({ B, H, Sq, Skv, D, budget }) => {
    const ctx = await testContext();
    const seed = freshSeed();
    const r = rng(seed);
    // Large-magnitude queries: scores up to ~±30 check the softmax's max subtraction.
    const q = randn(r, B * H * Sq * D, 3, 'f16');
    const k = randn(r, B * H * Skv * D, 1, 'f16');
    const v = randn(r, B * H * Skv * D, 1, 'f16');
    const qt = uploadTensor(ctx, q, [B, H, Sq, D], 'f16');
    const kt = uploadTensor(ctx, k, [B, H, Skv, D], 'f16');
    const vt = uploadTensor(ctx, v, [B, H, Skv, D], 'f16');
    const out = poisonedTensor(ctx, [B, Sq, H * D], 'f16');
    expect(composedAttentionUnsupported(ctx, { q: qt, k: kt, v: vt })).toBeNull();
    await runCalls(ctx, await attentionComposed(ctx, { q: qt, k: kt, v: vt, out, scoreBudgetBytes: budget }));
    const want = reference(q, k, v, B, H, Sq, Skv, D, 1 / Math.sqrt(D));
    expectClose(await readTensor(ctx, out), want, { relL2: 3e-3 }, `composed attention seed=${seed}`);
  });

  it("is what attentionCalls runs for path 'composed', and refuses masks", async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const r = rng(seed);
    const [B, H, S, D] = [1, 2, 16, 64];
    const q = randn(r, B * H * S * D, 1, 'f16');
    const qt = uploadTensor(ctx, q, [B, H, S, D], 'f16');
    const out = poisonedTensor(ctx, [B, S, H * D], 'f16');
    const calls = await attentionCalls(ctx, { q: qt, k: qt, v: qt, out, path: 'composed' });
    expect(calls.length).toBe(4);
    await runCalls(ctx, calls);
    expectClose(await readTensor(ctx, out), reference(q, q, q, B, H, S, S, D, 1 / 8), { relL2: 3e-3 }, `seed=${seed}`);
    await expect(attentionCalls(ctx, { q: qt, k: qt, v: qt, out, path: 'composed', causal: true })).rejects.toThrow(/plain attention only/);
  });

  it('refuses views that are not aligned (WebGPU binding rule) with a reason', async () => {
    const ctx = await testContext();
    const qt = uploadTensor(ctx, new Float64Array(1 * 2 * 4 * 64), [1, 2, 4, 64], 'f16');
    const off = { ...qt, offset: 128, shape: [1, 1, 4, 64] };
    expect(composedAttentionUnsupported(ctx, { q: off, k: qt, v: qt })).toMatch(/aligned/);
  });
});
