// Prompt -> exactly the text tensors diffusers feeds the transformer (checked against FluxPipeline.encode_prompt
// and StableDiffusion3Pipeline.encode_prompt in test/pipeline/text-conditioning.test.ts).
//
// FLUX.1 (pipeline_flux.py):
//   pooled  = CLIP-L pooler_output(tokenizer(prompt, 77, padded))                    [768]
//   context = T5 last_hidden_state(tokenizer_2(prompt_2 ?? prompt, max_sequence_length, padded)), no mask
//             [max_sequence_length, 4096]   (512 for FLUX.1-dev, 256 for schnell; the pipeline allows <= 512)
// SD3 (pipeline_stable_diffusion_3.py):
//   per CLIP (L on prompt, G on prompt_2 ?? prompt): hidden_states[-2] [77, C] and text_embeds (projected pooled)
//   context = cat_seq( pad_last_dim(cat_last(L_pen, G_pen) [77, 768+1280], to 4096), T5(prompt_3 ?? prompt) [N, 4096] )
//             -> [77 + N, 4096] (N = max_sequence_length, default 256; zeros when the pipeline has no T5)
//   pooled  = cat(L text_embeds, G text_embeds) [2048]
//   CFG: the negative prompt ("" by default) goes through the same path (diffusers drops clip_skip for it).
//
// Usage:
//   const tc = await TextConditioner.load(ctx, { family: 'flux', encoders: {...}, tokenizers: {...} });
//   const { context, tokens, pooled } = await tc.encode('a photo of a cat', { maxSequenceLength: 512 });
import type { GpuContext } from '../gpu/context.js';
import { ClipTextEncoder } from '../models/clip/runtime.js';
import { clipFamily } from '../models/clip/family.js';
import type { ClipConfig } from '../models/clip/config.js';
import { T5Encoder } from '../models/t5/runtime.js';
import { t5Family } from '../models/t5/family.js';
import type { T5Config } from '../models/t5/config.js';
import { loadEncoderWeights, type LoadedEncoderWeights } from '../models/text-encoder-load.js';
import type { WeightsMode } from '../loading/upload.js';
import { loadTokenizer } from '../tokenizers/load.js';
import type { TextTokenizer } from '../tokenizers/text-tokenizer.js';
import { conditioningKey, EmbeddingCache, type CachedConditioning } from './embedding-cache.js';

export type TextFamily = 'flux' | 'sd3';

/** Where each encoder's weights and tokenizer are: folders (text_encoder_2/, tokenizer_2/) or single files. */
export interface TextEncoderPaths {
  family: TextFamily;
  encoders: { clipL: string; clipG?: string; t5?: string | null };
  tokenizers: { clipL: string; clipG?: string; t5?: string | null };
  /** Identifies the model in cache keys (default: the T5 weights' path, else CLIP-L's). */
  modelId?: string;
}

export interface TextConditionerOptions {
  /**
   * T5-XXL holds 9.5 GB in f16. 'resident' (default) keeps it on the GPU; 'unload' frees its weights after
   * every encode and reads them again for the next prompt that misses the cache (seconds per prompt, for
   * GPUs that need the memory for the transformer).
   */
  t5Memory?: 'resident' | 'unload';
  /** Share one cache between conditioners/servers; default: a private 256 MiB cache. Pass null to disable. */
  cache?: EmbeddingCache | null;
  /** SD3 context width when there is no T5 (transformer joint_attention_dim; default 4096). */
  jointAttentionDim?: number;
  /** fp8 / GGUF encoder weights: expanded to f16 at load (default) or kept quantized on the GPU (loading/upload.ts). */
  weightsMode?: WeightsMode;
}

export interface PromptSet {
  /** CLIP-L's prompt (and the default for the others). */
  prompt: string;
  /** FLUX: T5's prompt; SD3: CLIP-G's prompt. Defaults to `prompt`. */
  prompt2?: string | null;
  /** SD3: T5's prompt. Defaults to `prompt`. */
  prompt3?: string | null;
}

