// SD3 / SD3.5 MMDiT configuration: inferred from a diffusers transformer/ folder's tensor shapes (cross-checked
// against its config.json), the released presets, and tiny ones with the same structure for tests.
import type { FamilyConfig, TensorListing } from '../family.js';
import { Inference } from '../../loading/listing.js';
import { CheckpointError } from '../../loading/safetensors.js';

export interface Sd3Config extends FamilyConfig {
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

/** A tiny configuration with SD3's (v35: SD3.5's) real structure, for tests and the parity goldens. */
export function tinySd3Config(v35 = false): Sd3Config {
  return {
    family: 'sd3', layout: 'diffusers', hiddenSize: 64, numHeads: 2, headDim: 32, numLayers: 3, mlpHidden: 256, mlpRatio: 4,
    patchSize: 2, inChannels: 4, outChannels: 4, jointAttentionDim: 24, captionProjectionDim: 64, pooledDim: 20,
    timeEmbedDim: 256, posEmbedMaxSize: 8, sampleSize: 16, posEmbedStored: true, dualAttentionLayers: v35 ? [0, 1] : [], qkNorm: v35,
  };
}

/**
 * SD3/SD3.5 in the diffusers layout (pos_embed.proj + transformer_blocks); null when the names are not SD3's.
 * Stability's original single file (joint_blocks.*) is recognised and refused with the release to use instead.
 */
export function detectSd3(ck: TensorListing): 'diffusers' | null {
  const names = ck.listTensors();
  const any = (p: string) => names.some((n) => n.startsWith(p));
  if (ck.has('pos_embed.proj.weight') && any('transformer_blocks.')) return 'diffusers';
  if (any('joint_blocks.')) {
    throw new CheckpointError(`${ck.description}: this is an SD3 checkpoint in Stability's original single-file layout (joint_blocks.*); use the diffusers release (stabilityai/stable-diffusion-3-medium-diffusers or stable-diffusion-3.5-medium, the transformer/ folder)`, ck.description);
  }
  return null;
}

export function inferSd3Config(ck: TensorListing): Sd3Config {
  const x = new Inference(ck);
  const [hidden, inChannels, patchSize, patchW] = x.shape('pos_embed.proj.weight', 4);
  if (patchSize !== patchW) x.fail(`non-square patch ${patchSize}x${patchW}`, 'pos_embed.proj.weight');
  const numLayers = x.count('transformer_blocks.');
  if (numLayers === 0) x.fail('no transformer_blocks found');
  const qkNorm = ck.has('transformer_blocks.0.attn.norm_q.weight');
  const cj = ck.configJson ?? {};
  // Head dim: the QK-norm scale's length where SD3.5 has one; otherwise config.json, otherwise MMDiT's 64.
  const headDim = qkNorm
    ? x.shape('transformer_blocks.0.attn.norm_q.weight', 1)[0]
    : typeof cj.attention_head_dim === 'number' ? cj.attention_head_dim : 64;
  const numHeads = x.headsFrom(hidden, headDim, qkNorm ? 'transformer_blocks.0.attn.norm_q.weight' : 'pos_embed.proj.weight');
  const dualAttentionLayers: number[] = [];
  for (let i = 0; i < numLayers; i++) if (ck.has(`transformer_blocks.${i}.attn2.to_q.weight`)) dualAttentionLayers.push(i);
  const [captionProjectionDim, jointAttentionDim] = x.shape('context_embedder.weight', 2);
  const pooledDim = x.shape('time_text_embed.text_embedder.linear_1.weight', 2)[1];
  const timeEmbedDim = x.shape('time_text_embed.timestep_embedder.linear_1.weight', 2)[1];
  const mlpHidden = x.shape('transformer_blocks.0.ff.net.0.proj.weight', 2)[0];
  const outRows = x.shape('proj_out.weight', 2)[0];
  if (outRows % (patchSize * patchSize) !== 0) x.fail(`proj_out has ${outRows} rows, not a multiple of patch^2 = ${patchSize * patchSize}`, 'proj_out.weight');
  const posEmbedStored = ck.has('pos_embed.pos_embed');
  let posEmbedMaxSize = typeof cj.pos_embed_max_size === 'number' ? cj.pos_embed_max_size : 0;
  if (posEmbedStored) {
    const s = x.shape('pos_embed.pos_embed', 3);
    const side = Math.round(Math.sqrt(s[1]));
    if (side * side !== s[1]) x.fail(`pos_embed.pos_embed has ${s[1]} positions, not a square table`, 'pos_embed.pos_embed');
    posEmbedMaxSize = side;
  }
  const cfg: Sd3Config = {
    family: 'sd3', layout: 'diffusers', hiddenSize: hidden, numHeads, headDim, numLayers, mlpHidden, mlpRatio: mlpHidden / hidden,
    patchSize, inChannels, outChannels: outRows / (patchSize * patchSize), jointAttentionDim, captionProjectionDim, pooledDim,
    timeEmbedDim, posEmbedMaxSize, posEmbedStored, dualAttentionLayers, qkNorm,
    // The position table's coordinate scale comes from sample_size (diffusers PatchEmbed base_size); only
    // config.json has it. 128 is SD3-medium's and SD3.5-medium's.
    sampleSize: typeof cj.sample_size === 'number' ? cj.sample_size : 128,
  };
  x.agree('num_layers', numLayers);
  x.agree('attention_head_dim', headDim);
  x.agree('num_attention_heads', numHeads);
  x.agree('patch_size', patchSize);
  x.agree('in_channels', inChannels);
  x.agree('out_channels', cfg.outChannels);
  x.agree('joint_attention_dim', jointAttentionDim);
  x.agree('caption_projection_dim', captionProjectionDim);
  x.agree('pooled_projection_dim', pooledDim);
  x.agree('pos_embed_max_size', posEmbedMaxSize);
  x.agree('dual_attention_layers', dualAttentionLayers, (v) => (Array.isArray(v) ? [...v].sort((a, b) => a - b) : v));
  x.agree('qk_norm', qkNorm, (v) => v === 'rms_norm' || v === true);
  return cfg;
}

/** One-line summary for logs and `dit` output. */
export function describeSd3(c: Sd3Config): string {
  return `SD3 (diffusers layout): D=${c.hiddenSize}, ${c.numHeads} heads x ${c.headDim}, ${c.numLayers} layers, ` +
    `patch ${c.patchSize}, in ${c.inChannels} out ${c.outChannels}, text ${c.jointAttentionDim}, pooled ${c.pooledDim}, ` +
    `qk-norm ${c.qkNorm ? 'yes' : 'no'}, dual attention ${c.dualAttentionLayers.length ? `[${c.dualAttentionLayers.join(',')}]` : 'none'}`;
}

/** diffusers config.json contents for a configuration (what save_pretrained writes, minus version fields). */
export function sd3ConfigJson(c: Sd3Config): Record<string, unknown> {
  return {
    _class_name: 'SD3Transformer2DModel', sample_size: c.sampleSize, patch_size: c.patchSize, in_channels: c.inChannels, num_layers: c.numLayers,
    attention_head_dim: c.headDim, num_attention_heads: c.numHeads, joint_attention_dim: c.jointAttentionDim,
    caption_projection_dim: c.captionProjectionDim, pooled_projection_dim: c.pooledDim, out_channels: c.outChannels,
    pos_embed_max_size: c.posEmbedMaxSize || null, dual_attention_layers: c.dualAttentionLayers, qk_norm: c.qkNorm ? 'rms_norm' : null,
  };
}
