// CLIP text encoder as a ModelFamily: transformers CLIPTextModel / CLIPTextModelWithProjection names (folders
// text_encoder/, text_encoder_2/ and ComfyUI's clip_l.safetensors / clip_g.safetensors, which use the same
// names), optionally under a bundle prefix. Shapes give every width and depth; the head count and activation are
// not in the shapes, so they come from config.json, or for single files from the two known models by width
// (768: CLIP-L/14, 12 heads, quick-GELU; 1280: bigG/14, 20 heads, GELU).
import { Inference } from '../../loading/listing.js';
import { CheckpointError } from '../../loading/safetensors.js';
import type { ExpectedTensor, WeightSource } from '../../loading/sources.js';
import type { ModelFamily } from '../family.js';
import type { ClipActivation, ClipConfig } from './config.js';

type Listing = Parameters<ModelFamily['detect']>[0];

// The text transformer's root is whatever precedes this suffix: 'text_model.' in transformers <= 4 files (the
// released FLUX/SD3 folders, ComfyUI clip_l/clip_g), '' in a CLIPTextModel saved by transformers 5, or a bundle
// prefix before 'text_model.'. text_projection sits beside text_model.
const Q0 = 'encoder.layers.0.self_attn.q_proj.weight';

export const CLIPW = {
  tokenEmbed: 'token_embedding',
  posEmbed: 'position_embedding',
  finalNorm: { w: 'final_layer_norm.weight', b: 'final_layer_norm.bias' },
  projection: 'text_projection',
  layer: (i: number) => ({
    ln1w: `layers.${i}.ln1.weight`, ln1b: `layers.${i}.ln1.bias`,
    qkvw: `layers.${i}.qkv.weight`, qkvb: `layers.${i}.qkv.bias`,
    ow: `layers.${i}.out_proj.weight`, ob: `layers.${i}.out_proj.bias`,
    ln2w: `layers.${i}.ln2.weight`, ln2b: `layers.${i}.ln2.bias`,
    fc1w: `layers.${i}.fc1.weight`, fc1b: `layers.${i}.fc1.bias`,
    fc2w: `layers.${i}.fc2.weight`, fc2b: `layers.${i}.fc2.bias`,
  }),
};

function prefixOf(ck: Listing): string | null {
  const roots = new Set<string>();
  for (const n of ck.listTensors()) {
    if (!n.endsWith(Q0)) continue;
    const root = n.slice(0, n.length - Q0.length);
    if (!root.endsWith('vision_model.')) roots.add(root);
  }
  if (roots.size > 1) {
    // e.g. SD3's all-in-one file: text_encoders.clip_l.transformer.text_model.*, text_encoders.clip_g.transformer.text_model.*
    throw new CheckpointError(`${ck.description}: holds ${roots.size} CLIP text encoders (${[...roots].map((r) => `'${r}'`).join(', ')}); ` +
      'use the separate files (clip_l.safetensors, clip_g.safetensors) or the text_encoder/ and text_encoder_2/ folders', ck.description);
  }
  return roots.size ? [...roots][0] : null;
}

function layoutOf(root: string): string {
  return root === 'text_model.' ? 'transformers' : root === '' ? 'bare' : `prefix:${root}`;
}

function rootOf(layout: string): string {
  return layout === 'transformers' ? 'text_model.' : layout === 'bare' ? '' : layout.slice('prefix:'.length);
}

function names(prefix: string, i: number) {
  const p = `${prefix}encoder.layers.${i}.`;
  return {
    ln1w: `${p}layer_norm1.weight`, ln1b: `${p}layer_norm1.bias`, ln2w: `${p}layer_norm2.weight`, ln2b: `${p}layer_norm2.bias`,
    qw: `${p}self_attn.q_proj.weight`, qb: `${p}self_attn.q_proj.bias`, kw: `${p}self_attn.k_proj.weight`, kb: `${p}self_attn.k_proj.bias`,
    vw: `${p}self_attn.v_proj.weight`, vb: `${p}self_attn.v_proj.bias`, ow: `${p}self_attn.out_proj.weight`, ob: `${p}self_attn.out_proj.bias`,
    fc1w: `${p}mlp.fc1.weight`, fc1b: `${p}mlp.fc1.bias`, fc2w: `${p}mlp.fc2.weight`, fc2b: `${p}mlp.fc2.bias`,
  };
}