export interface EncodeOptions {
  /** T5 tokens (FLUX.1-dev 512, schnell 256, SD3 256). */
  maxSequenceLength: number;
  /** Default true, as diffusers (which only logs a warning); false turns truncation into an error. */
  allowTruncation?: boolean;
}

export interface TextConditioning extends CachedConditioning {
  /** Per encoder, text tokens dropped by truncation (0 when the prompt fit). */
  truncated: { clipL: number; clipG: number; t5: number };
}

interface ClipPart {
  enc: ClipTextEncoder;
  tok: TextTokenizer;
  weights: LoadedEncoderWeights<ClipConfig>;
}

class TruncationError extends Error {}

export class TextConditioner {
  private t5: { enc: T5Encoder; weights: LoadedEncoderWeights<T5Config> } | null = null;
  readonly warnings: string[] = [];

  private constructor(
    readonly ctx: GpuContext,
    readonly paths: TextEncoderPaths,
    private readonly options: Required<Omit<TextConditionerOptions, 'cache'>> & { cache: EmbeddingCache | null },
    private readonly clipL: ClipPart,
    private readonly clipG: ClipPart | null,
    private readonly t5Tok: TextTokenizer | null,
    readonly loadMs: number,
  ) {}

  static async load(ctx: GpuContext, paths: TextEncoderPaths, opts: TextConditionerOptions = {}): Promise<TextConditioner> {
    const t0 = performance.now();
    const options = {
      t5Memory: opts.t5Memory ?? 'resident',
      cache: opts.cache === undefined ? new EmbeddingCache() : opts.cache,
      jointAttentionDim: opts.jointAttentionDim ?? 4096,
      weightsMode: opts.weightsMode ?? 'expand',
    };
    if (options.t5Memory !== 'resident' && options.t5Memory !== 'unload') throw new Error(`t5Memory '${String(options.t5Memory)}' must be 'resident' or 'unload'`);
    if (paths.family === 'sd3' && !paths.encoders.clipG) throw new Error('SD3 needs CLIP-G (text_encoder_2) as well as CLIP-L');
    if (paths.family === 'flux' && !paths.encoders.t5) throw new Error('FLUX needs the T5 encoder (text_encoder_2 / t5xxl_*.safetensors)');
    const loaded: { destroy(): void }[] = [];
    try {
      const clip = async (w: string, t: string): Promise<ClipPart> => {
        const weights = await loadEncoderWeights(ctx, clipFamily, w, undefined, { weightsMode: options.weightsMode });
        loaded.push(weights);
        return { weights, enc: new ClipTextEncoder(ctx, weights.store, weights.config), tok: await loadTokenizer(t) };
      };
      const clipL = await clip(paths.encoders.clipL, paths.tokenizers.clipL);
      const clipG = paths.family === 'sd3' ? await clip(paths.encoders.clipG!, paths.tokenizers.clipG ?? paths.tokenizers.clipL) : null;
      if (paths.family === 'sd3') {
        for (const [name, p] of [['CLIP-L', clipL], ['CLIP-G', clipG!]] as const) {
          if (p.weights.config.projectionDim === null) throw new Error(`${p.weights.description}: SD3 needs ${name} with its text_projection (CLIPTextModelWithProjection)`);
        }
      }
      const t5Tok = paths.encoders.t5 ? await loadTokenizer(paths.tokenizers.t5 ?? '') : null;
      const tc = new TextConditioner(ctx, paths, options, clipL, clipG, t5Tok, 0);
      if (paths.encoders.t5 && options.t5Memory === 'resident') await tc.loadT5();
      tc.warnings.push(...clipL.weights.warnings, ...(clipG?.weights.warnings ?? []), ...(tc.t5?.weights.warnings ?? []));
      (tc as { loadMs: number }).loadMs = performance.now() - t0;
      return tc;
    } catch (e) {
      for (const l of loaded) l.destroy();
      throw e;
    }
  }

