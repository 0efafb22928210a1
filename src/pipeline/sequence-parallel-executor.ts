// The sequence-parallel DenoiseExecutor: one FLUX/SD3 step over a group of GPUs (or, in CI, several plans on
// lavapipe). Rank r's graph holds text slice r and image slice r of the joint sequence (src/parallel/sharding.ts)
// and attends through parallelAttention (Ulysses, ring or hybrid, src/parallel/attention.ts) over the group's
// transport. Requests keep their state on the host between steps (request-state.ts), so moving a request from a
// group of degree k to one of degree k' between two steps is just running its next step on the other executor:
// the latents are sliced differently and the cached text conditioning is uploaded once to the new group's plans;
// nothing is recomputed, and a request that stays on its group re-uploads only its latents (as on one GPU).
import { PlanCache } from './plan-cache.js';
import type { GpuContext } from '../gpu/context.js';
import type { WeightStore } from '../graph/weights.js';
import type { AttendFn } from '../models/common/dit-blocks.js';
import { releaseStaging } from '../graph/ops/collective.js';
import { FluxTransformer } from '../models/flux/graph.js';
import type { FluxConfig } from '../models/flux/config.js';
import { patchify, unpatchify } from '../models/latents.js';
import { Sd3Transformer } from '../models/sd3/graph.js';
import type { Sd3Config } from '../models/sd3/config.js';
import { checkStrategy, parallelAttention, type SpStrategy } from '../parallel/attention.js';
import { concatRows, jointRows, sliceRows, type TokenShard, tokenShards } from '../parallel/sharding.js';
import type { Transport } from '../parallel/transport.js';
import { fluxGuidanceInput, type DenoiseExecutor, type VelocityQuery } from './denoise-step.js';
import type { Conditioning, LatentShape } from './request-state.js';

type Compiled = FluxTransformer | Sd3Transformer;

/** One rank of the group: its device, the model's weights on that device, and its transport endpoint. */
export interface SpMember {
  ctx: GpuContext;
  weights: WeightStore;
  comm: Transport;
}

export interface SpExecutorOptions {
  strategy: SpStrategy;
  /** Hybrid only: the Ulysses degree (ranks per all-to-all group). */
  ulysses?: number;
  /** Compiled plan sets kept (per text length and latent grid); default 2. */
  maxPlans?: number;
  /** See SequenceParallel.chunkBytes. */
  chunkBytes?: number;
  /** W8A8 int8 linears (FLUX; DitGraphOptions.int8): each rank quantizes its own weights. */
  int8?: boolean;
}

interface PlanSet {
  models: Compiled[];
  shards: TokenShard[];
  lastCond: Conditioning | null;
}

export class SequenceParallelExecutor implements DenoiseExecutor {
  private readonly plans: PlanCache<PlanSet>;
  /** Host-to-GPU uploads by kind (what a degree switch moves, and what staying on a group does not). */
  readonly uploads = { image: 0, text: 0 };
  private broken: Error | null = null;
  compileMs = 0;

  constructor(readonly members: SpMember[], readonly config: FluxConfig | Sd3Config, readonly opts: SpExecutorOptions) {
    if (members.length < 1) throw new Error('SequenceParallelExecutor: needs at least one GPU');
    members.forEach((m, r) => {
      if (m.comm.rank !== r || m.comm.size !== members.length) throw new Error(`SequenceParallelExecutor: member ${r} has transport rank ${m.comm.rank} of ${m.comm.size}; members must be in rank order`);
    });
    checkStrategy(opts, members.length, config.numHeads);
    this.plans = new PlanCache(opts.maxPlans ?? 2, (set) => set.models.forEach((m) => m.destroy()));
  }

  get degree(): number {
    return this.members.length;
  }

