// The single-GPU DenoiseExecutor: one loaded transformer (FLUX or SD3) on one GpuContext. It compiles one plan
// per (text tokens, latent grid) and keeps the most recent few, so a server mixing two or three resolutions
// does not recompile; each plan's memory is planned once and every step replays its recorded dispatches.
import { PlanCache } from './plan-cache.js';
import type { GpuContext } from '../gpu/context.js';
import type { WeightStore } from '../graph/weights.js';
import { FluxFirstBlockCache, FluxTransformer, type FluxConfig } from '../models/flux/index.js';
import { patchify, unpatchify } from '../models/latents.js';
import { Sd3Transformer, type Sd3Config } from '../models/sd3/index.js';
import { fluxGuidanceInput, type DenoiseExecutor, type VelocityQuery } from './denoise-step.js';
import type { Conditioning, LatentShape } from './request-state.js';

/** The transformer configs this executor runs. */
export type DitConfig = FluxConfig | Sd3Config;

type Compiled = FluxTransformer | Sd3Transformer | FluxFirstBlockCache;

/** What the first-block cache did over the steps of one image (TransformerExecutor.cacheStats). */
export interface FirstBlockCacheStats {
  threshold: number;
  /** Steps that ran every block / reused the remaining blocks' residual. */
  computed: number;
  reused: number;
  /** Per step: the change statistic (null on an image's first step) and whether the step reused. */
  steps: { sigma: number; change: number | null; reused: boolean }[];
}

export interface TransformerExecutorOptions {
  /** Compiled plans kept per executor (each holds its activation memory); default 2. */
  maxPlans?: number;
  /**
   * Serving: after submitting a forward, sleep (setTimeout) for this fraction of the plan's previous
   * submit-to-result time before asking Dawn for the result; 0 (default) reads back at once. Why: while any Dawn
   * promise (mapAsync, onSubmittedWorkDone) is pending, dawn.node re-arms a setImmediate that calls
   * ProcessEvents on every event-loop turn; that spin allocates (~20 MB of JS heap per 0.9 s of waiting on
   * lavapipe, measured) and drives a major GC every ~1-2 s in a server that waits on two GPUs all the time
   * (docs/serving.md, "Event-loop blocks"). Sleeping leaves nothing pending while the GPU is known to be busy.
   * The estimate is the latest submit-to-result time; when the result was already there on waking (the
   * readback took < 5% of the estimate: the GPU may have finished long before) the next call reads back at once
   * and measures afresh. A sleep never exceeds the fraction of the previous call's time.
   */
  idleWaitFraction?: number;
  /** W8A8 linears (FLUX; DitGraphOptions.int8). */
  int8?: boolean;
  /**
   * Encode the next step's commands while the GPU runs this one (Plan.prepareRun; default true), so a step's CPU
   * encode is off the critical path. false: encode when the step is submitted (benchmarks A/B it).
   */
  encodeAhead?: boolean;
  /**
   * First-block cache threshold (FLUX, off by default; models/flux/first-block-cache.ts): a step whose first
   * block's residual changed by at most this (relative L1) since the last fully computed step reuses the other
   * blocks' residual. The cache follows one image: it starts afresh whenever the conditioning object or the
   * latent shape changes, or sigma does not decrease (a new image), so interleaved requests never share it.
   */
  firstBlockCache?: number;
}

