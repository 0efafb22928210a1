// The text stage as the pipeline uses it: prompt (and negative prompt) -> Conditioning, through the
// TextConditioner (text-conditioning.ts: tokenizers, T5, CLIP, how FLUX and SD3 combine them) of a resolved
// model folder. Over-long prompts are an error unless the caller allows truncation (--truncate).
import type { GpuContext } from '../gpu/context.js';
import type { WeightsMode } from '../loading/upload.js';
import type { ModelFolder } from './model-folder.js';
import type { Conditioning } from './request-state.js';
import { TextConditioner } from './text-conditioning.js';

export interface TextStage {
  /** Encodes one prompt; `maxSequenceLength` is the T5 token count (FLUX.1-dev 512, schnell/SD3 256). */
  encode(prompt: string, opts: { maxSequenceLength: number; allowTruncation: boolean }): Promise<Conditioning>;
  readonly loadMs: number;
  readonly warnings: readonly string[];
  destroy(): void;
}

export async function loadTextStage(ctx: GpuContext, folder: ModelFolder, opts: { jointAttentionDim?: number; weightsMode?: WeightsMode } = {}): Promise<TextStage> {
  const tc = await TextConditioner.load(ctx, {
    family: folder.family,
    encoders: { ...folder.textEncoders },
    tokenizers: { ...folder.tokenizers },
    modelId: folder.root,
  }, { ...(opts.jointAttentionDim ? { jointAttentionDim: opts.jointAttentionDim } : {}), ...(opts.weightsMode ? { weightsMode: opts.weightsMode } : {}) });
  return {
    loadMs: tc.loadMs,
    warnings: tc.warnings,
    async encode(prompt, o) {
      const c = await tc.encode(prompt, { maxSequenceLength: o.maxSequenceLength, allowTruncation: o.allowTruncation });
      return { context: c.context, tokens: c.tokens, pooled: c.pooled };
    },
    destroy: () => tc.destroy(),
  };
}
