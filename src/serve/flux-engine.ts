// The serving engine for FLUX checkpoints: the pipeline's denoising step (runStep on a TransformerExecutor that
// keeps one compiled plan per served resolution resident), with small deterministic stand-ins for the text
// encoders and the VAE until the pipeline provides them (docs/serving.md, "Interim engine").
import type { GpuContext } from '../gpu/context.js';
import { WeightStore } from '../graph/weights.js';
import { randomWeightStore } from '../models/random-weights.js';
import { runStep, type DenoiseExecutor } from '../pipeline/denoise-step.js';
import { FLUX_DEV_SCHEDULER, FLUX_SCHNELL_SCHEDULER } from '../pipeline/flow-match.js';
import { createRequestState, type Conditioning, type RequestState } from '../pipeline/request-state.js';
import { TransformerExecutor } from '../pipeline/transformer-executor.js';
import { mulberry32 } from '../util/random.js';
import { loadModel } from '../models/registry.js';
import { flux1DevConfig, type FluxConfig } from '../models/flux/index.js';
import { serveIdleWaitFraction, type Engine, type GenerationParams, type RgbImage, type SpMemberSource, type TextConds } from './engine.js';

/** Latent channels of FLUX's VAE and its spatial downsampling. */
const LATENT_C = 16;
const VAE_DOWN = 8;

export interface FluxEngineSource {
  /** A checkpoint path (file or diffusers folder), or "random:flux1-dev" for full-size random weights. */
  model: string;
  /** Text tokens per request (T5 length): 512 for FLUX.1-dev; small models serve fewer. */
  txtTokens: number;
  /** Resolutions served (one compiled plan each stays resident). */
  resolutions: readonly number[];
  /** W8A8 int8 linears (docs/int8.md). */
  int8?: boolean;
}

export class FluxEngine implements Engine {
  readonly description: string;
  private readonly executor: TransformerExecutor;
  private readonly codec = new LatentCodec();

  private constructor(
    private readonly ctx: GpuContext,
    private readonly store: WeightStore,
    readonly cfg: FluxConfig,
    private readonly src: FluxEngineSource,
    private readonly release: () => void,
    name: string,
  ) {
    this.description = `FLUX transformer (${name}, D=${cfg.hiddenSize}, ${cfg.doubleBlocks}+${cfg.singleBlocks} blocks) + interim text/VAE stand-ins`;
    this.executor = new TransformerExecutor(ctx, store, cfg, { maxPlans: Math.max(1, src.resolutions.length), idleWaitFraction: serveIdleWaitFraction(), int8: src.int8 });
  }

  static async open(ctx: GpuContext, src: FluxEngineSource): Promise<FluxEngine> {
    if (src.model.startsWith('random:')) {
      const which = src.model.slice('random:'.length);
      if (which !== 'flux1-dev') throw new Error(`unknown random model "${which}": use random:flux1-dev`);
      const cfg = flux1DevConfig();
      const { store, buffers } = await randomWeightStore(ctx, cfg);
      store.releaseInt8Sources = !!src.int8; // (random weights share buffers: release() keeps shared ones)
      return new FluxEngine(ctx, store, cfg, src, () => buffers.forEach((b) => b.destroy()), 'FLUX.1-dev, random weights');
    }
    const store = new WeightStore();
    store.releaseInt8Sources = !!src.int8;
    const loaded = await loadModel(ctx, src.model, { store });
    if (loaded.config.family !== 'flux') {
      loaded.weights.destroy();
      throw new Error(`${src.model} is a ${loaded.config.family} checkpoint; the serving engine runs FLUX checkpoints for now`);
    }
    return new FluxEngine(ctx, store, loaded.config as FluxConfig, src, () => loaded.weights.destroy(), src.model);
  }

  async prepare(resolution: number): Promise<number> {
    const p: GenerationParams = { prompt: 'warm up', negativePrompt: '', resolution, steps: 2, guidance: 3.5, seed: 1, strength: 1 };
    const st = await this.newState('warmup', p, await this.encodeText(p));
    await this.step(st); // compiles the plan
    // Median of three warm steps (CPU devices shared with other work are noisy).
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      if (st.step >= st.sigmas.length - 1) st.step = 0;
      const t0 = performance.now();
      await this.step(st);
      times.push((performance.now() - t0) / 1000);
    }
    return times.sort((a, b) => a - b)[1];
  }

  async encodeText(p: GenerationParams): Promise<TextConds> {
    return { cond: hashTextEncoder(p.prompt, this.src.txtTokens, this.cfg.contextInDim, this.cfg.pooledDim), uncond: null };
  }

  async newState(id: string, p: GenerationParams, text: TextConds): Promise<RequestState> {
    const cond = text.cond;
    const side = p.resolution / VAE_DOWN;
    return createRequestState({
      id, family: 'flux', latentShape: { channels: LATENT_C, height: side, width: side }, cond,
      distilledGuidance: this.cfg.guidanceEmbed ? p.guidance : null, seed: p.seed, steps: p.steps,
      scheduler: this.cfg.guidanceEmbed ? FLUX_DEV_SCHEDULER : FLUX_SCHNELL_SCHEDULER,
      init: p.initImage ? { latents: this.codec.encode(p.initImage, p.resolution), strength: p.strength } : undefined,
    });
  }

  async step(state: RequestState, group?: DenoiseExecutor): Promise<void> {
    await runStep(state, group ?? this.executor);
  }

  spMember(): SpMemberSource {
    return { ctx: this.ctx, weights: this.store, config: this.cfg };
  }

  async decode(p: GenerationParams, latents: Float32Array): Promise<RgbImage> {
    return this.codec.decode(latents, p.resolution / VAE_DOWN, VAE_DOWN);
  }

  preview(p: GenerationParams, latents: Float32Array): RgbImage {
    return this.codec.decode(latents, p.resolution / VAE_DOWN, 1);
  }

  destroy(): void {
    this.executor.destroy();
    this.release();
    this.store.destroy();
  }
}

