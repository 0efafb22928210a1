// CLIP text model configuration: OpenAI CLIP-L/14 (FLUX.1 text_encoder, SD3 text_encoder: 12 layers, width 768,
// 12 heads, quick-GELU) and OpenCLIP bigG/14 (SD3 text_encoder_2: 32 layers, width 1280, 20 heads, GELU, with a
// 1280x1280 text_projection).
import type { FamilyConfig } from '../family.js';

export type ClipActivation = 'quick_gelu' | 'gelu';

export interface ClipConfig extends FamilyConfig {
  family: 'clip';
  /**
   * 'transformers' (text_model.* names: released folders, ComfyUI clip_l/clip_g files), 'bare' (a CLIPTextModel
   * saved by transformers 5: embeddings.*, encoder.*) or 'prefix:<root>' (names under a bundle prefix).
   */
  layout: string;
  /** The text transformer's name root ('text_model.', '' or a bundle prefix). */
  prefix: string;
  vocabSize: number;
  hidden: number;
  numLayers: number;
  numHeads: number;
  intermediate: number;
  maxPositions: number;
  activation: ClipActivation;
  eps: number;
  /**
   * Pooling rule (transformers CLIPTextTransformer): eos_token_id 2 (the configs written before transformers PR
   * #24773) pools at argmax(ids), the highest id, which is <|endoftext|> in CLIP's vocabulary; any other value
   * pools at the first position holding that id.
   */
  eosTokenId: number;
  /** text_projection output width (CLIPTextModelWithProjection), or null when the checkpoint has none. */
  projectionDim: number | null;
}

export function clipLConfig(withProjection = false): ClipConfig {
  return {
    family: 'clip', layout: 'transformers', prefix: 'text_model.', vocabSize: 49408, hidden: 768, numLayers: 12, numHeads: 12, intermediate: 3072,
    maxPositions: 77, activation: 'quick_gelu', eps: 1e-5, eosTokenId: 2, projectionDim: withProjection ? 768 : null,
  };
}

export function clipGConfig(): ClipConfig {
  return {
    family: 'clip', layout: 'transformers', prefix: 'text_model.', vocabSize: 49408, hidden: 1280, numLayers: 32, numHeads: 20, intermediate: 5120,
    maxPositions: 77, activation: 'gelu', eps: 1e-5, eosTokenId: 2, projectionDim: 1280,
  };
}

/** The row the pooled output is taken from, by the config's rule (see eosTokenId). */
export function poolingIndex(ids: ArrayLike<number>, eosTokenId: number): number {
  let best = 0;
  if (eosTokenId === 2) {
    for (let i = 1; i < ids.length; i++) if (ids[i] > ids[best]) best = i; // first maximum, as torch.argmax
    return best;
  }
  for (let i = 0; i < ids.length; i++) if (ids[i] === eosTokenId) return i;
  return 0; // argmax of an all-zero mask, as transformers does when no EOS is present
}
