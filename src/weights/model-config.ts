// The model configurations the loader infers from a checkpoint (see config.ts) and the graphs are built from.
// Everything here is read from tensor shapes (cross-checked with config.json where one exists), so FLUX.1-dev,
// FLUX.1-schnell, SD3-medium, SD3.5-medium and tiny test models all load without code changes.

export type CheckpointLayout = 'bfl' | 'diffusers';

export interface FluxConfig {
  family: 'flux';
  layout: CheckpointLayout;
  /** Residual-stream width D (3072 for FLUX.1). */
  hiddenSize: number;
  numHeads: number;
  /** D / numHeads; read from the QK-RMSNorm scale's length (128 for FLUX.1). */
  headDim: number;
  /** MLP hidden width M (4 * D for FLUX.1). */
  mlpHidden: number;
  mlpRatio: number;
  /** Double-stream blocks (19 for FLUX.1). */
  doubleBlocks: number;
  /** Single-stream blocks (38 for FLUX.1). */
  singleBlocks: number;
  /** Channels per token after the pipeline packs 2x2 latent patches: 16 latent channels * 4 = 64. */
  inChannels: number;
  outChannels: number;
  /** Patch size inside the transformer (1: FLUX's 2x2 packing happens outside, in the pipeline). */
  patchSize: number;
  /** T5 hidden size of the text tokens (4096). */
  contextInDim: number;
  /** CLIP pooled vector size (768). */
  pooledDim: number;
  /** Sinusoidal timestep/guidance embedding width fed to the MLP embedders (256). */
  timeEmbedDim: number;
  /** FLUX.1-dev is guidance-distilled (guidance_in present); schnell has none. */
  guidanceEmbed: boolean;
  qkvBias: boolean;
  /** RoPE dimensions per id axis (sum = headDim): [16, 56, 56] for FLUX.1. */
  axesDim: [number, number, number];
  ropeTheta: number;
}

export interface Sd3Config {
  family: 'sd3';
  layout: 'diffusers';
  hiddenSize: number;
  numHeads: number;
  headDim: number;
  /** MMDiT blocks (24 for SD3-medium and SD3.5-medium). The last one is context_pre_only. */
  numLayers: number;
  mlpHidden: number;
  mlpRatio: number;
  patchSize: number;
  /** Latent channels (16). */
  inChannels: number;
  outChannels: number;
  /** T5/CLIP joint text-token width fed to the context embedder (4096). */
  jointAttentionDim: number;
  /** Width of the projected text tokens (= hiddenSize in the released models). */
  captionProjectionDim: number;
  /** CLIP-L + CLIP-G pooled vector size (2048). */
  pooledDim: number;
  timeEmbedDim: number;
  /** Side of the stored sin-cos position table (192 for SD3-medium, 384 for SD3.5-medium); 0 if unknown. */
  posEmbedMaxSize: number;
  /** diffusers sample_size (latent side the position table is scaled for): base_size = sampleSize / patchSize. */
  sampleSize: number;
  /** Whether the checkpoint stores pos_embed.pos_embed (diffusers saves it; it is a fixed sin-cos table). */
  posEmbedStored: boolean;
  /** SD3.5 blocks with a second, image-only self-attention (attn2): 0..12 for SD3.5-medium, none for SD3. */
  dualAttentionLayers: number[];
  /** SD3.5 RMS-normalises Q and K per head (attn.norm_q ...); SD3 does not. */
  qkNorm: boolean;
}

export type ModelConfig = FluxConfig | Sd3Config;

/** One-line summary for logs and `dit` output. */
export function describeConfig(c: ModelConfig): string {
  if (c.family === 'flux') {
    return `FLUX (${c.layout} layout): D=${c.hiddenSize}, ${c.numHeads} heads x ${c.headDim}, MLP ${c.mlpHidden}, ` +
      `${c.doubleBlocks} double + ${c.singleBlocks} single blocks, in ${c.inChannels} out ${c.outChannels}, ` +
      `text ${c.contextInDim}, pooled ${c.pooledDim}, guidance ${c.guidanceEmbed ? 'yes (dev)' : 'no (schnell)'}`;
  }
  return `SD3 (diffusers layout): D=${c.hiddenSize}, ${c.numHeads} heads x ${c.headDim}, ${c.numLayers} layers, ` +
    `patch ${c.patchSize}, in ${c.inChannels} out ${c.outChannels}, text ${c.jointAttentionDim}, pooled ${c.pooledDim}, ` +
    `qk-norm ${c.qkNorm ? 'yes' : 'no'}, dual attention ${c.dualAttentionLayers.length ? `[${c.dualAttentionLayers.join(',')}]` : 'none'}`;
}

/**
 * FLUX's RoPE axis split when config.json does not give one: 1/8 of the head for the (unused) first axis, the
 * rest split evenly over height and width, each even. Gives [16, 56, 56] for headDim 128 (FLUX.1) and
 * [4, 14, 14] for 32; the parity reference uses the same rule for tiny models.
 */
export function defaultAxesDim(headDim: number): [number, number, number] {
  const a0 = Math.max(2, Math.round(headDim / 8 / 2) * 2);
  const rest = headDim - a0;
  const a1 = Math.floor(rest / 4) * 2;
  return [a0, a1, rest - a1];
}

/** FLUX.1-dev's configuration (schnell: guidanceEmbed false). For synthetic full-size checkpoints and tests. */
export function flux1DevConfig(layout: CheckpointLayout = 'bfl', guidanceEmbed = true): FluxConfig {
  return {
    family: 'flux', layout, hiddenSize: 3072, numHeads: 24, headDim: 128, mlpHidden: 12288, mlpRatio: 4,
    doubleBlocks: 19, singleBlocks: 38, inChannels: 64, outChannels: 64, patchSize: 1, contextInDim: 4096,
    pooledDim: 768, timeEmbedDim: 256, guidanceEmbed, qkvBias: true, axesDim: [16, 56, 56], ropeTheta: 10000,
  };
}

/** SD3-medium (qkNorm false, no dual attention, table 192) or SD3.5-medium (qkNorm, attn2 in 0..12, table 384). */
export function sd3MediumConfig(version: '3' | '3.5' = '3'): Sd3Config {
  const v35 = version === '3.5';
  return {
    family: 'sd3', layout: 'diffusers', hiddenSize: 1536, numHeads: 24, headDim: 64, numLayers: 24, mlpHidden: 6144,
    mlpRatio: 4, patchSize: 2, inChannels: 16, outChannels: 16, jointAttentionDim: 4096, captionProjectionDim: 1536,
    pooledDim: 2048, timeEmbedDim: 256, sampleSize: 128, posEmbedMaxSize: v35 ? 384 : 192, posEmbedStored: true,
    dualAttentionLayers: v35 ? Array.from({ length: 13 }, (_, i) => i) : [], qkNorm: v35,
  };
}
