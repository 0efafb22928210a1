// The FLUX.1 family (dev and schnell; BFL single files and diffusers folders): everything the engine knows about
// FLUX lives in this folder, and this object is its one entry in src/models/registry.ts.
import { UserInputError } from '../../util/errors.js';
import type { Golden, ModelFamily } from '../family.js';
import { uniformArray } from '../../util/random.js';
import { describeFlux, detectFlux, flux1DevConfig, fluxConfigJson, inferFluxConfig, type FluxConfig, type FluxLayout } from './config.js';
import { FluxFirstBlockCache } from './first-block-cache.js';
import { buildFluxGraph, FluxTransformer } from './graph.js';
import { fluxExpectedTensors } from './layouts.js';
import { fluxWeightSources } from './weights.js';

export * from './config.js';
export * from './graph.js';
export { fluxBflTensors, fluxDiffusersTensors, fluxExpectedTensors } from './layouts.js';
export { fluxPositionIds, fluxRopeTable, type RopeTable } from './rope.js';
export { fluxWeightSources } from './weights.js';

function need(golden: Golden, name: string, why = ''): { shape: number[]; data: Float32Array } {
  const t = golden.tensors.get(name);
  if (!t) throw new UserInputError(`golden ${golden.path} has no tensor '${name}'${why}`, 'BAD_FILE');
  return t;
}

export const flux: ModelFamily<FluxConfig> = {
  id: 'flux',
  kind: 'dit',
  title: 'FLUX.1 transformer (BFL single file or diffusers transformer/ folder)',
  detect: detectFlux,
  inferConfig: (ck, layout) => inferFluxConfig(ck, layout as FluxLayout),
  expectedTensors: fluxExpectedTensors,
  weightSources: fluxWeightSources,
  describe: describeFlux,
  configJson: fluxConfigJson,

  async runGolden(ctx, weights, cfg, golden) {
    const [, , H, W] = need(golden, 'input.latents').shape;
    const [, Lt] = need(golden, 'input.txt').shape;
    if (cfg.guidanceEmbed && !golden.tensors.has('input.guidance')) {
      throw new UserInputError(`golden ${golden.path} has no 'input.guidance', but the checkpoint is guidance-distilled (FLUX.1-dev); ` +
        'use a golden made for FLUX.1-dev, or pair this golden with a schnell checkpoint', 'BAD_FILE');
    }
    const model = await FluxTransformer.create(ctx, weights, cfg, { batch: 1, txtTokens: Lt, gridH: H / 2, gridW: W / 2 });
    try {
      const got = await model.forward({
        img: need(golden, 'input.img').data, txt: need(golden, 'input.txt').data, pooled: need(golden, 'input.y').data,
        timesteps: Array.from(need(golden, 'input.timesteps').data),
        guidance: golden.tensors.has('input.guidance') ? Array.from(need(golden, 'input.guidance').data) : undefined,
      });
      return { got, want: need(golden, 'output.velocity_packed').data };
    } finally {
      model.destroy();
    }
  },

  bench: {
    name: 'FLUX.1-dev',
    config: flux1DevConfig('bfl', true),
    textTokens: 512,
    seed: 1,
    maxBatch: 64,
    graph: (cfg, resolution, textTokens, batch = 1) => buildFluxGraph(cfg, { batch, txtTokens: textTokens, gridH: resolution / 16, gridW: resolution / 16 }),
    int8: true,
    async step(ctx, weights, cfg, resolution, textTokens, batch = 1, opts = {}) {
      const grid = resolution / 16; // VAE /8, then 2x2 packing
      const model = await FluxTransformer.create(ctx, weights, cfg, { batch, txtTokens: textTokens, gridH: grid, gridW: grid }, { int8: opts.int8 });
      // Batch b: b different images (seeded per element), different timesteps, as a batched server would run them.
      model.setInputs({
        img: uniformArray(batch * grid * grid * cfg.inChannels, 1), txt: uniformArray(batch * textTokens * cfg.contextInDim, 2, 0.3),
        pooled: uniformArray(batch * cfg.pooledDim, 3, 0.3), timesteps: Array.from({ length: batch }, (_, i) => 0.6 - 0.05 * i),
        guidance: Array.from({ length: batch }, () => 3.5),
      });
      return { plan: model.plan, imageTokens: grid * grid, destroy: () => model.destroy() };
    },
    async firstBlockCache(ctx, weights, cfg, resolution, textTokens, opts = {}) {
      const grid = resolution / 16;
      const c = await FluxFirstBlockCache.create(ctx, weights, cfg, { batch: 1, txtTokens: textTokens, gridH: grid, gridW: grid }, { int8: opts.int8 });
      // The inputs of step() above at batch 1 (same seeds), so the computed path's velocity equals the plain step's.
      c.setInput('img', uniformArray(grid * grid * cfg.inChannels, 1));
      c.setInput('txt', uniformArray(textTokens * cfg.contextInDim, 2, 0.3));
      c.setInput('pooled', uniformArray(cfg.pooledDim, 3, 0.3));
      c.setTimestep([0.6], cfg.guidanceEmbed ? [3.5] : undefined);
      return {
        run: async (path) => (await c.step(path === 'compute' ? -1 : Infinity, { force: path, timed: true })).gpuMs ?? null,
        velocity: () => c.readVelocity(),
        stats: (path) => {
          const parts = path === 'compute' ? [c.head, c.body, c.tail] : [c.head, c.tail];
          const sum = (k: 'flops' | 'activationBytes' | 'dispatches') => parts.reduce((t, p) => t + p.stats[k], 0);
          return { flops: sum('flops'), activationBytes: sum('activationBytes'), dispatches: sum('dispatches') };
        },
        destroy: () => c.destroy(),
      };
    },
  },
};
export { buildFluxCacheGraphs, FluxFirstBlockCache, type CachedStepResult, type FluxCacheGraphs } from './first-block-cache.js';