  private async loadT5(): Promise<{ enc: T5Encoder; weights: LoadedEncoderWeights<T5Config> }> {
    if (!this.t5) {
      const weights = await loadEncoderWeights(this.ctx, t5Family, this.paths.encoders.t5!, undefined, { weightsMode: this.options.weightsMode });
      this.t5 = { weights, enc: new T5Encoder(this.ctx, weights.store, weights.config) };
    }
    return this.t5;
  }

  private freeT5(): void {
    if (!this.t5) return;
    this.t5.enc.destroyPlans();
    this.t5.weights.destroy();
    this.t5 = null;
  }

  get family(): TextFamily {
    return this.paths.family;
  }

  get cache(): EmbeddingCache | null {
    return this.options.cache;
  }

  /** Prompt(s) -> the transformer's text inputs, through the cache. */
  async encode(prompts: string | PromptSet, opts: EncodeOptions): Promise<TextConditioning> {
    const p: PromptSet = typeof prompts === 'string' ? { prompt: prompts } : prompts;
    if (typeof p.prompt !== 'string') throw new Error(`prompt must be a string, got ${typeof p.prompt}`);
    const L = opts.maxSequenceLength;
    if (!Number.isInteger(L) || L < 2 || (this.family === 'flux' && L > 512)) {
      throw new Error(`maxSequenceLength ${L} must be an integer in 2..${this.family === 'flux' ? 512 : 'the T5 limit'} (FLUX.1-dev 512, schnell 256, SD3 256)`);
    }
    const p2 = p.prompt2 ?? p.prompt;
    const p3 = this.family === 'sd3' ? (p.prompt3 ?? p.prompt) : null;
    const allow = opts.allowTruncation ?? true;
    const compute = () => (this.family === 'flux' ? this.encodeFlux(p.prompt, p2, L, allow) : this.encodeSd3(p.prompt, p2, p3!, L, allow));
    if (!this.options.cache) return compute();
    const key = conditioningKey({
      model: this.paths.modelId ?? this.paths.encoders.t5 ?? this.paths.encoders.clipL, family: this.family,
      prompts: [p.prompt, p2, p3], settings: { maxSequenceLength: L, allowTruncation: allow },
    });
    return (await this.options.cache.getOrCompute(key, compute)) as TextConditioning;
  }

  private tokenize(tok: TextTokenizer, text: string, maxLength: number, allow: boolean, what: string) {
    const e = tok.encode(text, { maxLength });
    if (e.truncatedTokens > 0 && !allow) {
      throw new TruncationError(`the prompt is ${e.truncatedTokens} tokens too long for ${what} (${maxLength} tokens with special tokens); shorten it or allow truncation`);
    }
    return e;
  }

  private async runT5(text: string, L: number, allow: boolean): Promise<{ hidden: Float32Array; truncated: number }> {
    const ids = this.tokenize(this.t5Tok!, text, L, allow, 'T5');
    const t5 = await this.loadT5();
    try {
      return { hidden: await t5.enc.encode(ids.ids), truncated: ids.truncatedTokens };
    } finally {
      if (this.options.t5Memory === 'unload') this.freeT5();
    }
  }

  private clipLength(part: ClipPart): number {
    return part.tok.modelMaxLength ?? part.weights.config.maxPositions;
  }

  private async encodeFlux(prompt: string, prompt2: string, L: number, allow: boolean): Promise<TextConditioning> {
    const ids = this.tokenize(this.clipL.tok, prompt, this.clipLength(this.clipL), allow, 'CLIP');
    const clip = await this.clipL.enc.encode(ids.ids);
    const t5 = await this.runT5(prompt2, L, allow);
    return { context: t5.hidden, tokens: L, pooled: clip.pooled, truncated: { clipL: ids.truncatedTokens, clipG: 0, t5: t5.truncated } };
  }

