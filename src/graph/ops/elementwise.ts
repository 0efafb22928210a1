// Graph wrappers for kernels-wgsl/elementwise.ts: activations, broadcasting binary ops, a*alpha + b*beta.
import type { DType } from '../../gpu/kernel.js';
import * as k from '../../kernels-wgsl/elementwise.js';
import { expectDtype, fail, type Graph, mayOverwrite, type OpOptions, type Tensor } from './common.js';

export function unary(g: Graph, x: Tensor, op: k.UnaryOp, opts: OpOptions & { alpha?: number; dtype?: DType } = {}): Tensor {
  const label = g.nextLabel(op, opts.name);
  if (op === 'scale' && !Number.isFinite(opts.alpha)) fail(label, `op 'scale' needs a finite alpha`);
  const dtype = opts.dtype ?? x.dtype;
  const [out] = g.op({
    kind: op,
    name: opts.name ?? op,
    inputs: [x],
    outputs: [{ shape: x.shape, dtype, name: opts.name }],
    inPlace: mayOverwrite(x, x.shape, dtype),
    exec: { type: 'kernel', launch: (ctx, v) => k.unary(ctx, { x: v(x), out: v(out), op, alpha: opts.alpha }) },
  });
  return out;
}

export function silu(g: Graph, x: Tensor, opts: OpOptions & { dtype?: DType } = {}): Tensor {
  return unary(g, x, 'silu', opts);
}

export function geluTanh(g: Graph, x: Tensor, opts: OpOptions & { dtype?: DType } = {}): Tensor {
  return unary(g, x, 'gelu_tanh', opts);
}

/** Checks kernels-wgsl's broadcast rule at build time: b's shape (minus leading 1s) is a suffix of a's. */
function checkBroadcast(label: string, a: Tensor, b: Tensor): void {
  let lead = 0;
  while (lead < b.rank - 1 && b.shape[lead] === 1) lead++;
  const bs = b.shape.slice(lead);
  const tail = a.shape.slice(a.rank - bs.length);
  if (bs.length > a.rank || !bs.every((d, i) => d === tail[i])) {
    fail(label, `${b.describe()} does not broadcast onto ${a.describe()}: its shape must equal a trailing part of the first operand's`);
  }
}

export function binary(g: Graph, a: Tensor, b: Tensor, op: k.BinaryOp, opts: OpOptions & { dtype?: DType } = {}): Tensor {
  const label = g.nextLabel(op, opts.name);
  checkBroadcast(label, a, b);
  const dtype = opts.dtype ?? a.dtype;
  const [out] = g.op({
    kind: op,
    name: opts.name ?? op,
    inputs: [a, b],
    outputs: [{ shape: a.shape, dtype, name: opts.name }],
    inPlace: a === b ? [] : mayOverwrite(a, a.shape, dtype),
    exec: { type: 'kernel', launch: (ctx, v) => k.binary(ctx, { a: v(a), b: v(b), out: v(out), op }) },
  });
  return out;
}

export const add = (g: Graph, a: Tensor, b: Tensor, opts?: OpOptions & { dtype?: DType }) => binary(g, a, b, 'add', opts);
export const mul = (g: Graph, a: Tensor, b: Tensor, opts?: OpOptions & { dtype?: DType }) => binary(g, a, b, 'mul', opts);
export const sub = (g: Graph, a: Tensor, b: Tensor, opts?: OpOptions & { dtype?: DType }) => binary(g, a, b, 'sub', opts);

/** a * alpha + b * beta (b broadcast like binary). */
export function addScaled(g: Graph, a: Tensor, b: Tensor, alpha: number, beta: number, opts: OpOptions & { dtype?: DType } = {}): Tensor {
  const label = g.nextLabel('add_scaled', opts.name);
  if (!Number.isFinite(alpha) || !Number.isFinite(beta)) fail(label, `alpha and beta must be finite, got ${alpha}, ${beta}`);
  checkBroadcast(label, a, b);
  expectDtype(label, 'a', a, ['f16', 'f32']);
  const dtype = opts.dtype ?? a.dtype;
  const [out] = g.op({
    kind: 'add_scaled',
    name: opts.name ?? 'add_scaled',
    inputs: [a, b],
    outputs: [{ shape: a.shape, dtype, name: opts.name }],
    inPlace: a === b ? [] : mayOverwrite(a, a.shape, dtype),
    exec: { type: 'kernel', launch: (ctx, v) => k.addScaled(ctx, { a: v(a), b: v(b), out: v(out), alpha, beta }) },
  });
  return out;
}
