// What a loader needs to know about the tensors a model expects, in format terms only: which checkpoint tensors
// must exist with which shapes, and how each GPU weight is assembled from checkpoint rows. Model families
// (src/models/<family>/) produce these lists; loading consumes them without knowing which model they describe.
import type { DType } from '../gpu/tensor-view.js';

/** A tensor a checkpoint layout must (or may) contain, with its exact shape. */
export interface ExpectedTensor {
  name: string;
  shape: number[];
  /** Present in some releases only; absence is not an error. */
  optional?: boolean;
}

/** A contiguous range of rows (dim 0) of one checkpoint tensor; omitted bounds mean the whole tensor. */
export interface WeightPart {
  tensor: string;
  rowStart?: number;
  rowEnd?: number;
}

/** One canonical (graph-side) weight: its shape and the checkpoint rows that make it up, in order. */
export interface WeightSource {
  name: string;
  shape: number[];
  parts: WeightPart[];
  /** Not read by the graph (uploaded only on request). */
  optional?: boolean;
  /** GPU storage dtype (f16 or f32); default f16, or what UploadOptions.dtypeOf says. */
  dtype?: DType;
}

/** Number of elements the tensors hold (parameter count for `dit inspect`). */
export function parameterCount(tensors: readonly ExpectedTensor[]): number {
  return tensors.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);
}

/** The whole of one checkpoint tensor as a weight's only part. */
export function wholeTensor(tensor: string): WeightPart[] {
  return [{ tensor }];
}
