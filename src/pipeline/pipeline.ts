// The whole text-to-image pipeline on one GPU context: load a model folder (diffusers pipeline or BFL files),
// then prompt -> text conditioning -> denoising loop (runStep on a TransformerExecutor) -> VAE decode -> image.
// Every stage is timed; generation settings come back with the image so they can be stored in its metadata.
import type { GpuContext } from '../gpu/context.js';
import { WeightStore } from '../graph/weights.js';
import type { WeightsMode } from '../loading/upload.js';
import { VaeRuntime } from '../models/vae/index.js';
import { loadModel } from '../models/registry.js';
import type { FluxConfig } from '../models/flux/index.js';
import { denoise, type StepResult } from './denoise-step.js';
import {
  FLUX_DEV_SCHEDULER, FLUX_SCHNELL_SCHEDULER, parseSchedulerConfig, SD3_SCHEDULER, type FlowMatchConfig,
} from './flow-match.js';
import { denormalize, type FloatImage } from './image-io.js';
import { readLatentsFile } from './latents-file.js';
import { resolveModelFolder, type ModelFolder } from './model-folder.js';
import { randomSeed } from './noise.js';
import { createRequestState, stepsLeft, type Conditioning, type LatentShape } from './request-state.js';
import { loadTextStage, type TextStage } from './text-stage.js';
import { TransformerExecutor, type DitConfig } from './transformer-executor.js';
import { UserInputError } from '../util/errors.js';

export interface GenerationDefaults {
  steps: number;
  /** FLUX.1-dev: distilled guidance; SD3: CFG scale; null: the model takes none (schnell). */
  guidance: number | null;
  width: number;
  height: number;
  /** T5 tokens. */
  maxSequenceLength: number;
}

export interface GenerateRequest {
  prompt: string;
  /** SD3: the negative prompt for CFG (default ""). */
  negative?: string;
  width?: number;
  height?: number;
  steps?: number;
  guidance?: number | null;
  seed?: number;
  maxSequenceLength?: number;
  /** Cut over-long prompts as diffusers does (with a warning) instead of refusing them. */
  allowTruncation?: boolean;
  /** Initial noise [C, h, w] or a --latents file; default: seeded Philox noise. */
  noise?: Float32Array;
  latentsFile?: string;
  /** Image to image: the input image (any size; resized to the output size) and the strength. */
  image?: FloatImage;
  strength?: number;
  /** Precomputed text conditioning (skips the text encoders: tests, servers with an embedding cache). */
  cond?: Conditioning;
  uncond?: Conditioning;
}

export interface StageTimes {
  textMs: number;
  /** Image to image: VAE encode of the input image. */
  encodeImageMs: number;
  denoiseMs: number;
  /** Part of denoiseMs spent compiling transformer plans (first image at a new size). */
  compileMs: number;
  decodeMs: number;
  totalMs: number;
}

export interface GenerateResult {
  /** [3, height, width] in [0, 1] (denormalised, clamped, not yet quantised). */
  image: FloatImage;
  /** The VAE's raw output [3, H, W] (nominally [-1, 1]) and the final latents [C, h, w]: parity tests. */
  raw: Float32Array;
  latents: Float32Array;
  seed: number;
  settings: Record<string, string | number | null>;
  times: StageTimes;
  warnings: string[];
  /** First-block cache (when on): steps that ran every block and steps that reused the other blocks' residual. */
  cache?: { threshold: number; computed: number; reused: number; changes: (number | null)[] };
}

export interface LoadOptions {
  /** Load the text encoders (default true; false for pipelines fed precomputed conditioning). */
  textEncoders?: boolean;
  /** Load the VAE encoder too (image to image). */
  vaeEncoder?: boolean;
  /**
   * fp8 / GGUF weights of the transformer and the text encoders: 'expand' (default) to f16 at load, or 'resident':
   * kept quantized on the GPU and expanded per layer at use (about half the weight memory; loading/upload.ts).
   */
  weightsMode?: WeightsMode;
  /**
   * W8A8 linears in the transformer (FLUX only; off by default): faster where the GPU has int8 tensor cores, at a
   * measured quality cost (docs/int8.md). The int8 weights are made from the f16 ones at the first step.
   */
  int8?: boolean;
  /**
   * First-block cache threshold (FLUX only; off by default): steps whose first block barely changed reuse the
   * other blocks' residual from the last fully computed step (models/flux/first-block-cache.ts). Faster, at a
   * measured quality cost (docs/first-block-cache.md); 0.05–0.1 is the usual range.
   */
  firstBlockCache?: number;
  /**
   * Fraction of a step's expected GPU time to sleep before asking Dawn for its result (TransformerExecutorOptions.
   * idleWaitFraction). Default 0.85: while a Dawn promise is pending, dawn.node's ProcessEvents spin allocates, and
   * the major collections it drives landed at the end of 16 of 40 FLUX.1-dev 512² steps on the H200 (+7 ms per step
   * on average, up to +30); with the sleep, 2 of 40 (bench/results/h200-2026-11-30-session6-gc, docs/int8.md). 0
   * reads back at once.
   */
  idleWaitFraction?: number;
}