export class TransformerExecutor implements DenoiseExecutor {
  private readonly plans: PlanCache<{ model: Compiled; lastCond: Conditioning | null; resultMs: number | null }>;
  private readonly idleWaitFraction: number;
  private readonly encodeAhead: boolean;
  /** W8A8 linears (the image's settings record it). */
  readonly int8: boolean;
  /** First-block cache threshold, or null (off). */
  readonly firstBlockCache: number | null;
  /** The first-block cache's record of the current image (null when the cache is off). */
  cacheStats: FirstBlockCacheStats | null = null;
  private cacheImage: { cond: Conditioning; key: string; sigma: number } | null = null;
  /** Wall time spent compiling plans (first step at a new shape), ms. */
  compileMs = 0;
  /** Calls run one at a time: they share the compiled plans' input and output buffers. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly ctx: GpuContext, readonly weights: WeightStore, readonly config: DitConfig, opts: TransformerExecutorOptions = {}) {
    this.plans = new PlanCache(opts.maxPlans ?? 2, (e) => e.model.destroy());
    const f = opts.idleWaitFraction ?? 0;
    if (!(f >= 0 && f < 1)) throw new Error(`idleWaitFraction ${f} must be in [0, 1) (0 = read back at once)`);
    this.idleWaitFraction = f;
    this.encodeAhead = opts.encodeAhead ?? true;
    if (opts.int8 && config.family !== 'flux') throw new Error(`int8 linears are implemented for FLUX only (this transformer is ${config.family})`);
    this.int8 = !!opts.int8;
    const fbc = opts.firstBlockCache;
    if (fbc !== undefined) {
      if (config.family !== 'flux') throw new Error(`the first-block cache is implemented for FLUX only (this transformer is ${config.family})`);
      if (!(Number.isFinite(fbc) && fbc >= 0)) throw new Error(`first-block cache threshold ${fbc} must be a finite number >= 0 (e.g. 0.08)`);
    }
    this.firstBlockCache = fbc ?? null;
  }

  /** Starts the first-block cache afresh (the next step runs every block); a no-op when the cache is off. */
  resetCache(): void {
    this.cacheImage = null;
  }

  /** Checks that a latent shape and conditioning fit this transformer (clear errors before any GPU work). */
  check(latentShape: LatentShape, cond: Conditioning): void {
    const c = this.config;
    const latentCh = c.family === 'flux' ? c.inChannels / 4 : c.inChannels;
    if (latentShape.channels !== latentCh) {
      throw new Error(`latent has ${latentShape.channels} channels but the ${c.family} transformer takes ${latentCh}`);
    }
    if (c.family === 'sd3' && c.patchSize !== 2) throw new Error(`SD3 patch size ${c.patchSize} is not supported (the released models use 2)`);
    if (latentShape.height % 2 || latentShape.width % 2) {
      throw new Error(`latent ${latentShape.height}x${latentShape.width} is not divisible by the patch size 2 (image size must be a multiple of 16)`);
    }
    const dim = c.family === 'flux' ? c.contextInDim : c.jointAttentionDim;
    if (cond.context.length !== cond.tokens * dim) throw new Error(`text conditioning has ${cond.context.length} values, expected ${cond.tokens} tokens x ${dim}`);
    if (cond.pooled.length !== c.pooledDim) throw new Error(`pooled text vector has ${cond.pooled.length} values, the transformer takes ${c.pooledDim}`);
  }

  private async plan(latentShape: LatentShape, tokens: number) {
    const gridH = latentShape.height / 2, gridW = latentShape.width / 2;
    const key = `${tokens}:${gridH}x${gridW}`;
    const hit = this.plans.get(key);
    if (hit) return hit;
    this.plans.makeRoom();
    const t0 = performance.now();
    const shape = { batch: 1, txtTokens: tokens, gridH, gridW };
    const model = this.config.family === 'sd3'
      ? await Sd3Transformer.create(this.ctx, this.weights, this.config as Sd3Config, shape)
      : this.firstBlockCache !== null
        ? await FluxFirstBlockCache.create(this.ctx, this.weights, this.config as FluxConfig, shape, { int8: this.int8 })
        : await FluxTransformer.create(this.ctx, this.weights, this.config as FluxConfig, shape, { int8: this.int8 });
    this.compileMs += performance.now() - t0;
    const entry = { model, lastCond: null as Conditioning | null, resultMs: null as number | null };
    this.plans.set(key, entry);
    return entry;
  }

