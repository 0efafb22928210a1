import { describe, expect, it } from 'vitest';
import { qkvPrep, qkvPrepSeparate } from '../../src/kernels-wgsl/qkv-prep.js';
import { fluxRopeTable } from '../../src/models/flux/rope.js';
import { type DType, type TensorView, runCalls } from '../../src/gpu/kernel.js';
import type { ReduceMode } from '../../src/kernels-wgsl/wgsl-util.js';
import { expectClose, freshSeed, poisonedTensor, randn, readTensor, rng, testContext, uploadTensor } from '../helpers/gpu.js';

interface Stream { L: number; offset: number; data: Float64Array[] /* fused: [qkv]; separate: [q, k, v] */ }

/** float64 reference of one stream written into dst q/k/v [B, H, Ltot, D]. */
function refStream(dst: Float64Array[], s: Stream, fused: boolean, B: number, H: number, Ltot: number, D: number,
  qw: Float64Array | null, kw: Float64Array | null, cos: Float32Array | null, sin: Float32Array | null, eps: number): void {
  for (let b = 0; b < B; b++) for (let l = 0; l < s.L; l++) for (let h = 0; h < H; h++) {
    for (let which = 0; which < 3; which++) {
      const vec = new Float64Array(D);
      for (let d = 0; d < D; d++) {
        vec[d] = fused ? s.data[0][((b * s.L + l) * 3 + which) * H * D + h * D + d] : s.data[which][(b * s.L + l) * H * D + h * D + d];
      }
      const w = which === 0 ? qw : which === 1 ? kw : null;
      if (w) {
        let ms = 0;
        for (const x of vec) ms += x * x;
        const r = 1 / Math.sqrt(ms / D + eps);
        for (let d = 0; d < D; d++) vec[d] *= r * w[d];
      }
      const row = s.offset + l;
      if (cos && sin && which < 2) {
        for (let i = 0; i < D / 2; i++) {
          const c = cos[row * (D / 2) + i];
          const sn = sin[row * (D / 2) + i];
          const [x0, x1] = [vec[2 * i], vec[2 * i + 1]];
          vec[2 * i] = c * x0 - sn * x1;
          vec[2 * i + 1] = sn * x0 + c * x1;
        }
      }
      dst[which].set(vec, ((b * H + h) * Ltot + row) * D);
    }
  }
}

