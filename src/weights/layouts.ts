// The exact tensor names and shapes of each checkpoint layout, generated from a configuration. Used three
// ways: to validate a checkpoint after its configuration was inferred (every tensor present and of the right
// shape, else an error naming file and tensor), to write synthetic checkpoints with the real names (tests,
// the parity work's tiny models, the full-size load benchmark), and as the documentation of the layouts.
//
// Sources (facts, not code): Black Forest Labs' flux/model.py + modules/layers.py (BFL names), diffusers'
// FluxTransformer2DModel / SD3Transformer2DModel and scripts/convert_{flux,sd3}_to_diffusers.py (diffusers
// names and the BFL -> diffusers split of fused qkv / linear1).
import type { FluxConfig, Sd3Config, ModelConfig } from './model-config.js';

import type { ExpectedTensor } from '../loading/sources.js';

export type { ExpectedTensor } from '../loading/sources.js';
export { parameterCount } from '../loading/sources.js';

function linear(out: ExpectedTensor[], prefix: string, outDim: number, inDim: number, bias = true): void {
  out.push({ name: `${prefix}.weight`, shape: [outDim, inDim] });
  if (bias) out.push({ name: `${prefix}.bias`, shape: [outDim] });
}

function vec(out: ExpectedTensor[], name: string, n: number): void {
  out.push({ name, shape: [n] });
}

/** FLUX in Black Forest Labs' layout (flux1-dev.safetensors, flux1-schnell.safetensors). */
export function fluxBflTensors(c: FluxConfig): ExpectedTensor[] {
  const D = c.hiddenSize, M = c.mlpHidden, Dh = c.headDim;
  const t: ExpectedTensor[] = [];
  linear(t, 'img_in', D, c.inChannels);
  linear(t, 'time_in.in_layer', D, c.timeEmbedDim);
  linear(t, 'time_in.out_layer', D, D);
  linear(t, 'vector_in.in_layer', D, c.pooledDim);
  linear(t, 'vector_in.out_layer', D, D);
  if (c.guidanceEmbed) {
    linear(t, 'guidance_in.in_layer', D, c.timeEmbedDim);
    linear(t, 'guidance_in.out_layer', D, D);
  }
  linear(t, 'txt_in', D, c.contextInDim);
  for (let i = 0; i < c.doubleBlocks; i++) {
    for (const s of ['img', 'txt']) {
      const p = `double_blocks.${i}.${s}`;
      linear(t, `${p}_mod.lin`, 6 * D, D);
      linear(t, `${p}_attn.qkv`, 3 * D, D, c.qkvBias);
      vec(t, `${p}_attn.norm.query_norm.scale`, Dh);
      vec(t, `${p}_attn.norm.key_norm.scale`, Dh);
      linear(t, `${p}_attn.proj`, D, D);
      linear(t, `${p}_mlp.0`, M, D);
      linear(t, `${p}_mlp.2`, D, M);
    }
  }
  for (let i = 0; i < c.singleBlocks; i++) {
    const p = `single_blocks.${i}`;
    linear(t, `${p}.linear1`, 3 * D + M, D);
    linear(t, `${p}.linear2`, D, D + M);
    vec(t, `${p}.norm.query_norm.scale`, Dh);
    vec(t, `${p}.norm.key_norm.scale`, Dh);
    linear(t, `${p}.modulation.lin`, 3 * D, D);
  }
  linear(t, 'final_layer.linear', c.patchSize * c.patchSize * c.outChannels, D);
  linear(t, 'final_layer.adaLN_modulation.1', 2 * D, D);
  return t;
}

