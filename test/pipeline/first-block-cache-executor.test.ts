// TransformerExecutor with the first-block cache: the cache follows one image. Steps of one image (same
// conditioning object, same shape, falling sigma) reuse; another conditioning, another shape or a sigma that does not
// fall starts afresh, so interleaved requests never borrow each other's residuals. Bad configurations are refused.
import { describe, expect, it } from 'vitest';
import { randomWeightStore } from '../../src/models/random-weights.js';
import { tinyFluxConfig } from '../../src/models/flux/index.js';
import { tinySd3Config } from '../../src/models/sd3/index.js';
import { TransformerExecutor } from '../../src/pipeline/transformer-executor.js';
import type { Conditioning } from '../../src/pipeline/request-state.js';
import { freshSeed, rng, testContext } from '../helpers/gpu.js';

const SEED = freshSeed();

describe(`first-block cache in the executor (seed ${SEED})`, () => {
  it('reuses within one image only; starts afresh on another conditioning, shape or a rising sigma', async () => {
    const ctx = await testContext();
    const cfg = tinyFluxConfig();
    const { store } = await randomWeightStore(ctx, cfg, (SEED % 1000) + 3);
    const exec = new TransformerExecutor(ctx, store, cfg, { firstBlockCache: 1e9 }); // reuse whenever possible
    const rand = rng(SEED);
    const arr = (n: number, s = 1) => Float32Array.from({ length: n }, () => (rand() * 2 - 1) * s);
    const cond = (): Conditioning => ({ context: arr(5 * cfg.contextInDim, 0.5), tokens: 5, pooled: arr(cfg.pooledDim, 0.5) });
    const a = cond();
    const b = cond();
    const shape = { channels: cfg.inChannels / 4, height: 6, width: 8 };
    const latents = arr(shape.channels * shape.height * shape.width);
    const step = async (c: Conditioning, sigma: number, s = shape, x = latents) => {
      await exec.velocity({ family: 'flux', latentShape: s, latents: x, sigma, distilledGuidance: 3.5, conds: [c] });
      const st = exec.cacheStats!;
      return st.steps[st.steps.length - 1].reused;
    };
    expect(await step(a, 0.9)).toBe(false); // first step of an image
    expect(await step(a, 0.8)).toBe(true);
    expect(await step(b, 0.9)).toBe(false); // another request
    expect(await step(a, 0.7)).toBe(false); // back to the first: afresh, not b's residual
    expect(await step(a, 0.6)).toBe(true);
    expect(await step(a, 0.95)).toBe(false); // sigma rose: a new image with the same conditioning
    const small = { ...shape, width: 4 };
    expect(await step(a, 0.5, small, latents.subarray(0, shape.channels * 6 * 4))).toBe(false); // another shape
    exec.resetCache();
    expect(await step(a, 0.4, small, latents.subarray(0, shape.channels * 6 * 4))).toBe(false); // explicit reset
    expect(exec.cacheStats).toMatchObject({ threshold: 1e9, computed: 1, reused: 0 });
    exec.destroy();
    store.destroy();
  });

  it('refuses SD3 and thresholds that are not finite numbers >= 0', async () => {
    const ctx = await testContext();
    const flux = tinyFluxConfig();
    const { store } = await randomWeightStore(ctx, flux, 1);
    expect(() => new TransformerExecutor(ctx, store, tinySd3Config(false), { firstBlockCache: 0.1 })).toThrow(/first-block cache is implemented for FLUX only/);
    for (const t of [-0.1, NaN, Infinity]) {
      expect(() => new TransformerExecutor(ctx, store, flux, { firstBlockCache: t })).toThrow(/must be a finite number >= 0/);
    }
    store.destroy();
  });
});
