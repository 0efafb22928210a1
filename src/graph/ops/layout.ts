// Graph wrappers for kernels-wgsl/layout.ts: transposes, head split/merge, sequence concat/slice on [B, L, C].
// (For batch 1, Graph.sliceRows/concatRows do the same with free views or plain buffer copies.)
import type { DType } from '../../gpu/kernel.js';
import * as lay from '../../kernels-wgsl/layout.js';
import { expectRank, fail, type Graph, type OpOptions, type Tensor } from './common.js';

function one(g: Graph, kind: string, x: Tensor[], shape: number[], dtype: DType, name: string | undefined, launch: Parameters<Graph['op']>[0]['exec']) {
  const [out] = g.op({ kind, name: name ?? kind, inputs: x, outputs: [{ shape, dtype, name }], exec: launch });
  return out;
}

export function transpose2d(g: Graph, x: Tensor, opts: OpOptions & { dtype?: DType } = {}): Tensor {
  expectRank(g.nextLabel('transpose2d', opts.name), 'x', x, 2);
  const out: Tensor = one(g, 'transpose2d', [x], [x.shape[1], x.shape[0]], opts.dtype ?? x.dtype, opts.name, {
    type: 'kernel',
    launch: (ctx, v) => lay.transpose2d(ctx, { src: v(x), dst: v(out) }),
  });
  return out;
}

/** [B, L, H*D] -> [B, H, L, D]. */
export function splitHeads(g: Graph, x: Tensor, heads: number, opts: OpOptions & { dtype?: DType } = {}): Tensor {
  const label = g.nextLabel('split_heads', opts.name);
  expectRank(label, 'x', x, 3);
  const [B, L, HD] = x.shape;
  if (!Number.isInteger(heads) || heads < 1 || HD % heads !== 0) fail(label, `heads ${heads} does not divide the last dim of ${x.describe()}`);
  const out: Tensor = one(g, 'split_heads', [x], [B, heads, L, HD / heads], opts.dtype ?? x.dtype, opts.name, {
    type: 'kernel',
    launch: (ctx, v) => lay.splitHeads(ctx, { src: v(x), dst: v(out), heads }),
  });
  return out;
}

/** [B, H, L, D] -> [B, L, H*D]. */
export function mergeHeads(g: Graph, x: Tensor, opts: OpOptions & { dtype?: DType } = {}): Tensor {
  expectRank(g.nextLabel('merge_heads', opts.name), 'x', x, 4);
  const [B, H, L, D] = x.shape;
  const out: Tensor = one(g, 'merge_heads', [x], [B, L, H * D], opts.dtype ?? x.dtype, opts.name, {
    type: 'kernel',
    launch: (ctx, v) => lay.mergeHeads(ctx, { src: v(x), dst: v(out) }),
  });
  return out;
}

/** Concatenation of [B, L_i, C] along L. */
export function concatSeq(g: Graph, parts: Tensor[], opts: OpOptions & { dtype?: DType } = {}): Tensor {
  const label = g.nextLabel('concat_seq', opts.name);
  if (parts.length === 0) fail(label, 'needs at least one tensor');
  for (const p of parts) {
    expectRank(label, 'part', p, 3);
    if (p.shape[0] !== parts[0].shape[0] || p.shape[2] !== parts[0].shape[2]) fail(label, `${p.describe()} does not match ${parts[0].describe()} in B and C`);
  }
  const [B, , C] = parts[0].shape;
  const L = parts.reduce((s, p) => s + p.shape[1], 0);
  const out: Tensor = one(g, 'concat_seq', parts, [B, L, C], opts.dtype ?? parts[0].dtype, opts.name, {
    type: 'kernel',
    launch: (ctx, v) => lay.concatSeq(ctx, { srcs: parts.map(v), dst: v(out) }),
  });
  return out;
}

/** x [B, L, C][:, start:start+length, :]. */
export function sliceSeq(g: Graph, x: Tensor, start: number, length: number, opts: OpOptions & { dtype?: DType } = {}): Tensor {
  const label = g.nextLabel('slice_seq', opts.name);
  expectRank(label, 'x', x, 3);
  const [B, L, C] = x.shape;
  if (!Number.isInteger(start) || !Number.isInteger(length) || start < 0 || length < 1 || start + length > L) {
    fail(label, `rows [${start}, ${start + length}) outside the sequence of ${x.describe()}`);
  }
  const out: Tensor = one(g, 'slice_seq', [x], [B, length, C], opts.dtype ?? x.dtype, opts.name, {
    type: 'kernel',
    launch: (ctx, v) => lay.sliceSeq(ctx, { src: v(x), dst: v(out), start }),
  });
  return out;
}

/**
 * Column concatenation [R, C1] ++ [R, C2] ++ ... -> [R, C1 + C2 + ...] over the strided-copy kernel (FLUX's
 * single-stream block feeds linear2 with [attention output | GELU(MLP)] side by side).
 */
export function concatColumns(g: Graph, parts: Tensor[], name = 'concat_columns'): Tensor {
  const label = g.nextLabel('concat_columns', name);
  g.check(parts.length >= 1, label, () => 'needs at least one tensor');
  const R = parts[0].rows;
  const dtype = parts[0].dtype;
  for (const p of parts) {
    g.check(p.rows === R && p.dtype === dtype, label, () => `all parts must have ${R} rows and dtype ${dtype}; got ${p.describe()}`);
  }
  const C = parts.reduce((s, p) => s + p.last, 0);
  const [out] = g.op({
    kind: 'concat_columns',
    name,
    inputs: parts,
    outputs: [{ shape: [R, C], dtype, name }],
    exec: {
      type: 'kernel',
      launch: async (ctx, view) => {
        let at = 0;
        const calls = [];
        for (const p of parts) {
          calls.push(
            await lay.copyStrided(ctx, {
              src: view(p), dst: view(out), shape: [R, p.last], srcStrides: [p.last, 1], dstStrides: [C, 1],
              srcOffsetElems: 0, dstOffsetElems: at,
            }),
          );
          at += p.last;
        }
        return calls;
      },
    },
  });
  return out;
}
