// Graph wrappers for the attention input preparation (qkv-prep.ts), RoPE (rope.ts) and fused attention
// (attention.ts).
import * as att from '../../kernels-wgsl/attention.js';
import type { DType } from '../../gpu/kernel.js';
import * as prep from '../../kernels-wgsl/qkv-prep.js';
import * as rope from '../../kernels-wgsl/rope.js';
import { expectDtype, expectRank, expectShapeIs, fail, type Graph, mayOverwrite, type OpOptions, type Tensor } from './common.js';
import type { InPlaceHint } from '../graph.js';

export interface Qkv {
  q: Tensor;
  k: Tensor;
  v: Tensor;
}

export interface QkvPrepOptions extends OpOptions {
  heads: number;
  /** Write rows seqOffset.. of these existing [B, H, Ltotal, D] tensors (joint attention: a second stream). */
  into?: Qkv;
  /** Total sequence length of fresh q/k/v (default: this stream's L). Ignored with `into`. */
  totalLen?: number;
  seqOffset?: number;
  qNorm?: Tensor;
  kNorm?: Tensor;
  /** RoPE tables [Ltotal, D/2] f32. */
  rope?: { cos: Tensor; sin: Tensor };
  eps?: number;
  dtype?: DType;
}

/**
 * Fused QKV [B, L, 3*H*D] (or separate q/k/v [B, L, H*D]) -> q, k, v [B, H, Ltotal, D] with optional per-head
 * RMSNorm and RoPE. With `into`, the result is the same storage with more rows filled (required in place).
 */
export function qkvPrep(g: Graph, input: Tensor | Qkv, opts: QkvPrepOptions): Qkv {
  const label = g.nextLabel('qkv_prep', opts.name);
  const fused = input instanceof Object && 'shape' in input;
  const first = fused ? (input as Tensor) : (input as Qkv).q;
  expectRank(label, fused ? 'qkv' : 'q input', first, 3);
  const [B, L, W] = first.shape;
  const H = opts.heads;
  const HD = fused ? W / 3 : W;
  if (!Number.isInteger(H) || H < 1 || !Number.isInteger(HD / H) || (fused && W % 3 !== 0)) {
    fail(label, `${first.describe()} last dim ${W} is not ${fused ? '3 * ' : ''}heads(${H}) * D`);
  }
  const D = HD / H;
  if (D % 2 !== 0) fail(label, `head dim ${D} must be even`);
  if (!fused) for (const t of [(input as Qkv).k, (input as Qkv).v]) expectShapeIs(label, 'k/v input', t, first.shape);
  const seqOffset = opts.seqOffset ?? 0;
  const Ltot = opts.into ? opts.into.q.shape[2] : (opts.totalLen ?? L);
  if (!Number.isInteger(seqOffset) || seqOffset < 0 || seqOffset + L > Ltot) fail(label, `rows [${seqOffset}, ${seqOffset + L}) exceed the joint length ${Ltot}`);
  const dstShape = [B, H, Ltot, D];
  if (opts.into) for (const t of [opts.into.q, opts.into.k, opts.into.v]) expectShapeIs(label, 'into', t, dstShape);
  if (opts.qNorm) expectShapeIs(label, 'qNorm', opts.qNorm, [D]);
  if (opts.kNorm) expectShapeIs(label, 'kNorm', opts.kNorm, [D]);
  if (opts.rope) {
    expectShapeIs(label, 'rope cos', opts.rope.cos, [Ltot, D / 2]);
    expectShapeIs(label, 'rope sin', opts.rope.sin, [Ltot, D / 2]);
    expectDtype(label, 'rope cos', opts.rope.cos, 'f32');
  }
  const dtype = opts.into?.q.dtype ?? opts.dtype ?? 'f16';
  const ins = fused ? [input as Tensor] : [(input as Qkv).q, (input as Qkv).k, (input as Qkv).v];
  const into = opts.into;
  const inPlace: InPlaceHint[] = into ? [into.q, into.k, into.v].map((t, i) => ({ output: i, input: t, required: true })) : [];
  const outs = g.op({
    kind: 'qkv_prep',
    name: opts.name ?? 'qkv_prep',
    inputs: [...ins, ...(into ? [into.q, into.k, into.v] : []), opts.qNorm, opts.kNorm, opts.rope?.cos, opts.rope?.sin],
    outputs: ['q', 'k', 'v'].map((n) => ({ shape: dstShape, dtype, name: opts.name ? `${opts.name}.${n}` : undefined })),
    inPlace,
    exec: {
      type: 'kernel',
      launch: (ctx, view) => {
        const common = {
          q: view(outs[0]), k: view(outs[1]), v: view(outs[2]), seqOffset,
          qNormWeight: opts.qNorm && view(opts.qNorm), kNormWeight: opts.kNorm && view(opts.kNorm),
          ropeCos: opts.rope && view(opts.rope.cos), ropeSin: opts.rope && view(opts.rope.sin), eps: opts.eps,
        };
        return fused
          ? prep.qkvPrep(ctx, { ...common, qkv: view(input as Tensor) })
          : prep.qkvPrepSeparate(ctx, { ...common, qIn: view((input as Qkv).q), kIn: view((input as Qkv).k), vIn: view((input as Qkv).v) });
      },
    },
  });
  return { q: outs[0], k: outs[1], v: outs[2] };
}

