// Attention composed from tensor-core GEMMs: per chunk of heads, S = scale * Q K^T (f32 scores), P = softmax(S)
// (f16), O = P V, then O is written token-major into out [B, Sq, H*D].
//
// Why this path exists: the fused flash-style tensor-core kernel (attention-subgroup-matrix.wgsl.ts) covers head
// dims 64 and 128 only, and the portable fused kernel runs at ~3 TFLOP/s on an H100. The GEMMs here run on the
// subgroup-matrix matmul (~150 TFLOP/s) for any head dim, so on tensor-core adapters this serves plain attention
// the fused kernel does not cover (the VAE's one head of D = 512). Measured on H100 at D = 128: 49 TFLOP/s at 4608
// tokens, against 133 for the fused kernel (bench/RESULTS.md).
// The score block is bounded, not the full matrix for all heads: heads are processed in chunks whose f32 scores fit
// a fixed budget, and the scratch (scores, probabilities, one chunk's output) is shared by every attention op on
// the device, since dispatches on one queue run in order.
import type { GpuContext } from '../gpu/context.js';
import type { KernelCall, TensorView } from '../gpu/kernel.js';
import { copyStrided } from './layout.js';
import { matmul } from './matmul.js';
import { softmax } from './softmax.js';

/** Bytes of f32 scores one chunk may hold (and never more than the adapter's storage-binding limit). */
export const COMPOSED_SCORE_BUDGET = 1 << 30;

export interface ComposedAttentionArgs {
  q: TensorView;
  k: TensorView;
  v: TensorView;
  out: TensorView;
  scale?: number;
  /** Overrides COMPOSED_SCORE_BUDGET (tests use it to force several head chunks). */
  scoreBudgetBytes?: number;
  /** GEMM path: 'auto' (tensor cores where present), or 'tiled' to exercise this composition on any adapter. */
  gemmPath?: 'auto' | 'tiled' | 'subgroup-matrix';
  label?: string;
}

/** Why the composed path cannot run these tensors, or null when it can. */
export function composedAttentionUnsupported(ctx: GpuContext, a: Pick<ComposedAttentionArgs, 'q' | 'k' | 'v'>): string | null {
  const Sq = a.q.shape[2];
  const Skv = a.k.shape[2];
  const align = ctx.caps.limits.minStorageBufferOffsetAlignment;
  if (Sq * Skv * 4 > ctx.caps.limits.maxStorageBufferBindingSize) return `one head's scores (${Sq}x${Skv} f32) exceed the storage-binding limit`;
  if ([a.q, a.k, a.v].some((t) => t.offset % align)) return 'q/k/v views are not aligned';
  return null;
}

export async function attentionComposed(ctx: GpuContext, a: ComposedAttentionArgs): Promise<KernelCall[]> {
  const [B, H, Sq, D] = a.q.shape;
  const Skv = a.k.shape[2];
  const why = composedAttentionUnsupported(ctx, a);
  if (why) throw new Error(`attention (composed): ${why}; use the fused kernel (path 'tiled')`);
  const scale = a.scale ?? 1 / Math.sqrt(D);
  const limit = ctx.caps.limits.maxStorageBufferBindingSize;
  const budget = Math.min(a.scoreBudgetBytes ?? COMPOSED_SCORE_BUDGET, limit);
  const perHead = Sq * Skv * 4;
  const hc = Math.max(1, Math.min(H, Math.floor(budget / perHead)));
  const scores = ctx.sharedBuffer('attention-composed:scores', hc * perHead);
  const probs = ctx.sharedBuffer('attention-composed:probs', hc * Sq * Skv * 2);
  const chunkOut = ctx.sharedBuffer('attention-composed:out', hc * Sq * D * 2);
  const gemm = a.gemmPath ?? 'auto';
  const calls: KernelCall[] = [];
  const align = ctx.caps.limits.minStorageBufferOffsetAlignment;
  // A chunk's q/k/v rows are bound in place when their byte offset is aligned (FLUX: always); otherwise (e.g. SD3's
  // 4429 tokens x 64) they are first copied into aligned scratch, a small cost next to the GEMMs.
  const staging = { q: ctx.sharedBuffer('attention-composed:q', hc * Sq * D * 2), k: ctx.sharedBuffer('attention-composed:k', hc * Skv * D * 2), v: ctx.sharedBuffer('attention-composed:v', hc * Skv * D * 2) };
  const slice = async (name: 'q' | 'k' | 'v', t: TensorView, b: number, h0: number, n: number, S: number): Promise<TensorView> => {
    const elems = (b * H + h0) * S * D;
    if ((t.offset + elems * 2) % align === 0) return { buffer: t.buffer, offset: t.offset + elems * 2, shape: [n, S, D], dtype: 'f16' };
    const dst: TensorView = { buffer: staging[name], offset: 0, shape: [n, S, D], dtype: 'f16' };
    calls.push(await copyStrided(ctx, { src: t, dst, shape: [n * S * D], srcStrides: [1], dstStrides: [1], srcOffsetElems: elems }, `attention-composed:stage-${name}`));
    return dst;
  };
  for (let b = 0; b < B; b++) {
    for (let h0 = 0; h0 < H; h0 += hc) {
      const n = Math.min(hc, H - h0);
      const s: TensorView = { buffer: scores, offset: 0, shape: [n, Sq, Skv], dtype: 'f32' };
      const p: TensorView = { buffer: probs, offset: 0, shape: [n, Sq, Skv], dtype: 'f16' };
      const o: TensorView = { buffer: chunkOut, offset: 0, shape: [n, Sq, D], dtype: 'f16' };
      const qs = await slice('q', a.q, b, h0, n, Sq);
      const ks = await slice('k', a.k, b, h0, n, Skv);
      calls.push(await matmul(ctx, { a: qs, b: ks, out: s, transposeB: true, alpha: scale, path: gemm, label: `${a.label ?? 'attention'}:qk` }));
      calls.push(await softmax(ctx, { x: { ...s, shape: [n * Sq, Skv] }, out: { ...p, shape: [n * Sq, Skv] } }));
      const vs = await slice('v', a.v, b, h0, n, Skv);
      calls.push(await matmul(ctx, { a: p, b: vs, out: o, path: gemm, label: `${a.label ?? 'attention'}:pv` }));
      // o[j, s, d] -> out[b, s, (h0 + j) * D + d]
      calls.push(await copyStrided(ctx, {
        src: o, dst: a.out, shape: [n, Sq, D], srcStrides: [Sq * D, D, 1], dstStrides: [D, H * D, 1],
        srcOffsetElems: 0, dstOffsetElems: b * Sq * H * D + h0 * D,
      }, 'attention-composed:merge-heads'));
    }
  }
  return calls;
}
