// The exact tensor names and shapes of FLUX's two checkpoint layouts, generated from a configuration: used to
// validate a checkpoint after its configuration was inferred, to write synthetic checkpoints with the real names
// (tests, tiny parity models, the load benchmark), and as the documentation of the layouts.
//
// Sources (facts, not code): Black Forest Labs' flux/model.py + modules/layers.py (BFL names), diffusers'
// FluxTransformer2DModel and scripts/convert_flux_to_diffusers.py (diffusers names and the BFL -> diffusers
// split of fused qkv / linear1).
import { linearTensors, vectorTensor } from '../common/layout-builders.js';
import type { ExpectedTensor } from '../family.js';
import type { FluxConfig } from './config.js';

/** FLUX in Black Forest Labs' layout (flux1-dev.safetensors, flux1-schnell.safetensors). */
export function fluxBflTensors(c: FluxConfig): ExpectedTensor[] {
  const D = c.hiddenSize, M = c.mlpHidden, Dh = c.headDim;
  const t: ExpectedTensor[] = [];
  linearTensors(t, 'img_in', D, c.inChannels);
  linearTensors(t, 'time_in.in_layer', D, c.timeEmbedDim);
  linearTensors(t, 'time_in.out_layer', D, D);
  linearTensors(t, 'vector_in.in_layer', D, c.pooledDim);
  linearTensors(t, 'vector_in.out_layer', D, D);
  if (c.guidanceEmbed) {
    linearTensors(t, 'guidance_in.in_layer', D, c.timeEmbedDim);
    linearTensors(t, 'guidance_in.out_layer', D, D);
  }
  linearTensors(t, 'txt_in', D, c.contextInDim);
  for (let i = 0; i < c.doubleBlocks; i++) {
    for (const s of ['img', 'txt']) {
      const p = `double_blocks.${i}.${s}`;
      linearTensors(t, `${p}_mod.lin`, 6 * D, D);
      linearTensors(t, `${p}_attn.qkv`, 3 * D, D, c.qkvBias);
      vectorTensor(t, `${p}_attn.norm.query_norm.scale`, Dh);
      vectorTensor(t, `${p}_attn.norm.key_norm.scale`, Dh);
      linearTensors(t, `${p}_attn.proj`, D, D);
      linearTensors(t, `${p}_mlp.0`, M, D);
      linearTensors(t, `${p}_mlp.2`, D, M);
    }
  }
  for (let i = 0; i < c.singleBlocks; i++) {
    const p = `single_blocks.${i}`;
    linearTensors(t, `${p}.linear1`, 3 * D + M, D);
    linearTensors(t, `${p}.linear2`, D, D + M);
    vectorTensor(t, `${p}.norm.query_norm.scale`, Dh);
    vectorTensor(t, `${p}.norm.key_norm.scale`, Dh);
    linearTensors(t, `${p}.modulation.lin`, 3 * D, D);
  }
  linearTensors(t, 'final_layer.linear', c.patchSize * c.patchSize * c.outChannels, D);
  linearTensors(t, 'final_layer.adaLN_modulation.1', 2 * D, D);
  return t;
}

/** FLUX in the diffusers layout (FluxTransformer2DModel: transformer/diffusion_pytorch_model*.safetensors). */
export function fluxDiffusersTensors(c: FluxConfig): ExpectedTensor[] {
  const D = c.hiddenSize, M = c.mlpHidden, Dh = c.headDim;
  const t: ExpectedTensor[] = [];
  linearTensors(t, 'x_embedder', D, c.inChannels);
  linearTensors(t, 'context_embedder', D, c.contextInDim);
  linearTensors(t, 'time_text_embed.timestep_embedder.linear_1', D, c.timeEmbedDim);
  linearTensors(t, 'time_text_embed.timestep_embedder.linear_2', D, D);
  if (c.guidanceEmbed) {
    linearTensors(t, 'time_text_embed.guidance_embedder.linear_1', D, c.timeEmbedDim);
    linearTensors(t, 'time_text_embed.guidance_embedder.linear_2', D, D);
  }
  linearTensors(t, 'time_text_embed.text_embedder.linear_1', D, c.pooledDim);
  linearTensors(t, 'time_text_embed.text_embedder.linear_2', D, D);
  for (let i = 0; i < c.doubleBlocks; i++) {
    const p = `transformer_blocks.${i}`;
    linearTensors(t, `${p}.norm1.linear`, 6 * D, D);
    linearTensors(t, `${p}.norm1_context.linear`, 6 * D, D);
    for (const n of ['to_q', 'to_k', 'to_v', 'add_q_proj', 'add_k_proj', 'add_v_proj']) linearTensors(t, `${p}.attn.${n}`, D, D, c.qkvBias);
    for (const n of ['norm_q', 'norm_k', 'norm_added_q', 'norm_added_k']) vectorTensor(t, `${p}.attn.${n}.weight`, Dh);
    linearTensors(t, `${p}.attn.to_out.0`, D, D);
    linearTensors(t, `${p}.attn.to_add_out`, D, D);
    linearTensors(t, `${p}.ff.net.0.proj`, M, D);
    linearTensors(t, `${p}.ff.net.2`, D, M);
    linearTensors(t, `${p}.ff_context.net.0.proj`, M, D);
    linearTensors(t, `${p}.ff_context.net.2`, D, M);
  }
  for (let i = 0; i < c.singleBlocks; i++) {
    const p = `single_transformer_blocks.${i}`;
    linearTensors(t, `${p}.norm.linear`, 3 * D, D);
    linearTensors(t, `${p}.proj_mlp`, M, D);
    for (const n of ['to_q', 'to_k', 'to_v']) linearTensors(t, `${p}.attn.${n}`, D, D);
    vectorTensor(t, `${p}.attn.norm_q.weight`, Dh);
    vectorTensor(t, `${p}.attn.norm_k.weight`, Dh);
    linearTensors(t, `${p}.proj_out`, D, D + M);
  }
  linearTensors(t, 'norm_out.linear', 2 * D, D);
  linearTensors(t, 'proj_out', c.patchSize * c.patchSize * c.outChannels, D);
  return t;
}

/** The tensors of the configuration's own layout. */
export function fluxExpectedTensors(c: FluxConfig): ExpectedTensor[] {
  return c.layout === 'bfl' ? fluxBflTensors(c) : fluxDiffusersTensors(c);
}