/** FLUX RoPE on x [B, H, L, D] with tables [L, D/2] f32. */
export function applyRope(g: Graph, x: Tensor, cos: Tensor, sin: Tensor, opts: OpOptions = {}): Tensor {
  const label = g.nextLabel('rope', opts.name);
  expectRank(label, 'x', x, 4);
  const [, , L, D] = x.shape;
  expectShapeIs(label, 'cos', cos, [L, D / 2]);
  expectShapeIs(label, 'sin', sin, [L, D / 2]);
  const [out] = g.op({
    kind: 'rope',
    name: opts.name ?? 'rope',
    inputs: [x, cos, sin],
    outputs: [{ shape: x.shape, dtype: x.dtype, name: opts.name }],
    inPlace: mayOverwrite(x, x.shape, x.dtype),
    exec: { type: 'kernel', launch: (ctx, v) => rope.applyRope(ctx, { x: v(x), out: v(out), cos: v(cos), sin: v(sin) }) },
  });
  return out;
}

export interface AttentionOptions extends OpOptions {
  scale?: number;
  /** Additive f32 [H, Sq, Skv]. */
  bias?: Tensor;
  causal?: boolean;
  /** [B] u32 valid key counts. */
  kvLength?: Tensor;
  /** Also produce the f32 [B, H, Sq] log-sum-exp (for merging KV shards). */
  withLse?: boolean;
  path?: att.AttentionPathChoice;
}

/** softmax(scale q k^T + bias) v: q [B, H, Sq, D], k/v [B, H, Skv, D] -> out [B, Sq, H*D] f16 (token-major). */
export function attention(g: Graph, q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): { out: Tensor; lse?: Tensor } {
  const label = g.nextLabel('attention', opts.name);
  for (const [n, t] of [['q', q], ['k', k], ['v', v]] as const) {
    expectRank(label, n, t, 4);
    expectDtype(label, n, t, 'f16');
  }
  const [B, H, Sq, D] = q.shape;
  const Skv = k.shape[2];
  expectShapeIs(label, 'k', k, [B, H, Skv, D]);
  expectShapeIs(label, 'v', v, [B, H, Skv, D]);
  if (opts.bias) expectShapeIs(label, 'bias', opts.bias, [H, Sq, Skv]);
  if (opts.kvLength) {
    expectShapeIs(label, 'kvLength', opts.kvLength, [B]);
    expectDtype(label, 'kvLength', opts.kvLength, 'u32');
  }
  const outs = g.op({
    kind: 'attention',
    name: opts.name ?? 'attention',
    inputs: [q, k, v, opts.bias, opts.kvLength],
    outputs: [
      { shape: [B, Sq, H * D], dtype: 'f16', name: opts.name },
      ...(opts.withLse ? [{ shape: [B, H, Sq], dtype: 'f32' as DType, name: opts.name ? `${opts.name}.lse` : undefined }] : []),
    ],
    exec: {
      type: 'kernel',
      launch: (ctx, view) =>
        att.attentionCalls(ctx, {
          q: view(q), k: view(k), v: view(v), out: view(outs[0]), scale: opts.scale, bias: opts.bias && view(opts.bias),
          causal: opts.causal, kvLength: opts.kvLength && view(opts.kvLength), lse: opts.withLse ? view(outs[1]) : undefined,
          path: opts.path, label,
        }),
    },
  });
  return { out: outs[0], lse: outs[1] };
}