describe('qkvPrep', () => {
  const cases: { B: number; H: number; D: number; Ls: number[]; fused: boolean; norm: boolean; rope: boolean; inT: DType; outT: DType; reduce?: ReduceMode }[] = [
    // FLUX double block: text stream then image stream into one joint q/k/v, head dim 128, QK norm + RoPE.
    { B: 2, H: 3, D: 128, Ls: [3, 5], fused: true, norm: true, rope: true, inT: 'f16', outT: 'f16' },
    { B: 1, H: 2, D: 6, Ls: [4], fused: true, norm: true, rope: true, inT: 'f16', outT: 'f32', reduce: 'workgroup' },
    { B: 1, H: 1, D: 256, Ls: [2, 1], fused: true, norm: true, rope: false, inT: 'f32', outT: 'f16' },
    // SD3.5-style separate projections with qk-norm, no RoPE; T5/CLIP: plain head split.
    { B: 2, H: 2, D: 64, Ls: [37], fused: false, norm: true, rope: false, inT: 'f16', outT: 'f16' }, // several heads per workgroup
    { B: 1, H: 3, D: 10, Ls: [5], fused: false, norm: false, rope: false, inT: 'f16', outT: 'f16' },
    { B: 1, H: 2, D: 16, Ls: [2, 3], fused: false, norm: false, rope: true, inT: 'f32', outT: 'f32' },
  ];
  for (const k of cases) {
    it(`${k.fused ? 'fused' : 'separate'} B=${k.B} H=${k.H} D=${k.D} L=${k.Ls}${k.norm ? ' norm' : ''}${k.rope ? ' rope' : ''} ${k.inT}->${k.outT}`, async () => {
      const ctx = await testContext();
      const seed = freshSeed();
      const rand = rng(seed);
      const { B, H, D } = k;
      const Ltot = k.Ls.reduce((a, b) => a + b, 0);
      const eps = 1e-6;
      const qw = k.norm ? randn(rand, D, 1, 'f16') : null;
      const kw = k.norm ? randn(rand, D, 1, 'f16') : null;
      const ids = new Float64Array(Ltot * 3).map(() => Math.floor(rand() * 32));
      const axes = D % 4 === 0 ? [D / 4, D / 4, D / 2].map((x) => x - (x % 2)) : [D];
      axes[2 % axes.length] += D - axes.reduce((a, b) => a + b, 0);
      const table = k.rope ? fluxRopeTable(ids.slice(0, Ltot * axes.length), axes) : null;
      const shape = [B, H, Ltot, D];
      const outs = [poisonedTensor(ctx, shape, k.outT), poisonedTensor(ctx, shape, k.outT), poisonedTensor(ctx, shape, k.outT)];
      const want = [0, 1, 2].map(() => new Float64Array(B * H * Ltot * D));
      const common = {
        q: outs[0], k: outs[1], v: outs[2], eps,
        ...(qw && kw ? { qNormWeight: uploadTensor(ctx, qw, [D], 'f16'), kNormWeight: uploadTensor(ctx, kw, [D], 'f16') } : {}),
        ...(table ? { ropeCos: uploadTensor(ctx, table.cos, [Ltot, D / 2], 'f32'), ropeSin: uploadTensor(ctx, table.sin, [Ltot, D / 2], 'f32') } : {}),
        reduce: k.reduce,
      };
      const calls = [];
      let offset = 0;
      for (const L of k.Ls) {
        const s: Stream = { L, offset, data: k.fused ? [randn(rand, B * L * 3 * H * D, 2, k.inT)] : [0, 1, 2].map(() => randn(rand, B * L * H * D, 2, k.inT)) };
        if (k.fused) {
          calls.push(await qkvPrep(ctx, { ...common, seqOffset: offset, qkv: uploadTensor(ctx, s.data[0], [B, L, 3 * H * D], k.inT) }));
        } else {
          const [qIn, kIn, vIn] = s.data.map((d) => uploadTensor(ctx, d, [B, L, H * D], k.inT));
          calls.push(await qkvPrepSeparate(ctx, { ...common, seqOffset: offset, qIn, kIn, vIn }));
        }
        refStream(want, s, k.fused, B, H, Ltot, D, qw, kw, table?.cos ?? null, table?.sin ?? null, eps);
        offset += L;
      }
      await runCalls(ctx, calls);
      const bound = { relL2: k.outT === 'f16' ? 1.5e-3 : 2e-5 };
      for (let w = 0; w < 3; w++) expectClose(await readTensor(ctx, outs[w]), want[w], bound, `qkvPrep ${'qkv'[w]} seed=${seed}`);
    });
  }

  it('rejects bad shapes, offsets and aliasing with clear errors', async () => {
    const ctx = await testContext();
    const mk = (shape: number[]): TensorView => poisonedTensor(ctx, shape, 'f16');
    const q = mk([1, 2, 8, 4]);
    const k = mk([1, 2, 8, 4]);
    const v = mk([1, 2, 8, 4]);
    const qkv = mk([1, 5, 24]);
    await expect(qkvPrep(ctx, { qkv, q, k, v, seqOffset: 4 })).rejects.toThrow(/seqOffset 4 \+ L 5 exceeds the destination sequence length 8/);
    await expect(qkvPrep(ctx, { qkv: mk([1, 5, 23]), q, k, v, seqOffset: 0 })).rejects.toThrow(/'qkv' has shape \[1,5,23\] but \[1,5,24\]/);
    await expect(qkvPrep(ctx, { qkv, q, k: q, v, seqOffset: 0 })).rejects.toThrow(/overlaps/);
    await expect(qkvPrep(ctx, { qkv, q, k, v, seqOffset: 0, ropeCos: uploadTensor(ctx, new Float64Array(16), [8, 2], 'f32') })).rejects.toThrow(/both ropeCos and ropeSin/);
    await expect(qkvPrep(ctx, { qkv, q, k, v, seqOffset: 0, qNormWeight: mk([3]) })).rejects.toThrow(/'qNormWeight' has shape \[3\] but \[4\]/);
  });
});
