// The FLUX.1 transformer (dev and schnell, any depth/width read from the checkpoint) as an op graph.
// Architecture: Black Forest Labs' flux/model.py (Flux.forward), flux/modules/layers.py (DoubleStreamBlock,
// SingleStreamBlock, Modulation, LastLayer, MLPEmbedder). Weight names are BFL's (weights.ts maps diffusers
// checkpoints onto them).
//
// Precision classes (see docs/graph.md): the two residual streams (img, txt, then the joint stream) are f32,
// because FLUX's activations exceed f16's range in deep blocks; the modulation vectors are f32; everything that
// feeds a matmul or attention (normalised/modulated activations, q/k/v, MLP hidden) is f16 with f32 accumulation.
//
// Batch B > 1 (same resolution and text length, each element its own latents, text, timestep and guidance): rows
// are element-major everywhere; attention runs per element over the q/k/v batch dimension, and every element
// uses the same RoPE position table (its ids depend only on the grid). Batch > 1 is not combined with sequence
// parallelism.
//
// One graph is built per (batch, text length, latent grid): shapes are static so memory is planned once and
// every denoising step replays the same recorded dispatches.
import type { GpuContext } from '../../gpu/context.js';
import { compile, type Plan } from '../../graph/executor.js';
import { Graph } from '../../graph/graph.js';
import { silu } from '../../graph/ops/elementwise.js';
import { linear, linearOfColumns } from '../../graph/ops/matmul.js';
import { layerNormModulate } from '../../graph/ops/norm.js';
import type { Tensor } from '../../graph/tensor.js';
import type { WeightStore } from '../../graph/weights.js';
import { adaLnModulation, type DitGraphOptions, gatedMlp, jointAttention, type LinearWeights, mlpEmbedder, modulatedOutput } from '../common/dit-blocks.js';
import { sinusoidalEmbedding } from '../common/timestep.js';
import type { FluxConfig } from './config.js';
import { fluxPositionIds, fluxRopeTable } from './rope.js';

export interface FluxShape {
  batch: number;
  /** Text tokens (T5): 512 for FLUX.1-dev, 256 for schnell by default. */
  txtTokens: number;
  /** Image token grid = latent grid / 2 (FLUX packs 2x2 latent patches): 64x64 at 1024². */
  gridH: number;
  gridW: number;
}

export interface FluxStepInputs {
  /** Packed latents [B, gridH*gridW, inChannels] (row-major, FLUX's "b (h w) (c ph pw)" order). */
  img: ArrayLike<number>;
  /** T5 hidden states [B, txtTokens, contextInDim]. */
  txt: ArrayLike<number>;
  /** CLIP pooled [B, pooledDim]. */
  pooled: ArrayLike<number>;
  /** Per batch element, in [0, 1] (FLUX multiplies by 1000 inside the embedding). */
  timesteps: readonly number[];
  /** Distilled guidance scale per batch element (FLUX.1-dev); ignored by schnell. */
  guidance?: readonly number[];
}

export const FLUX_TIME_FACTOR = 1000;

/**
 * Which linears run as W8A8 with opts.int8: the blocks' attention projections and MLPs (BFL names
 * double_blocks.*.{img,txt}_attn.{qkv,proj}, *_mlp.{0,2}, single_blocks.*.linear1/linear2: ~99% of a step's
 * GEMM FLOPs). The adaLN modulation linears (one row per image, f16 weight traffic only), the embedders and
 * the final layer stay f16: their errors would reach every token.
 */
export function fluxInt8Weight(name: string): boolean {
  return /^(double|single)_blocks\./.test(name) && !/(_mod|\.modulation)\.lin\./.test(name);
}

/**
 * What every part of a FLUX step graph shares: the graph, its sizes, weight accessors and the RoPE tables. The
 * whole step (buildFluxGraph) and the first-block cache's three parts (first-block-cache.ts) are built from the
 * same pieces below, so they run the same ops on the same weights.
 */
export interface FluxBuilder {
  g: Graph;
  cfg: FluxConfig;
  B: number;
  /** Text / image / joint rows this graph holds. */
  Lt: number;
  Li: number;
  L: number;
  opts: DitGraphOptions;
  W(name: string, shape: number[]): Tensor;
  /** nn.Linear `prefix` [nOut, nIn] with bias (when `bias`). */
  lw(prefix: string, nOut: number, nIn: number, bias?: boolean): LinearWeights;
  /** RoPE cos/sin over the joint sequence [L, headDim / 2] f32 (constants made on first use). */
  rope(): { cos: Tensor; sin: Tensor };
}

