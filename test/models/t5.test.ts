// T5 v1.1 encoder against float64 transformers (T5EncoderModel) on the tiny random checkpoint: a padded prompt, a
// 160-token sequence (relative distances beyond max_distance 128 fall in the last buckets) and an odd length.
import { describe, expect, it } from 'vitest';
import { errorStats, testContext } from '../helpers/gpu.js';
import { loadEncoderWeights } from '../../src/models/text-encoder-load.js';
import { t5Family } from '../../src/models/t5/family.js';
import { T5Encoder } from '../../src/models/t5/runtime.js';
import { relativePositionBucket } from '../../src/models/t5/position-bias.js';
import { ENC, F16_U, get, readEncoderGolden } from './encoder-goldens.js';

// f16 rounding of the matmul inputs (norm outputs, q/k/v, attention output, FF hidden) in 2 blocks, each
// amplified by the layers after it; measured 0.9e-4..1.2e-4 on lavapipe (2026-11-30, random weights): bound 2u.
const BOUND = 2 * F16_U;

describe('T5 encoder parity (tiny, float64 goldens)', async () => {
  const { tensors: gold } = await readEncoderGolden('encoders-golden.safetensors');
  for (const k of ['prompt', 'long', 'odd']) {
    it(`${k}: hidden states within ${BOUND.toExponential(1)} relative L2`, async () => {
      const ctx = await testContext();
      const w = await loadEncoderWeights(ctx, t5Family, `${ENC}/t5`);
      try {
        expect(w.config.numLayers).toBe(2);
        const enc = new T5Encoder(ctx, w.store, w.config);
        const ids = get(gold, `t5.${k}.ids`).data;
        const out = await enc.encode(ids);
        const want = get(gold, `t5.${k}.hidden`);
        expect(out.length).toBe(want.data.length);
        const e = errorStats(out, want.data);
        expect(e.nonFinite).toBe(0);
        expect(e.relL2, `relL2 ${e.relL2}`).toBeLessThan(BOUND);
        // Same plan again (compiled once per length): same numbers.
        expect(Array.from(await enc.encode(ids))).toEqual(Array.from(out));
        enc.destroyPlans();
      } finally {
        w.destroy();
      }
    });
  }

  it('rejects ids outside the vocabulary and an empty sequence', async () => {
    const ctx = await testContext();
    const w = await loadEncoderWeights(ctx, t5Family, `${ENC}/t5`);
    try {
      const enc = new T5Encoder(ctx, w.store, w.config);
      await expect(enc.encode([3, w.config.vocabSize])).rejects.toThrow(/outside the vocabulary/);
      await expect(enc.encode([])).rejects.toThrow(/no token ids/);
    } finally {
      w.destroy();
    }
  });
});

describe('T5 relative position buckets', () => {
  it('matches transformers on known values (32 buckets, max distance 128)', () => {
    // Values from T5Attention._relative_position_bucket(torch.arange(-200, 201), bidirectional=True).
    const want: [number, number][] = [[0, 0], [1, 17], [-1, 1], [7, 23], [8, 24], [-8, 8], [11, 24], [12, 25], [15, 25], [16, 26],
      [31, 27], [32, 28], [63, 29], [64, 30], [127, 31], [128, 31], [200, 31], [-127, 15], [-200, 15]];
    for (const [r, b] of want) expect(relativePositionBucket(r, 32, 128), `relative ${r}`).toBe(b);
  });
});
