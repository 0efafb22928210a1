// SD3 canonical weight names and how each is assembled from the checkpoint's tensors.
//
// SD3: only the diffusers layout exists; canonical names are diffusers' names, with Q/K/V fused the way
// diffusers' own fuse_qkv_projections names them: `attn.to_qkv` (to_q|to_k|to_v), `attn.to_added_qkv`
// (add_q_proj|add_k_proj|add_v_proj), `attn2.to_qkv`. `norm_out.linear` keeps diffusers' [scale; shift] order;
// `norm1_context.linear` of the last (context_pre_only) block is [scale; shift] too, the others are the usual
// 6-way [shift, scale, gate (attn); shift, scale, gate (mlp)], SD3.5's dual blocks' norm1 is 9-way (+ attn2).

import { wholeTensor as whole } from '../../loading/sources.js';
import type { WeightSource } from '../family.js';
import type { Sd3Config } from './config.js';
import { sd3DiffusersTensors } from './layouts.js';

/** SD3 canonical weights: diffusers names, Q/K/V fused into to_qkv / to_added_qkv / attn2.to_qkv. */
export function sd3WeightSources(c: Sd3Config): WeightSource[] {
  const D = c.hiddenSize;
  const out: WeightSource[] = [];
  const fusedAway = new Set<string>();
  const fuse = (name: string, parts: string[]) => {
    for (const suffix of ['weight', 'bias']) {
      const ps = parts.map((p) => `${p}.${suffix}`);
      ps.forEach((p) => fusedAway.add(p));
      out.push({ name: `${name}.${suffix}`, shape: suffix === 'weight' ? [3 * D, D] : [3 * D], parts: ps.map((tensor) => ({ tensor })) });
    }
  };
  const dual = new Set(c.dualAttentionLayers);
  for (let i = 0; i < c.numLayers; i++) {
    const b = `transformer_blocks.${i}.`;
    fuse(`${b}attn.to_qkv`, [`${b}attn.to_q`, `${b}attn.to_k`, `${b}attn.to_v`]);
    fuse(`${b}attn.to_added_qkv`, [`${b}attn.add_q_proj`, `${b}attn.add_k_proj`, `${b}attn.add_v_proj`]);
    if (dual.has(i)) fuse(`${b}attn2.to_qkv`, [`${b}attn2.to_q`, `${b}attn2.to_k`, `${b}attn2.to_v`]);
  }
  for (const t of sd3DiffusersTensors(c)) {
    if (!fusedAway.has(t.name)) out.push({ name: t.name, shape: t.shape, parts: whole(t.name), optional: t.optional });
  }
  return out;
}