/** A new graph for (a part of) one FLUX step; `part` names it (e.g. '-fbc-head'). */
export function fluxBuilder(cfg: FluxConfig, shape: FluxShape, opts: DitGraphOptions = {}, part = ''): FluxBuilder {
  const { batch: B, txtTokens: LtAll, gridH, gridW } = shape;
  if (!(Number.isInteger(B) && B >= 1)) throw new Error(`FLUX graph: batch must be a positive integer, got ${B}`);
  if (!(LtAll >= 1 && gridH >= 1 && gridW >= 1)) throw new Error(`FLUX graph: bad shape ${JSON.stringify(shape)}`);
  if (B > 1 && opts.tokens) {
    throw new Error(`FLUX graph: batch ${B} with sequence parallelism (opts.tokens) is not supported; run batch 1 per sequence-parallel group, or batch > 1 on one GPU`);
  }
  // Sequence parallelism: this graph holds text rows `tok.text` and image rows `tok.image` (default: all).
  const tok = opts.tokens ?? { text: { start: 0, count: LtAll }, image: { start: 0, count: gridH * gridW } };
  const Lt = tok.text.count;
  const Li = tok.image.count;
  const g = new Graph(`flux-${gridH}x${gridW}${opts.int8 ? '-int8' : ''}${part}-t${Lt}`, opts.int8 ? { int8Weights: fluxInt8Weight } : {});
  const W = (name: string, s: number[]) => g.weight(name, s, 'f16');
  let rope: { cos: Tensor; sin: Tensor } | null = null;
  return {
    g, cfg, B, Lt, Li, L: Lt + Li, opts, W,
    lw: (prefix, nOut, nIn, bias = true) => ({ w: W(`${prefix}.weight`, [nOut, nIn]), b: bias ? W(`${prefix}.bias`, [nOut]) : undefined }),
    rope() {
      if (rope) return rope;
      // RoPE over the joint sequence: text rows [0, Lt) at position 0, image rows [Lt, L) at (0, row, col).
      const allIds = fluxPositionIds(LtAll, gridH, gridW); // [LtAll + gridH*gridW, 3]
      const ids = opts.tokens
        ? Float64Array.from([...allIds.subarray(tok.text.start * 3, (tok.text.start + Lt) * 3), ...allIds.subarray((LtAll + tok.image.start) * 3, (LtAll + tok.image.start + Li) * 3)])
        : allIds;
      const t = fluxRopeTable(ids, cfg.axesDim, cfg.ropeTheta);
      rope = { cos: g.constant('rope.cos', t.cos, [Lt + Li, cfg.headDim / 2], 'f32'), sin: g.constant('rope.sin', t.sin, [Lt + Li, cfg.headDim / 2], 'f32') };
      return rope;
    },
  };
}

/**
 * The step's inputs and everything before the first block: inputs img, txt, pooled, t_emb, [g_emb]; returns the
 * residual streams img [B*Li, D] f32 and txt [B*Lt, D] f32, and silu(vec) [B, D] f16 (what every modulation reads).
 */
export function fluxEmbed(b: FluxBuilder): { img: Tensor; txt: Tensor; vecAct: Tensor } {
  const { g, cfg, B, Lt, Li, W, lw } = b;
  const D = cfg.hiddenSize;
  const img0 = g.input('img', [B * Li, cfg.inChannels], 'f16');
  const txt0 = g.input('txt', [B * Lt, cfg.contextInDim], 'f16');
  const pooled = g.input('pooled', [B, cfg.pooledDim], 'f16');
  const tEmb = g.input('t_emb', [B, cfg.timeEmbedDim], 'f16');
  const gEmb = cfg.guidanceEmbed ? g.input('g_emb', [B, cfg.timeEmbedDim], 'f16') : null;
  // vec = time_in(t) [+ guidance_in(g)] + vector_in(pooled), accumulated in f32 through the residual epilogue.
  const embed = (x: Tensor, prefix: string, residual?: Tensor) =>
    g.scope(prefix, () => mlpEmbedder(g, x, lw(`${prefix}.in_layer`, D, x.last), lw(`${prefix}.out_layer`, D, D), residual));
  let vec = embed(tEmb, 'time_in'); // [B, D] f32
  if (gEmb) vec = embed(gEmb, 'guidance_in', vec);
  vec = embed(pooled, 'vector_in', vec);
  // Every Modulation/adaLN projection reads silu(vec).
  const vecAct = silu(g, vec, { dtype: 'f16', name: 'vec_silu' });
  // Batch B: every token-wise op runs over B*rows rows, element-major; modulation/gates are [B, chunks*D] and each
  // row reads its element's vector (rowsPerBatch = rows / B inside linear() and layerNormModulate()).
  const img = linear(g, img0, W('img_in.weight', [D, cfg.inChannels]), { bias: W('img_in.bias', [D]), dtype: 'f32', name: 'img_in' }); // [B*Li, D] f32
  const txt = linear(g, txt0, W('txt_in.weight', [D, cfg.contextInDim]), { bias: W('txt_in.bias', [D]), dtype: 'f32', name: 'txt_in' }); // [B*Lt, D] f32
  return { img, txt, vecAct };
}

