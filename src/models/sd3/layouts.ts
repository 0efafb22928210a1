// The exact tensor names and shapes of SD3/SD3.5's diffusers layout (SD3Transformer2DModel), generated from a
// configuration (validation, synthetic checkpoints, documentation). Source (facts, not code): diffusers'
// transformer_sd3.py and scripts/convert_sd3_to_diffusers.py.
import { linearTensors, vectorTensor } from '../common/layout-builders.js';
import type { ExpectedTensor } from '../family.js';
import type { Sd3Config } from './config.js';

/** SD3 / SD3.5 MMDiT in the diffusers layout (SD3Transformer2DModel). */
export function sd3DiffusersTensors(c: Sd3Config): ExpectedTensor[] {
  const D = c.hiddenSize, M = c.mlpHidden, Dh = c.headDim, p = c.patchSize;
  const t: ExpectedTensor[] = [];
  t.push({ name: 'pos_embed.proj.weight', shape: [D, c.inChannels, p, p] });
  vectorTensor(t, 'pos_embed.proj.bias', D);
  if (c.posEmbedMaxSize > 0) {
    t.push({ name: 'pos_embed.pos_embed', shape: [1, c.posEmbedMaxSize * c.posEmbedMaxSize, D], optional: true });
  }
  linearTensors(t, 'time_text_embed.timestep_embedder.linear_1', D, c.timeEmbedDim);
  linearTensors(t, 'time_text_embed.timestep_embedder.linear_2', D, D);
  linearTensors(t, 'time_text_embed.text_embedder.linear_1', D, c.pooledDim);
  linearTensors(t, 'time_text_embed.text_embedder.linear_2', D, D);
  linearTensors(t, 'context_embedder', c.captionProjectionDim, c.jointAttentionDim);
  const dual = new Set(c.dualAttentionLayers);
  for (let i = 0; i < c.numLayers; i++) {
    const b = `transformer_blocks.${i}`;
    // The last block is context_pre_only: its text stream only feeds K/V, so it has no text output
    // projection, no text MLP, and a 2-way (scale, shift) continuous adaLN instead of a 6-way one.
    const last = i === c.numLayers - 1;
    linearTensors(t, `${b}.norm1.linear`, (dual.has(i) ? 9 : 6) * D, D);
    linearTensors(t, `${b}.norm1_context.linear`, (last ? 2 : 6) * D, D);
    for (const n of ['to_q', 'to_k', 'to_v', 'add_q_proj', 'add_k_proj', 'add_v_proj']) linearTensors(t, `${b}.attn.${n}`, D, D);
    if (c.qkNorm) for (const n of ['norm_q', 'norm_k', 'norm_added_q', 'norm_added_k']) vectorTensor(t, `${b}.attn.${n}.weight`, Dh);
    linearTensors(t, `${b}.attn.to_out.0`, D, D);
    if (!last) linearTensors(t, `${b}.attn.to_add_out`, D, D);
    if (dual.has(i)) {
      for (const n of ['to_q', 'to_k', 'to_v']) linearTensors(t, `${b}.attn2.${n}`, D, D);
      if (c.qkNorm) for (const n of ['norm_q', 'norm_k']) vectorTensor(t, `${b}.attn2.${n}.weight`, Dh);
      linearTensors(t, `${b}.attn2.to_out.0`, D, D);
    }
    linearTensors(t, `${b}.ff.net.0.proj`, M, D);
    linearTensors(t, `${b}.ff.net.2`, D, M);
    if (!last) {
      linearTensors(t, `${b}.ff_context.net.0.proj`, M, D);
      linearTensors(t, `${b}.ff_context.net.2`, D, M);
    }
  }
  linearTensors(t, 'norm_out.linear', 2 * D, D);
  linearTensors(t, 'proj_out', p * p * c.outChannels, D);
  return t;
}