  private async encodeSd3(prompt: string, prompt2: string, prompt3: string, L: number, allow: boolean): Promise<TextConditioning> {
    const l = this.clipL;
    const g = this.clipG!;
    const idsL = this.tokenize(l.tok, prompt, this.clipLength(l), allow, 'CLIP-L');
    const idsG = this.tokenize(g.tok, prompt2, this.clipLength(g), allow, 'CLIP-G');
    if (idsL.ids.length !== idsG.ids.length) throw new Error(`CLIP-L and CLIP-G tokenizers pad to different lengths (${idsL.ids.length} vs ${idsG.ids.length}); check tokenizer_config.json model_max_length`);
    const outL = await l.enc.encode(idsL.ids);
    const outG = await g.enc.encode(idsG.ids);
    const Lc = idsL.ids.length;
    const cL = l.weights.config.hidden;
    const cG = g.weights.config.hidden;
    let t5: { hidden: Float32Array; truncated: number } | null = null;
    let width = this.options.jointAttentionDim;
    if (this.t5Tok) {
      t5 = await this.runT5(prompt3, L, allow);
      width = t5.hidden.length / L;
    }
    if (cL + cG > width) throw new Error(`SD3: CLIP widths ${cL} + ${cG} exceed the T5 width ${width}`);
    // [Lc, cL] ++ [Lc, cG] along features, zero-padded to `width`, then T5's [L, width] after it along tokens.
    const context = new Float32Array((Lc + L) * width);
    for (let r = 0; r < Lc; r++) {
      context.set(outL.penultimate.subarray(r * cL, (r + 1) * cL), r * width);
      context.set(outG.penultimate.subarray(r * cG, (r + 1) * cG), r * width + cL);
    }
    if (t5) context.set(t5.hidden, Lc * width);
    const pooled = new Float32Array(outL.textEmbeds!.length + outG.textEmbeds!.length);
    pooled.set(outL.textEmbeds!);
    pooled.set(outG.textEmbeds!, outL.textEmbeds!.length);
    return { context, tokens: Lc + L, pooled, truncated: { clipL: idsL.truncatedTokens, clipG: idsG.truncatedTokens, t5: t5?.truncated ?? 0 } };
  }

  /** Frees every encoder's weights and plans. */
  destroy(): void {
    this.freeT5();
    for (const p of [this.clipL, this.clipG]) {
      if (!p) continue;
      p.enc.destroyPlans();
      p.weights.destroy();
    }
  }
}

/** FLUX: prompt -> { context: T5 [maxSequenceLength, 4096], pooled: CLIP-L [768] }. */
export function encodeFluxPrompt(tc: TextConditioner, prompt: string, opts: EncodeOptions & { prompt2?: string }): Promise<TextConditioning> {
  if (tc.family !== 'flux') throw new Error(`encodeFluxPrompt: this conditioner is for ${tc.family}`);
  return tc.encode({ prompt, prompt2: opts.prompt2 }, opts);
}

/** SD3: prompt -> { context: [77 + maxSequenceLength, 4096], pooled: [2048] }; call again with the negative prompt for CFG. */
export function encodeSd3Prompt(tc: TextConditioner, prompt: string, opts: EncodeOptions & { prompt2?: string; prompt3?: string }): Promise<TextConditioning> {
  if (tc.family !== 'sd3') throw new Error(`encodeSd3Prompt: this conditioner is for ${tc.family}`);
  return tc.encode({ prompt, prompt2: opts.prompt2, prompt3: opts.prompt3 }, opts);
}

const FOLDER_ROLES: Record<string, { family: TextFamily; dirs: [role: 'clipL' | 'clipG' | 't5', encoder: string, tokenizer: string][] }> = {
  FluxPipeline: { family: 'flux', dirs: [['clipL', 'text_encoder', 'tokenizer'], ['t5', 'text_encoder_2', 'tokenizer_2']] },
  StableDiffusion3Pipeline: {
    family: 'sd3',
    dirs: [['clipL', 'text_encoder', 'tokenizer'], ['clipG', 'text_encoder_2', 'tokenizer_2'], ['t5', 'text_encoder_3', 'tokenizer_3']],
  },
};
FOLDER_ROLES.FluxImg2ImgPipeline = FOLDER_ROLES.FluxPipeline;
FOLDER_ROLES.StableDiffusion3Img2ImgPipeline = FOLDER_ROLES.StableDiffusion3Pipeline;