/** double_blocks.i on the residual streams img [B*Li, D] f32 and txt [B*Lt, D] f32 (new tensors returned). */
export function fluxDoubleBlock(b: FluxBuilder, i: number, img: Tensor, txt: Tensor, vecAct: Tensor): { img: Tensor; txt: Tensor } {
  const { g, cfg, B, Lt, Li, L, W, lw, opts } = b;
  const D = cfg.hiddenSize, H = cfg.numHeads, M = cfg.mlpHidden, hd = cfg.headDim;
  const p = `double_blocks.${i}`;
  return g.scope(p, () => {
    const imgMod = adaLnModulation(g, vecAct, lw(`${p}.img_mod.lin`, 6 * D, D)); // [B, 6D] f32
    const txtMod = adaLnModulation(g, vecAct, lw(`${p}.txt_mod.lin`, 6 * D, D));
    const imgX = layerNormModulate(g, img, imgMod, { shiftChunk: 0, scaleChunk: 1, name: 'img_norm1' });
    const txtX = layerNormModulate(g, txt, txtMod, { shiftChunk: 0, scaleChunk: 1, name: 'txt_norm1' });
    const imgQkv = lw(`${p}.img_attn.qkv`, 3 * D, D, cfg.qkvBias);
    const txtQkv = lw(`${p}.txt_attn.qkv`, 3 * D, D, cfg.qkvBias);
    const imgQ = linear(g, imgX, imgQkv.w, { bias: imgQkv.b, name: 'img_qkv' }); // [B*Li, 3D] f16
    const txtQ = linear(g, txtX, txtQkv.w, { bias: txtQkv.b, name: 'txt_qkv' }); // [B*Lt, 3D] f16
    // Joint sequence: text rows [0, Lt), image rows [Lt, L).
    const attnRows = jointAttention(g, [
      { qkv: txtQ, len: Lt, qNorm: W(`${p}.txt_attn.norm.query_norm.scale`, [hd]), kNorm: W(`${p}.txt_attn.norm.key_norm.scale`, [hd]), name: 'txt_qkv_prep' },
      { qkv: imgQ, len: Li, qNorm: W(`${p}.img_attn.norm.query_norm.scale`, [hd]), kNorm: W(`${p}.img_attn.norm.key_norm.scale`, [hd]), name: 'img_qkv_prep' },
    ], { batch: B, heads: H, rope: b.rope(), attend: opts.attend }); // [B*L, D] f16 (per element: text, then image)
    const txtAttn = gatherRows(g, attnRows, B, L, 0, Lt, 'txt_attn'); // [B*Lt, D] f16
    const imgAttn = gatherRows(g, attnRows, B, L, Lt, Li, 'img_attn'); // [B*Li, D] f16
    let imgOut = linear(g, imgAttn, W(`${p}.img_attn.proj.weight`, [D, D]), { bias: W(`${p}.img_attn.proj.bias`, [D]), residual: img, gate: { mod: imgMod, chunk: 2 }, name: 'img_proj' });
    let txtOut = linear(g, txtAttn, W(`${p}.txt_attn.proj.weight`, [D, D]), { bias: W(`${p}.txt_attn.proj.bias`, [D]), residual: txt, gate: { mod: txtMod, chunk: 2 }, name: 'txt_proj' });
    const mlp = (s: 'img' | 'txt', x: Tensor, mod: Tensor) =>
      gatedMlp(g, x, mod, lw(`${p}.${s}_mlp.0`, M, D), lw(`${p}.${s}_mlp.2`, D, M), { shift: 3, scale: 4, gate: 5 }, { norm: `${s}_norm2`, fc1: `${s}_mlp_in`, fc2: `${s}_mlp_out` });
    imgOut = mlp('img', imgOut, imgMod);
    txtOut = mlp('txt', txtOut, txtMod);
    return { img: imgOut, txt: txtOut };
  });
}

