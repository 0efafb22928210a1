// The T5 v1.1 encoder as an op graph, one graph per sequence length L (batch 1: prompts are encoded one at a
// time and cached). Architecture: transformers' T5EncoderModel (T5Block = T5LayerSelfAttention + T5LayerFF):
//   h = embed(ids)
//   per block: h += o(attention(rmsnorm(h) -> q, k, v; scores = q k^T + position_bias, NO 1/sqrt(d) scaling))
//              h += wo(gelu_tanh(wi_0(x)) * wi_1(x)),  x = rmsnorm(h)
//   out = rmsnorm_final(h)
// The relative position bias [H, L, L] is computed once (first block's table) and shared by all blocks.
//
// Precision (docs/text-encoders.md): the residual stream h and every block output that is added to it (the
// attention projection o and the FF output wo) are f32. Real T5-XXL activations exceed f16's range there;
// transformers keeps `wo` in float32 (_keep_in_fp32_modules = ["wo"]) for exactly this, and clamps the f16
// stream as a fallback. With an f32 stream no clamp is needed. The two FF projections are written in f32 and
// their product gelu(wi_0 x) * wi_1 x is rounded to f16 once (wo's matmul input): one rounding fewer than
// transformers' f16 path; measured 1.23e-3 -> 0.99e-3 relL2 on a 24-block random T5 at 128 tokens.
import { Graph } from '../../graph/graph.js';
import { mul } from '../../graph/ops/elementwise.js';
import { transpose2d } from '../../graph/ops/layout.js';
import { linear } from '../../graph/ops/matmul.js';
import { embedding } from '../../graph/ops/misc.js';
import { rmsNorm } from '../../graph/ops/norm.js';
import { attention, qkvPrep } from '../../graph/ops/attention.js';
import { t5Inner, type T5Config } from './config.js';
import { T5W } from './family.js';

/** Graph inputs: `ids` [L] and `buckets` [L*L] (u32); output `hidden` [L, d_model] f32. */
export function buildT5Graph(c: T5Config, L: number): Graph {
  if (!Number.isInteger(L) || L < 1) throw new Error(`T5 graph: sequence length ${L} must be a positive integer`);
  const D = c.dModel;
  const H = c.numHeads;
  const inner = t5Inner(c);
  const g = new Graph(`t5-L${L}`);
  const W = (name: string, s: number[]) => g.weight(name, s, 'f16');

  const ids = g.input('ids', [L], 'u32');
  const buckets = g.input('buckets', [L * L], 'u32');
  let h = embedding(g, ids, W(T5W.embed, [c.vocabSize, D]), { dtype: 'f32', name: 'embed' }); // [L, D]
  // position_bias[h, i, j] = table[bucket(i, j), h]: gather rows [L*L, H], transpose to [H, L*L].
  const biasRows = embedding(g, buckets, W(T5W.relBias, [c.numBuckets, H]), { dtype: 'f32', name: 'position_bias_rows' });
  const bias = g.reshape(transpose2d(g, biasRows, { name: 'position_bias' }), [H, L, L]);

  for (let i = 0; i < c.numLayers; i++) {
    const w = T5W.block(i);
    g.scope(`block.${i}`, () => {
      const x = rmsNorm(g, h, { weight: W(w.ln0, [D]), eps: c.eps, dtype: 'f16', name: 'ln0' });
      const qkv = linear(g, x, W(w.qkv, [3 * inner, D]), { name: 'qkv' }); // [L, 3*inner]
      const { q, k, v } = qkvPrep(g, g.reshape(qkv, [1, L, 3 * inner]), { heads: H, name: 'qkv_prep' });
      const { out: att } = attention(g, q, k, v, { scale: 1, bias, name: 'attn' }); // [1, L, inner]
      h = linear(g, g.reshape(att, [L, inner]), W(w.o, [D, inner]), { residual: h, name: 'o' });
      const y = rmsNorm(g, h, { weight: W(w.ln1, [D]), eps: c.eps, dtype: 'f16', name: 'ln1' });
      const gate = linear(g, y, W(w.wi0, [c.dFf, D]), { activation: 'gelu_tanh', name: 'wi_0', dtype: 'f32' });
      const lin = linear(g, y, W(w.wi1, [c.dFf, D]), { name: 'wi_1', dtype: 'f32' });
      const prod = mul(g, gate, lin, { name: 'gated', dtype: 'f16' });
      h = linear(g, prod, W(w.wo, [D, c.dFf]), { residual: h, name: 'wo' });
    });
  }
  const out = rmsNorm(g, h, { weight: W(T5W.finalNorm, [D]), eps: c.eps, dtype: 'f32', name: 'final_layer_norm' });
  g.output('hidden', out);
  return g;
}
