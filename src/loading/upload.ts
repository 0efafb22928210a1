// Streams checkpoint tensors to the GPU with bounded host memory: each canonical weight (one tensor, or the
// row-concatenation of several, e.g. a fused QKV; a model family's weightSources() says which) is read chunk by chunk into ONE
// reusable host buffer, written to the GPU, and converted there to the engine's storage type:
//   f16 in the file  -> written straight into the weight's buffer;
//   bf16/f32 in file -> written to a raw staging buffer, then `convert` (kernels-wgsl/convert.ts) writes f16
//                       into the weight's buffer at the chunk's offset (values beyond +-65504 saturate; the
//                       count is reported so a checkpoint with out-of-range weights is noticed);
//   f32 storage      -> (for weights a graph keeps in f32) f32 files written straight, bf16/f16 via `convert`.
// Chunks are multiples of 128 elements so every f16 destination offset is 256-byte aligned (WebGPU's storage
// binding offset alignment). fp8 and GGUF block-type weights go through quant-upload.ts instead (dequantized
// to f16/f32 on the GPU, part by part, each with its own fp8 scale). Host memory: one chunk buffer (64 MiB default) + Dawn's write staging, which is
// bounded by waiting for the queue every `maxInFlightBytes`.
import type { GpuContext } from '../gpu/context.js';
import { allocTensor, DTYPE_BYTES, encodeCalls, numel, type DType, type KernelCall, type TensorView } from '../gpu/kernel.js';
import { convert as gpuConvert } from '../kernels-wgsl/convert.js';
import type { Checkpoint } from '../loading/checkpoint.js';
import { blockOf, uploadFormat, type TensorDType, type UploadFormat } from '../loading/dtypes.js';
import { isQuantized } from './quant-formats.js';
import { QuantUploader } from './quant-upload.js';
import type { WeightSource } from './sources.js';
import type { PackedWeight } from '../graph/packed.js';
import type { WeightStore } from '../graph/weights.js';
import { CheckpointError, DEFAULT_CHUNK_BYTES } from '../loading/safetensors.js';

/** The GPU conversion kernel's launch contract (src/kernels-wgsl/convert.ts). */
export type ConvertFn = (ctx: GpuContext, args: { src: TensorView; dst: TensorView; srcFormat: UploadFormat; saturatedCount?: GPUBuffer }) => Promise<KernelCall>;

export interface UploadOptions {
  /** Host chunk size in bytes of checkpoint data (default 64 MiB). */
  chunkBytes?: number;
  /** Storage dtype of each canonical weight; overrides WeightSource.dtype (default: the source's dtype, else f16). */
  dtypeOf?: (name: string) => DType | undefined;
  /** Upload only the weights this returns true for. */
  filter?: (name: string) => boolean;
  /**
   * Also upload optional weights the graphs do not read (SD3's stored sin-cos table `pos_embed.pos_embed`:
   * up to 453 MB in f16; the SD3 graph computes the table itself). Default false.
   */
  includeOptional?: boolean;
  /** Wait for the GPU queue after this many bytes were written, bounding Dawn's staging memory (default 256 MiB). */
  maxInFlightBytes?: number;
  /**
   * 'expand' (default): fp8 / GGUF block weights are expanded to f16 at upload. 'resident': they stay in their
   * checkpoint encoding on the GPU (LoadedWeights.packed; about half the memory for 8-bit, less for 4-bit) and
   * compiled graphs expand each to a transient f16 tensor just before the ops that read it (graph/packed.ts).
   * Weights a family keeps in f32, 1-D weights, and weights whose f16 form exceeds one storage binding stay
   * expanded in either mode; unquantized weights are unaffected.
   */
  weightsMode?: WeightsMode;
  /** GPU converter (defaults to kernels-wgsl/convert.ts; injectable for tests). */
  convert?: ConvertFn;
  onProgress?: (p: { weight: string; bytesDone: number; bytesTotal: number }) => void;
}

export type WeightsMode = 'expand' | 'resident';
export const WEIGHTS_MODES: readonly WeightsMode[] = ['expand', 'resident'];

export interface LoadedWeights {
  /** Weights as tensors (all of them in 'expand' mode). */
  views: Map<string, TensorView>;
  /** Weights kept quantized on the GPU ('resident' mode): register them with WeightStore.setPacked. */
  packed: Map<string, PackedWeight>;
  /** GPU bytes held by the weights. */
  gpuBytes: number;
  /** Checkpoint bytes read. */
  bytesRead: number;
  /** Values clamped to +-65504 when converting to f16 (0 for the released FLUX/SD3 weights). */
  saturated: number;
  destroy(): void;
}