/**
 * The text encoders of a model folder, without needing the transformer or VAE: a diffusers pipeline folder
 * (model_index.json) or a FLUX single-file set (t5xxl*.safetensors, clip_l*.safetensors, tokenizer/ and
 * tokenizer_2/ copied from the diffusers release). SD3 folders may leave out text_encoder_3 (no T5: zeros).
 */
export async function textEncoderPathsFromFolder(root: string): Promise<TextEncoderPaths & { defaultMaxSequenceLength: number }> {
  const { readdir, readFile, stat } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const isDir = async (p: string) => (await stat(p).catch(() => null))?.isDirectory() ?? false;
  if (!(await isDir(root))) throw new Error(`--model ${root}: no such folder (give a diffusers pipeline folder, or a folder with t5xxl*/clip_l* files and tokenizer folders)`);
  const readJson = async (p: string) => JSON.parse(await readFile(p, 'utf8')) as Record<string, unknown>;
  const index = await readJson(join(root, 'model_index.json')).catch(() => null);
  if (index) {
    const cls = String(index._class_name ?? '');
    const spec = FOLDER_ROLES[cls];
    if (!spec) throw new Error(`${join(root, 'model_index.json')}: pipeline class '${cls}' has no known text encoders (supported: ${Object.keys(FOLDER_ROLES).join(', ')})`);
    const encoders: Record<string, string | null> = {};
    const tokenizers: Record<string, string | null> = {};
    const missing: string[] = [];
    for (const [role, enc, tok] of spec.dirs) {
      const optional = spec.family === 'sd3' && role === 't5' && index[enc] !== undefined && (index[enc] as unknown[])?.[0] === null;
      const haveEnc = await isDir(join(root, enc));
      const haveTok = await isDir(join(root, tok));
      if ((!haveEnc || !haveTok) && optional) {
        encoders[role] = null;
        tokenizers[role] = null;
        continue;
      }
      if (!haveEnc) missing.push(`${enc}/`);
      if (!haveTok) missing.push(`${tok}/`);
      encoders[role] = join(root, enc);
      tokenizers[role] = join(root, tok);
    }
    if (missing.length) throw new Error(`${root} (${cls}) is missing ${missing.join(', ')}; download those folders of the release`);
    const tcfg = await readJson(join(root, 'transformer', 'config.json')).catch(() => null);
    // FLUX.1-dev (guidance-distilled) uses 512 T5 tokens, schnell 256; SD3 256.
    const defaultMaxSequenceLength = spec.family === 'flux' && tcfg?.guidance_embeds !== false ? 512 : 256;
    return {
      family: spec.family, modelId: root, defaultMaxSequenceLength,
      encoders: encoders as unknown as TextEncoderPaths['encoders'], tokenizers: tokenizers as unknown as TextEncoderPaths['tokenizers'],
    };
  }
  const files = (await readdir(root)).filter((f) => f.endsWith('.safetensors')).sort();
  const one = (re: RegExp, what: string) => {
    const c = files.filter((f) => re.test(f));
    if (c.length !== 1) throw new Error(`${root}: ${c.length ? `several ${what} files (${c.join(', ')}); keep one` : `no ${what} file`} (no model_index.json, so a FLUX single-file set is expected: t5xxl_fp16.safetensors, clip_l.safetensors, tokenizer/, tokenizer_2/)`);
    return join(root, c[0]);
  };
  const t5 = one(/^t5.*\.safetensors$/i, 'T5 (t5xxl_*.safetensors)');
  const clipL = one(/^clip_l.*\.safetensors$/i, 'CLIP-L (clip_l*.safetensors)');
  for (const d of ['tokenizer', 'tokenizer_2']) {
    if (!(await isDir(join(root, d)))) throw new Error(`${root}: missing ${d}/ (copy ${d}/ from the diffusers FLUX.1 repository: BFL ships no tokenizer files)`);
  }
  return { family: 'flux', modelId: root, defaultMaxSequenceLength: 512, encoders: { clipL, t5 }, tokenizers: { clipL: join(root, 'tokenizer'), t5: join(root, 'tokenizer_2') } };
}
