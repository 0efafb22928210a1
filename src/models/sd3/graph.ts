// The SD3 / SD3.5 MMDiT transformer (diffusers SD3Transformer2DModel: transformer_sd3.py, attention.py
// JointTransformerBlock, attention_processor.py JointAttnProcessor2_0, normalization.py AdaLayerNormZero /
// SD35AdaLayerNormZeroX / AdaLayerNormContinuous, embeddings.py PatchEmbed / CombinedTimestepTextProjEmbeddings)
// as an op graph. Weight names: diffusers', with Q/K/V fused at load time (weights.ts).
//
// Precision as in FLUX: residual streams and modulation vectors f32; matmul/attention inputs f16.
import type { GpuContext } from '../../gpu/context.js';
import { compile, type Plan } from '../../graph/executor.js';
import { Graph } from '../../graph/graph.js';
import { silu } from '../../graph/ops/elementwise.js';
import { linear } from '../../graph/ops/matmul.js';
import { layerNormModulate } from '../../graph/ops/norm.js';
import type { Tensor } from '../../graph/tensor.js';
import type { WeightStore } from '../../graph/weights.js';
import { adaLnModulation, type DitGraphOptions, gatedMlp, jointAttention, type LinearWeights, mlpEmbedder, modulatedOutput } from '../common/dit-blocks.js';
import { sinusoidalEmbedding } from '../common/timestep.js';
import type { Sd3Config } from './config.js';
import { sd3PosEmbed } from './pos-embed.js';

export interface Sd3Shape {
  batch: number;
  /** Text tokens (77 CLIP + 256 T5 = 333 in the SD3 pipeline). */
  txtTokens: number;
  /** Patch grid: latent size / patch (64x64 at 1024²). */
  gridH: number;
  gridW: number;
}

export interface Sd3StepInputs {
  /** Patchified latents [B, gridH*gridW, inChannels*patch*patch], features in (c, kh, kw) order. */
  latents: ArrayLike<number>;
  /** Joint text hidden states [B, txtTokens, jointAttentionDim]. */
  context: ArrayLike<number>;
  /** Pooled CLIP-L + CLIP-G [B, pooledDim]. */
  pooled: ArrayLike<number>;
  /** Per batch element, in [0, 1] (sigma); the embedding sees sigma * 1000 as in the diffusers pipeline. */
  timesteps: readonly number[];
}

export const SD3_TIME_FACTOR = 1000;