interface Segment {
  tensor: string;
  byteStart: number;
  byteEnd: number;
}

export interface Plan {
  source: WeightSource;
  dtype: TensorDType;
  /** 'quant': fp8 / GGUF blocks, dequantized on the GPU by quant-upload.ts. */
  format: UploadFormat | 'quant';
  segments: Segment[];
  numel: number;
  file: string;
}

/** Resolves a weight's parts to byte ranges, checking dtypes agree and the rows add up to the canonical shape. */
export function planWeight(ck: Pick<Checkpoint, 'info'>, source: WeightSource): Plan {
  const segments: Segment[] = [];
  let dtype: TensorDType | null = null;
  let file = '';
  let elems = 0;
  const inner = source.shape.slice(1);
  for (const part of source.parts) {
    const t = ck.info(part.tensor);
    file ||= t.file;
    const fail = (msg: string): never => {
      throw new CheckpointError(`${t.file}: ${msg}`, t.file, part.tensor);
    };
    if (dtype && t.dtype !== dtype) fail(`tensor '${part.tensor}' is ${t.dtype} but the other parts of '${source.name}' are ${dtype}; cannot fuse mixed dtypes`);
    dtype = t.dtype;
    if (source.parts.length === 1 && part.rowStart === undefined) {
      if (t.shape.length !== source.shape.length || t.shape.some((d, i) => d !== source.shape[i])) {
        fail(`mis-shaped tensor '${part.tensor}': shape [${t.shape}] but [${source.shape}] is required`);
      }
    } else if (t.shape.length !== source.shape.length || t.shape.slice(1).some((d, i) => d !== inner[i])) {
      fail(`mis-shaped tensor '${part.tensor}': shape [${t.shape}] cannot be row-concatenated into '${source.name}' [${source.shape}]`);
    }
    const rows = t.shape.length ? t.shape[0] : 1;
    const rowBytes = rows ? t.byteLength / rows : 0;
    const blk = blockOf(t.dtype);
    if (!Number.isInteger(rowBytes) || (blk.elems > 1 && (part.rowStart !== undefined || part.rowEnd !== undefined) && rowBytes % blk.bytes !== 0)) {
      fail(`tensor '${part.tensor}' (${t.dtype}) has rows that do not end on block boundaries, so rows [${part.rowStart ?? 0}, ${part.rowEnd ?? rows}) cannot be taken from it`);
    }
    const r0 = part.rowStart ?? 0;
    const r1 = part.rowEnd ?? rows;
    if (r0 < 0 || r1 > rows || r0 > r1) fail(`rows [${r0}, ${r1}) are outside tensor '${part.tensor}' with ${rows} rows`);
    segments.push({ tensor: part.tensor, byteStart: r0 * rowBytes, byteEnd: r1 * rowBytes });
    elems += (((r1 - r0) * rowBytes) / blk.bytes) * blk.elems;
  }
  if (!dtype) throw new Error(`upload: weight '${source.name}' has no parts`);
  const n = numel(source.shape);
  if (elems !== n) {
    throw new CheckpointError(`${file}: '${source.name}' needs ${n} elements [${source.shape}] but its parts (${source.parts.map((p) => p.tensor).join(', ')}) hold ${elems}`, file, source.parts[0].tensor);
  }
  return { source, dtype, format: isQuantized(dtype) ? 'quant' : uploadFormat(dtype, source.parts[0].tensor, file), segments, numel: n, file };
}

/** Fills `dst` with the plan's bytes starting at byte `offset` of the concatenated stream. */
async function fillFromSegments(ck: Pick<Checkpoint, 'readInto'>, segments: Segment[], offset: number, dst: Uint8Array): Promise<void> {
  let at = 0; // stream position of the current segment's start
  let filled = 0;
  for (const s of segments) {
    const len = s.byteEnd - s.byteStart;
    const from = Math.max(offset + filled, at);
    if (from < at + len && filled < dst.byteLength) {
      const take = Math.min(at + len - from, dst.byteLength - filled);
      await ck.readInto(s.tensor, dst.subarray(filled, filled + take), s.byteStart + (from - at));
      filled += take;
    }
    at += len;
    if (filled === dst.byteLength) return;
  }
  if (filled !== dst.byteLength) throw new Error(`upload: internal error, segments ended ${dst.byteLength - filled} bytes early`);
}

