// Building blocks shared by the DiT families (FLUX, SD3) and available to the encoders and VAE: adaLN-zero
// modulation, the gated MLP, MLP embedders, the joint (multi-stream) attention and the modulated final layer.
// Each is a few graph ops; the blocks only name the pattern, so a family's graph reads as its architecture.
//
// Precision classes (docs/graph.md): residual streams and modulation vectors f32; everything that feeds a
// matmul or attention f16 with f32 accumulation.
import type { Graph } from '../../graph/graph.js';
import { attention, qkvPrep, type Qkv } from '../../graph/ops/attention.js';
import { linear } from '../../graph/ops/matmul.js';
import { layerNormModulate } from '../../graph/ops/norm.js';
import type { Tensor } from '../../graph/tensor.js';

/** A linear layer's weights in the graph (bias optional). */
export interface LinearWeights {
  w: Tensor;
  b?: Tensor;
}

/**
 * How attention over a joint sequence is computed: q/k/v [B, H, L, D] f16 -> [B, L, H*D] f16 (token-major).
 * The default is one fused attention op; sequence parallelism (src/parallel/) passes its own.
 */
export type AttendFn = (g: Graph, q: Tensor, k: Tensor, v: Tensor, name: string, overlap?: () => void) => Tensor;
// `overlap` records work that does not depend on the attention (FLUX's single-block MLP input): an AttendFn calls
// it exactly once, where that work can run while its own transfers are in flight (sequence parallelism).

export const plainAttention: AttendFn = (g, q, k, v, name, overlap) => {
  overlap?.();
  return attention(g, q, k, v, { name }).out;
};

/** Options every DiT graph builder takes besides config and shape. */
export interface DitGraphOptions {
  /** Replaces the attention op (default plainAttention). */
  attend?: AttendFn;
  /**
   * Sequence parallelism: the rows of the text and image sequences this graph holds (default: all). Inputs,
   * position tables and the output cover only these rows; `attend` must then see the other ranks' tokens.
   */
  tokens?: { text: { start: number; count: number }; image: { start: number; count: number } };
  /**
   * W8A8 linears (off by default): the model's choice of linears runs int8 x int8 with per-token activation and
   * per-output-feature weight scales (graph.int8Weight, kernels-wgsl/quantize-i8.ts). Faster where the adapter has
   * int8 tensor cores, at a measured quality cost (docs/int8.md).
   */
  int8?: boolean;
}

/** adaLN-zero modulation: silu(cond) [B, C] -> [B, chunks * D] f32 (shift/scale/gate vectors, chunk-major). */
export function adaLnModulation(g: Graph, condAct: Tensor, lin: LinearWeights, name = 'mod'): Tensor {
  return linear(g, condAct, lin.w, { bias: lin.b, dtype: 'f32', name }); // [B, chunks * D]
}

/**
 * Gated MLP of an adaLN-zero block, on the residual stream x [rows, D] f32:
 *   x + gate * fc2(gelu_tanh(fc1(LN(x) * (1 + scale) + shift)))
 * with shift/scale/gate the given chunks of `mod`. The residual add is the second matmul's epilogue.
 */
export function gatedMlp(
  g: Graph, x: Tensor, mod: Tensor, fc1: LinearWeights, fc2: LinearWeights,
  chunks: { shift: number; scale: number; gate: number }, names: { norm: string; fc1: string; fc2: string },
): Tensor {
  const xm = layerNormModulate(g, x, mod, { shiftChunk: chunks.shift, scaleChunk: chunks.scale, name: names.norm }); // [rows, D] f16
  const h = linear(g, xm, fc1.w, { bias: fc1.b, activation: 'gelu_tanh', name: names.fc1 }); // [rows, M] f16
  return linear(g, h, fc2.w, { bias: fc2.b, residual: x, gate: { mod, chunk: chunks.gate }, name: names.fc2 }); // [rows, D] f32
}

