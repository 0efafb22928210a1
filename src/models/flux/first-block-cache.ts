// First-block cache for FLUX (optional, off by default): issue 13's "skip a step's remaining blocks when the first
// block's output barely changes". The rule is ParaAttention's First Block Cache, as diffusers ships it
// (hooks/first_block_cache.py, FirstBlockCacheConfig):
//   r1     = (img stream after double block 0) - (img stream before it)        [Li, D] f32
//   change = mean|r1 - r1_ref| / mean|r1_ref|, r1_ref = r1 of the last step that ran every block
//   change <= threshold (and a reference exists): reuse; the image rows after the last block are
//            img1 + R, with R = (image rows after the last block) - img1 saved by the last computed step;
//   otherwise: run the remaining blocks, then save r1_ref := r1 and R.
// Only the image rows reach the final layer, so only their residual is kept (diffusers also keeps the text
// stream's, which its output never reads).
//
// The step is three compiled graphs over the same weights, chained on the GPU (Plan.setInput of another plan's
// view copies buffer to buffer at the next run, no host round trip):
//   head: inputs + embedders + double block 0 -> img1, txt1, vec_act, first_residual, change partials [G, 2]
//   body: double blocks 1.. + single blocks    -> residual R = img rows - img1
//   tail: final layer on img1 + R              -> velocity
// The host reads the head's G x 2 partial sums (8 KiB) to decide; a reused step runs head + tail only.
// The references live in the head's input `prev_first_residual` and the tail's input `residual` (graph inputs
// keep their contents between runs), so the state belongs to one image at a time: reset() between images.
import type { GpuContext } from '../../gpu/context.js';
import { compile, type Plan } from '../../graph/executor.js';
import type { Graph } from '../../graph/graph.js';
import { add, sub } from '../../graph/ops/elementwise.js';
import { absDiffSums } from '../../graph/ops/reduce.js';
import type { WeightStore } from '../../graph/weights.js';
import { absDiffRatio } from '../../kernels-wgsl/abs-diff-sums.js';
import type { DitGraphOptions } from '../common/dit-blocks.js';
import type { FluxConfig } from './config.js';
import { fluxBuilder, fluxDoubleBlock, fluxEmbed, fluxFinalLayer, fluxSingleStream, type FluxShape, setFluxStepScalars } from './graph.js';

export interface FluxCacheGraphs {
  head: Graph;
  body: Graph;
  tail: Graph;
}

/** The three parts of a cached FLUX step (batch 1, one GPU; see the file comment). */
export function buildFluxCacheGraphs(cfg: FluxConfig, shape: FluxShape, opts: DitGraphOptions = {}): FluxCacheGraphs {
  if (shape.batch !== 1) throw new Error(`first-block cache: batch ${shape.batch} is not supported (one image per step; the cache state is per image)`);
  if (opts.tokens) throw new Error('first-block cache: sequence parallelism is not supported (the cache runs on one GPU)');
  if (cfg.doubleBlocks < 1) throw new Error('first-block cache: this FLUX config has no double block to use as the first block');
  const D = cfg.hiddenSize;

  const h = fluxBuilder(cfg, shape, opts, '-fbc-head');
  const e = fluxEmbed(h);
  const first = fluxDoubleBlock(h, 0, e.img, e.txt, e.vecAct);
  const r1 = sub(h.g, first.img, e.img, { name: 'first_residual' }); // [Li, D] f32
  const ref = h.g.input('prev_first_residual', [h.Li, D], 'f32');
  h.g.output('img1', first.img); // [Li, D] f32
  h.g.output('txt1', first.txt); // [Lt, D] f32
  h.g.output('vec_act', e.vecAct); // [1, D] f16
  h.g.output('first_residual', r1);
  h.g.output('change', absDiffSums(h.g, r1, ref, { name: 'first_change' })); // [G, 2] f32

  const b = fluxBuilder(cfg, shape, opts, '-fbc-body');
  const img1 = b.g.input('img1', [b.Li, D], 'f32');
  let img = img1;
  let txt = b.g.input('txt1', [b.Lt, D], 'f32');
  const vecAct = b.g.input('vec_act', [1, D], 'f16');
  for (let i = 1; i < cfg.doubleBlocks; i++) ({ img, txt } = fluxDoubleBlock(b, i, img, txt, vecAct));
  const imgOut = fluxSingleStream(b, img, txt, vecAct); // [Li, D] f32
  b.g.output('residual', sub(b.g, imgOut, img1, { name: 'tail_residual' })); // [Li, D] f32

  const t = fluxBuilder(cfg, shape, opts, '-fbc-tail');
  const x = add(t.g, t.g.input('img1', [t.Li, D], 'f32'), t.g.input('residual', [t.Li, D], 'f32'), { name: 'cached_img' });
  t.g.output('velocity', fluxFinalLayer(t, x, t.g.input('vec_act', [1, D], 'f16'))); // [Li, outChannels] f32
  return { head: h.g, body: b.g, tail: t.g };
}