  private async planSet(latentShape: LatentShape, tokens: number): Promise<PlanSet> {
    const gridH = latentShape.height / 2, gridW = latentShape.width / 2;
    const key = `${tokens}:${gridH}x${gridW}`;
    const hit = this.plans.get(key);
    if (hit) return hit;
    this.plans.makeRoom();
    const t0 = performance.now();
    const shards = tokenShards(tokens, gridH * gridW, this.degree);
    const joint = jointRows(shards);
    const image = shards.map((s) => s.image.count);
    const shape = { batch: 1, txtTokens: tokens, gridH, gridW };
    const models = await Promise.all(this.members.map(async (m, r) => {
      // Joint attention sees text + image rows; SD3.5's second attention sees image rows only.
      const attend: AttendFn = (g, q, k, v, name, overlap) => {
        const rows = q.shape[2] === joint[r] ? joint : image;
        return parallelAttention(g, q, k, v, { comm: m.comm, strategy: this.opts.strategy, ulysses: this.opts.ulysses, rows, chunkBytes: this.opts.chunkBytes }, name, overlap);
      };
      const graphOpts = { tokens: shards[r], attend: this.degree > 1 ? attend : undefined, int8: this.opts.int8 };
      return this.config.family === 'flux'
        ? FluxTransformer.create(m.ctx, m.weights, this.config as FluxConfig, shape, graphOpts)
        : Sd3Transformer.create(m.ctx, m.weights, this.config as Sd3Config, shape, graphOpts);
    }));
    this.compileMs += performance.now() - t0;
    const set = { models, shards, lastCond: null };
    this.plans.set(key, set);
    return set;
  }

  async velocity(q: VelocityQuery): Promise<Float32Array[]> {
    if (this.broken) throw new Error(`this ${this.degree}-GPU group failed earlier and cannot run steps (${this.broken.message}); run the request on another group`);
    try {
      return await this.run(q);
    } catch (e) {
      // A rank that failed mid-step leaves its peers waiting inside an exchange: the group's transports are out of
      // step for good. Refuse further steps with the cause instead of hanging; requests keep their host state.
      this.broken = e as Error;
      throw e;
    }
  }

  private async run(q: VelocityQuery): Promise<Float32Array[]> {
    if (q.family !== this.config.family) throw new Error(`a ${q.family} request cannot run on a ${this.config.family} transformer`);
    const { channels: C, height: H, width: W } = q.latentShape;
    const tokensIn = patchify(q.latents, C, H, W, 2, 'c-p-q'); // [Li, 4C]
    const width = 4 * C;
    const out: Float32Array[] = [];
    for (const cond of q.conds) {
      const set = await this.planSet(q.latentShape, cond.tokens);
      const newText = set.lastCond !== cond;
      const ctxDim = cond.context.length / cond.tokens;
      set.models.forEach((m, r) => {
        const sh = set.shards[r];
        if (m instanceof FluxTransformer) {
          m.plan.setInput('img', sliceRows(tokensIn, width, sh.image));
          if (newText) {
            m.plan.setInput('txt', sliceRows(cond.context, ctxDim, sh.text));
            m.plan.setInput('pooled', cond.pooled);
          }
          m.setTimestep([q.sigma], fluxGuidanceInput(this.config as FluxConfig, q));
        } else {
          m.plan.setInput('latents', sliceRows(tokensIn, width, sh.image));
          if (newText) {
            m.plan.setInput('context', sliceRows(cond.context, ctxDim, sh.text));
            m.plan.setInput('pooled', cond.pooled);
          }
          m.setTimestep([q.sigma]);
        }
      });
      this.uploads.image++;
      if (newText) this.uploads.text++;
      set.lastCond = cond;
      await Promise.all(set.models.map((m) => m.plan.run()));
      const parts = await Promise.all(set.models.map((m) => m.plan.readOutput('velocity')));
      const flux = set.models[0] instanceof FluxTransformer;
      out.push(unpatchify(concatRows(parts), C, H, W, 2, flux ? 'c-p-q' : 'p-q-c'));
    }
    return out;
  }

  destroy(): void {
    this.plans.clear();
    // The exchanges' staging buffers belong to (transport endpoint, device), shared by all plans of this group.
    for (const m of this.members) releaseStaging(m.comm, m.ctx);
  }
}