  /** Concurrent calls are queued (a plan's inputs and outputs are single buffers). */
  velocity(q: VelocityQuery): Promise<Float32Array[]> {
    const run = this.queue.then(() => this.velocityNow(q));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async velocityNow(q: VelocityQuery): Promise<Float32Array[]> {
    if (q.family !== this.config.family) throw new Error(`a ${q.family} request cannot run on a ${this.config.family} transformer`);
    const { channels: C, height: H, width: W } = q.latentShape;
    const out: Float32Array[] = [];
    // FLUX packs 2x2 patches as (c, p, q) both ways; SD3 reads (c, p, q) and emits (p, q, c).
    const tokensIn = patchify(q.latents, C, H, W, 2, 'c-p-q');
    for (const cond of q.conds) {
      this.check(q.latentShape, cond);
      const entry = await this.plan(q.latentShape, cond.tokens);
      const m = entry.model;
      if (m instanceof FluxFirstBlockCache) {
        out.push(unpatchify(await this.cachedStep(q, cond, entry, m, tokensIn), C, H, W, 2, 'c-p-q'));
        continue;
      }
      if (m instanceof FluxTransformer) {
        this.setFluxInputs(m, entry, cond, q, tokensIn);
      } else {
        // The text inputs stay on the GPU between steps of one request: upload only when the conditioning changes.
        m.plan.setInput('latents', tokensIn);
        if (entry.lastCond !== cond) {
          m.plan.setInput('context', cond.context);
          m.plan.setInput('pooled', cond.pooled);
        }
        m.setTimestep([q.sigma]);
        entry.lastCond = cond;
      }
      const t0 = performance.now();
      await m.plan.run();
      // The next step's commands are encoded while the GPU runs this one (the inputs are written before it runs).
      if (this.encodeAhead) m.plan.prepareRun();
      const estimate = entry.resultMs;
      let slept = false;
      if (this.idleWaitFraction > 0 && estimate !== null) {
        const ms = this.idleWaitFraction * estimate - (performance.now() - t0);
        if (ms >= 1) {
          await new Promise((r) => setTimeout(r, ms));
          slept = true;
        }
      }
      const tRead = performance.now();
      const v = await m.plan.readOutput('velocity');
      const tEnd = performance.now();
      // A result already there on waking means the GPU may have finished well before: this time is no estimate
      // (a slow first step would otherwise stretch the next sleeps); the next call reads back at once and measures.
      entry.resultMs = slept && tEnd - tRead < 0.05 * estimate! ? null : tEnd - t0;
      out.push(unpatchify(v, C, H, W, 2, m instanceof FluxTransformer ? 'c-p-q' : 'p-q-c'));
    }
    return out;
  }

  /**
   * A FLUX step's inputs, for the whole step or the first-block cache: the packed latents every step, the text
   * inputs only when the conditioning changed (they stay on the GPU between steps of one request), the timestep and
   * the distilled guidance.
   */
  private setFluxInputs(m: FluxTransformer | FluxFirstBlockCache, entry: { lastCond: Conditioning | null }, cond: Conditioning, q: VelocityQuery, tokensIn: Float32Array): void {
    m.setInput('img', tokensIn);
    if (entry.lastCond !== cond) {
      m.setInput('txt', cond.context);
      m.setInput('pooled', cond.pooled);
    }
    m.setTimestep([q.sigma], fluxGuidanceInput(this.config as FluxConfig, q));
    entry.lastCond = cond;
  }

  /** One FLUX step through the first-block cache (one conditioning: FLUX has no CFG). */
  private async cachedStep(q: VelocityQuery, cond: Conditioning, entry: { lastCond: Conditioning | null }, m: FluxFirstBlockCache, tokensIn: Float32Array): Promise<Float32Array> {
    const threshold = this.firstBlockCache!;
    // A new image (other conditioning, other shape, sigma not decreasing) or another plan: start afresh.
    const key = `${q.latentShape.channels}x${q.latentShape.height}x${q.latentShape.width}:${cond.tokens}`;
    const prev = this.cacheImage;
    if (!prev || prev.cond !== cond || prev.key !== key || !(q.sigma < prev.sigma)) {
      m.reset();
      this.cacheStats = { threshold, computed: 0, reused: 0, steps: [] };
    }
    this.cacheImage = { cond, key, sigma: q.sigma };
    this.setFluxInputs(m, entry, cond, q, tokensIn);
    const r = await m.step(threshold);
    const stats = this.cacheStats!;
    stats.steps.push({ sigma: q.sigma, change: r.change, reused: r.reused });
    if (r.reused) stats.reused++;
    else stats.computed++;
    return m.readVelocity();
  }

  destroy(): void {
    this.plans.clear();
  }
}
