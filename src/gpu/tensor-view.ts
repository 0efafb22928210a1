// The runtime's tensor vocabulary: storage dtypes and a tensor as a byte range of a GPU buffer. Kernels, the op
// graph and loading all speak it; it lives at the bottom so none of them has to import another to agree.
import type { GpuContext } from './context.js';

/**
 * Storage dtypes. f16/f32 are float data; u32/i32 are integer data (token ids, positions, indices), which
 * kernels read as `array<u32>`/`array<i32>` and never convert.
 */
export type DType = 'f16' | 'f32' | 'u32' | 'i32';

export const DTYPE_BYTES: Record<DType, number> = { f16: 2, f32: 4, u32: 4, i32: 4 };

/** True for the float storage dtypes (what arithmetic kernels accept). */
export function isFloatDType(dtype: DType): dtype is 'f16' | 'f32' {
  return dtype === 'f16' || dtype === 'f32';
}

/** A tensor living in (a range of) a GPU buffer. Row-major, contiguous, innermost dimension last. */
export interface TensorView {
  buffer: GPUBuffer;
  /** Byte offset into the buffer; a multiple of minStorageBufferOffsetAlignment (256). */
  offset: number;
  shape: readonly number[];
  dtype: DType;
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function byteSize(t: Pick<TensorView, 'shape' | 'dtype'>): number {
  return numel(t.shape) * DTYPE_BYTES[t.dtype];
}

/** Throws a clear error when a tensor does not have the expected shape or dtype. */
export function expectShape(op: string, name: string, t: TensorView, shape: readonly number[], dtype?: DType): void {
  const ok = t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i]);
  if (!ok) throw new Error(`${op}: '${name}' has shape [${t.shape}] but [${shape}] is required`);
  if (dtype && t.dtype !== dtype) throw new Error(`${op}: '${name}' is ${t.dtype} but ${dtype} is required`);
}

/** Allocates a tensor in its own buffer (tests and one-off work; the graph uses its own arena). */
export function allocTensor(ctx: GpuContext, shape: readonly number[], dtype: DType, label?: string): TensorView {
  return { buffer: ctx.createBuffer(numel(shape) * DTYPE_BYTES[dtype], label), offset: 0, shape: [...shape], dtype };
}