/** Builds the graph of one SD3/SD3.5 forward step. Inputs: latents (patchified), context, pooled, t_emb; output: velocity. */
export function buildSd3Graph(cfg: Sd3Config, shape: Sd3Shape, opts: DitGraphOptions = {}): Graph {
  const { batch: B, gridH, gridW } = shape;
  // Sequence parallelism: this graph holds context rows `tok.text` and image rows `tok.image` (default: all).
  const tok = opts.tokens ?? { text: { start: 0, count: shape.txtTokens }, image: { start: 0, count: gridH * gridW } };
  const Lc = tok.text.count;
  if (B !== 1) throw new Error(`SD3 graph: batch ${B} is not supported yet; run the conditional and unconditional passes as two batch-1 steps`);
  const N = tok.image.count;
  const D = cfg.hiddenSize;
  const H = cfg.numHeads;
  const hd = cfg.headDim;
  const M = cfg.mlpHidden;
  const P = cfg.patchSize;
  const g = new Graph(`sd3-${gridH}x${gridW}-t${Lc}`);
  const W = (name: string, s: number[]) => g.weight(name, s, 'f16');
  /** nn.Linear `prefix` [nOut, nIn] with bias. */
  const lw = (prefix: string, nOut: number, nIn: number): LinearWeights => ({ w: W(`${prefix}.weight`, [nOut, nIn]), b: W(`${prefix}.bias`, [nOut]) });
  const lin = (x: Tensor, prefix: string, nOut: number, o: Parameters<typeof linear>[3] = {}) => {
    const l = lw(prefix, nOut, x.last);
    return linear(g, x, l.w, { bias: l.b, ...o });
  };

  const patches = g.input('latents', [B * N, cfg.inChannels * P * P], 'f16');
  const ctxIn = g.input('context', [B * Lc, cfg.jointAttentionDim], 'f16');
  const pooled = g.input('pooled', [B, cfg.pooledDim], 'f16');
  const tEmb = g.input('t_emb', [B, cfg.timeEmbedDim], 'f16');

  const baseSize = cfg.sampleSize / P;
  const pos = g.constant('pos_embed', sd3PosEmbed(D, gridH, gridW, cfg.posEmbedMaxSize, baseSize).slice(tok.image.start * D, (tok.image.start + N) * D), [B * N, D], 'f32');
  // PatchEmbed's stride-P conv is a linear over patchified tokens (weight [D, C, P, P] read as [D, C*P*P]).
  const projW = g.reshape(W('pos_embed.proj.weight', [D, cfg.inChannels, P, P]), [D, cfg.inChannels * P * P]);
  let x = linear(g, patches, projW, { bias: W('pos_embed.proj.bias', [D]), residual: pos, name: 'patch_embed' }); // [N, D] f32
  let c: Tensor | null = lin(ctxIn, 'context_embedder', D, { dtype: 'f32' }); // [Lc, D] f32

  // temb = timestep_embedder(t) + text_embedder(pooled), f32.
  const temb = g.scope('time_text_embed', () => {
    const te = mlpEmbedder(g, tEmb, lw('time_text_embed.timestep_embedder.linear_1', D, tEmb.last), lw('time_text_embed.timestep_embedder.linear_2', D, D));
    return mlpEmbedder(g, pooled, lw('time_text_embed.text_embedder.linear_1', D, pooled.last), lw('time_text_embed.text_embedder.linear_2', D, D), te);
  }); // [B, D] f32
  const tembAct = silu(g, temb, { dtype: 'f16', name: 'temb_silu' });
  const qkNorm = (prefix: string) => (cfg.qkNorm ? { qNorm: W(`${prefix}.weight`.replace('#', 'q'), [hd]), kNorm: W(`${prefix}.weight`.replace('#', 'k'), [hd]) } : {});

  for (let i = 0; i < cfg.numLayers; i++) {
    const p = `transformer_blocks.${i}`;
    const last = i === cfg.numLayers - 1;
    const dual = cfg.dualAttentionLayers.includes(i);
    g.scope(p, () => {
      const mod = adaLnModulation(g, tembAct, lw(`${p}.norm1.linear`, (dual ? 9 : 6) * D, D)); // [B, 6D or 9D] f32
      // The context_pre_only last block uses AdaLayerNormContinuous: chunks [scale, shift].
      const cmod = adaLnModulation(g, tembAct, lw(`${p}.norm1_context.linear`, (last ? 2 : 6) * D, D), 'cmod');
      const xn = layerNormModulate(g, x, mod, { shiftChunk: 0, scaleChunk: 1, name: 'norm1' });
      const cn = layerNormModulate(g, c!, cmod, last ? { shiftChunk: 1, scaleChunk: 0, name: 'norm1_context' } : { shiftChunk: 0, scaleChunk: 1, name: 'norm1_context' });
      const xq = lin(xn, `${p}.attn.to_qkv`, 3 * D, { name: 'to_qkv' }); // [N, 3D] f16
      const cq = lin(cn, `${p}.attn.to_added_qkv`, 3 * D, { name: 'to_added_qkv' }); // [Lc, 3D] f16
      // Joint sequence: image rows [0, N), context rows [N, N + Lc) (JointAttnProcessor2_0 concatenates image first).
      const rows = jointAttention(g, [
        { qkv: xq, len: N, ...qkNorm(`${p}.attn.norm_#`), name: 'img_qkv_prep' },
        { qkv: cq, len: Lc, ...qkNorm(`${p}.attn.norm_added_#`), name: 'ctx_qkv_prep' },
      ], { batch: B, heads: H, attend: opts.attend }); // [N + Lc, D] f16
      const xAttn = g.sliceRows(rows, 0, N, 'img_attn');
      const xPrev = x;
      x = lin(xAttn, `${p}.attn.to_out.0`, D, { residual: x, gate: { mod, chunk: 2 }, name: 'to_out' });
      if (dual) {
        // SD3.5: a second, image-only attention on the same pre-norm input with its own modulation (chunks 6..8).
        const xn2 = layerNormModulate(g, xPrev, mod, { shiftChunk: 6, scaleChunk: 7, name: 'norm1_attn2' });
        const q2 = lin(xn2, `${p}.attn2.to_qkv`, 3 * D, { name: 'attn2_qkv' });
        const a2 = jointAttention(g, [{ qkv: q2, len: N, ...qkNorm(`${p}.attn2.norm_#`), name: 'attn2_prep' }], { batch: B, heads: H, attend: opts.attend, name: 'attn2' });
        x = lin(a2, `${p}.attn2.to_out.0`, D, { residual: x, gate: { mod, chunk: 8 }, name: 'attn2_out' });
      }
      x = gatedMlp(g, x, mod, lw(`${p}.ff.net.0.proj`, M, D), lw(`${p}.ff.net.2`, D, M), { shift: 3, scale: 4, gate: 5 }, { norm: 'norm2', fc1: 'ff_in', fc2: 'ff_out' });
      if (last) {
        c = null; // context_pre_only: the context stream ends here
      } else {
        const cAttn = g.sliceRows(rows, N, Lc, 'ctx_attn');
        const cc = lin(cAttn, `${p}.attn.to_add_out`, D, { residual: c!, gate: { mod: cmod, chunk: 2 }, name: 'to_add_out' });
        c = gatedMlp(g, cc, cmod, lw(`${p}.ff_context.net.0.proj`, M, D), lw(`${p}.ff_context.net.2`, D, M), { shift: 3, scale: 4, gate: 5 }, { norm: 'norm2_context', fc1: 'ff_context_in', fc2: 'ff_context_out' });
      }
    });
  }
  // norm_out: AdaLayerNormContinuous, chunks [scale, shift]; proj_out gives (p, q, c)-ordered patch features.
  const v = modulatedOutput(g, x, tembAct, lw('norm_out.linear', 2 * D, D), lw('proj_out', P * P * cfg.outChannels, D),
    { shift: 1, scale: 0 }, { mod: 'norm_out_mod', norm: 'norm_out', out: 'proj_out' }); // [N, P*P*outChannels] f32
  g.output('velocity', v);
  return g;
}

export class Sd3Transformer {
  private constructor(readonly cfg: Sd3Config, readonly shape: Sd3Shape, readonly plan: Plan) {}

  static async create(ctx: GpuContext, weights: WeightStore, cfg: Sd3Config, shape: Sd3Shape, opts: DitGraphOptions = {}): Promise<Sd3Transformer> {
    return new Sd3Transformer(cfg, shape, await compile(ctx, buildSd3Graph(cfg, shape, opts), weights));
  }

  setTimestep(timesteps: readonly number[]): void {
    if (timesteps.length !== this.shape.batch) throw new Error(`SD3: ${timesteps.length} timesteps for batch ${this.shape.batch}`);
    this.plan.setInput('t_emb', sinusoidalEmbedding(timesteps, this.cfg.timeEmbedDim, { timeFactor: SD3_TIME_FACTOR }));
  }

  async forward(inp: Sd3StepInputs): Promise<Float32Array> {
    this.plan.setInput('latents', inp.latents);
    this.plan.setInput('context', inp.context);
    this.plan.setInput('pooled', inp.pooled);
    this.setTimestep(inp.timesteps);
    await this.plan.run();
    return this.plan.readOutput('velocity');
  }

  destroy(): void {
    this.plan.destroy();
  }
}
