// The tiny DiT end to end on a real device vs the float64 CPU reference, with fresh random weights.
import { describe, expect, it } from 'vitest';
import { compile } from '../../src/graph/executor.js';
import { buildTinyDit, TINY_DIT_DEFAULT, type TinyDitConfig, tinyDitWeights } from '../../src/models/tiny-dit/index.js';
import { WeightStore } from '../../src/graph/weights.js';
import { expectClose, freshSeed, randn, rng, testContext } from '../helpers/gpu.js';
import { tinyDitRef, type Weights } from './reference/tiny-dit-ref.js';

function randomWeights(cfg: TinyDitConfig, rand: () => number): Weights {
  const w: Weights = new Map();
  for (const [name, s] of tinyDitWeights(cfg)) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    if (name.endsWith('_norm.scale')) w.set(name, randn(rand, n, 0.2, s.dtype).map((v) => 1 + v));
    else if (name.endsWith('.bias')) w.set(name, randn(rand, n, 0.1, s.dtype));
    else w.set(name, randn(rand, n, 1 / Math.sqrt(s.fanIn), s.dtype));
  }
  return w;
}

// f16 storage of activations (normed inputs, qkv, q/k/v, attention output, MLP hidden) with f32 accumulation
// and an f32 residual stream, against an un-rounded float64 reference: measured relL2 3.4e-4 .. 4.9e-4 over two
// blocks (6 seeds, lavapipe, 2026-11-23); bound 2e-3. Swapping one gate chunk in the reference gives 0.57.
const BOUND = { relL2: 2e-3 };

describe('tiny DiT', () => {
  it('matches the float64 reference end to end (fresh random weights), twice in a row', async () => {
    const seed = freshSeed();
    const rand = rng(seed);
    const ctx = await testContext();
    const cfg = TINY_DIT_DEFAULT;
    const L = cfg.gridH * cfg.gridW;
    const wv = randomWeights(cfg, rand);
    const store = new WeightStore();
    for (const [name, s] of tinyDitWeights(cfg)) store.upload(ctx, name, wv.get(name)!, s.shape, s.dtype);
    const plan = await compile(ctx, buildTinyDit(cfg), store);
    const st = plan.stats;
    expect(st.inPlaceOps).toBe(2 * cfg.depth); // both gated residual adds of every block write over h
    expect(st.commandBuffers).toBe(1);
    for (let run = 0; run < 2; run++) {
      const tokens = randn(rand, cfg.batch * L * cfg.patchDim, 1, 'f16');
      const cond = randn(rand, cfg.batch * cfg.condDim, 1, 'f16');
      plan.setInput('tokens', tokens);
      plan.setInput('cond', cond);
      await plan.run();
      const got = await plan.readOutput('out');
      const want = tinyDitRef(cfg, wv, tokens, cond);
      const s = expectClose(got, want, BOUND, `tiny DiT out (seed ${seed}, run ${run})`);
      if (process.env.GRAPH_VERBOSE) console.log(`tiny DiT relL2 ${s.relL2.toExponential(2)} stats`, st);
    }
    plan.destroy();
    store.destroy();
  });
});
