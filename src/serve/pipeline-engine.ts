// The serving engine for a whole model folder (diffusers pipeline or BFL file set): the pipeline's own text
// encoders, runStep on a TransformerExecutor and VAE (src/pipeline/pipeline.ts), split into the stages the
// driver schedules. Same numbers as `dit generate` for the same seed and settings.
import type { GpuContext } from '../gpu/context.js';
import { runStep, type DenoiseExecutor } from '../pipeline/denoise-step.js';
import { denormalize } from '../pipeline/image-io.js';
import { TextToImagePipeline } from '../pipeline/pipeline.js';
import { createRequestState, type RequestState } from '../pipeline/request-state.js';
import { TransformerExecutor } from '../pipeline/transformer-executor.js';
import { loadTokenizer } from '../tokenizers/load.js';
import type { TextTokenizer } from '../tokenizers/text-tokenizer.js';
import { serveIdleWaitFraction, type Engine, type GenerationParams, type PromptProblem, type RgbImage, type SpMemberSource, type TextConds } from './engine.js';

/** The text encoders' tokenizers and token budgets, for the admission check (the same calls the encoders make). */
interface PromptBudget {
  clip: { name: string; tok: TextTokenizer; length: number }[];
  t5: { tok: TextTokenizer; length: number } | null;
}

export class PipelineEngine implements Engine {
  readonly description: string;
  private readonly executor: TransformerExecutor;

  private constructor(private readonly pipe: TextToImagePipeline, resolutions: readonly number[], private readonly maxTokens: number | null, private readonly budget: PromptBudget | null) {
    this.description = `${pipe.family} pipeline ${pipe.folder.root}`;
    const e = pipe.executor;
    // One resident plan per served resolution (the pipeline's own executor keeps two).
    this.executor = new TransformerExecutor(e.ctx, e.weights, e.config, { maxPlans: Math.max(1, resolutions.length), idleWaitFraction: serveIdleWaitFraction(), int8: e.int8 });
  }

  static async open(ctx: GpuContext, modelPath: string, resolutions: readonly number[], maxTokens: number | null = null, int8 = false): Promise<PipelineEngine> {
    const pipe = await TextToImagePipeline.load(ctx, modelPath, { vaeEncoder: true, int8 });
    let budget: PromptBudget | null = null;
    if (pipe.text) {
      const t = pipe.folder.tokenizers;
      const d = pipe.defaults().maxSequenceLength;
      // CLIP's budget is its tokenizer's model_max_length (77); a tokenizer without one is left to the encoder.
      const clipOf = async (name: string, path: string) => {
        const tok = await loadTokenizer(path);
        return tok.modelMaxLength === null ? [] : [{ name, tok, length: tok.modelMaxLength }];
      };
      budget = {
        clip: [...(await clipOf(pipe.family === 'sd3' ? 'CLIP-L' : 'CLIP', t.clipL)), ...(t.clipG ? await clipOf('CLIP-G', t.clipG) : [])],
        t5: t.t5 ? { tok: await loadTokenizer(t.t5), length: maxTokens === null ? d : Math.min(d, maxTokens) } : null,
      };
    }
    return new PipelineEngine(pipe, resolutions, maxTokens, budget);
  }

  /** The encoders' own refusal (text-conditioning.ts tokenize: no truncation), found before the request queues. */
  checkPrompt(p: Pick<GenerationParams, 'prompt' | 'negativePrompt' | 'guidance'>): PromptProblem | null {
    if (!this.budget) return null;
    const fields: [PromptProblem['param'], string][] = [['prompt', p.prompt]];
    if (this.pipe.family === 'sd3' && p.guidance > 1) fields.push(['negative_prompt', p.negativePrompt]);
    for (const [param, text] of fields) {
      const parts = [...this.budget.clip, ...(this.budget.t5 ? [{ name: 'T5', ...this.budget.t5 }] : [])];
      for (const { name, tok, length } of parts) {
        const over = tok.encode(text, { maxLength: length, pad: false }).truncatedTokens;
        if (over > 0) return { param, message: `${param} is ${over} tokens too long for ${name} (${length} tokens with special tokens); shorten it` };
      }
    }
    return null;
  }

