// T5 v1.1 encoder as a ModelFamily: detects T5EncoderModel checkpoints (transformers folders with sharded
// safetensors + index, ComfyUI's t5xxl_fp16.safetensors, or the same names under a bundle prefix), infers the
// config from shapes (checked against config.json) and maps checkpoint tensors onto the graph's weights, with
// q/k/v fused into one [3*inner, d_model] weight per block.
import { Inference } from '../../loading/listing.js';
import { CheckpointError } from '../../loading/safetensors.js';
import type { ExpectedTensor, WeightSource } from '../../loading/sources.js';
import type { ModelFamily } from '../family.js';
import { t5Inner, type T5Config } from './config.js';

type Listing = Parameters<ModelFamily['detect']>[0];

const Q0 = 'encoder.block.0.layer.0.SelfAttention.q.weight';

/** Canonical (graph-side) weight names. */
export const T5W = {
  embed: 'embed_tokens',
  relBias: 'relative_attention_bias',
  finalNorm: 'final_layer_norm',
  block: (i: number) => ({
    ln0: `block.${i}.ln0`,
    qkv: `block.${i}.qkv`,
    o: `block.${i}.o`,
    ln1: `block.${i}.ln1`,
    wi0: `block.${i}.wi_0`,
    wi1: `block.${i}.wi_1`,
    wo: `block.${i}.wo`,
  }),
};

function prefixOf(ck: Listing): string | null {
  for (const n of ck.listTensors()) {
    if (n.endsWith(Q0) && !n.includes('decoder.')) return n.slice(0, n.length - Q0.length);
  }
  return null;
}

/** Checkpoint names of block i (under the config's prefix). */
function names(c: Pick<T5Config, 'prefix'>, i: number) {
  const p = `${c.prefix}encoder.block.${i}.layer.`;
  return {
    q: `${p}0.SelfAttention.q.weight`, k: `${p}0.SelfAttention.k.weight`, v: `${p}0.SelfAttention.v.weight`, o: `${p}0.SelfAttention.o.weight`,
    relBias: `${p}0.SelfAttention.relative_attention_bias.weight`, ln0: `${p}0.layer_norm.weight`,
    wi0: `${p}1.DenseReluDense.wi_0.weight`, wi1: `${p}1.DenseReluDense.wi_1.weight`, wo: `${p}1.DenseReluDense.wo.weight`,
    wi: `${p}1.DenseReluDense.wi.weight`, ln1: `${p}1.layer_norm.weight`,
  };
}

