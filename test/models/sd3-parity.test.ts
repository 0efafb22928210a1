// SD3 / SD3.5 MMDiT parity: the TypeScript graph on tiny diffusers checkpoints against the float64 PyTorch reference.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { WeightStore } from '../../src/graph/weights.js';
import { patchify, unpatchify } from '../../src/models/latents.js';
import { Sd3Transformer } from '../../src/models/sd3.js';
import type { Sd3Config } from '../../src/weights/model-config.js';
import { loadModel } from '../../src/weights/load.js';
import { errorStats, testContext } from '../helpers/gpu.js';
import { readGolden } from './golden.js';

// Same precision classes as FLUX; PyTorch bf16 + SDPA lands at 0.0076-0.0083 from float64.
const REL_L2_BOUND = 5e-3;

const CASES = [
  { name: 'sd3-tiny (fp16, stored pos table, context_pre_only last block)', dir: 'test/fixtures/tiny-models/sd3-tiny', golden: 'test/golden/sd3-tiny.safetensors' },
  { name: 'sd35-tiny (bf16, 2 shards, QK norm, dual attention)', dir: 'test/fixtures/tiny-models/sd35-tiny', golden: 'test/golden/sd35-tiny.safetensors' },
];

describe('SD3 graph vs float64 PyTorch reference', () => {
  it.each(CASES)('$name', async ({ dir, golden }) => {
    const ctx = await testContext();
    const gold = await readGolden(golden);
    const store = new WeightStore();
    const { config } = await loadModel(ctx, dir, { store });
    const cfg = config as Sd3Config;
    expect(cfg.family).toBe('sd3');
    const json = JSON.parse(readFileSync(`${dir}/transformer/config.json`, 'utf8')) as { sample_size: number };
    const [, C, H, W] = gold.get('input.latents')!.shape;
    const [, Lc] = gold.get('input.encoder_hidden_states')!.shape;
    const P = cfg.patchSize;
    const model = await Sd3Transformer.create(ctx, store, cfg, {
      batch: 1, txtTokens: Lc, gridH: H / P, gridW: W / P, posEmbedBaseSize: json.sample_size / P,
    });
    const v = await model.forward({
      latents: patchify(gold.get('input.latents')!.data, C, H, W, P, 'c-p-q'),
      context: gold.get('input.encoder_hidden_states')!.data,
      pooled: gold.get('input.pooled_projections')!.data,
      timesteps: [gold.get('input.timestep')!.data[0] / 1000],
    });
    const s = errorStats(unpatchify(v, cfg.outChannels, H, W, P, 'p-q-c'), gold.get('output.velocity')!.data);
    console.log(`${golden}: relL2 ${s.relL2.toExponential(3)}, max abs ${s.maxAbs.toExponential(3)} (bound ${REL_L2_BOUND})`);
    expect(s.nonFinite).toBe(0);
    expect(s.relL2).toBeLessThan(REL_L2_BOUND);
    model.destroy();
    store.destroy();
  });
});
