// FLUX's canonical weight names (what its graph declares) and how each is assembled from a checkpoint's tensors.
//
// FLUX: the canonical names ARE Black Forest Labs' names, because BFL's layout is the fused one we want on the
// GPU: one [3D, D] qkv weight per stream (one matmul instead of three) and one [3D+M, D] linear1 per single
// block (QKV and MLP-in in one matmul). diffusers splits these (to_q/to_k/to_v, add_*_proj, proj_mlp); we FUSE
// THEM AT LOAD TIME by concatenating rows: the fused weight's bytes are the parts' bytes back to back, so the
// uploader streams the parts into consecutive ranges of one GPU buffer (no extra copy, no host-side concat).
// diffusers also stores the final adaLN projection as [scale; shift] where BFL has [shift; scale]: the map
// swaps the two row halves back, so canonical `final_layer.adaLN_modulation.1` is always [shift; scale].
import { wholeTensor } from '../../loading/sources.js';
import type { WeightPart, WeightSource } from '../family.js';
import type { FluxConfig } from './config.js';
import { fluxExpectedTensors } from './layouts.js';

const whole = wholeTensor;

/** FLUX canonical (= BFL) weights from either layout. */
export function fluxWeightSources(c: FluxConfig): WeightSource[] {
  const canonical = fluxExpectedTensors({ ...c, layout: 'bfl' });
  if (c.layout === 'bfl') return canonical.map((t) => ({ name: t.name, shape: t.shape, parts: whole(t.name) }));
  const D = c.hiddenSize;
  const map = new Map<string, WeightPart[]>();
  const lin = (bfl: string, diff: string, bias = true) => {
    map.set(`${bfl}.weight`, whole(`${diff}.weight`));
    if (bias) map.set(`${bfl}.bias`, whole(`${diff}.bias`));
  };
  const fused = (bfl: string, diffs: string[], bias: boolean) => {
    map.set(`${bfl}.weight`, diffs.map((d) => ({ tensor: `${d}.weight` })));
    if (bias) map.set(`${bfl}.bias`, diffs.map((d) => ({ tensor: `${d}.bias` })));
  };
  lin('img_in', 'x_embedder');
  lin('txt_in', 'context_embedder');
  lin('time_in.in_layer', 'time_text_embed.timestep_embedder.linear_1');
  lin('time_in.out_layer', 'time_text_embed.timestep_embedder.linear_2');
  lin('vector_in.in_layer', 'time_text_embed.text_embedder.linear_1');
  lin('vector_in.out_layer', 'time_text_embed.text_embedder.linear_2');
  lin('guidance_in.in_layer', 'time_text_embed.guidance_embedder.linear_1');
  lin('guidance_in.out_layer', 'time_text_embed.guidance_embedder.linear_2');
  for (let i = 0; i < c.doubleBlocks; i++) {
    const b = `double_blocks.${i}`, d = `transformer_blocks.${i}`;
    lin(`${b}.img_mod.lin`, `${d}.norm1.linear`);
    lin(`${b}.txt_mod.lin`, `${d}.norm1_context.linear`);
    fused(`${b}.img_attn.qkv`, [`${d}.attn.to_q`, `${d}.attn.to_k`, `${d}.attn.to_v`], c.qkvBias);
    fused(`${b}.txt_attn.qkv`, [`${d}.attn.add_q_proj`, `${d}.attn.add_k_proj`, `${d}.attn.add_v_proj`], c.qkvBias);
    map.set(`${b}.img_attn.norm.query_norm.scale`, whole(`${d}.attn.norm_q.weight`));
    map.set(`${b}.img_attn.norm.key_norm.scale`, whole(`${d}.attn.norm_k.weight`));
    map.set(`${b}.txt_attn.norm.query_norm.scale`, whole(`${d}.attn.norm_added_q.weight`));
    map.set(`${b}.txt_attn.norm.key_norm.scale`, whole(`${d}.attn.norm_added_k.weight`));
    lin(`${b}.img_attn.proj`, `${d}.attn.to_out.0`);
    lin(`${b}.txt_attn.proj`, `${d}.attn.to_add_out`);
    lin(`${b}.img_mlp.0`, `${d}.ff.net.0.proj`);
    lin(`${b}.img_mlp.2`, `${d}.ff.net.2`);
    lin(`${b}.txt_mlp.0`, `${d}.ff_context.net.0.proj`);
    lin(`${b}.txt_mlp.2`, `${d}.ff_context.net.2`);
  }
  for (let i = 0; i < c.singleBlocks; i++) {
    const b = `single_blocks.${i}`, d = `single_transformer_blocks.${i}`;
    fused(`${b}.linear1`, [`${d}.attn.to_q`, `${d}.attn.to_k`, `${d}.attn.to_v`, `${d}.proj_mlp`], true);
    lin(`${b}.linear2`, `${d}.proj_out`);
    map.set(`${b}.norm.query_norm.scale`, whole(`${d}.attn.norm_q.weight`));
    map.set(`${b}.norm.key_norm.scale`, whole(`${d}.attn.norm_k.weight`));
    lin(`${b}.modulation.lin`, `${d}.norm.linear`);
  }
  lin('final_layer.linear', 'proj_out');
  // diffusers [scale; shift] -> BFL [shift; scale]: take the second half first.
  const swap = (t: string): WeightPart[] => [{ tensor: t, rowStart: D, rowEnd: 2 * D }, { tensor: t, rowStart: 0, rowEnd: D }];
  map.set('final_layer.adaLN_modulation.1.weight', swap('norm_out.linear.weight'));
  map.set('final_layer.adaLN_modulation.1.bias', swap('norm_out.linear.bias'));
  return canonical.map((t) => {
    const parts = map.get(t.name);
    if (!parts) throw new Error(`name-map: no diffusers source for canonical FLUX weight '${t.name}' (bug in models/flux/weights.ts)`);
    return { name: t.name, shape: t.shape, parts };
  });
}