  /** The model's default step count and guidance (tetriserve.json or the family's). */
  get defaults() {
    return this.pipe.defaults();
  }

  get family(): 'flux' | 'sd3' {
    return this.pipe.family;
  }

  async prepare(resolution: number): Promise<number> {
    const p: GenerationParams = { prompt: 'warm up', negativePrompt: '', resolution, steps: 4, guidance: this.guidanceDefault(), seed: 1, strength: 1 };
    const st = await this.newState('warmup', p, await this.encodeText(p));
    await this.step(st); // compiles the plan
    await this.decode(p, st.latents); // compiles the VAE at this size
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      await this.step(st);
      times.push((performance.now() - t0) / 1000);
    }
    return times.sort((a, b) => a - b)[1];
  }

  private guidanceDefault(): number {
    return this.pipe.defaults().guidance ?? 0;
  }

  async encodeText(p: GenerationParams): Promise<TextConds> {
    const text = this.pipe.text;
    if (!text) throw new Error('the pipeline has no text encoders');
    const d = this.pipe.defaults().maxSequenceLength;
    const o = { maxSequenceLength: this.maxTokens === null ? d : Math.min(d, this.maxTokens), allowTruncation: false };
    const cond = await text.encode(p.prompt, o);
    const uncond = this.useCfg(p) ? await text.encode(p.negativePrompt, o) : null;
    return { cond, uncond };
  }

  private useCfg(p: GenerationParams): boolean {
    return this.pipe.family === 'sd3' && p.guidance > 1;
  }

  async newState(id: string, p: GenerationParams, text: TextConds): Promise<RequestState> {
    const shape = this.pipe.latentShape(p.resolution, p.resolution);
    let init: { latents: Float32Array; strength: number } | undefined;
    if (p.initImage) {
      const scaled = p.initImage.map((v) => v * 2 - 1); // [0, 1] -> [-1, 1]
      const enc = await this.pipe.vae.encode(scaled, p.resolution, p.resolution);
      init = { latents: enc.latents, strength: p.strength };
    }
    const distilled = this.pipe.family === 'flux' && this.pipe.defaults().guidance !== null;
    this.executor.check(shape, text.cond);
    return createRequestState({
      id, family: this.pipe.family, latentShape: shape, cond: text.cond, seed: p.seed, steps: p.steps,
      scheduler: this.pipe.scheduler, init,
      distilledGuidance: distilled ? p.guidance : null,
      cfg: this.useCfg(p) && text.uncond ? { uncond: text.uncond, scale: p.guidance } : null,
    });
  }

  async step(state: RequestState, group?: DenoiseExecutor): Promise<void> {
    await runStep(state, group ?? this.executor);
  }

  spMember(): SpMemberSource {
    const e = this.executor;
    return { ctx: e.ctx, weights: e.weights, config: e.config };
  }

  async decode(p: GenerationParams, latents: Float32Array): Promise<RgbImage> {
    const shape = this.pipe.latentShape(p.resolution, p.resolution);
    const dec = await this.pipe.vae.decode(latents, shape.height, shape.width);
    const img = denormalize(dec.image); // [3, H, W] in [0, 1]
    const n = dec.width * dec.height;
    const data = new Uint8Array(3 * n);
    for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) {
      const v = img[c * n + i];
      data[i * 3 + c] = Number.isFinite(v) ? Math.round(v * 255) : 0;
    }
    return { width: dec.width, height: dec.height, data };
  }

  /** The first three latent channels as RGB at latent resolution: a rough look, no VAE pass. */
  preview(p: GenerationParams, latents: Float32Array): RgbImage {
    const { channels: C, height: H, width: W } = this.pipe.latentShape(p.resolution, p.resolution);
    const n = H * W;
    const data = new Uint8Array(3 * n);
    for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) {
      const v = Math.tanh(latents[Math.min(c, C - 1) * n + i]);
      data[i * 3 + c] = Number.isFinite(v) ? Math.round((v + 1) * 127.5) : 0;
    }
    return { width: W, height: H, data };
  }

  destroy(): void {
    this.executor.destroy();
    this.pipe.destroy();
  }
}
