// A loaded T5 encoder: compiles one plan per sequence length on first use (FLUX.1-dev 512, schnell 256, SD3 256)
// and turns token ids into hidden states [L, d_model] (float32 on the host).
import type { GpuContext } from '../../gpu/context.js';
import { compile, type Plan } from '../../graph/executor.js';
import type { WeightStore } from '../../graph/weights.js';
import { validateTokenIds } from '../../kernels-wgsl/embedding.js';
import type { T5Config } from './config.js';
import { buildT5Graph } from './graph.js';
import { relativePositionBuckets } from './position-bias.js';

export class T5Encoder {
  private readonly plans = new Map<number, Promise<Plan>>();

  constructor(readonly ctx: GpuContext, readonly weights: WeightStore, readonly config: T5Config) {}

  /** The compiled plan for sequence length L (compiled once, then reused). */
  plan(L: number): Promise<Plan> {
    let p = this.plans.get(L);
    if (!p) {
      p = (async () => {
        const plan = await compile(this.ctx, buildT5Graph(this.config, L), this.weights);
        // The bucket ids never change for a given L: upload them once; the input keeps them across runs.
        plan.setInput('buckets', relativePositionBuckets(L, this.config.numBuckets, this.config.maxDistance));
        return plan;
      })();
      this.plans.set(L, p);
      p.catch(() => this.plans.delete(L));
    }
    return p;
  }

  /** Token ids [L] -> last hidden state [L, d_model] (after the final RMSNorm), float32. */
  async encode(ids: ArrayLike<number>): Promise<Float32Array> {
    if (ids.length < 1) throw new Error('T5 encode: no token ids (the tokenizer always adds </s>; pass its output)');
    validateTokenIds(ids, this.config.vocabSize);
    const plan = await this.plan(ids.length);
    plan.setInput('ids', Uint32Array.from(ids));
    await plan.run();
    return plan.readOutput('hidden');
  }

  /** Frees the compiled plans (the weights belong to whoever loaded them). */
  destroyPlans(): void {
    for (const p of this.plans.values()) void p.then((plan) => plan.destroy(), () => undefined);
    this.plans.clear();
  }
}