/** The joint stream: concat(txt, img) per element, every single block, then the image rows [B*Li, D] f32. */
export function fluxSingleStream(b: FluxBuilder, img: Tensor, txt: Tensor, vecAct: Tensor): Tensor {
  const { g, cfg, B, Lt, Li, L, W, opts } = b;
  const D = cfg.hiddenSize, H = cfg.numHeads, M = cfg.mlpHidden, hd = cfg.headDim;
  // Joint stream, element-major: element b holds rows [b*L, b*L + Lt) text, then [b*L + Lt, (b+1)*L) image.
  const jointParts: Tensor[] = [];
  for (let e = 0; e < B; e++) {
    jointParts.push(B === 1 ? txt : g.sliceRows(txt, e * Lt, Lt), B === 1 ? img : g.sliceRows(img, e * Li, Li));
  }
  let x = g.concatRows(jointParts, 'joint'); // [B*L, D] f32
  for (let i = 0; i < cfg.singleBlocks; i++) {
    const p = `single_blocks.${i}`;
    g.scope(p, () => {
      const mod = adaLnModulation(g, vecAct, b.lw(`${p}.modulation.lin`, 3 * D, D)); // [B, 3D] f32
      const xm = layerNormModulate(g, x, mod, { shiftChunk: 0, scaleChunk: 1, name: 'pre_norm' });
      // linear1 = [qkv (3D rows); mlp_in (M rows)]: two matmuls over row views of the one weight, so the MLP half
      // gets its GELU fused and no column split of the output is needed.
      const w1 = W(`${p}.linear1.weight`, [3 * D + M, D]);
      const b1 = W(`${p}.linear1.bias`, [3 * D + M]);
      const qkvOut = linear(g, xm, g.sliceRows(w1, 0, 3 * D), { bias: g.sliceRows(b1, 0, 3 * D), name: 'qkv' }); // [L, 3D] f16
      // The MLP input does not depend on attention: recorded inside it (`overlap`), so under sequence parallelism
      // it runs while q/k/v travel between GPUs.
      let mlpOut: Tensor | undefined;
      const mlpIn = () => {
        mlpOut = linear(g, xm, g.sliceRows(w1, 3 * D, M), { bias: g.sliceRows(b1, 3 * D, M), activation: 'gelu_tanh', name: 'mlp_in' }); // [L, M] f16
      };
      const attn = jointAttention(g, [
        { qkv: qkvOut, len: L, qNorm: W(`${p}.norm.query_norm.scale`, [hd]), kNorm: W(`${p}.norm.key_norm.scale`, [hd]), name: 'qkv_prep' },
      ], { batch: B, heads: H, rope: b.rope(), attend: opts.attend, overlap: mlpIn }); // [L, D] f16
      if (!mlpOut) throw new Error(`${p}: the attention op did not record the MLP input (an AttendFn must call overlap once)`);
      // linear2 over [attn | mlp] [L, D + M]: concatenated in f16, or (W8A8) quantized straight from the two parts.
      x = linearOfColumns(g, [attn, mlpOut], W(`${p}.linear2.weight`, [D, D + M]), { bias: W(`${p}.linear2.bias`, [D]), residual: x, gate: { mod, chunk: 2 }, name: 'linear2', concatName: 'attn_mlp' });
    });
  }
  return gatherRows(g, x, B, L, Lt, Li, 'img_tokens'); // [B*Li, D] f32
}

/** final_layer: adaLN modulation, LayerNorm and the output projection: image rows [B*Li, D] f32 -> velocity [B*Li, outChannels] f32. */
export function fluxFinalLayer(b: FluxBuilder, imgOut: Tensor, vecAct: Tensor): Tensor {
  const D = b.cfg.hiddenSize;
  return modulatedOutput(b.g, imgOut, vecAct, b.lw('final_layer.adaLN_modulation.1', 2 * D, D), b.lw('final_layer.linear', b.cfg.outChannels, D),
    { shift: 0, scale: 1 }, { mod: 'final_mod', norm: 'final_norm', out: 'final_linear' });
}

