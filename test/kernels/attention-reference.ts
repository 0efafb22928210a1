// Shared by the attention test files: the case description, a float64 reference straight from the definition,
// and one case run end to end (fresh seeded inputs, NaN-poisoned outputs, relL2 bound, lse check).
import { expect } from 'vitest';
import type { GpuContext } from '../../src/gpu/context.js';
import { type AttentionArgs, attentionFused } from '../../src/kernels-wgsl/attention.js';
import { type TensorView, allocTensor, runCalls } from '../../src/gpu/kernel.js';
import { expectClose, freshSeed, poisonedTensor, randn, readTensor, rng, uploadTensor } from '../helpers/gpu.js';

export interface Case {
  name: string;
  B: number;
  H: number;
  Sq: number;
  Skv: number;
  D: number;
  std?: number; // of q and k (large values -> huge scores)
  bias?: boolean;
  biasRamp?: number; // added to bias[.., j] as ramp * j: maxima that keep rising along the keys
  causal?: boolean;
  kvLength?: number[];
  lse?: boolean;
  scale?: number;
}

export interface Reference {
  out: Float64Array; // [B, Sq, H*D]
  lse: Float64Array; // [B, H, Sq]
}

/** Plain two-pass softmax attention in float64, straight from the definition. */
export function reference(c: Case, q: Float64Array, k: Float64Array, v: Float64Array, bias: Float64Array | null): Reference {
  const { B, H, Sq, Skv, D } = c;
  const scale = c.scale ?? 1 / Math.sqrt(D);
  const out = new Float64Array(B * Sq * H * D);
  const lse = new Float64Array(B * H * Sq);
  const s = new Float64Array(Skv);
  for (let b = 0; b < B; b++) {
    const kvEnd = Math.min(Skv, c.kvLength ? c.kvLength[b] : Skv);
    for (let h = 0; h < H; h++) {
      const bh = b * H + h;
      for (let i = 0; i < Sq; i++) {
        let max = -Infinity;
        for (let j = 0; j < Skv; j++) {
          const visible = j < kvEnd && (!c.causal || j <= i);
          if (!visible) { s[j] = -Infinity; continue; }
          let d = 0;
          for (let e = 0; e < D; e++) d += q[(bh * Sq + i) * D + e] * k[(bh * Skv + j) * D + e];
          s[j] = d * scale + (bias ? bias[(h * Sq + i) * Skv + j] : 0);
          max = Math.max(max, s[j]);
        }
        const o = (b * Sq + i) * H * D + h * D;
        if (max === -Infinity) { lse[bh * Sq + i] = -Infinity; continue; } // no visible key: zeros
        let sum = 0;
        for (let j = 0; j < Skv; j++) {
          if (s[j] === -Infinity) continue;
          const p = Math.exp(s[j] - max);
          sum += p;
          for (let e = 0; e < D; e++) out[o + e] += p * v[(bh * Skv + j) * D + e];
        }
        for (let e = 0; e < D; e++) out[o + e] /= sum;
        lse[bh * Sq + i] = max + Math.log(sum);
      }
    }
  }
  return { out, lse };
}

export async function runCase(ctx: GpuContext, c: Case, path: AttentionArgs['path'], tiles?: AttentionArgs['tiles']): Promise<void> {
  const seed = freshSeed();
  const rand = rng(seed);
  const what = `${c.name} [${path}${tiles ? ` ${JSON.stringify(tiles)}` : ''}] seed=${seed} (replay: TEST_SEED=${seed})`;
  const { B, H, Sq, Skv, D } = c;
  const q = randn(rand, B * H * Sq * D, c.std ?? 1);
  const k = randn(rand, B * H * Skv * D, c.std ?? 1);
  const v = randn(rand, B * H * Skv * D, 1);
  const bias = c.bias ? randn(rand, H * Sq * Skv, 2, 'f32') : null;
  if (bias && c.biasRamp) for (let i = 0; i < bias.length; i++) bias[i] = Math.fround(bias[i] + c.biasRamp * (i % Skv));
  const ref = reference(c, q, k, v, bias);
  let kvLength: TensorView | undefined;
  if (c.kvLength) {
    kvLength = allocTensor(ctx, [B], 'u32');
    ctx.write(kvLength.buffer, Uint32Array.from(c.kvLength));
  }
  const out = poisonedTensor(ctx, [B, Sq, H * D], 'f16');
  const lse = c.lse ? poisonedTensor(ctx, [B, H, Sq], 'f32') : undefined;
  const calls = await attentionFused(ctx, {
    q: uploadTensor(ctx, q, [B, H, Sq, D], 'f16'),
    k: uploadTensor(ctx, k, [B, H, Skv, D], 'f16'),
    v: uploadTensor(ctx, v, [B, H, Skv, D], 'f16'),
    out,
    scale: c.scale,
    bias: bias ? uploadTensor(ctx, bias, [H, Sq, Skv], 'f32') : undefined,
    causal: c.causal,
    kvLength,
    lse,
    path,
    tiles,
  });
  expect(calls[0].label).toContain(path === 'auto' ? '' : path!);
  expect(calls.length).toBe((tiles?.splits ?? 1) > 1 ? 2 : 1); // split-KV: partial results + combine
  await runCalls(ctx, calls);
  // f16 output rounding (2^-11) plus f16 probabilities on the tensor-core path: relL2 a few 1e-4 in practice.
  expectClose(await readTensor(ctx, out), ref.out, { relL2: 3e-3 }, `${what} out`);
  if (lse) {
    const got = await readTensor(ctx, lse);
    for (let i = 0; i < got.length; i++) {
      const want = ref.lse[i];
      const ok = want === -Infinity ? got[i] === -Infinity : Math.abs(got[i] - want) <= 2e-3 * Math.max(1, Math.abs(want));
      if (!ok) throw new Error(`${what} lse[${i}]: got ${got[i]}, want ${want}`);
    }
  }
}

