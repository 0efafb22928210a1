// Graph wrappers for kernels-wgsl/norm.ts. Statistics are f32 inside the kernels whatever the storage dtype.
import type { DType } from '../../gpu/kernel.js';
import * as k from '../../kernels-wgsl/norm.js';
import { expectDtype, expectRank, expectShapeIs, fail, type Graph, mayOverwrite, type OpOptions, type Tensor } from './common.js';

export interface NormOptions extends OpOptions {
  eps?: number;
  /** Output dtype (default: x's). */
  dtype?: DType;
}

export function layerNorm(g: Graph, x: Tensor, opts: NormOptions & { weight?: Tensor; bias?: Tensor } = {}): Tensor {
  const label = g.nextLabel('layer_norm', opts.name);
  if (opts.weight) expectShapeIs(label, 'weight', opts.weight, [x.last]);
  if (opts.bias) expectShapeIs(label, 'bias', opts.bias, [x.last]);
  const dtype = opts.dtype ?? x.dtype;
  const eps = opts.eps ?? 1e-6;
  const { weight, bias } = opts;
  const [out] = g.op({
    kind: 'layer_norm',
    name: opts.name ?? 'layer_norm',
    inputs: [x, weight, bias],
    outputs: [{ shape: x.shape, dtype, name: opts.name }],
    inPlace: mayOverwrite(x, x.shape, dtype),
    exec: {
      type: 'kernel',
      launch: (ctx, v) => k.layerNorm(ctx, { x: v(x), out: v(out), eps, weight: weight && v(weight), bias: bias && v(bias) }),
    },
  });
  return out;
}

export function rmsNorm(g: Graph, x: Tensor, opts: NormOptions & { weight?: Tensor } = {}): Tensor {
  const label = g.nextLabel('rms_norm', opts.name);
  if (opts.weight) expectShapeIs(label, 'weight', opts.weight, [x.last]);
  const dtype = opts.dtype ?? x.dtype;
  const eps = opts.eps ?? 1e-6;
  const { weight } = opts;
  const [out] = g.op({
    kind: 'rms_norm',
    name: opts.name ?? 'rms_norm',
    inputs: [x, weight],
    outputs: [{ shape: x.shape, dtype, name: opts.name }],
    inPlace: mayOverwrite(x, x.shape, dtype),
    exec: { type: 'kernel', launch: (ctx, v) => k.rmsNorm(ctx, { x: v(x), out: v(out), eps, weight: weight && v(weight) }) },
  });
  return out;
}

/**
 * adaLN: LayerNorm(x) * (1 + scale) + shift, shift/scale = chunks of `mod` [B, G*C] for batch element
 * floor(row / rowsPerBatch). Output f16 (it feeds a matmul). x is [..., C]; rows of x must be B * rowsPerBatch.
 */
export function layerNormModulate(
  g: Graph,
  x: Tensor,
  mod: Tensor,
  opts: OpOptions & { shiftChunk: number; scaleChunk: number; eps?: number },
): Tensor {
  const label = g.nextLabel('ln_modulate', opts.name);
  expectRank(label, 'mod', mod, 2);
  const C = x.last;
  const B = mod.shape[0];
  if (mod.shape[1] % C !== 0) fail(label, `mod ${mod.describe()} must be [B, G*${C}] (G chunks of x's width ${C})`);
  if (x.rows % B !== 0) fail(label, `x ${x.describe()} has ${x.rows} rows, not a multiple of mod's batch ${B}`);
  const G = mod.shape[1] / C;
  for (const [n, c] of [['shiftChunk', opts.shiftChunk], ['scaleChunk', opts.scaleChunk]] as const) {
    if (!Number.isInteger(c) || c < 0 || c >= G) fail(label, `${n} = ${c} out of range: mod ${mod.describe()} holds chunks 0..${G - 1}`);
  }
  expectDtype(label, 'x', x, ['f16', 'f32']);
  const rowsPerBatch = x.rows / B;
  const eps = opts.eps ?? 1e-6;
  const [out] = g.op({
    kind: 'ln_modulate',
    name: opts.name ?? 'ln_modulate',
    inputs: [x, mod],
    outputs: [{ shape: x.shape, dtype: 'f16', name: opts.name }],
    inPlace: mayOverwrite(x, x.shape, 'f16'),
    exec: {
      type: 'kernel',
      launch: (ctx, v) =>
        k.layerNormModulate(ctx, { x: v(x), out: v(out), mod: v(mod), shiftChunk: opts.shiftChunk, scaleChunk: opts.scaleChunk, rowsPerBatch, eps }),
    },
  });
  return out;
}