/** The pipeline's default idle wait (LoadOptions.idleWaitFraction), the serving engines' value too. */
export const PIPELINE_IDLE_WAIT = 0.85;

export interface LoadTimes {
  transformerMs: number;
  vaeMs: number;
  textMs: number;
}

function defaultScheduler(cfg: DitConfig): FlowMatchConfig {
  if (cfg.family === 'sd3') return SD3_SCHEDULER;
  return cfg.guidanceEmbed ? FLUX_DEV_SCHEDULER : FLUX_SCHNELL_SCHEDULER;
}

function num(v: unknown, what: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${what} must be a number, got ${JSON.stringify(v)}`);
  return v;
}

/** See TextToImagePipeline.defaults. */
export function generationDefaults(
  c: DitConfig, f: Pick<ModelFolder, 'root' | 'vaeSampleSize' | 't5MaxLength' | 'defaults'>, sizeMultiple: number,
): GenerationDefaults {
  const side = f.vaeSampleSize && f.vaeSampleSize % sizeMultiple === 0 ? f.vaeSampleSize : 1024;
  const base: GenerationDefaults = c.family === 'sd3'
    ? { steps: 28, guidance: 7.0, width: side, height: side, maxSequenceLength: 256 }
    : (c as FluxConfig).guidanceEmbed
      ? { steps: 28, guidance: 3.5, width: side, height: side, maxSequenceLength: 512 }
      : { steps: 4, guidance: null, width: side, height: side, maxSequenceLength: 256 };
  if (f.t5MaxLength) base.maxSequenceLength = Math.min(base.maxSequenceLength, f.t5MaxLength);
  const d = f.defaults;
  if (!d) return base;
  const src = `${f.root}/tetriserve.json`;
  return {
    steps: num(d.steps, `${src}: steps`) ?? base.steps,
    guidance: d.guidance === null ? null : (num(d.guidance, `${src}: guidance`) ?? base.guidance),
    width: num(d.width, `${src}: width`) ?? base.width,
    height: num(d.height, `${src}: height`) ?? base.height,
    maxSequenceLength: num(d.max_sequence_length, `${src}: max_sequence_length`) ?? base.maxSequenceLength,
  };
}

export class TextToImagePipeline {
  private constructor(
    readonly ctx: GpuContext,
    readonly folder: ModelFolder,
    readonly config: DitConfig,
    readonly scheduler: FlowMatchConfig,
    readonly executor: TransformerExecutor,
    readonly vae: VaeRuntime,
    readonly text: TextStage | null,
    readonly loadTimes: LoadTimes,
    readonly warnings: string[],
    private readonly freeTransformer: () => void,
  ) {}

  static async load(ctx: GpuContext, modelPath: string, opts: LoadOptions = {}): Promise<TextToImagePipeline> {
    const folder = await resolveModelFolder(modelPath);
    // Refused before any weight is read.
    if (opts.int8 && folder.family !== 'flux') throw new UserInputError(`int8 linears are implemented for FLUX transformers only; this model is ${folder.family}: drop --int8`);
    if (opts.firstBlockCache !== undefined && folder.family !== 'flux') {
      throw new UserInputError(`the first-block cache is implemented for FLUX transformers only; this model is ${folder.family}: drop --first-block-cache`);
    }
    const warnings: string[] = [];
    let t0 = performance.now();
    const store = new WeightStore();
    // int8: each block weight's f16 form is released once its int8 form exists (only int8 graphs run on this store).
    store.releaseInt8Sources = !!opts.int8;
    const loaded = await loadModel<DitConfig>(ctx, folder.transformer, { store, weightsMode: opts.weightsMode });
    warnings.push(...loaded.warnings);
    const transformerMs = performance.now() - t0;
    if (loaded.config.family !== folder.family) {
      throw new Error(`${folder.root}: ${folder.pipelineClass} expects a ${folder.family} transformer, but ${folder.transformer} holds ${loaded.config.family}`);
    }
    const freeTransformer = () => {
      loaded.weights.destroy();
      store.destroy();
    };
    let vae: VaeRuntime | undefined;
    let text: TextStage | null = null;
    try {
      t0 = performance.now();
      vae = await VaeRuntime.load(ctx, folder.vae, { part: opts.vaeEncoder ? 'both' : 'decoder' });
      warnings.push(...vae.warnings);
      const vaeMs = performance.now() - t0;
      const latentCh = loaded.config.family === 'flux' ? loaded.config.inChannels / 4 : loaded.config.inChannels;
      if (vae.config.latentChannels !== latentCh) {
        throw new Error(`${folder.root}: the VAE has ${vae.config.latentChannels} latent channels but the transformer takes ${latentCh}`);
      }
      if (opts.textEncoders !== false) {
        text = await loadTextStage(ctx, folder, { ...(loaded.config.family === 'sd3' ? { jointAttentionDim: loaded.config.jointAttentionDim } : {}), weightsMode: opts.weightsMode });
        warnings.push(...text.warnings);
      }
      const scheduler = folder.schedulerConfig
        ? parseSchedulerConfig(folder.schedulerConfig, defaultScheduler(loaded.config), `${folder.root}/scheduler/scheduler_config.json`)
        : defaultScheduler(loaded.config);
      const executor = new TransformerExecutor(ctx, store, loaded.config, {
        int8: opts.int8, firstBlockCache: opts.firstBlockCache, idleWaitFraction: opts.idleWaitFraction ?? PIPELINE_IDLE_WAIT,
      });
      return new TextToImagePipeline(ctx, folder, loaded.config, scheduler, executor, vae, text,
        { transformerMs, vaeMs, textMs: text?.loadMs ?? 0 }, warnings, freeTransformer);
    } catch (e) {
      text?.destroy();
      vae?.destroy();
      freeTransformer();
      throw e;
    }
  }

  get family(): 'flux' | 'sd3' {
    return this.config.family;
  }

  /** Pixels per latent pixel times the 2x2 patch: image sizes must be multiples of this (16 for FLUX/SD3). */
  get sizeMultiple(): number {
    return this.vae.scale * 2;
  }

  /**
   * Defaults: the model family's (diffusers pipelines': 28 steps / 3.5 FLUX.1-dev, 4 steps schnell, 28 / 7.0 SD3),
   * the image size from vae/config.json's sample_size (1024 for FLUX.1 and SD3), T5 tokens capped by the T5
   * tokenizer's model_max_length; all overridden by the folder's tetriserve.json when present.
   */
  defaults(): GenerationDefaults {
    return generationDefaults(this.config, this.folder, this.sizeMultiple);
  }

  /** Checks a size and returns the latent shape, or throws naming the nearest valid sizes. */
  latentShape(width: number, height: number): LatentShape {
    const m = this.sizeMultiple;
    for (const [name, v] of [['width', width], ['height', height]] as const) {
      if (!Number.isInteger(v) || v < m) throw new UserInputError(`${name} ${v} must be an integer of at least ${m}`);
      if (v % m) {
        const lo = Math.floor(v / m) * m, hi = lo + m;
        throw new UserInputError(`${name} ${v} is not divisible by ${m} (the VAE downsamples by ${this.vae.scale} and the transformer packs 2x2 latent patches); use ${lo} or ${hi}`);
      }
      if (v > 8192) throw new UserInputError(`${name} ${v} is above the 8192 pixel limit`);
    }
    return { channels: this.vae.config.latentChannels, height: height / this.vae.scale, width: width / this.vae.scale };
  }

  async generate(req: GenerateRequest, onStep?: (r: StepResult, total: number) => void): Promise<GenerateResult> {
    const tStart = performance.now();
    const d = this.defaults();
    const width = req.width ?? d.width, height = req.height ?? d.height;
    const steps = req.steps ?? d.steps;
    const shape = this.latentShape(width, height);
    const guidance = req.guidance === undefined ? d.guidance : req.guidance;
    const isSd3 = this.family === 'sd3';
    const distilled = !isSd3 && (this.config as FluxConfig).guidanceEmbed;
    if (!isSd3 && req.negative !== undefined) {
      throw new Error('--negative is for SD3 (classifier-free guidance); FLUX.1 is guidance-distilled and takes no negative prompt');
    }
    if (distilled && (guidance === null || guidance === undefined)) throw new Error('this FLUX checkpoint needs a guidance value (--guidance, e.g. 3.5)');
    if (guidance !== null && !(Number.isFinite(guidance) && guidance >= 0)) throw new Error(`--guidance must be a number >= 0, got ${guidance}`);
    const ignoredGuidance = !isSd3 && !distilled && req.guidance !== undefined && req.guidance !== null;
    if (req.image && req.strength === undefined) throw new Error('image to image needs --strength (e.g. 0.6)');
    const seed = req.seed ?? randomSeed();
    const maxSequenceLength = req.maxSequenceLength ?? d.maxSequenceLength;
    const warnings: string[] = [];
    if (ignoredGuidance) warnings.push('this FLUX checkpoint has no guidance embedding (schnell-style): --guidance is ignored');

    // Text.
    let t0 = performance.now();
    const useCfg = isSd3 && guidance !== null && guidance > 1;
    let cond = req.cond, uncond = req.uncond;
    if (!cond || (useCfg && !uncond)) {
      if (!this.text) throw new Error('this pipeline was loaded without text encoders: pass precomputed conditioning');
      const o = { maxSequenceLength, allowTruncation: !!req.allowTruncation };
      cond ??= await this.text.encode(req.prompt, o);
      if (useCfg) uncond ??= await this.text.encode(req.negative ?? '', o);
    }
    const textMs = performance.now() - t0;

    // Initial noise and, for image to image, the encoded input image.
    const noise = req.noise ?? (req.latentsFile ? await readLatentsFile(req.latentsFile, shape) : undefined);
    t0 = performance.now();
    let init: { latents: Float32Array; strength: number } | undefined;
    if (req.image) {
      const { width: iw, height: ih, data } = req.image;
      if (iw !== width || ih !== height) throw new Error(`input image is ${iw}x${ih}; resize it to ${width}x${height} first (readImage does)`);
      const scaled = data.map((v) => v * 2 - 1); // [0, 1] -> [-1, 1] (VaeImageProcessor.normalize)
      const enc = await this.vae.encode(scaled, height, width);
      init = { latents: enc.latents, strength: req.strength! };
    }
    const encodeImageMs = performance.now() - t0;

    // Denoise.
    const state = createRequestState({
      id: `gen-${seed}`, family: this.family, latentShape: shape, cond, seed, steps, scheduler: this.scheduler, noise, init,
      distilledGuidance: distilled ? guidance : null,
      cfg: useCfg ? { uncond: uncond!, scale: guidance! } : null,
    });
    this.executor.check(shape, cond);
    const total = stepsLeft(state);
    const compile0 = this.executor.compileMs;
    this.executor.resetCache(); // a new image: its first step runs every block
    t0 = performance.now();
    await denoise(state, this.executor, (r) => onStep?.(r, total));
    const denoiseMs = performance.now() - t0;
    const compileMs = this.executor.compileMs - compile0;

    // Decode.
    t0 = performance.now();
    const dec = await this.vae.decode(state.latents, shape.height, shape.width);
    const decodeMs = performance.now() - t0;
    let nonFinite = 0;
    for (const v of dec.image) if (!Number.isFinite(v)) nonFinite++;
    if (nonFinite) warnings.push(`${nonFinite} image values were not finite (shown black)`);

    const settings: Record<string, string | number | null> = {
      model: this.folder.root, family: this.family, width, height, steps, guidance: guidance ?? null, seed,
      negative: useCfg ? (req.negative ?? '') : null, strength: req.image ? req.strength! : null,
      max_sequence_length: maxSequenceLength, sampler: 'flow-match euler', linears: this.executor.int8 ? 'w8a8 int8' : 'f16',
      noise: req.latentsFile ? `file:${req.latentsFile}` : req.noise ? 'given' : 'philox4x32-10 box-muller',
    };
    const cs = this.executor.cacheStats;
    const cache = this.executor.firstBlockCache !== null && cs
      ? { threshold: cs.threshold, computed: cs.computed, reused: cs.reused, changes: cs.steps.map((s) => s.change) }
      : undefined;
    if (cache) settings.first_block_cache = `threshold ${cache.threshold}: ${cache.reused} of ${cache.computed + cache.reused} steps reused`;
    return {
      image: { width: dec.width, height: dec.height, data: denormalize(dec.image) }, raw: dec.image, latents: state.latents,
      seed, settings, warnings, ...(cache ? { cache } : {}),
      times: { textMs, encodeImageMs, denoiseMs, compileMs, decodeMs, totalMs: performance.now() - tStart },
    };
  }

  destroy(): void {
    this.executor.destroy();
    this.text?.destroy();
    this.vae.destroy();
    this.freeTransformer();
  }
}