export const t5Family: ModelFamily<T5Config> = {
  id: 't5',
  kind: 'text-encoder',
  title: 'T5 v1.1 encoder (T5-XXL: FLUX.1 text_encoder_2, SD3 text_encoder_3)',

  detect(ck) {
    const prefix = prefixOf(ck);
    if (prefix === null) return null;
    if (ck.has(names({ prefix }, 0).wi)) {
      throw new CheckpointError(`${ck.description}: this is a T5 v1.0 checkpoint (ReLU feed-forward 'wi'); FLUX.1 and SD3 use T5 v1.1 (gated-GELU 'wi_0'/'wi_1'), e.g. google/t5-v1_1-xxl`, ck.description);
    }
    return prefix === '' ? 'transformers' : `prefix:${prefix}`;
  },

  inferConfig(ck, layout) {
    const prefix = layout.startsWith('prefix:') ? layout.slice('prefix:'.length) : '';
    const x = new Inference(ck);
    const numLayers = x.count(`${prefix}encoder.block.`);
    if (numLayers === 0) x.fail('no encoder blocks found');
    const n0 = names({ prefix }, 0);
    const embedName = [`${prefix}shared.weight`, `${prefix}encoder.embed_tokens.weight`].find((n) => ck.has(n)) ??
      x.fail(`missing the token embedding ('${prefix}shared.weight' or '${prefix}encoder.embed_tokens.weight')`);
    const [vocabSize, dModel] = x.shape(embedName, 2);
    const [inner, qIn] = x.shape(n0.q, 2);
    if (qIn !== dModel) x.fail(`q takes ${qIn} features but the embedding has ${dModel}`, n0.q);
    const [numBuckets, numHeads] = x.shape(n0.relBias, 2);
    const dKv = inner / numHeads;
    if (!Number.isInteger(dKv)) x.fail(`q's ${inner} outputs are not a multiple of the ${numHeads} heads of the relative attention bias`, n0.q);
    const [dFf] = x.shape(n0.wi0, 2);
    const ffProj = x.json('feed_forward_proj');
    if (ffProj !== undefined && ffProj !== 'gated-gelu') x.fail(`config.json feed_forward_proj is ${JSON.stringify(ffProj)}; only T5 v1.1's "gated-gelu" is supported`);
    const act = x.json('dense_act_fn');
    if (act !== undefined && act !== 'gelu_new' && act !== 'gelu_pytorch_tanh') x.fail(`config.json dense_act_fn is ${JSON.stringify(act)}; T5 v1.1 uses the tanh GELU ("gelu_new")`);
    x.agree('d_model', dModel);
    x.agree('num_heads', numHeads);
    x.agree('d_kv', dKv);
    x.agree('d_ff', dFf);
    x.agree('num_layers', numLayers);
    x.agree('relative_attention_num_buckets', numBuckets);
    const cfgVocab = x.json('vocab_size');
    if (typeof cfgVocab === 'number' && cfgVocab !== vocabSize) x.fail(`config.json says vocab_size=${cfgVocab} but the embedding has ${vocabSize} rows`, embedName);
    return {
      family: 't5', layout, prefix, embedName: embedName.slice(prefix.length), vocabSize, dModel, dKv, numHeads, dFf, numLayers, numBuckets,
      maxDistance: x.jsonNumber('relative_attention_max_distance', 128), eps: x.jsonNumber('layer_norm_epsilon', 1e-6),
    };
  },

  expectedTensors(c) {
    const inner = t5Inner(c);
    const out: ExpectedTensor[] = [{ name: c.prefix + c.embedName, shape: [c.vocabSize, c.dModel] }];
    for (let i = 0; i < c.numLayers; i++) {
      const n = names(c, i);
      out.push(
        { name: n.ln0, shape: [c.dModel] }, { name: n.q, shape: [inner, c.dModel] }, { name: n.k, shape: [inner, c.dModel] },
        { name: n.v, shape: [inner, c.dModel] }, { name: n.o, shape: [c.dModel, inner] },
        { name: n.ln1, shape: [c.dModel] }, { name: n.wi0, shape: [c.dFf, c.dModel] }, { name: n.wi1, shape: [c.dFf, c.dModel] },
        { name: n.wo, shape: [c.dModel, c.dFf] },
      );
      if (i === 0) out.push({ name: n.relBias, shape: [c.numBuckets, c.numHeads] });
    }
    out.push({ name: `${c.prefix}encoder.final_layer_norm.weight`, shape: [c.dModel] });
    return out;
  },

  weightSources(c) {
    const inner = t5Inner(c);
    const src: WeightSource[] = [
      { name: T5W.embed, shape: [c.vocabSize, c.dModel], parts: [{ tensor: c.prefix + c.embedName }] },
      { name: T5W.relBias, shape: [c.numBuckets, c.numHeads], parts: [{ tensor: names(c, 0).relBias }] },
      { name: T5W.finalNorm, shape: [c.dModel], parts: [{ tensor: `${c.prefix}encoder.final_layer_norm.weight` }] },
    ];
    for (let i = 0; i < c.numLayers; i++) {
      const n = names(c, i);
      const w = T5W.block(i);
      src.push(
        { name: w.ln0, shape: [c.dModel], parts: [{ tensor: n.ln0 }] },
        { name: w.qkv, shape: [3 * inner, c.dModel], parts: [{ tensor: n.q }, { tensor: n.k }, { tensor: n.v }] },
        { name: w.o, shape: [c.dModel, inner], parts: [{ tensor: n.o }] },
        { name: w.ln1, shape: [c.dModel], parts: [{ tensor: n.ln1 }] },
        { name: w.wi0, shape: [c.dFf, c.dModel], parts: [{ tensor: n.wi0 }] },
        { name: w.wi1, shape: [c.dFf, c.dModel], parts: [{ tensor: n.wi1 }] },
        { name: w.wo, shape: [c.dModel, c.dFf], parts: [{ tensor: n.wo }] },
      );
    }
    return src;
  },

  describe(c) {
    return `T5 v1.1 encoder: ${c.numLayers} blocks, d_model ${c.dModel}, ${c.numHeads}x${c.dKv} heads, d_ff ${c.dFf}, vocab ${c.vocabSize}` +
      (c.prefix ? ` (names under '${c.prefix}')` : '');
  },

  configJson(c) {
    return {
      architectures: ['T5EncoderModel'], model_type: 't5', d_model: c.dModel, d_kv: c.dKv, d_ff: c.dFf, num_layers: c.numLayers, num_heads: c.numHeads,
      relative_attention_num_buckets: c.numBuckets, relative_attention_max_distance: c.maxDistance, layer_norm_epsilon: c.eps,
      feed_forward_proj: 'gated-gelu', dense_act_fn: 'gelu_new', is_gated_act: true, vocab_size: c.vocabSize, dropout_rate: 0,
    };
  },
};
