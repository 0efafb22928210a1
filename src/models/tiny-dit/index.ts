// The tiny DiT as a model family: the smallest complete example of one (docs/architecture.md walks through it).
// Its checkpoints are a single safetensors file or folder with `img_in`, `blocks.N.*` and `final.*` tensors and
// a config.json holding the RoPE/norm constants; tests write one, load it through the registry, and check it
// against a float64 reference (test/models/tiny-family.test.ts). It is never a released model.
import { Inference } from '../../loading/listing.js';
import { wholeTensor } from '../../loading/sources.js';
import type { ModelFamily } from '../family.js';
import { UserInputError } from '../../util/errors.js';
import { tinyDitConfigJson, type TinyDitConfig } from './config.js';
import { buildTinyDit, tinyDitWeights } from './graph.js';
import { compile } from '../../graph/executor.js';

export * from './config.js';
export * from './graph.js';

export const tinyDit: ModelFamily<TinyDitConfig> = {
  id: 'tiny-dit',
  kind: 'dit',
  title: 'tiny DiT (test-only family)',
  detect: (ck) => (ck.has('final.mod.weight') && ck.has('blocks.0.mod.weight') && ck.has('img_in.weight') ? 'tiny' : null),
  inferConfig(ck) {
    const x = new Inference(ck);
    const [hidden, patchDim] = x.shape('img_in.weight', 2);
    const depth = x.count('blocks.');
    const [, condDim] = x.shape('blocks.0.mod.weight', 2);
    const [headDim] = x.shape('blocks.0.norm.query_norm.scale', 1);
    const [mlp] = x.shape('blocks.0.mlp.0.weight', 2);
    const axes = x.json('axes_dim');
    if (!Array.isArray(axes) || !axes.every((a) => Number.isInteger(a))) x.fail("config.json needs 'axes_dim' (the RoPE axes, a list of integers summing to the head dim)");
    const cfg: TinyDitConfig = {
      family: 'tiny-dit', layout: 'tiny', patchDim, condDim, hidden, heads: x.headsFrom(hidden, headDim, 'blocks.0.norm.query_norm.scale'),
      depth, mlpRatio: mlp / hidden, axesDim: axes as number[], theta: x.jsonNumber('theta', 10000), eps: x.jsonNumber('eps', 1e-6),
    };
    if (cfg.axesDim.reduce((a, b) => a + b, 0) !== headDim) x.fail(`config.json axes_dim ${JSON.stringify(axes)} does not sum to the head dim ${headDim}`);
    return cfg;
  },
  expectedTensors: (cfg) => [...tinyDitWeights(cfg)].map(([name, s]) => ({ name, shape: s.shape })),
  // Biases stay f32 on the GPU (WeightSource.dtype), weights f16: the graph declares them so.
  weightSources: (cfg) => [...tinyDitWeights(cfg)].map(([name, s]) => ({ name, shape: s.shape, parts: wholeTensor(name), dtype: s.dtype })),
  describe: (c) => `tiny DiT: D=${c.hidden}, ${c.heads} heads, ${c.depth} blocks, patch ${c.patchDim}, cond ${c.condDim}`,
  configJson: tinyDitConfigJson,

  // Golden: input.tokens [B, gridH, gridW, P], input.cond [B, Cc] -> output.out [B, gridH*gridW, P].
  async runGolden(ctx, weights, cfg, golden) {
    const need = (n: string) => {
      const t = golden.tensors.get(n);
      if (!t) throw new UserInputError(`golden ${golden.path} has no tensor '${n}' (is it a golden for this model family?)`, 'BAD_FILE');
      return t;
    };
    const tokens = need('input.tokens');
    if (tokens.shape.length !== 4 || tokens.shape[3] !== cfg.patchDim) {
      throw new UserInputError(`golden ${golden.path}: input.tokens has shape [${tokens.shape}] but [B, gridH, gridW, ${cfg.patchDim}] is required`, 'BAD_FILE');
    }
    const [batch, gridH, gridW] = tokens.shape;
    const plan = await compile(ctx, buildTinyDit({ ...cfg, batch, gridH, gridW }), weights);
    try {
      plan.setInput('tokens', tokens.data);
      plan.setInput('cond', need('input.cond').data);
      await plan.run();
      return { got: await plan.readOutput('out'), want: need('output.out').data };
    } finally {
      plan.destroy();
    }
  },
};
