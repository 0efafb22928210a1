// Helpers for writing a checkpoint layout down as a list of expected tensors (name + exact shape).
import type { ExpectedTensor } from '../family.js';

/** A PyTorch nn.Linear: `prefix.weight` [outDim, inDim] and, with bias, `prefix.bias` [outDim]. */
export function linearTensors(out: ExpectedTensor[], prefix: string, outDim: number, inDim: number, bias = true): void {
  out.push({ name: `${prefix}.weight`, shape: [outDim, inDim] });
  if (bias) out.push({ name: `${prefix}.bias`, shape: [outDim] });
}

/** A 1-D tensor (norm scale, bias). */
export function vectorTensor(out: ExpectedTensor[], name: string, n: number): void {
  out.push({ name, shape: [n] });
}
