// Infers a model's configuration from its checkpoint: the family (FLUX or SD3) and layout (BFL or diffusers)
// from the tensor names, every width and depth from the tensor shapes, cross-checked against config.json when
// the checkpoint has one. Then checks every tensor the configuration implies is present with the right shape,
// so a damaged or mismatched checkpoint fails at load with the file and tensor named, not mid-graph.
import { expectedTensors } from './layouts.js';
import { defaultAxesDim, type FluxConfig, type ModelConfig, type Sd3Config } from './model-config.js';
import { Inference, type TensorListing, type ValidationReport, validateListing } from '../loading/listing.js';
import { CheckpointError } from '../loading/safetensors.js';

export type { TensorListing } from '../loading/listing.js';

/** RoPE axes from config.json (axes_dims_rope), else file metadata (axes_dim, a JSON list), else the default split. */
function ropeAxes(ck: TensorListing, headDim: number): [number, number, number] {
  const cj = ck.configJson ?? {};
  const fromCfg = cj.axes_dims_rope;
  if (Array.isArray(fromCfg) && fromCfg.length === 3 && fromCfg.every((v) => Number.isInteger(v))) return [...fromCfg] as [number, number, number];
  const meta = ck.metadata?.axes_dim;
  if (meta) {
    try {
      const v = JSON.parse(meta) as unknown;
      if (Array.isArray(v) && v.length === 3 && v.every((x) => Number.isInteger(x))) return [...v] as [number, number, number];
    } catch {
      // malformed metadata: fall through to the default split
    }
  }
  return defaultAxesDim(headDim);
}

export function detectFamily(ck: TensorListing): { family: 'flux' | 'sd3'; layout: 'bfl' | 'diffusers' } {
  const names = ck.listTensors();
  const any = (p: string) => names.some((n) => n.startsWith(p));
  if (any('double_blocks.') || any('single_blocks.')) return { family: 'flux', layout: 'bfl' };
  if (any('single_transformer_blocks.') || ck.has('x_embedder.weight')) return { family: 'flux', layout: 'diffusers' };
  if (ck.has('pos_embed.proj.weight') && any('transformer_blocks.')) return { family: 'sd3', layout: 'diffusers' };
  if (any('joint_blocks.')) {
    throw new CheckpointError(`${ck.description}: this is an SD3 checkpoint in Stability's original single-file layout (joint_blocks.*); use the diffusers release (stabilityai/stable-diffusion-3-medium-diffusers or stable-diffusion-3.5-medium, the transformer/ folder)`, ck.description);
  }
  const sample = names.slice(0, 5).join(', ');
  throw new CheckpointError(`${ck.description}: not a FLUX or SD3 transformer checkpoint (no double_blocks/single_blocks, x_embedder or pos_embed tensors; first names: ${sample || 'none'})`, ck.description);
}