/** FLUX in the diffusers layout (FluxTransformer2DModel: transformer/diffusion_pytorch_model*.safetensors). */
export function fluxDiffusersTensors(c: FluxConfig): ExpectedTensor[] {
  const D = c.hiddenSize, M = c.mlpHidden, Dh = c.headDim;
  const t: ExpectedTensor[] = [];
  linear(t, 'x_embedder', D, c.inChannels);
  linear(t, 'context_embedder', D, c.contextInDim);
  linear(t, 'time_text_embed.timestep_embedder.linear_1', D, c.timeEmbedDim);
  linear(t, 'time_text_embed.timestep_embedder.linear_2', D, D);
  if (c.guidanceEmbed) {
    linear(t, 'time_text_embed.guidance_embedder.linear_1', D, c.timeEmbedDim);
    linear(t, 'time_text_embed.guidance_embedder.linear_2', D, D);
  }
  linear(t, 'time_text_embed.text_embedder.linear_1', D, c.pooledDim);
  linear(t, 'time_text_embed.text_embedder.linear_2', D, D);
  for (let i = 0; i < c.doubleBlocks; i++) {
    const p = `transformer_blocks.${i}`;
    linear(t, `${p}.norm1.linear`, 6 * D, D);
    linear(t, `${p}.norm1_context.linear`, 6 * D, D);
    for (const n of ['to_q', 'to_k', 'to_v', 'add_q_proj', 'add_k_proj', 'add_v_proj']) linear(t, `${p}.attn.${n}`, D, D, c.qkvBias);
    for (const n of ['norm_q', 'norm_k', 'norm_added_q', 'norm_added_k']) vec(t, `${p}.attn.${n}.weight`, Dh);
    linear(t, `${p}.attn.to_out.0`, D, D);
    linear(t, `${p}.attn.to_add_out`, D, D);
    linear(t, `${p}.ff.net.0.proj`, M, D);
    linear(t, `${p}.ff.net.2`, D, M);
    linear(t, `${p}.ff_context.net.0.proj`, M, D);
    linear(t, `${p}.ff_context.net.2`, D, M);
  }
  for (let i = 0; i < c.singleBlocks; i++) {
    const p = `single_transformer_blocks.${i}`;
    linear(t, `${p}.norm.linear`, 3 * D, D);
    linear(t, `${p}.proj_mlp`, M, D);
    for (const n of ['to_q', 'to_k', 'to_v']) linear(t, `${p}.attn.${n}`, D, D);
    vec(t, `${p}.attn.norm_q.weight`, Dh);
    vec(t, `${p}.attn.norm_k.weight`, Dh);
    linear(t, `${p}.proj_out`, D, D + M);
  }
  linear(t, 'norm_out.linear', 2 * D, D);
  linear(t, 'proj_out', c.patchSize * c.patchSize * c.outChannels, D);
  return t;
}

/** SD3 / SD3.5 MMDiT in the diffusers layout (SD3Transformer2DModel). */
export function sd3DiffusersTensors(c: Sd3Config): ExpectedTensor[] {
  const D = c.hiddenSize, M = c.mlpHidden, Dh = c.headDim, p = c.patchSize;
  const t: ExpectedTensor[] = [];
  t.push({ name: 'pos_embed.proj.weight', shape: [D, c.inChannels, p, p] });
  vec(t, 'pos_embed.proj.bias', D);
  if (c.posEmbedMaxSize > 0) {
    t.push({ name: 'pos_embed.pos_embed', shape: [1, c.posEmbedMaxSize * c.posEmbedMaxSize, D], optional: true });
  }
  linear(t, 'time_text_embed.timestep_embedder.linear_1', D, c.timeEmbedDim);
  linear(t, 'time_text_embed.timestep_embedder.linear_2', D, D);
  linear(t, 'time_text_embed.text_embedder.linear_1', D, c.pooledDim);
  linear(t, 'time_text_embed.text_embedder.linear_2', D, D);
  linear(t, 'context_embedder', c.captionProjectionDim, c.jointAttentionDim);
  const dual = new Set(c.dualAttentionLayers);
  for (let i = 0; i < c.numLayers; i++) {
    const b = `transformer_blocks.${i}`;
    // The last block is context_pre_only: its text stream only feeds K/V, so it has no text output
    // projection, no text MLP, and a 2-way (scale, shift) continuous adaLN instead of a 6-way one.
    const last = i === c.numLayers - 1;
    linear(t, `${b}.norm1.linear`, (dual.has(i) ? 9 : 6) * D, D);
    linear(t, `${b}.norm1_context.linear`, (last ? 2 : 6) * D, D);
    for (const n of ['to_q', 'to_k', 'to_v', 'add_q_proj', 'add_k_proj', 'add_v_proj']) linear(t, `${b}.attn.${n}`, D, D);
    if (c.qkNorm) for (const n of ['norm_q', 'norm_k', 'norm_added_q', 'norm_added_k']) vec(t, `${b}.attn.${n}.weight`, Dh);
    linear(t, `${b}.attn.to_out.0`, D, D);
    if (!last) linear(t, `${b}.attn.to_add_out`, D, D);
    if (dual.has(i)) {
      for (const n of ['to_q', 'to_k', 'to_v']) linear(t, `${b}.attn2.${n}`, D, D);
      if (c.qkNorm) for (const n of ['norm_q', 'norm_k']) vec(t, `${b}.attn2.${n}.weight`, Dh);
      linear(t, `${b}.attn2.to_out.0`, D, D);
    }
    linear(t, `${b}.ff.net.0.proj`, M, D);
    linear(t, `${b}.ff.net.2`, D, M);
    if (!last) {
      linear(t, `${b}.ff_context.net.0.proj`, M, D);
      linear(t, `${b}.ff_context.net.2`, D, M);
    }
  }
  linear(t, 'norm_out.linear', 2 * D, D);
  linear(t, 'proj_out', p * p * c.outChannels, D);
  return t;
}

export function expectedTensors(c: ModelConfig): ExpectedTensor[] {
  if (c.family === 'sd3') return sd3DiffusersTensors(c);
  return c.layout === 'bfl' ? fluxBflTensors(c) : fluxDiffusersTensors(c);
}

/** Total parameter count of a layout (sizes in weights/README.md come from here). */