const top = (prefix: string) => ({
  tok: `${prefix}embeddings.token_embedding.weight`,
  pos: `${prefix}embeddings.position_embedding.weight`,
  posIds: `${prefix}embeddings.position_ids`,
  fnw: `${prefix}final_layer_norm.weight`,
  fnb: `${prefix}final_layer_norm.bias`,
  proj: `${prefix.endsWith('text_model.') ? prefix.slice(0, -'text_model.'.length) : prefix}text_projection.weight`,
});

/** Known single-file CLIP text models by width (no config.json to say heads/activation). */
const BY_WIDTH: Record<number, { heads: number; act: ClipActivation; name: string }> = {
  768: { heads: 12, act: 'quick_gelu', name: 'CLIP-L/14' },
  1280: { heads: 20, act: 'gelu', name: 'OpenCLIP bigG/14' },
  1024: { heads: 16, act: 'gelu', name: 'OpenCLIP H/14' },
};

export const clipFamily: ModelFamily<ClipConfig> = {
  id: 'clip',
  kind: 'text-encoder',
  title: 'CLIP text encoder (CLIP-L: FLUX.1/SD3 text_encoder; OpenCLIP bigG: SD3 text_encoder_2)',

  detect(ck) {
    const prefix = prefixOf(ck);
    if (prefix !== null) return layoutOf(prefix);
    const names_ = ck.listTensors();
    if (names_.some((n) => n.endsWith('transformer.resblocks.0.attn.in_proj_weight')) && names_.some((n) => n.endsWith('token_embedding.weight'))) {
      throw new CheckpointError(`${ck.description}: this is an OpenCLIP-format text encoder ('transformer.resblocks.*'); use the transformers-format file ` +
        '(e.g. SD3\'s text_encoders/clip_g.safetensors or a text_encoder_2/ folder)', ck.description);
    }
    return null;
  },

  inferConfig(ck, layout) {
    const prefix = rootOf(layout);
    const x = new Inference(ck);
    const t = top(prefix);
    const numLayers = x.count(`${prefix}encoder.layers.`);
    if (numLayers === 0) x.fail('no encoder layers found');
    const [vocabSize, hidden] = x.shape(t.tok, 2);
    const [maxPositions, posW] = x.shape(t.pos, 2);
    if (posW !== hidden) x.fail(`position embedding width ${posW} differs from the token embedding's ${hidden}`, t.pos);
    const [intermediate] = x.shape(names(prefix, 0).fc1w, 2);
    let projectionDim: number | null = null;
    if (ck.has(t.proj)) {
      const [p, inW] = x.shape(t.proj, 2);
      if (inW !== hidden) x.fail(`text_projection takes ${inW} features but the model width is ${hidden}`, t.proj);
      projectionDim = p;
    }
    const known = BY_WIDTH[hidden];
    const cfgHeads = x.json('num_attention_heads');
    const numHeads = typeof cfgHeads === 'number' ? cfgHeads : known?.heads ?? x.fail(`width ${hidden} is not a known CLIP text model and there is no config.json to give num_attention_heads; put the model's config.json next to the weights`, t.tok);
    if (!Number.isInteger(hidden / numHeads) || (hidden / numHeads) % 4 !== 0) x.fail(`width ${hidden} does not split into ${numHeads} heads of a multiple of 4`, t.tok);
    const act = x.json('hidden_act');
    let activation: ClipActivation;
    if (act === undefined) activation = known?.act ?? 'quick_gelu';
    else if (act === 'quick_gelu' || act === 'gelu') activation = act;
    else return x.fail(`config.json hidden_act ${JSON.stringify(act)} is not supported (quick_gelu or gelu)`);
    x.agree('hidden_size', hidden);
    x.agree('num_hidden_layers', numLayers);
    x.agree('intermediate_size', intermediate);
    x.agree('max_position_embeddings', maxPositions);
    x.agree('vocab_size', vocabSize);
    if (projectionDim !== null) x.agree('projection_dim', projectionDim);
    return {
      family: 'clip', layout, prefix, vocabSize, hidden, numLayers, numHeads, intermediate, maxPositions, activation,
      eps: x.jsonNumber('layer_norm_eps', 1e-5), eosTokenId: x.jsonNumber('eos_token_id', 2), projectionDim,
    };
  },

  expectedTensors(c) {
    const t = top(c.prefix);
    const C = c.hidden;
    const out: ExpectedTensor[] = [
      { name: t.tok, shape: [c.vocabSize, C] }, { name: t.pos, shape: [c.maxPositions, C] },
      { name: t.fnw, shape: [C] }, { name: t.fnb, shape: [C] },
      // transformers registers position_ids as a buffer; some exports keep it.
      { name: t.posIds, shape: [1, c.maxPositions], optional: true },
    ];
    if (c.projectionDim !== null) out.push({ name: t.proj, shape: [c.projectionDim, C] });
    for (let i = 0; i < c.numLayers; i++) {
      const n = names(c.prefix, i);
      for (const k of ['ln1w', 'ln1b', 'ln2w', 'ln2b', 'qb', 'kb', 'vb', 'ob', 'fc2b'] as const) out.push({ name: n[k], shape: [C] });
      for (const k of ['qw', 'kw', 'vw', 'ow'] as const) out.push({ name: n[k], shape: [C, C] });
      out.push({ name: n.fc1w, shape: [c.intermediate, C] }, { name: n.fc1b, shape: [c.intermediate] }, { name: n.fc2w, shape: [C, c.intermediate] });
    }
    return out;
  },

  weightSources(c) {
    const t = top(c.prefix);
    const C = c.hidden;
    const one = (name: string, shape: number[], tensor: string): WeightSource => ({ name, shape, parts: [{ tensor }] });
    const src: WeightSource[] = [
      one(CLIPW.tokenEmbed, [c.vocabSize, C], t.tok),
      one(CLIPW.posEmbed, [c.maxPositions, C], t.pos),
      one(CLIPW.finalNorm.w, [C], t.fnw),
      one(CLIPW.finalNorm.b, [C], t.fnb),
    ];
    if (c.projectionDim !== null) src.push(one(CLIPW.projection, [c.projectionDim, C], t.proj));
    for (let i = 0; i < c.numLayers; i++) {
      const n = names(c.prefix, i);
      const w = CLIPW.layer(i);
      src.push(
        one(w.ln1w, [C], n.ln1w), one(w.ln1b, [C], n.ln1b),
        { name: w.qkvw, shape: [3 * C, C], parts: [{ tensor: n.qw }, { tensor: n.kw }, { tensor: n.vw }] },
        { name: w.qkvb, shape: [3 * C], parts: [{ tensor: n.qb }, { tensor: n.kb }, { tensor: n.vb }] },
        one(w.ow, [C, C], n.ow), one(w.ob, [C], n.ob),
        one(w.ln2w, [C], n.ln2w), one(w.ln2b, [C], n.ln2b),
        one(w.fc1w, [c.intermediate, C], n.fc1w), one(w.fc1b, [c.intermediate], n.fc1b),
        one(w.fc2w, [C, c.intermediate], n.fc2w), one(w.fc2b, [C], n.fc2b),
      );
    }
    return src;
  },

  describe(c) {
    const name = BY_WIDTH[c.hidden]?.name ?? 'CLIP text model';
    return `${name}: ${c.numLayers} layers, width ${c.hidden}, ${c.numHeads} heads, MLP ${c.intermediate} (${c.activation}), ` +
      `${c.maxPositions} positions, ${c.projectionDim !== null ? `projection ${c.projectionDim}` : 'no projection'}, ` +
      `pooling ${c.eosTokenId === 2 ? 'argmax(ids)' : `first id ${c.eosTokenId}`}`;
  },

  configJson(c) {
    return {
      architectures: [c.projectionDim !== null ? 'CLIPTextModelWithProjection' : 'CLIPTextModel'], model_type: 'clip_text_model',
      vocab_size: c.vocabSize, hidden_size: c.hidden, intermediate_size: c.intermediate, num_hidden_layers: c.numLayers,
      num_attention_heads: c.numHeads, max_position_embeddings: c.maxPositions, hidden_act: c.activation, layer_norm_eps: c.eps,
      eos_token_id: c.eosTokenId, ...(c.projectionDim !== null ? { projection_dim: c.projectionDim } : {}),
    };
  },
};
