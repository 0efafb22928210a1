// Shared helpers for the op wrappers: each wrapper checks shapes at build time (naming the op and tensors),
// declares its output(s), and defers the kernel launch to compile time through `launch`.
import type { DType } from '../../gpu/kernel.js';
import type { Graph } from '../graph.js';
import { GraphShapeError, type Tensor, shapeStr } from '../tensor.js';

export interface OpOptions {
  /** Name for the op/output (scoped by graph.scope). */
  name?: string;
}

export function fail(label: string, detail: string): never {
  throw new GraphShapeError(label, detail);
}

export function expectRank(label: string, what: string, t: Tensor, rank: number | number[]): void {
  const ok = Array.isArray(rank) ? rank.includes(t.rank) : t.rank === rank;
  if (!ok) fail(label, `${what} ${t.describe()} must have rank ${Array.isArray(rank) ? rank.join(' or ') : rank}`);
}

export function expectShapeIs(label: string, what: string, t: Tensor, shape: readonly number[]): void {
  if (shapeStr(t.shape) !== shapeStr(shape)) fail(label, `${what} ${t.describe()} must have shape ${shapeStr(shape)}`);
}

export function expectDtype(label: string, what: string, t: Tensor, dtypes: DType | DType[]): void {
  const list = Array.isArray(dtypes) ? dtypes : [dtypes];
  if (!list.includes(t.dtype)) fail(label, `${what} ${t.describe()} must be ${list.join(' or ')}`);
}

/** An in-place hint list for "output 0 may overwrite `x`", when sizes and dtypes allow the kernel to do it. */
export function mayOverwrite(x: Tensor, outShape: readonly number[], outDtype: DType) {
  const n = outShape.reduce((a, b) => a * b, 1);
  return x.dtype === outDtype && n === x.numel ? [{ output: 0, input: x, required: false }] : [];
}

export type { Graph, Tensor };