function inferFlux(ck: TensorListing, layout: 'bfl' | 'diffusers'): FluxConfig {
  const x = new Inference(ck);
  const bfl = layout === 'bfl';
  const n = bfl
    ? { inp: 'img_in.weight', txt: 'txt_in.weight', vec: 'vector_in.in_layer.weight', time: 'time_in.in_layer.weight', guid: 'guidance_in.in_layer.weight', out: 'final_layer.linear.weight', dbl: 'double_blocks.', sgl: 'single_blocks.' }
    : { inp: 'x_embedder.weight', txt: 'context_embedder.weight', vec: 'time_text_embed.text_embedder.linear_1.weight', time: 'time_text_embed.timestep_embedder.linear_1.weight', guid: 'time_text_embed.guidance_embedder.linear_1.weight', out: 'proj_out.weight', dbl: 'transformer_blocks.', sgl: 'single_transformer_blocks.' };
  const [hidden, inChannels] = x.shape(n.inp, 2);
  const doubleBlocks = x.count(n.dbl);
  const singleBlocks = x.count(n.sgl);
  if (doubleBlocks + singleBlocks === 0) x.fail('no transformer blocks found');
  // Head dim = length of the per-head QK RMSNorm scale; hidden / head dim = heads.
  const qnorm = bfl
    ? doubleBlocks ? 'double_blocks.0.img_attn.norm.query_norm.scale' : 'single_blocks.0.norm.query_norm.scale'
    : doubleBlocks ? 'transformer_blocks.0.attn.norm_q.weight' : 'single_transformer_blocks.0.attn.norm_q.weight';
  const [headDim] = x.shape(qnorm, 1);
  const numHeads = x.headsFrom(hidden, headDim, qnorm);
  const mlpHidden = doubleBlocks
    ? x.shape(bfl ? 'double_blocks.0.img_mlp.0.weight' : 'transformer_blocks.0.ff.net.0.proj.weight', 2)[0]
    : bfl ? x.shape('single_blocks.0.linear1.weight', 2)[0] - 3 * hidden : x.shape('single_transformer_blocks.0.proj_mlp.weight', 2)[0];
  const contextInDim = x.shape(n.txt, 2)[1];
  const pooledDim = x.shape(n.vec, 2)[1];
  const timeEmbedDim = x.shape(n.time, 2)[1];
  const outRows = x.shape(n.out, 2)[0];
  const cj = ck.configJson ?? {};
  const patchSize = typeof cj.patch_size === 'number' ? cj.patch_size : 1;
  if (outRows % (patchSize * patchSize) !== 0) x.fail(`output projection has ${outRows} rows, not a multiple of patch_size^2 = ${patchSize * patchSize}`, n.out);
  const outChannels = outRows / (patchSize * patchSize);
  const qkvProbe = bfl ? 'double_blocks.0.img_attn.qkv.bias' : 'transformer_blocks.0.attn.to_q.bias';
  const axes = ropeAxes(ck, headDim);
  if (axes.reduce((a, b) => a + b, 0) !== headDim) x.fail(`RoPE axes ${JSON.stringify(axes)} do not sum to the head dim ${headDim}`);
  const cfg: FluxConfig = {
    family: 'flux', layout, hiddenSize: hidden, numHeads, headDim, mlpHidden, mlpRatio: mlpHidden / hidden,
    doubleBlocks, singleBlocks, inChannels, outChannels, patchSize, contextInDim, pooledDim, timeEmbedDim,
    guidanceEmbed: ck.has(n.guid), qkvBias: doubleBlocks ? ck.has(qkvProbe) : true, axesDim: [...axes] as [number, number, number],
    ropeTheta: 10000,
  };
  x.agree('num_layers', doubleBlocks);
  x.agree('num_single_layers', singleBlocks);
  x.agree('attention_head_dim', headDim);
  x.agree('num_attention_heads', numHeads);
  x.agree('in_channels', inChannels);
  x.agree('out_channels', outChannels);
  x.agree('joint_attention_dim', contextInDim);
  x.agree('pooled_projection_dim', pooledDim);
  x.agree('guidance_embeds', cfg.guidanceEmbed);
  return cfg;
}

