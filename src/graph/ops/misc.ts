// Graph wrappers for softmax, dtype conversion, token/timestep embeddings.
import * as conv from '../../kernels-wgsl/convert.js';
import * as emb from '../../kernels-wgsl/embedding.js';
import type { DType } from '../../gpu/kernel.js';
import * as sm from '../../kernels-wgsl/softmax.js';
import { expectDtype, expectRank, fail, type Graph, mayOverwrite, type OpOptions, type Tensor } from './common.js';

/** softmax(scale * x) over the last dimension (f32 statistics). */
export function softmax(g: Graph, x: Tensor, opts: OpOptions & { scale?: number; dtype?: DType } = {}): Tensor {
  const dtype = opts.dtype ?? x.dtype;
  const [out] = g.op({
    kind: 'softmax',
    name: opts.name ?? 'softmax',
    inputs: [x],
    outputs: [{ shape: x.shape, dtype, name: opts.name }],
    inPlace: mayOverwrite(x, x.shape, dtype),
    exec: { type: 'kernel', launch: (ctx, v) => sm.softmax(ctx, { x: v(x), out: v(out), scale: opts.scale }) },
  });
  return out;
}

/**
 * Converts x to `to` (f16 saturates at +-65504). `srcFormat: 'bf16'` reads an f16-tagged tensor's bits as bf16
 * (raw checkpoint data). `shape` reshapes for free.
 */
export function convert(g: Graph, x: Tensor, to: DType, opts: OpOptions & { srcFormat?: conv.SourceFormat; shape?: number[] } = {}): Tensor {
  const label = g.nextLabel('convert', opts.name);
  const shape = opts.shape ?? x.shape;
  if (shape.reduce((a, b) => a * b, 1) !== x.numel) fail(label, `shape [${shape}] does not hold the ${x.numel} elements of ${x.describe()}`);
  if (opts.srcFormat === 'bf16') expectDtype(label, 'x (raw bf16 bits)', x, 'f16');
  const [out] = g.op({
    kind: 'convert',
    name: opts.name ?? 'convert',
    inputs: [x],
    outputs: [{ shape, dtype: to, name: opts.name }],
    exec: { type: 'kernel', launch: (ctx, v) => conv.convert(ctx, { src: v(x), dst: v(out), srcFormat: opts.srcFormat }) },
  });
  return out;
}

/** Token embedding lookup: ids [...] u32 or i32, table [V, C] -> [..., C]. */
export function embedding(g: Graph, ids: Tensor, table: Tensor, opts: OpOptions & { dtype?: DType } = {}): Tensor {
  const label = g.nextLabel('embedding', opts.name);
  expectRank(label, 'table', table, 2);
  expectDtype(label, 'ids (token ids: declare them u32)', ids, ['u32', 'i32']);
  const [out] = g.op({
    kind: 'embedding',
    name: opts.name ?? 'embedding',
    inputs: [ids, table],
    outputs: [{ shape: [...ids.shape, table.shape[1]], dtype: opts.dtype ?? table.dtype, name: opts.name }],
    exec: {
      type: 'kernel',
      launch: (ctx, v) => {
        return emb.embedding(ctx, { ids: v(ids), table: v(table), out: v(out) });
      },
    },
  });
  return out;
}

export type TimestepEmbeddingOptions = OpOptions & Omit<emb.TimestepEmbeddingArgs, 't' | 'out'> & { dtype?: DType };

/** Sinusoidal embedding of t [B] f32 -> [B, dim] (FLUX: scale 1000, flipSinToCos; SD3: scale 1). */
export function timestepEmbedding(g: Graph, t: Tensor, opts: TimestepEmbeddingOptions): Tensor {
  const label = g.nextLabel('timestep_embedding', opts.name);
  expectRank(label, 't', t, 1);
  expectDtype(label, 't', t, 'f32');
  const { name, dtype, ...args } = opts;
  const [out] = g.op({
    kind: 'timestep_embedding',
    name: name ?? 'timestep_embedding',
    inputs: [t],
    outputs: [{ shape: [t.shape[0], opts.dim], dtype: dtype ?? 'f32', name }],
    exec: { type: 'kernel', launch: (ctx, v) => emb.timestepEmbedding(ctx, { ...args, t: v(t), out: v(out) }) },
  });
  return out;
}