function gaussian(rand: () => number, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = Math.max(rand(), 1e-12);
    const v = rand();
    const r = Math.sqrt(-2 * Math.log(u));
    out[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return out;
}

/** FNV-1a: a stable 32-bit seed per word. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * Stand-in text encoder: one seeded Gaussian row per word (first `tokens` words), the rest zero (padding);
 * pooled = a projection of the mean row. Deterministic, so equal prompts condition equally on every worker.
 */
export function hashTextEncoder(prompt: string, tokens: number, dim: number, pooledDim: number): Conditioning {
  const txt = new Float32Array(tokens * dim);
  const words = prompt.trim().split(/\s+/).filter(Boolean).slice(0, tokens);
  words.forEach((w, i) => txt.set(gaussian(mulberry32(fnv1a(w)), dim).map((x) => 0.5 * x), i * dim));
  const pooled = new Float32Array(pooledDim);
  if (words.length) {
    for (let j = 0; j < pooledDim; j++) {
      let s = 0;
      for (let i = 0; i < words.length; i++) s += txt[i * dim + (j % dim)];
      pooled[j] = s / words.length;
    }
  }
  return { context: txt, tokens, pooled };
}

/**
 * Stand-in VAE: 3 orthonormal directions in the 16 latent channels carry RGB (centred to [-1, 1]); encode
 * average-pools 8x8 pixels, decode reads the directions back and upsamples. decode(encode(x)) = pooled x.
 */
export class LatentCodec {
  /** [3][16] orthonormal rows. */
  private readonly m: Float64Array[];
  constructor(seed = 7) {
    const rand = mulberry32(seed);
    const rows: Float64Array[] = [];
    for (let r = 0; r < 3; r++) {
      const v = Float64Array.from(gaussian(rand, LATENT_C));
      for (const u of rows) {
        let d = 0;
        for (let i = 0; i < LATENT_C; i++) d += v[i] * u[i];
        for (let i = 0; i < LATENT_C; i++) v[i] -= d * u[i];
      }
      const n = Math.hypot(...v);
      rows.push(v.map((x) => x / n));
    }
    this.m = rows;
  }

  /** RGB planar [3, R, R] in [0, 1] -> latent [16, R/8, R/8]. */
  encode(rgb: Float32Array, resolution: number): Float32Array {
    const side = resolution / VAE_DOWN;
    const out = new Float32Array(LATENT_C * side * side);
    const px = VAE_DOWN * VAE_DOWN;
    for (let y = 0; y < side; y++)
      for (let x = 0; x < side; x++) {
        for (let c = 0; c < 3; c++) {
          let s = 0;
          for (let dy = 0; dy < VAE_DOWN; dy++)
            for (let dx = 0; dx < VAE_DOWN; dx++) s += rgb[(c * resolution + y * VAE_DOWN + dy) * resolution + x * VAE_DOWN + dx];
          const centred = (2 * s) / px - 1;
          for (let k = 0; k < LATENT_C; k++) out[(k * side + y) * side + x] += centred * this.m[c][k];
        }
      }
    return out;
  }

  /** Latent [16, S, S] -> RGB image of side S*up (nearest upsampling). */
  decode(lat: Float32Array, side: number, up: number): RgbImage {
    const W = side * up;
    const data = new Uint8Array(W * W * 3);
    for (let y = 0; y < side; y++)
      for (let x = 0; x < side; x++)
        for (let c = 0; c < 3; c++) {
          let s = 0;
          for (let k = 0; k < LATENT_C; k++) s += lat[(k * side + y) * side + x] * this.m[c][k];
          const v = Math.round(255 * Math.min(1, Math.max(0, (s + 1) / 2)));
          for (let dy = 0; dy < up; dy++) for (let dx = 0; dx < up; dx++) data[((y * up + dy) * W + x * up + dx) * 3 + c] = Number.isFinite(v) ? v : 0;
        }
    return { width: W, height: W, data };
  }
}