/**
 * Streams one weight's bytes (all its parts, in order) in chunks of `chunkElems` elements; `sink` gets (first
 * element, element count, bytes) and must consume the bytes before returning. With two host buffers the next
 * chunk's read is in flight while `sink` handles the current one (disk and GPU upload overlap); with one, reads
 * and sinks alternate. Shared by the GPU upload and the host-only load benchmark, so the benchmark measures
 * the real read path.
 */
export async function streamPlan(
  ck: Pick<Checkpoint, 'readInto'>, p: Plan, chunkElems: number, hosts: Uint8Array | readonly Uint8Array[],
  sink: (e0: number, k: number, bytes: Uint8Array) => Promise<void> | void,
): Promise<void> {
  const bufs = hosts instanceof Uint8Array ? [hosts] : hosts;
  const blk = blockOf(p.dtype);
  if (blk.elems !== 1) throw new Error(`streamPlan: '${p.source.name}' is ${p.dtype} (blocks of ${blk.elems}); block-quantized weights stream through quant-upload.ts`);
  const item = blk.bytes;
  for (const h of bufs) {
    if (h.byteLength < Math.min(chunkElems, p.numel) * item) throw new Error(`streamPlan: host buffer of ${h.byteLength} bytes is smaller than one chunk`);
  }
  const start = (e0: number, slot: number) => {
    const bytes = bufs[slot].subarray(0, Math.min(chunkElems, p.numel - e0) * item);
    const done = fillFromSegments(ck, p.segments, e0 * item, bytes).then(() => bytes);
    done.catch(() => undefined); // awaited below; avoids an unhandled rejection if the sink fails first
    return done;
  };
  let slot = 0;
  let pending = p.numel > 0 ? start(0, slot) : null;
  for (let e0 = 0; pending; e0 += chunkElems) {
    const bytes = await pending;
    const next = e0 + chunkElems;
    slot = (slot + 1) % bufs.length;
    // With one buffer the next read must wait for the sink; with two it starts now.
    pending = next < p.numel && bufs.length > 1 ? start(next, slot) : null;
    await sink(e0, bytes.byteLength / item, bytes);
    if (!pending && next < p.numel) pending = start(next, slot);
  }
}

/**
 * Uploads every weight source (after `filter`) and returns name -> TensorView, each weight in its own buffer.
 * On error, buffers created so far are destroyed.
 */