/** Builds the graph of one FLUX forward step. Inputs: img, txt, pooled, t_emb, [g_emb]; output: velocity. */
export function buildFluxGraph(cfg: FluxConfig, shape: FluxShape, opts: DitGraphOptions = {}): Graph {
  const b = fluxBuilder(cfg, shape, opts);
  const e = fluxEmbed(b);
  let { img, txt } = e;
  for (let i = 0; i < cfg.doubleBlocks; i++) ({ img, txt } = fluxDoubleBlock(b, i, img, txt, e.vecAct));
  const imgOut = fluxSingleStream(b, img, txt, e.vecAct);
  b.g.output('velocity', fluxFinalLayer(b, imgOut, e.vecAct)); // [B*Li, outChannels] f32
  return b.g;
}

/** A compiled FLUX step for one shape: set inputs, run, read the velocity. */
export class FluxTransformer {
  private constructor(readonly cfg: FluxConfig, readonly shape: FluxShape, readonly plan: Plan) {}

  static async create(ctx: GpuContext, weights: WeightStore, cfg: FluxConfig, shape: FluxShape, opts: DitGraphOptions = {}): Promise<FluxTransformer> {
    const plan = await compile(ctx, buildFluxGraph(cfg, shape, opts), weights);
    return new FluxTransformer(cfg, shape, plan);
  }

  /** Uploads one step's inputs (host arrays) and the timestep/guidance embeddings. */
  setInputs(inp: FluxStepInputs): void {
    this.plan.setInput('img', inp.img);
    this.plan.setInput('txt', inp.txt);
    this.plan.setInput('pooled', inp.pooled);
    this.setTimestep(inp.timesteps, inp.guidance);
  }

  /** One step input (host array): packed latents, T5 states or the pooled vector (what setInputs sets, one at a time). */
  setInput(name: 'img' | 'txt' | 'pooled', data: ArrayLike<number>): void {
    this.plan.setInput(name, data);
  }

  /** Per-step scalars only (the sampler keeps img on the GPU and changes t each step). */
  setTimestep(timesteps: readonly number[], guidance?: readonly number[]): void {
    setFluxStepScalars(this.plan, this.cfg, this.shape.batch, timesteps, guidance);
  }

  async forward(inp: FluxStepInputs): Promise<Float32Array> {
    this.setInputs(inp);
    await this.plan.run();
    return this.plan.readOutput('velocity');
  }

  destroy(): void {
    this.plan.destroy();
  }
}

/**
 * The step's scalar inputs of a FLUX graph (or of the first-block cache's head): t_emb from the timesteps and, for
 * guidance-distilled checkpoints, g_emb from the guidance values, one per batch element.
 */
export function setFluxStepScalars(plan: Plan, cfg: FluxConfig, batch: number, timesteps: readonly number[], guidance?: readonly number[]): void {
  if (timesteps.length !== batch) throw new Error(`FLUX: ${timesteps.length} timesteps for batch ${batch}`);
  plan.setInput('t_emb', sinusoidalEmbedding(timesteps, cfg.timeEmbedDim, { timeFactor: FLUX_TIME_FACTOR }));
  if (cfg.guidanceEmbed) {
    if (!guidance || guidance.length !== batch) {
      throw new Error('FLUX.1-dev needs a guidance value per image (e.g. 3.5): this checkpoint has a guidance embedding');
    }
    plan.setInput('g_emb', sinusoidalEmbedding(guidance, cfg.timeEmbedDim, { timeFactor: FLUX_TIME_FACTOR }));
  }
}

/**
 * Rows [start, start + count) of every batch element of an element-major x [B*L, C] -> [B*count, C]. Batch 1 is a
 * row slice (a view when aligned); batch > 1 copies each element's rows next to each other.
 */
function gatherRows(g: Graph, x: Tensor, B: number, L: number, start: number, count: number, name: string): Tensor {
  if (B === 1) return g.sliceRows(x, start, count, name);
  const parts: Tensor[] = [];
  for (let b = 0; b < B; b++) parts.push(g.sliceRows(x, b * L + start, count));
  return g.concatRows(parts, name);
}
