// The T5 v1.1 encoder configuration (T5-XXL for FLUX.1 and SD3: d_model 4096, 64 heads of 64, d_ff 10240,
// 24 blocks, vocabulary 32128) as read from checkpoint shapes and config.json.
import type { FamilyConfig } from '../family.js';

export interface T5Config extends FamilyConfig {
  family: 't5';
  /** 'transformers' (T5EncoderModel names, also ComfyUI's t5xxl_*.safetensors) or 'prefix:<p>' (names under p). */
  layout: string;
  /** Prefix of every checkpoint tensor name ('' for the plain layout). */
  prefix: string;
  /** The token embedding's checkpoint name: 'shared.weight' or 'encoder.embed_tokens.weight'. */
  embedName: string;
  vocabSize: number;
  dModel: number;
  dKv: number;
  numHeads: number;
  dFf: number;
  numLayers: number;
  numBuckets: number;
  maxDistance: number;
  eps: number;
}

/** T5-XXL v1.1 (google/t5-v1_1-xxl, the text_encoder_2 of FLUX.1 and text_encoder_3 of SD3). */
export function t5XxlConfig(): T5Config {
  return {
    family: 't5', layout: 'transformers', prefix: '', embedName: 'shared.weight', vocabSize: 32128, dModel: 4096, dKv: 64,
    numHeads: 64, dFf: 10240, numLayers: 24, numBuckets: 32, maxDistance: 128, eps: 1e-6,
  };
}

export function t5Inner(c: T5Config): number {
  return c.numHeads * c.dKv;
}
