// CLIP text encoders against float64 transformers on tiny random checkpoints: CLIP-L style (CLIPTextModel,
// quick-GELU, eos_token_id 2: argmax pooling), the same with a projection (SD3's text_encoder, f32 file), and
// bigG style (CLIPTextModelWithProjection, GELU, first-EOS pooling, sharded). Inputs: a pipeline-padded prompt,
// an id sequence on which the two pooling rules pick different rows, and a short (11-token) sequence.
import { describe, expect, it } from 'vitest';
import { errorStats, testContext } from '../helpers/gpu.js';
import { loadEncoderWeights } from '../../src/models/text-encoder-load.js';
import { clipFamily } from '../../src/models/clip/family.js';
import { ClipTextEncoder } from '../../src/models/clip/runtime.js';
import { clipGConfig, poolingIndex } from '../../src/models/clip/config.js';
import { buildClipGraph } from '../../src/models/clip/graph.js';
import { ENC, F16_U, get, readEncoderGolden } from './encoder-goldens.js';

// f16 rounding of matmul inputs over 3 layers; measured (lavapipe, 2026-11-30) 3e-4..8.2e-4 on all outputs
// (random weights); bound 4u.
const BOUND = 4 * F16_U;

const MODELS = [
  { name: 'clip-l', proj: false, act: 'quick_gelu', eos: 2, inputs: ['prompt', 'rule', 'short'] },
  { name: 'clip-l-proj', proj: true, act: 'quick_gelu', eos: 2, inputs: ['prompt', 'rule', 'short'] },
  { name: 'clip-g', proj: true, act: 'gelu', eos: -1, inputs: ['prompt', 'prompt_g', 'rule', 'short'] },
] as const;

describe('CLIP text encoder parity (tiny, float64 goldens)', async () => {
  const { tensors: gold } = await readEncoderGolden('encoders-golden.safetensors');
  for (const m of MODELS) {
    it(`${m.name}: hidden, penultimate, pooled/text_embeds within ${BOUND.toExponential(1)}`, async () => {
      const ctx = await testContext();
      const w = await loadEncoderWeights(ctx, clipFamily, `${ENC}/${m.name}`);
      try {
        expect(w.config.activation).toBe(m.act);
        expect(w.config.projectionDim !== null).toBe(m.proj);
        if (m.eos === 2) expect(w.config.eosTokenId).toBe(2);
        else expect(w.config.eosTokenId).not.toBe(2);
        const enc = new ClipTextEncoder(ctx, w.store, w.config);
        for (const k of m.inputs) {
          const ids = get(gold, `${m.name}.${k}.ids`).data;
          const out = await enc.encode(ids);
          const checks: [string, Float32Array][] = [['hidden', out.hidden], ['penultimate', out.penultimate]];
          checks.push(m.proj ? ['text_embeds', out.textEmbeds!] : ['pooled', out.pooled]);
          for (const [what, got] of checks) {
            const want = get(gold, `${m.name}.${k}.${what}`).data;
            expect(got.length, `${k} ${what} length`).toBe(want.length);
            const e = errorStats(got, want);
            expect(e.nonFinite).toBe(0);
            expect(e.relL2, `${m.name} ${k} ${what} relL2 ${e.relL2}`).toBeLessThan(BOUND);
          }
        }
        enc.destroyPlans();
      } finally {
        w.destroy();
      }
    });
  }

  it('bigG uses the exact (erf) GELU, CLIP-L quick-GELU (random tiny weights cannot tell erf from tanh GELU)', () => {
    const kinds = (act: 'gelu' | 'quick_gelu') => new Set(buildClipGraph({ ...clipGConfig(), numLayers: 2, activation: act }, 8).ops.map((o) => o.kind));
    expect(kinds('gelu').has('gelu_erf')).toBe(true);
    expect(kinds('gelu').has('gelu_tanh')).toBe(false);
    expect(kinds('quick_gelu').has('quick_gelu')).toBe(true);
  });

  it('the two pooling rules pick different rows on the "rule" ids', () => {
    const ids = get(gold, 'clip-l.rule.ids').data;
    const eos = Math.max(...ids);
    const argmax = poolingIndex(ids, 2);
    const firstEos = poolingIndex(ids, eos);
    expect(ids[argmax]).toBe(eos);
    expect(firstEos).toBe(ids.indexOf(eos));
    expect(poolingIndex([5, 6, 7], 99)).toBe(0);
    expect(poolingIndex([5, 9, 9, 1], 2)).toBe(1);
  });

  it('rejects too many tokens and ids outside the vocabulary', async () => {
    const ctx = await testContext();
    const w = await loadEncoderWeights(ctx, clipFamily, `${ENC}/clip-l`);
    try {
      const enc = new ClipTextEncoder(ctx, w.store, w.config);
      await expect(enc.encode(new Array(78).fill(1))).rejects.toThrow(/78 tokens but the model has 77 positions/);
      await expect(enc.encode([1, w.config.vocabSize + 5])).rejects.toThrow(/outside the vocabulary/);
    } finally {
      w.destroy();
    }
  });
});
