// Weights kept quantized on the GPU ("resident" mode, issue 16): a PackedWeight holds a weight's raw checkpoint
// bytes (fp8 codes or GGUF blocks) in one GPU buffer, and the executor expands it to a transient f16 tensor just
// before the first op that reads it (see executor.ts: the f16 copy lives in the activation arena for the span of
// its readers only, so a model holds one layer's worth of f16 weight scratch at a time instead of all of them).
//
// The expansion is kernels-wgsl/dequant.ts, the same kernel the expand-at-load mode runs, with the same
// arguments per part, so the transient f16 weight is bit-identical to the weight expand mode keeps.
import type { GpuContext } from '../gpu/context.js';
import { DTYPE_BYTES, type KernelCall, type TensorView } from '../gpu/kernel.js';
import { DEQUANT_BLOCKS, dequant, type DequantFormat } from '../kernels-wgsl/dequant.js';

/** One checkpoint tensor (or row range of one) inside a packed weight: a fused qkv has three. */
export interface PackedPart {
  /** Where the part's raw bytes start in the packed buffer (a multiple of 256: bindable). */
  byteOffset: number;
  /** Raw bytes (whole blocks). */
  byteLength: number;
  /** First element of the part in the logical [N, K] weight (row-major). */
  elemStart: number;
  numel: number;
  /** Per-tensor fp8 scale (ComfyUI scaled fp8), multiplied into every value; absent = none. */
  scale?: number;
}

export interface PackedWeight {
  /** Encoding of the raw bytes (one per weight: a weight's parts share the checkpoint dtype). */
  format: DequantFormat;
  buffer: GPUBuffer;
  /** Bytes of `buffer` (the weight's GPU memory in resident mode). */
  bytes: number;
  /** Logical shape and dtype of the expanded weight, as a graph declares it. */
  shape: readonly number[];
  dtype: 'f16';
  parts: PackedPart[];
  /** Where it came from, for messages: file and tensor names. */
  source: string;
}

/** Bytes a packed buffer needs for parts of these byte lengths (each part 256-aligned, padded to whole words). */
export function packedLayout(byteLengths: readonly number[]): { offsets: number[]; bytes: number } {
  const offsets: number[] = [];
  let at = 0;
  for (const n of byteLengths) {
    offsets.push(at);
    at = Math.ceil((at + Math.max(4, n)) / 256) * 256;
  }
  return { offsets, bytes: Math.max(256, at) };
}

/**
 * The dequant dispatches that expand `w` into `dst` (an f16 view of w.shape, bindable). Each part is cut into
 * chunks whose source and destination bindings fit maxStorageBufferBindingSize; a chunk's destination is bound
 * from the 256-byte boundary at or before its first element (f16 words straddling a part's ends keep their
 * other half, so parts may start at any element). `counts`: 8 bytes of counters (values from NaN/inf data,
 * values saturated to +-65504) at `slot`, as dequant() defines them.
 */
export async function packedDequantCalls(ctx: GpuContext, w: PackedWeight, dst: TensorView, counts: GPUBuffer, slot = 0): Promise<KernelCall[]> {
  if (dst.dtype !== w.dtype) throw new Error(`packed weight ${w.source}: destination is ${dst.dtype}, expected ${w.dtype}`);
  const n = dst.shape.reduce((a, b) => a * b, 1);
  const want = w.shape.reduce((a, b) => a * b, 1);
  if (n !== want) throw new Error(`packed weight ${w.source}: destination [${dst.shape}] does not hold [${w.shape}]`);
  const blk = DEQUANT_BLOCKS[w.format];
  const item = DTYPE_BYTES[dst.dtype];
  const align = ctx.caps.limits.minStorageBufferOffsetAlignment;
  const maxBinding = ctx.caps.limits.maxStorageBufferBindingSize;
  // Whole blocks per chunk, a multiple of 256 blocks so every chunk's source offset stays 256-aligned.
  const fit = Math.min(Math.floor((maxBinding - 256) / blk.bytes), Math.floor((maxBinding - align) / (blk.elems * item)));
  const blocksPerChunk = Math.max(256, Math.floor(fit / 256) * 256);
  const calls: KernelCall[] = [];
  for (const part of w.parts) {
    const blocks = part.byteLength / blk.bytes;
    if (!Number.isInteger(blocks) || part.numel !== blocks * blk.elems) throw new Error(`packed weight ${w.source}: part of ${part.byteLength} bytes is not ${part.numel / blk.elems} whole ${w.format} blocks`);
    for (let b0 = 0; b0 < blocks; b0 += blocksPerChunk) {
      const nb = Math.min(blocksPerChunk, blocks - b0);
      const len = nb * blk.bytes;
      const e0 = part.elemStart + b0 * blk.elems;
      const count = nb * blk.elems;
      const startByte = dst.offset + e0 * item;
      const windowStart = Math.floor(startByte / align) * align;
      const dstBase = (startByte - windowStart) / item;
      const window: TensorView = { buffer: dst.buffer, offset: windowStart, shape: [dstBase + count], dtype: dst.dtype };
      const src: TensorView = { buffer: w.buffer, offset: part.byteOffset + b0 * blk.bytes, shape: [Math.ceil(len / 4)], dtype: 'u32' };
      calls.push(await dequant(ctx, { format: w.format, src, n: count, dst: window, dstBase, scale: part.scale, counts, slot }));
    }
  }
  return calls;
}
