// Runs a FLUX or SD3 checkpoint on a golden file's inputs and measures how far our graph's output is from the
// reference's. One implementation for the CI parity tests (tiny checkpoints) and `dit parity` on the GPU machine
// (full-size random-weight FLUX.1-dev at 1024²).
import type { GpuContext } from '../gpu/context.js';
import { WeightStore } from '../graph/weights.js';
import { loadModel } from '../weights/load.js';
import type { FluxConfig, Sd3Config } from '../weights/model-config.js';
import { FluxTransformer } from './flux.js';
import { readGolden } from './golden.js';
import { patchify, unpatchify } from './latents.js';
import { Sd3Transformer } from './sd3.js';
import { peakRssBytes } from '../util/memory.js';

export interface ParityResult {
  family: 'flux' | 'sd3';
  relL2: number;
  maxAbs: number;
  nonFinite: number;
  loadSeconds: number;
  forwardMs: number;
  /** Peak resident set size of this process so far (bytes). */
  peakRssBytes: number;
}

export function relativeError(got: ArrayLike<number>, want: ArrayLike<number>): { relL2: number; maxAbs: number; nonFinite: number } {
  if (got.length !== want.length) throw new Error(`parity: output has ${got.length} values, golden ${want.length}`);
  let num = 0, den = 0, maxAbs = 0, nonFinite = 0;
  for (let i = 0; i < got.length; i++) {
    if (!Number.isFinite(got[i])) { nonFinite++; continue; }
    const d = got[i] - want[i];
    num += d * d;
    den += want[i] * want[i];
    maxAbs = Math.max(maxAbs, Math.abs(d));
  }
  return { relL2: Math.sqrt(num / Math.max(den, 1e-30)), maxAbs, nonFinite };
}

export async function goldenParity(ctx: GpuContext, checkpoint: string, goldenPath: string): Promise<ParityResult> {
  const gold = await readGolden(goldenPath);
  const need = (k: string) => {
    const t = gold.get(k);
    if (!t) throw new Error(`golden ${goldenPath} has no tensor '${k}'`);
    return t;
  };
  const store = new WeightStore();
  let loaded: Awaited<ReturnType<typeof loadModel>> | undefined;
  try {
    loaded = await loadModel(ctx, checkpoint, { store });
    const cfg = loaded.config;
    const [, C, H, W] = need('input.latents').shape;
    let out: Float32Array;
    let want: Float32Array;
    const t0 = performance.now();
    if (cfg.family === 'flux') {
      const [, Lt] = need('input.txt').shape;
      const model = await FluxTransformer.create(ctx, store, cfg as FluxConfig, { batch: 1, txtTokens: Lt, gridH: H / 2, gridW: W / 2 });
      try {
        out = await model.forward({
          img: need('input.img').data, txt: need('input.txt').data, pooled: need('input.y').data,
          timesteps: Array.from(need('input.timesteps').data),
          guidance: gold.has('input.guidance') ? Array.from(need('input.guidance').data) : undefined,
        });
      } finally {
        model.destroy();
      }
      want = need('output.velocity_packed').data;
    } else {
      const c = cfg as Sd3Config;
      const P = c.patchSize;
      const [, Lc] = need('input.encoder_hidden_states').shape;
      const model = await Sd3Transformer.create(ctx, store, c, { batch: 1, txtTokens: Lc, gridH: H / P, gridW: W / P });
      try {
        const tokens = await model.forward({
          latents: patchify(need('input.latents').data, C, H, W, P, 'c-p-q'),
          context: need('input.encoder_hidden_states').data,
          pooled: need('input.pooled_projections').data,
          timesteps: [need('input.timestep').data[0] / 1000],
        });
        out = unpatchify(tokens, c.outChannels, H, W, P, 'p-q-c');
      } finally {
        model.destroy();
      }
      want = need('output.velocity').data;
    }
    const forwardMs = performance.now() - t0;
    return { family: cfg.family, ...relativeError(out, want), loadSeconds: loaded.seconds, forwardMs, peakRssBytes: peakRssBytes() };
  } finally {
    // The loader owns the weight buffers; the store only indexes them.
    loaded?.weights.destroy();
    store.destroy();
  }
}
