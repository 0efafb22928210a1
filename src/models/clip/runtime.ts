// A loaded CLIP text encoder: one compiled plan per sequence length (77 in practice), token ids in, the
// last hidden state, hidden_states[-2], the pooled output and (with a projection) text_embeds out.
import type { GpuContext } from '../../gpu/context.js';
import { compile, type Plan } from '../../graph/executor.js';
import type { WeightStore } from '../../graph/weights.js';
import { validateTokenIds } from '../../kernels-wgsl/embedding.js';
import { poolingIndex, type ClipConfig } from './config.js';
import { buildClipGraph } from './graph.js';

export interface ClipOutput {
  /** last_hidden_state (after the final LayerNorm) [L, C]. */
  hidden: Float32Array;
  /** hidden_states[-2] [L, C]: the stream entering the last layer (SD3's prompt embedding). */
  penultimate: Float32Array;
  /** pooler_output [C]: final hidden state at the EOS row. */
  pooled: Float32Array;
  /** text_projection(pooled) [P] (CLIPTextModelWithProjection's text_embeds), or null without a projection. */
  textEmbeds: Float32Array | null;
  /** The row pooled from. */
  eosIndex: number;
}

export class ClipTextEncoder {
  private readonly plans = new Map<number, Promise<Plan>>();

  constructor(readonly ctx: GpuContext, readonly weights: WeightStore, readonly config: ClipConfig) {}

  plan(L: number): Promise<Plan> {
    let p = this.plans.get(L);
    if (!p) {
      p = compile(this.ctx, buildClipGraph(this.config, L), this.weights);
      this.plans.set(L, p);
      p.catch(() => this.plans.delete(L));
    }
    return p;
  }

  async encode(ids: ArrayLike<number>): Promise<ClipOutput> {
    if (ids.length < 1) throw new Error('CLIP encode: no token ids (pass the tokenizer output: <|startoftext|> ... <|endoftext|>)');
    if (ids.length > this.config.maxPositions) throw new Error(`CLIP encode: ${ids.length} tokens but the model has ${this.config.maxPositions} positions; truncate (the tokenizer does with maxLength ${this.config.maxPositions})`);
    validateTokenIds(ids, this.config.vocabSize);
    const plan = await this.plan(ids.length);
    const eosIndex = poolingIndex(ids, this.config.eosTokenId);
    plan.setInput('ids', Uint32Array.from(ids));
    plan.setInput('eos_index', Uint32Array.of(eosIndex));
    await plan.run();
    return {
      hidden: await plan.readOutput('hidden'),
      penultimate: await plan.readOutput('penultimate'),
      pooled: await plan.readOutput('pooled'),
      textEmbeds: this.config.projectionDim !== null ? await plan.readOutput('text_embeds') : null,
      eosIndex,
    };
  }

  destroyPlans(): void {
    for (const p of this.plans.values()) void p.then((plan) => plan.destroy(), () => undefined);
    this.plans.clear();
  }
}
