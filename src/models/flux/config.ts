// FLUX.1's configuration: what a checkpoint's tensor shapes say (cross-checked against config.json where one
// exists), the released presets, and a tiny one with the same structure for tests. Everything is read from the
// checkpoint, so FLUX.1-dev, FLUX.1-schnell and tiny test models load without code changes.
import type { FamilyConfig, TensorListing } from '../family.js';
import { Inference } from '../../loading/listing.js';

/** BFL: Black Forest Labs' single file (flux1-dev.safetensors); diffusers: FluxTransformer2DModel's transformer/ folder. */
export type FluxLayout = 'bfl' | 'diffusers';

export interface FluxConfig extends FamilyConfig {
  family: 'flux';
  layout: FluxLayout;
  /** Residual-stream width D (3072 for FLUX.1). */
  hiddenSize: number;
  numHeads: number;
  /** D / numHeads; read from the QK-RMSNorm scale's length (128 for FLUX.1). */
  headDim: number;
  /** MLP hidden width M (4 * D for FLUX.1). */
  mlpHidden: number;
  mlpRatio: number;
  /** Double-stream blocks (19 for FLUX.1). */
  doubleBlocks: number;
  /** Single-stream blocks (38 for FLUX.1). */
  singleBlocks: number;
  /** Channels per token after the pipeline packs 2x2 latent patches: 16 latent channels * 4 = 64. */
  inChannels: number;
  outChannels: number;
  /** Patch size inside the transformer (1: FLUX's 2x2 packing happens outside, in the pipeline). */
  patchSize: number;
  /** T5 hidden size of the text tokens (4096). */
  contextInDim: number;
  /** CLIP pooled vector size (768). */
  pooledDim: number;
  /** Sinusoidal timestep/guidance embedding width fed to the MLP embedders (256). */
  timeEmbedDim: number;
  /** FLUX.1-dev is guidance-distilled (guidance_in present); schnell has none. */
  guidanceEmbed: boolean;
  qkvBias: boolean;
  /** RoPE dimensions per id axis (sum = headDim): [16, 56, 56] for FLUX.1. */
  axesDim: [number, number, number];
  ropeTheta: number;
}

/**
 * FLUX's RoPE axis split when config.json does not give one: 1/8 of the head for the (unused) first axis, the
 * rest split evenly over height and width, each even. Gives [16, 56, 56] for headDim 128 (FLUX.1) and
 * [4, 14, 14] for 32; the parity reference uses the same rule for tiny models.
 */
export function defaultAxesDim(headDim: number): [number, number, number] {
  const a0 = Math.max(2, Math.round(headDim / 8 / 2) * 2);
  const rest = headDim - a0;
  const a1 = Math.floor(rest / 4) * 2;
  return [a0, a1, rest - a1];
}

/** FLUX.1-dev's configuration (schnell: guidanceEmbed false). For synthetic full-size checkpoints and tests. */
export function flux1DevConfig(layout: FluxLayout = 'bfl', guidanceEmbed = true): FluxConfig {
  return {
    family: 'flux', layout, hiddenSize: 3072, numHeads: 24, headDim: 128, mlpHidden: 12288, mlpRatio: 4,
    doubleBlocks: 19, singleBlocks: 38, inChannels: 64, outChannels: 64, patchSize: 1, contextInDim: 4096,
    pooledDim: 768, timeEmbedDim: 256, guidanceEmbed, qkvBias: true, axesDim: [16, 56, 56], ropeTheta: 10000,
  };
}

/** A tiny configuration with FLUX's real structure, for tests and the parity goldens (bench/reference/make_tiny.py). */
export function tinyFluxConfig(layout: FluxLayout = 'bfl', guidanceEmbed = true): FluxConfig {
  return {
    family: 'flux', layout, hiddenSize: 64, numHeads: 2, headDim: 32, mlpHidden: 256, mlpRatio: 4, doubleBlocks: 1,
    singleBlocks: 2, inChannels: 16, outChannels: 16, patchSize: 1, contextInDim: 24, pooledDim: 12, timeEmbedDim: 256,
    guidanceEmbed, qkvBias: true, axesDim: [4, 14, 14], ropeTheta: 10000,
  };
}

/**
 * The FLUX layout of a listing from its tensor names: BFL (double_blocks/single_blocks) or diffusers
 * (single_transformer_blocks, x_embedder); null when the names are not FLUX's.
 */
export function detectFlux(ck: TensorListing): FluxLayout | null {
  const names = ck.listTensors();
  const any = (p: string) => names.some((n) => n.startsWith(p));
  if (any('double_blocks.') || any('single_blocks.')) return 'bfl';
  if (any('single_transformer_blocks.') || ck.has('x_embedder.weight')) return 'diffusers';
  return null;
}

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

export function inferFluxConfig(ck: TensorListing, layout: FluxLayout): FluxConfig {
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

/** One-line summary for logs and `dit` output. */
export function describeFlux(c: FluxConfig): string {
  return `FLUX (${c.layout} layout): D=${c.hiddenSize}, ${c.numHeads} heads x ${c.headDim}, MLP ${c.mlpHidden}, ` +
    `${c.doubleBlocks} double + ${c.singleBlocks} single blocks, in ${c.inChannels} out ${c.outChannels}, ` +
    `text ${c.contextInDim}, pooled ${c.pooledDim}, guidance ${c.guidanceEmbed ? 'yes (dev)' : 'no (schnell)'}`;
}

/** diffusers config.json contents for a configuration (what save_pretrained writes, minus version fields). */
export function fluxConfigJson(c: FluxConfig): Record<string, unknown> {
  return {
    _class_name: 'FluxTransformer2DModel', patch_size: c.patchSize, in_channels: c.inChannels, out_channels: null,
    num_layers: c.doubleBlocks, num_single_layers: c.singleBlocks, attention_head_dim: c.headDim, num_attention_heads: c.numHeads,
    joint_attention_dim: c.contextInDim, pooled_projection_dim: c.pooledDim, guidance_embeds: c.guidanceEmbed, axes_dims_rope: c.axesDim,
  };
}