/**
 * Two-layer MLP embedder fc2(silu(fc1(x))) (timestep, guidance and pooled-text embedders). With `residual` the
 * result is added to it (f32 accumulation of several embeddings); otherwise it is f32.
 */
export function mlpEmbedder(g: Graph, x: Tensor, fc1: LinearWeights, fc2: LinearWeights, residual?: Tensor, name?: string): Tensor {
  const h = linear(g, x, fc1.w, { bias: fc1.b, activation: 'silu', name: name && `${name}.fc1` }); // [B, D] f16
  return linear(g, h, fc2.w, { bias: fc2.b, ...(residual ? { residual } : { dtype: 'f32' as const }), name: name && `${name}.fc2` }); // [B, D] f32
}

/** One stream of a joint attention: its fused QKV projection output and per-head QK RMSNorm scales. */
export interface JointStream {
  /** [B * len, 3 * H * D] f16: q | k | v, each (H, D). */
  qkv: Tensor;
  len: number;
  qNorm?: Tensor;
  kNorm?: Tensor;
  /** Name of this stream's qkv_prep op. */
  name: string;
}

/**
 * Joint attention (MMDiT): the streams' tokens are concatenated in the given order into one sequence; each
 * stream's q/k get its own QK-norm, then RoPE at its rows of the joint sequence (when `rope` is given); one
 * attention over all L = sum(len) tokens. Returns the attention output rows [B * L, H * D] f16, stream after
 * stream (slice them with g.sliceRows).
 */
export function jointAttention(
  g: Graph, streams: readonly JointStream[],
  opts: { batch: number; heads: number; rope?: { cos: Tensor; sin: Tensor }; attend?: AttendFn; name?: string; overlap?: () => void },
): Tensor {
  const B = opts.batch;
  const L = streams.reduce((a, s) => a + s.len, 0);
  let qkv: Qkv | undefined;
  let at = 0;
  for (const s of streams) {
    const x = g.reshape(s.qkv, [B, s.len, s.qkv.last]); // [B, len, 3HD]
    const norms = s.qNorm && s.kNorm ? { qNorm: s.qNorm, kNorm: s.kNorm } : {};
    const rope = opts.rope ? { rope: opts.rope } : {};
    if (streams.length === 1) qkv = qkvPrep(g, x, { heads: opts.heads, ...rope, ...norms, name: s.name });
    else if (!qkv) qkv = qkvPrep(g, x, { heads: opts.heads, totalLen: L, seqOffset: 0, ...rope, ...norms, name: s.name }); // q/k/v [B, H, L, D]
    else qkv = qkvPrep(g, x, { heads: opts.heads, into: qkv, seqOffset: at, ...rope, ...norms, name: s.name });
    at += s.len;
  }
  if (!qkv) throw new Error('jointAttention: no streams');
  const out = (opts.attend ?? plainAttention)(g, qkv.q, qkv.k, qkv.v, opts.name ?? 'attn', opts.overlap); // [B, L, HD]
  return g.reshape(out, [B * L, out.last]);
}

/**
 * The modulated output layer: LN(x) * (1 + scale) + shift with (shift, scale) from silu(cond), then a linear to
 * the output channels, f32.
 */
export function modulatedOutput(
  g: Graph, x: Tensor, condAct: Tensor, mod: LinearWeights, out: LinearWeights,
  chunks: { shift: number; scale: number }, names: { mod: string; norm: string; out: string },
): Tensor {
  const m = linear(g, condAct, mod.w, { bias: mod.b, dtype: 'f32', name: names.mod }); // [B, 2D] f32
  const xm = layerNormModulate(g, x, m, { shiftChunk: chunks.shift, scaleChunk: chunks.scale, name: names.norm }); // [rows, D] f16
  return linear(g, xm, out.w, { bias: out.b, dtype: 'f32', name: names.out }); // [rows, out] f32
}
