// The CLIP text transformer as an op graph, one graph per sequence length L (77 in every pipeline), batch 1.
// Architecture: transformers' CLIPTextTransformer (pre-LayerNorm blocks, causal self-attention, quick-GELU or
// GELU MLP, final LayerNorm) and CLIPTextModelWithProjection's text_projection (no bias).
//   h = token_embedding(ids) + position_embedding[0:L]
//   per layer: h += out_proj(causal_attention(ln1(h))); h += fc2(act(fc1(ln2(h))))
//   hidden = final_layer_norm(h); pooled = hidden[eos_index]; text_embeds = text_projection(pooled)
// `penultimate` is hidden_states[-2] (the stream entering the last layer, without the final LayerNorm): SD3's
// prompt embedding. The pooling row is chosen on the host (it depends on the ids and the config's rule) and
// gathered on the GPU with an embedding lookup over the final hidden states.
// Precision: residual stream f32; LayerNorm outputs, q/k/v, attention output and the MLP hidden f16 (matmul
// inputs) with f32 accumulation; every graph output f32.
import { Graph } from '../../graph/graph.js';
import { add, unary } from '../../graph/ops/elementwise.js';
import { linear } from '../../graph/ops/matmul.js';
import { embedding } from '../../graph/ops/misc.js';
import { layerNorm } from '../../graph/ops/norm.js';
import { attention, qkvPrep } from '../../graph/ops/attention.js';
import type { Tensor } from '../../graph/tensor.js';
import type { ClipConfig } from './config.js';
import { CLIPW } from './family.js';

/** Inputs `ids` [L] and `eos_index` [1] (u32); outputs `hidden` [L, C], `penultimate` [L, C], `pooled` [1, C] and, with a projection, `text_embeds` [1, P] (all f32). */
export function buildClipGraph(c: ClipConfig, L: number): Graph {
  if (!Number.isInteger(L) || L < 1 || L > c.maxPositions) {
    throw new Error(`CLIP graph: sequence length ${L} must be 1..${c.maxPositions} (the model's position embeddings)`);
  }
  const C = c.hidden;
  const g = new Graph(`clip-L${L}`);
  const W = (name: string, s: number[]) => g.weight(name, s, 'f16');

  const ids = g.input('ids', [L], 'u32');
  const eos = g.input('eos_index', [1], 'u32');
  const tok = embedding(g, ids, W(CLIPW.tokenEmbed, [c.vocabSize, C]), { dtype: 'f32', name: 'token_embedding' }); // [L, C]
  const pos = g.sliceRows(W(CLIPW.posEmbed, [c.maxPositions, C]), 0, L, 'positions'); // [L, C] f16
  let h: Tensor = add(g, tok, pos, { dtype: 'f32', name: 'embeddings' });
  let penultimate = h;

  for (let i = 0; i < c.numLayers; i++) {
    if (i === c.numLayers - 1) penultimate = h;
    const w = CLIPW.layer(i);
    g.scope(`layers.${i}`, () => {
      const x = layerNorm(g, h, { weight: W(w.ln1w, [C]), bias: W(w.ln1b, [C]), eps: c.eps, dtype: 'f16', name: 'ln1' });
      const qkv = linear(g, x, W(w.qkvw, [3 * C, C]), { bias: W(w.qkvb, [3 * C]), name: 'qkv' }); // [L, 3C]
      const { q, k, v } = qkvPrep(g, g.reshape(qkv, [1, L, 3 * C]), { heads: c.numHeads, name: 'qkv_prep' });
      const { out: att } = attention(g, q, k, v, { causal: true, name: 'attn' }); // [1, L, C], scale 1/sqrt(head dim)
      h = linear(g, g.reshape(att, [L, C]), W(w.ow, [C, C]), { bias: W(w.ob, [C]), residual: h, name: 'out_proj' });
      const y = layerNorm(g, h, { weight: W(w.ln2w, [C]), bias: W(w.ln2b, [C]), eps: c.eps, dtype: 'f16', name: 'ln2' });
      const f = linear(g, y, W(w.fc1w, [c.intermediate, C]), { bias: W(w.fc1b, [c.intermediate]), name: 'fc1' });
      const a = unary(g, f, c.activation === 'gelu' ? 'gelu_erf' : 'quick_gelu', { name: 'act' });
      h = linear(g, a, W(w.fc2w, [C, c.intermediate]), { bias: W(w.fc2b, [C]), residual: h, name: 'fc2' });
    });
  }
  const hidden = layerNorm(g, h, { weight: W(CLIPW.finalNorm.w, [C]), bias: W(CLIPW.finalNorm.b, [C]), eps: c.eps, dtype: 'f32', name: 'final_layer_norm' });
  g.output('hidden', hidden);
  g.output('penultimate', penultimate);
  const pooled = embedding(g, eos, hidden, { dtype: 'f32', name: 'pooled' }); // [1, C]
  g.output('pooled', pooled);
  if (c.projectionDim !== null) {
    g.output('text_embeds', linear(g, pooled, W(CLIPW.projection, [c.projectionDim, C]), { dtype: 'f32', name: 'text_projection' }));
  }
  return g;
}