function inferSd3(ck: TensorListing): Sd3Config {
  const x = new Inference(ck);
  const [hidden, inChannels, patchSize, patchW] = x.shape('pos_embed.proj.weight', 4);
  if (patchSize !== patchW) x.fail(`non-square patch ${patchSize}x${patchW}`, 'pos_embed.proj.weight');
  const numLayers = x.count('transformer_blocks.');
  if (numLayers === 0) x.fail('no transformer_blocks found');
  const qkNorm = ck.has('transformer_blocks.0.attn.norm_q.weight');
  const cj = ck.configJson ?? {};
  // Head dim: the QK-norm scale's length where SD3.5 has one; otherwise config.json, otherwise MMDiT's 64.
  const headDim = qkNorm
    ? x.shape('transformer_blocks.0.attn.norm_q.weight', 1)[0]
    : typeof cj.attention_head_dim === 'number' ? cj.attention_head_dim : 64;
  const numHeads = x.headsFrom(hidden, headDim, qkNorm ? 'transformer_blocks.0.attn.norm_q.weight' : 'pos_embed.proj.weight');
  const dualAttentionLayers: number[] = [];
  for (let i = 0; i < numLayers; i++) if (ck.has(`transformer_blocks.${i}.attn2.to_q.weight`)) dualAttentionLayers.push(i);
  const [captionProjectionDim, jointAttentionDim] = x.shape('context_embedder.weight', 2);
  const pooledDim = x.shape('time_text_embed.text_embedder.linear_1.weight', 2)[1];
  const timeEmbedDim = x.shape('time_text_embed.timestep_embedder.linear_1.weight', 2)[1];
  const mlpHidden = x.shape('transformer_blocks.0.ff.net.0.proj.weight', 2)[0];
  const outRows = x.shape('proj_out.weight', 2)[0];
  if (outRows % (patchSize * patchSize) !== 0) x.fail(`proj_out has ${outRows} rows, not a multiple of patch^2 = ${patchSize * patchSize}`, 'proj_out.weight');
  const posEmbedStored = ck.has('pos_embed.pos_embed');
  let posEmbedMaxSize = typeof cj.pos_embed_max_size === 'number' ? cj.pos_embed_max_size : 0;
  if (posEmbedStored) {
    const s = x.shape('pos_embed.pos_embed', 3);
    const side = Math.round(Math.sqrt(s[1]));
    if (side * side !== s[1]) x.fail(`pos_embed.pos_embed has ${s[1]} positions, not a square table`, 'pos_embed.pos_embed');
    posEmbedMaxSize = side;
  }
  const cfg: Sd3Config = {
    family: 'sd3', layout: 'diffusers', hiddenSize: hidden, numHeads, headDim, numLayers, mlpHidden, mlpRatio: mlpHidden / hidden,
    patchSize, inChannels, outChannels: outRows / (patchSize * patchSize), jointAttentionDim, captionProjectionDim, pooledDim,
    timeEmbedDim, posEmbedMaxSize, posEmbedStored, dualAttentionLayers, qkNorm,
    // The position table's coordinate scale comes from sample_size (diffusers PatchEmbed base_size); only
    // config.json has it. 128 is SD3-medium's and SD3.5-medium's.
    sampleSize: typeof cj.sample_size === 'number' ? cj.sample_size : 128,
  };
  x.agree('num_layers', numLayers);
  x.agree('attention_head_dim', headDim);
  x.agree('num_attention_heads', numHeads);
  x.agree('patch_size', patchSize);
  x.agree('in_channels', inChannels);
  x.agree('out_channels', cfg.outChannels);
  x.agree('joint_attention_dim', jointAttentionDim);
  x.agree('caption_projection_dim', captionProjectionDim);
  x.agree('pooled_projection_dim', pooledDim);
  x.agree('pos_embed_max_size', posEmbedMaxSize);
  x.agree('dual_attention_layers', dualAttentionLayers, (v) => (Array.isArray(v) ? [...v].sort((a, b) => a - b) : v));
  x.agree('qk_norm', qkNorm, (v) => v === 'rms_norm' || v === true);
  return cfg;
}

/** The model configuration implied by a checkpoint's tensors (and config.json, cross-checked). */
export function inferConfig(ck: TensorListing): ModelConfig {
  const { family, layout } = detectFamily(ck);
  return family === 'flux' ? inferFlux(ck, layout) : inferSd3(ck);
}

/** Checks every tensor the configuration implies exists with the right shape; the error names file and tensor. */
export function validateCheckpoint(ck: TensorListing, cfg: ModelConfig): ValidationReport {
  return validateListing(ck, expectedTensors(cfg), `the inferred ${cfg.family} ${cfg.layout} configuration`);
}
