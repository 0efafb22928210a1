// The SD3 / SD3.5 MMDiT family (diffusers transformer/ folders): this object is its one entry in
// src/models/registry.ts.
import { UserInputError } from '../../util/errors.js';
import type { Golden, ModelFamily } from '../family.js';
import { patchify, unpatchify } from '../latents.js';
import { uniformArray } from '../../util/random.js';
import { describeSd3, detectSd3, inferSd3Config, sd3ConfigJson, sd3MediumConfig, type Sd3Config } from './config.js';
import { buildSd3Graph, Sd3Transformer } from './graph.js';
import { sd3DiffusersTensors } from './layouts.js';
import { sd3WeightSources } from './weights.js';

export * from './config.js';
export * from './graph.js';
export { sd3DiffusersTensors } from './layouts.js';
export { sd3PosEmbed } from './pos-embed.js';
export { sd3WeightSources } from './weights.js';

function need(golden: Golden, name: string): { shape: number[]; data: Float32Array } {
  const t = golden.tensors.get(name);
  if (!t) throw new UserInputError(`golden ${golden.path} has no tensor '${name}' (is it a golden for this model family?)`, 'BAD_FILE');
  return t;
}

export const sd3: ModelFamily<Sd3Config> = {
  id: 'sd3',
  kind: 'dit',
  title: 'SD3 / SD3.5 MMDiT transformer (diffusers transformer/ folder)',
  detect: detectSd3,
  inferConfig: (ck) => inferSd3Config(ck),
  expectedTensors: sd3DiffusersTensors,
  weightSources: sd3WeightSources,
  describe: describeSd3,
  configJson: sd3ConfigJson,

  async runGolden(ctx, weights, cfg, golden) {
    const [, C, H, W] = need(golden, 'input.latents').shape;
    const P = cfg.patchSize;
    const [, Lc] = need(golden, 'input.encoder_hidden_states').shape;
    const model = await Sd3Transformer.create(ctx, weights, cfg, { batch: 1, txtTokens: Lc, gridH: H / P, gridW: W / P });
    try {
      const tokens = await model.forward({
        latents: patchify(need(golden, 'input.latents').data, C, H, W, P, 'c-p-q'),
        context: need(golden, 'input.encoder_hidden_states').data,
        pooled: need(golden, 'input.pooled_projections').data,
        timesteps: [need(golden, 'input.timestep').data[0] / 1000],
      });
      return { got: unpatchify(tokens, cfg.outChannels, H, W, P, 'p-q-c'), want: need(golden, 'output.velocity').data };
    } finally {
      model.destroy();
    }
  },

  bench: {
    name: 'SD3-medium',
    config: sd3MediumConfig('3'),
    textTokens: 333,
    seed: 2,
    graph: (cfg, resolution, textTokens) => buildSd3Graph(cfg, { batch: 1, txtTokens: textTokens, gridH: resolution / 16, gridW: resolution / 16 }),
    async step(ctx, weights, cfg, resolution, textTokens) {
      const grid = resolution / 16; // VAE /8, then patch 2
      const model = await Sd3Transformer.create(ctx, weights, cfg, { batch: 1, txtTokens: textTokens, gridH: grid, gridW: grid });
      model.plan.setInput('latents', uniformArray(grid * grid * cfg.inChannels * cfg.patchSize ** 2, 4));
      model.plan.setInput('context', uniformArray(textTokens * cfg.jointAttentionDim, 5, 0.3));
      model.plan.setInput('pooled', uniformArray(cfg.pooledDim, 6, 0.3));
      model.setTimestep([0.6]);
      return { plan: model.plan, imageTokens: grid * grid, destroy: () => model.destroy() };
    },
  },
};
