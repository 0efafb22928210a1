// Tensor names of GGUF files written by llama.cpp's converter, mapped onto the names our model families read.
//
// T5 encoders (`general.architecture = "t5encoder"`: llama.cpp's convert_hf_to_gguf.py T5EncoderModel, and the
// city96 t5-v1_1-xxl-encoder-*.gguf files made with it) use llama.cpp's names; ComfyUI-GGUF maps them back to the
// transformers state dict the same way (its T5_SD_MAP). The T5 family then sees a transformers T5EncoderModel
// listing and detects, infers and validates it unchanged. FLUX GGUF files keep the source's BFL names (city96's
// convert.py writes `new_name = key`), so they need no map.
//   token_embd.weight               -> shared.weight
//   enc.output_norm.weight          -> encoder.final_layer_norm.weight
//   enc.blk.N.attn_norm.weight      -> encoder.block.N.layer.0.layer_norm.weight
//   enc.blk.N.attn_{q,k,v,o}.weight -> encoder.block.N.layer.0.SelfAttention.{q,k,v,o}.weight
//   enc.blk.N.attn_rel_b.weight     -> encoder.block.N.layer.0.SelfAttention.relative_attention_bias.weight
//   enc.blk.N.ffn_norm.weight       -> encoder.block.N.layer.1.layer_norm.weight
//   enc.blk.N.ffn_gate.weight       -> encoder.block.N.layer.1.DenseReluDense.wi_0.weight
//   enc.blk.N.ffn_up.weight         -> encoder.block.N.layer.1.DenseReluDense.wi_1.weight
//   enc.blk.N.ffn_down.weight       -> encoder.block.N.layer.1.DenseReluDense.wo.weight
// Shapes need no change (llama.cpp stores T5 weights unpermuted; GGUF's reversed dims are undone by the reader).

const T5_BLOCK: Record<string, string> = {
  attn_norm: 'layer.0.layer_norm',
  attn_q: 'layer.0.SelfAttention.q',
  attn_k: 'layer.0.SelfAttention.k',
  attn_v: 'layer.0.SelfAttention.v',
  attn_o: 'layer.0.SelfAttention.o',
  attn_rel_b: 'layer.0.SelfAttention.relative_attention_bias',
  ffn_norm: 'layer.1.layer_norm',
  ffn_gate: 'layer.1.DenseReluDense.wi_0',
  ffn_up: 'layer.1.DenseReluDense.wi_1',
  ffn_down: 'layer.1.DenseReluDense.wo',
};

/** The transformers name of a llama.cpp T5-encoder tensor name, or null when it is not one. */
export function t5NameFromLlamaCpp(name: string): string | null {
  if (name === 'token_embd.weight') return 'shared.weight';
  if (name === 'enc.output_norm.weight') return 'encoder.final_layer_norm.weight';
  const m = /^enc\.blk\.(\d+)\.([a-z_]+)\.weight$/.exec(name);
  if (!m || !T5_BLOCK[m[2]]) return null;
  return `encoder.block.${m[1]}.${T5_BLOCK[m[2]]}.weight`;
}

/**
 * The name map for a GGUF file's tensors from its metadata (architecture), or null when names are used as stored.
 * Names the map does not know are kept (the family reports them as unused).
 */
export function ggufNameMap(architecture: string | undefined): ((name: string) => string) | null {
  if (architecture === 't5encoder' || architecture === 't5') return (n) => t5NameFromLlamaCpp(n) ?? n;
  return null;
}

/**
 * The hyper-parameters llama.cpp's converter records for a T5 encoder (`t5encoder.*` metadata), as the config.json
 * keys the T5 family checks its shape inference against; null when the metadata is not a T5 encoder's.
 */
export function ggufT5ConfigJson(metadata: Record<string, string>): Record<string, unknown> | null {
  const arch = metadata['general.architecture'];
  if (arch !== 't5encoder' && arch !== 't5') return null;
  const out: Record<string, unknown> = {};
  // Floats are stored as f32 (1e-6 reads back as 9.99999997e-7): 7 significant digits recover the decimal.
  const num = (key: string, as: string) => {
    const v = Number(metadata[`${arch}.${key}`]);
    if (metadata[`${arch}.${key}`] !== undefined && Number.isFinite(v)) out[as] = Number.isInteger(v) ? v : Number(v.toPrecision(7));
  };
  num('embedding_length', 'd_model');
  num('feed_forward_length', 'd_ff');
  num('block_count', 'num_layers');
  num('attention.head_count', 'num_heads');
  num('attention.key_length', 'd_kv');
  num('attention.relative_buckets_count', 'relative_attention_num_buckets');
  num('attention.layer_norm_epsilon', 'layer_norm_epsilon');
  return out;
}