export async function uploadWeights(ctx: GpuContext, ck: Pick<Checkpoint, 'info' | 'readInto' | 'has'>, sources: readonly WeightSource[], options: UploadOptions = {}): Promise<LoadedWeights> {
  const chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  const maxInFlight = options.maxInFlightBytes ?? 256 * 1024 * 1024;
  const plans = sources.filter((s) => (options.filter ? options.filter(s.name) : true)).filter((s) => !s.optional || (options.includeOptional && s.parts.every((p) => ck.has(p.tensor)))).map((s) => planWeight(ck, s));
  const bytesTotal = plans.reduce((a, p) => a + p.segments.reduce((b, s) => b + s.byteEnd - s.byteStart, 0), 0);
  // Elements per chunk: a multiple of 128 (256-byte aligned f16 destinations), sized by the widest item.
  const chunkElems = Math.max(128, Math.floor(chunkBytes / 4 / 128) * 128);
  const plain = plans.filter((p) => p.format !== 'quant');
  const quantPlans = plans.filter((p) => p.format === 'quant');
  const largest = Math.max(0, ...plain.map((p) => Math.min(p.numel, chunkElems) * blockOf(p.dtype).bytes));
  // Two host chunks: one being read from disk while the other is written to the GPU.
  const host = [new Uint8Array(largest), new Uint8Array(largest)];
  const storage = (p: Plan): DType => options.dtypeOf?.(p.source.name) ?? p.source.dtype ?? 'f16';
  const mode = options.weightsMode ?? 'expand';
  if (!WEIGHTS_MODES.includes(mode)) throw new Error(`upload: weights mode '${String(mode)}' is not one of ${WEIGHTS_MODES.join(', ')}`);
  const maxBinding = ctx.caps.limits.maxStorageBufferBindingSize;
  const keepPacked = (p: Plan) => mode === 'resident' && p.format === 'quant' && storage(p) === 'f16' && p.source.shape.length >= 2 && p.numel * 2 <= maxBinding;
  const checkElems = Math.max(0, ...quantPlans.filter(keepPacked).map((p) => p.numel));
  // Same-format chunks are written straight into the weight; the others go through staging + convert.
  const direct = (p: Plan) => p.format === storage(p);
  const converting = plain.filter((p) => !direct(p));
  const convert = options.convert ?? gpuConvert;
  const staging = converting.length ? ctx.createBuffer(Math.min(chunkElems, Math.max(...converting.map((p) => p.numel))) * 4, 'weights-upload-staging') : null;
  const saturatedCount = converting.some((p) => storage(p) === 'f16') ? ctx.createBuffer(4, 'weights-upload-saturated') : null;
  if (saturatedCount) ctx.fill(saturatedCount, 0, 4);
  const quant = quantPlans.length ? new QuantUploader(ctx, quantPlans, chunkBytes, checkElems) : null;
  const views = new Map<string, TensorView>();
  const packed = new Map<string, PackedWeight>();
  const buffers: GPUBuffer[] = [];
  let bytesDone = 0;
  let sinceSync = 0;
  let gpuBytes = 0;
  let saturated = 0;
  try {
    const progress = (p: Plan) => async (n: number) => {
      bytesDone += n;
      sinceSync += n;
      if (sinceSync >= maxInFlight) {
        await ctx.sync();
        sinceSync = 0;
      }
      options.onProgress?.({ weight: p.source.name, bytesDone, bytesTotal });
    };
    for (const p of plans) {
      if (keepPacked(p)) {
        const w = await quant!.uploadPacked(ck, p, progress(p));
        buffers.push(w.buffer);
        gpuBytes += w.bytes;
        packed.set(p.source.name, w);
        continue;
      }
      const dtype = storage(p);
      if (dtype !== 'f16' && dtype !== 'f32') throw new Error(`upload: weight '${p.source.name}' asks for ${dtype} storage; weights upload as f16 or f32`);
      const dst = allocTensor(ctx, p.source.shape, dtype, p.source.name);
      buffers.push(dst.buffer);
      gpuBytes += p.numel * DTYPE_BYTES[dtype];
      const itemOut = DTYPE_BYTES[dtype];
      if (p.format === 'quant') {
        await quant!.upload(ck, p, dst, progress(p));
        views.set(p.source.name, dst);
        continue;
      }
      await streamPlan(ck, p, chunkElems, host, async (e0, k, bytes) => {
        if (direct(p)) {
          ctx.write(dst.buffer, bytes, dst.offset + e0 * itemOut);
        } else {
          ctx.write(staging!, bytes);
          // bf16 travels as a 2-byte view tagged 'f16' with srcFormat 'bf16' (convert's contract).
          const src: TensorView = { buffer: staging!, offset: 0, shape: [k], dtype: p.format === 'f32' ? 'f32' : 'f16' };
          const out: TensorView = { buffer: dst.buffer, offset: dst.offset + e0 * itemOut, shape: [k], dtype };
          const call = await convert(ctx, { src, dst: out, srcFormat: p.format as UploadFormat, saturatedCount: saturatedCount ?? undefined });
          const enc = ctx.device.createCommandEncoder({ label: `convert ${p.source.name}` });
          encodeCalls(enc, [call]);
          ctx.device.queue.submit([enc.finish()]);
        }
        bytesDone += bytes.byteLength;
        sinceSync += bytes.byteLength;
        if (sinceSync >= maxInFlight) {
          await ctx.sync();
          sinceSync = 0;
        }
        options.onProgress?.({ weight: p.source.name, bytesDone, bytesTotal });
      });
      views.set(p.source.name, dst);
    }
    await ctx.sync();
    if (quant) saturated += await quant.finish();
    if (saturatedCount) saturated += new Uint32Array(await ctx.readback(saturatedCount, 4))[0];
  } catch (e) {
    for (const b of buffers) b.destroy();
    throw e;
  } finally {
    staging?.destroy();
    saturatedCount?.destroy();
    quant?.destroy();
  }
  return {
    views,
    packed,
    gpuBytes,
    bytesRead: bytesDone,
    saturated,
    destroy: () => {
      for (const b of buffers) b.destroy();
      views.clear();
      packed.clear();
    },
  };
}

/** Registers every loaded weight (tensors and packed weights) in a graph weight store. */
export function registerWeights(store: WeightStore, weights: Pick<LoadedWeights, 'views' | 'packed'>): void {
  for (const [name, view] of weights.views) store.set(name, view);
  for (const [name, w] of weights.packed) store.setPacked(name, w);
}

