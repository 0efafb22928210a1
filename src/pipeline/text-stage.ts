// The text stage as the pipeline uses it: prompt (and negative prompt) -> Conditioning. The encoders themselves
// (tokenizers, T5, CLIP, how FLUX and SD3 combine them) live in text-conditioning.ts; this adapter keeps the
// pipeline's needs in one small interface and turns over-long prompts into a clear error instead of silently
// dropping tokens.
import type { GpuContext } from '../gpu/context.js';
import type { ModelFolder } from './model-folder.js';
import type { Conditioning } from './request-state.js';

export interface TextStage {
  /** Encodes one prompt; `maxSequenceLength` is the T5 token count (FLUX.1-dev 512, schnell/SD3 256). */
  encode(prompt: string, opts: { maxSequenceLength: number; allowTruncation: boolean }): Promise<Conditioning>;
  readonly loadMs: number;
  readonly warnings: readonly string[];
  destroy(): void;
}

export async function loadTextStage(_ctx: GpuContext, folder: ModelFolder): Promise<TextStage> {
  throw new Error(`${folder.root}: the text encoders (T5, CLIP) are not wired into the pipeline yet; ` +
    'pass precomputed conditioning (tests) until src/pipeline/text-conditioning.ts lands');
}