export interface CachedStepResult {
  /** mean|r1 - r1_ref| / mean|r1_ref|; null on the first step of an image (no reference yet). */
  change: number | null;
  /** Whether the remaining blocks were skipped (their residual reused). */
  reused: boolean;
  /** With `timed`: GPU time of the parts that ran (timestamps at their pass boundaries), ms; null without timestamps. */
  gpuMs?: number | null;
}

/** A compiled cached FLUX step for one shape: set inputs, step(threshold), read the velocity. */
export class FluxFirstBlockCache {
  private hasReference = false;

  private constructor(readonly cfg: FluxConfig, readonly shape: FluxShape, readonly head: Plan, readonly body: Plan, readonly tail: Plan) {}

  static async create(ctx: GpuContext, weights: WeightStore, cfg: FluxConfig, shape: FluxShape, opts: DitGraphOptions = {}): Promise<FluxFirstBlockCache> {
    const graphs = buildFluxCacheGraphs(cfg, shape, opts);
    const plans: Plan[] = [];
    try {
      for (const g of [graphs.head, graphs.body, graphs.tail]) plans.push(await compile(ctx, g, weights));
    } catch (e) {
      for (const p of plans) p.destroy();
      throw e;
    }
    return new FluxFirstBlockCache(cfg, shape, plans[0], plans[1], plans[2]);
  }

  /** Forgets the references: the next step runs every block (call between images). */
  reset(): void {
    this.hasReference = false;
  }

  /** The head's inputs (host arrays): packed latents [Li, inChannels], T5 states [Lt, contextInDim], pooled [pooledDim]. */
  setInput(name: 'img' | 'txt' | 'pooled', data: ArrayLike<number>): void {
    this.head.setInput(name, data);
  }

  /** Timestep (and distilled guidance) of the next step, one each (batch 1), as FluxTransformer.setTimestep takes them. */
  setTimestep(timesteps: readonly number[], guidance?: readonly number[]): void {
    setFluxStepScalars(this.head, this.cfg, 1, timesteps, guidance);
  }

  /**
   * Runs one step: the head, then (after reading its change statistic) the body unless the change is at most
   * `threshold`, then the tail. `threshold` < 0 never reuses (every block runs: the reference path), Infinity
   * reuses whenever a reference exists. The velocity is the tail's output 'velocity' (readVelocity()).
   * `force`: 'compute' runs every block whatever the change (and refreshes the references), 'reuse' skips them
   * whenever a reference exists (benchmarks time both paths). `timed`: each part runs with pass timestamps and
   * is awaited before the next is submitted (benchmarks; adds a little host latency between the parts).
   */
  async step(threshold: number, opts: { force?: 'compute' | 'reuse'; timed?: boolean } = {}): Promise<CachedStepResult> {
    if (Number.isNaN(threshold)) throw new Error('first-block cache: threshold is NaN');
    const { force, timed } = opts;
    let gpuMs: number | null = 0;
    const run = async (p: Plan) => {
      if (!timed) return p.run();
      const t = await p.runTimed();
      gpuMs = t === null || gpuMs === null ? null : gpuMs + t;
    };
    await run(this.head);
    let change: number | null = null;
    if (this.hasReference) change = absDiffRatio(await this.head.readOutput('change'));
    // A non-finite change (a broken step) never reuses: the full step shows the problem instead of hiding it.
    const reuse = this.hasReference && force !== 'compute' && (force === 'reuse' || (change !== null && Number.isFinite(change) && change <= threshold));
    // The parts read the head's outputs from its buffers (a GPU copy at the start of each part's run; a view set
    // as an input is copied once, so it is set again every step).
    this.tail.setInput('img1', this.head.tensorView('img1'));
    this.tail.setInput('vec_act', this.head.tensorView('vec_act'));
    if (!reuse) {
      for (const name of ['img1', 'txt1', 'vec_act']) this.body.setInput(name, this.head.tensorView(name));
      await run(this.body);
      this.tail.setInput('residual', this.body.tensorView('residual'));
      // The new reference: copied into the head's input at its next run, before any of its dispatches.
      this.head.setInput('prev_first_residual', this.head.tensorView('first_residual'));
      this.hasReference = true;
    }
    await run(this.tail);
    return { change, reused: reuse, ...(timed ? { gpuMs } : {}) };
  }

  readVelocity(): Promise<Float32Array> {
    return this.tail.readOutput('velocity');
  }

  destroy(): void {
    this.head.destroy();
    this.body.destroy();
    this.tail.destroy();
  }
}
