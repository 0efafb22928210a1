// The dequantizing half of the weight upload (upload.ts routes fp8 and GGUF block-type weights here): each part
// of a weight is streamed in chunks of whole blocks into one host buffer, written raw to a GPU staging buffer,
// and expanded there by kernels-wgsl/dequant.ts into the weight's f16 (or f32) buffer at the part's element
// offset. Parts are handled one by one because each may carry its own fp8 scale (a fused qkv from three scaled
// tensors). Host memory: one chunk. GPU: one staging buffer of one chunk, plus 8 bytes of counters per weight.
//
// Nothing is trusted silently: values decoded from NaN/inf data (an fp8 NaN code, a block whose f16 scale is
// NaN/inf) are counted per weight on the GPU and turned into an error naming the file, tensor and type once the
// upload finishes; values saturated to +-65504 are summed for the loader's warning.
import type { GpuContext } from '../gpu/context.js';
import { DTYPE_BYTES, encodeCalls, type TensorView } from '../gpu/kernel.js';
import { packedDequantCalls, packedLayout, type PackedPart, type PackedWeight } from '../graph/packed.js';
import { DEQUANT_BLOCKS, dequant, type DequantFormat } from '../kernels-wgsl/dequant.js';
import type { Checkpoint } from './checkpoint.js';
import { decodeScale, scaleNamesFor } from './quant-formats.js';
import { CheckpointError } from './safetensors.js';
import type { Plan } from './upload.js';

type Ck = Pick<Checkpoint, 'info' | 'readInto' | 'has'>;

export class QuantUploader {
  private readonly host: Uint8Array;
  private readonly staging: GPUBuffer;
  private readonly counts: GPUBuffer;
  private readonly stagingBytes: number;
  private readonly done: { plan: Plan; slot: number; tensors: string }[] = [];
  private scratch: GPUBuffer | null = null;

  /**
   * `plans`: the quantized weights of one upload (sizes the staging buffer and the counters); `checkElems`: the
   * largest weight kept packed (resident mode), whose f16 expansion the load-time check writes to a scratch buffer.
   */
  constructor(private readonly ctx: GpuContext, plans: readonly Plan[], chunkBytes: number, private readonly checkElems = 0) {
    const largestPart = Math.max(4, ...plans.flatMap((p) => p.segments.map((s) => s.byteEnd - s.byteStart)));
    // A whole number of the largest block (210 bytes for Q6_K) always fits: at least one block per chunk.
    this.stagingBytes = Math.ceil(Math.min(largestPart, Math.max(chunkBytes, 4096)) / 4) * 4 + 256;
    this.host = new Uint8Array(this.stagingBytes);
    this.staging = ctx.createBuffer(this.stagingBytes, 'weights-dequant-staging');
    this.counts = ctx.createBuffer(Math.max(1, plans.length) * 8, 'weights-dequant-counts');
    ctx.fill(this.counts, 0, Math.max(1, plans.length) * 8);
  }

  /** Reads a part's per-tensor fp8 scale (ComfyUI `<layer>.scale_weight` / `<layer>.weight_scale`), if any. */
  private async scaleOf(ck: Ck, tensor: string, format: DequantFormat): Promise<number | undefined> {
    if (format !== 'F8_E4M3' && format !== 'F8_E5M2') return undefined;
    for (const name of scaleNamesFor(tensor)) {
      if (!ck.has(name)) continue;
      const t = ck.info(name);
      if (t.byteLength > 16) return decodeScale(new Uint8Array(0), t.dtype, t.numel, t.file, name, tensor);
      const bytes = new Uint8Array(t.byteLength);
      await ck.readInto(name, bytes);
      return decodeScale(bytes, t.dtype, t.numel, t.file, name, tensor);
    }
    return undefined;
  }

  /** Dequantizes every part of `p` into `dst` (f16 or f32, p.numel elements); `onBytes` gets each chunk's size. */
  async upload(ck: Ck, p: Plan, dst: TensorView, onBytes: (n: number) => Promise<void> | void): Promise<void> {
    const format = p.dtype as DequantFormat;
    const blk = DEQUANT_BLOCKS[format];
    const slot = this.done.length;
    this.done.push({ plan: p, slot, tensors: tensorsOf(ck, p) });
    const item = DTYPE_BYTES[dst.dtype];
    const align = this.ctx.caps.limits.minStorageBufferOffsetAlignment;
    // Chunks fit the staging buffer, and their destination window (up to 4 bytes per value plus the alignment
    // slack) fits one storage binding (128 MiB on some adapters: a 64 MiB fp8 chunk would not).
    const maxBinding = this.ctx.caps.limits.maxStorageBufferBindingSize;
    const blocksPerChunk = Math.max(1, Math.min(Math.floor((this.stagingBytes - 4) / blk.bytes), Math.floor((maxBinding - align) / (blk.elems * item))));
    let elem = 0; // first element of the current part inside the weight
    for (const seg of p.segments) {
      const scale = await this.scaleOf(ck, seg.tensor, format);
      const segBytes = seg.byteEnd - seg.byteStart;
      if (segBytes % blk.bytes !== 0) {
        throw new CheckpointError(`${p.file}: rows of tensor '${seg.tensor}' (${format}) do not start and end on ${blk.bytes}-byte block boundaries`, p.file, seg.tensor);
      }
      for (let off = 0; off < segBytes; off += blocksPerChunk * blk.bytes) {
        const len = Math.min(blocksPerChunk * blk.bytes, segBytes - off);
        await ck.readInto(seg.tensor, this.host.subarray(0, len), seg.byteStart + off);
        this.ctx.write(this.staging, this.host.subarray(0, Math.ceil(len / 4) * 4));
        const n = (len / blk.bytes) * blk.elems;
        const e0 = elem + (off / blk.bytes) * blk.elems;
        // Bind the destination from the 256-byte boundary at or before the chunk's first element.
        const startByte = dst.offset + e0 * item;
        const windowStart = Math.floor(startByte / align) * align;
        const dstBase = (startByte - windowStart) / item;
        const window: TensorView = { buffer: dst.buffer, offset: windowStart, shape: [dstBase + n], dtype: dst.dtype };
        const src: TensorView = { buffer: this.staging, offset: 0, shape: [Math.ceil(len / 4)], dtype: 'u32' };
        const call = await dequant(this.ctx, { format, src, n, dst: window, dstBase, scale, counts: this.counts, slot });
        const enc = this.ctx.device.createCommandEncoder({ label: `dequant ${p.source.name}` });
        encodeCalls(enc, [call]);
        this.ctx.device.queue.submit([enc.finish()]);
        await onBytes(len);
      }
      elem += (segBytes / blk.bytes) * blk.elems;
    }
    if (elem !== p.numel) throw new Error(`quant-upload: internal error, '${p.source.name}' got ${elem} of ${p.numel} values`);
  }

  /**
   * Resident mode: uploads the plan's raw bytes (each part at a 256-aligned offset of one buffer) and returns the
   * packed weight the executor expands at use. The weight is expanded once here, into a scratch buffer, through
   * the same dispatches the executor records, so NaN/inf data and saturation are found at load exactly as in
   * expand mode (finish() turns them into the same errors and warnings).
   */
  async uploadPacked(ck: Ck, p: Plan, onBytes: (n: number) => Promise<void> | void): Promise<PackedWeight> {
    const format = p.dtype as DequantFormat;
    const blk = DEQUANT_BLOCKS[format];
    const slot = this.done.length;
    this.done.push({ plan: p, slot, tensors: tensorsOf(ck, p) });
    const lens = p.segments.map((s) => s.byteEnd - s.byteStart);
    p.segments.forEach((seg, i) => {
      if (lens[i] % blk.bytes !== 0) throw new CheckpointError(`${p.file}: rows of tensor '${seg.tensor}' (${format}) do not start and end on ${blk.bytes}-byte block boundaries`, p.file, seg.tensor);
    });
    const { offsets, bytes } = packedLayout(lens);
    const buffer = this.ctx.createBuffer(bytes, `${p.source.name}.packed`);
    try {
      const parts: PackedPart[] = [];
      const chunk = Math.floor((this.stagingBytes - 256) / 4) * 4;
      let elem = 0;
      for (let i = 0; i < p.segments.length; i++) {
        const seg = p.segments[i];
        const scale = await this.scaleOf(ck, seg.tensor, format);
        for (let off = 0; off < lens[i]; off += chunk) {
          const n = Math.min(chunk, lens[i] - off);
          const padded = Math.ceil(n / 4) * 4;
          await ck.readInto(seg.tensor, this.host.subarray(0, n), seg.byteStart + off);
          this.host.fill(0, n, padded);
          this.ctx.write(buffer, this.host.subarray(0, padded), offsets[i] + off);
          await onBytes(n);
        }
        const numel = (lens[i] / blk.bytes) * blk.elems;
        parts.push({ byteOffset: offsets[i], byteLength: lens[i], elemStart: elem, numel, scale });
        elem += numel;
      }
      if (elem !== p.numel) throw new Error(`quant-upload: internal error, '${p.source.name}' got ${elem} of ${p.numel} values`);
      const w: PackedWeight = { format, buffer, bytes, shape: p.source.shape, dtype: 'f16', parts, source: `${p.file}: ${p.segments.map((s) => s.tensor).join(', ')}` };
      if (p.numel > this.checkElems) throw new Error(`quant-upload: internal error, '${p.source.name}' is larger than the check scratch`);
      this.scratch ??= this.ctx.createBuffer(Math.ceil((this.checkElems * 2) / 4) * 4, 'weights-dequant-check');
      const calls = await packedDequantCalls(this.ctx, w, { buffer: this.scratch, offset: 0, shape: p.source.shape, dtype: 'f16' }, this.counts, slot);
      const enc = this.ctx.device.createCommandEncoder({ label: `dequant check ${p.source.name}` });
      encodeCalls(enc, calls);
      this.ctx.device.queue.submit([enc.finish()]);
      return w;
    } catch (e) {
      buffer.destroy();
      throw e;
    }
  }

  /**
   * Waits for the GPU and checks the counters: throws for the first weight with values decoded from NaN/inf data
   * (naming file, tensor and type); returns how many values were saturated to +-65504.
   */
  async finish(): Promise<number> {
    await this.ctx.sync();
    if (!this.done.length) return 0;
    const c = new Uint32Array(await this.ctx.readback(this.counts, this.done.length * 8));
    let saturated = 0;
    for (const { plan, slot, tensors } of this.done) {
      const bad = c[2 * slot];
      saturated += c[2 * slot + 1];
      if (bad > 0) {
        const what = plan.dtype.startsWith('F8_') ? `${bad} NaN/inf values (fp8 codes that are not numbers)` : `${bad} values from corrupt blocks (a block scale is NaN/inf)`;
        throw new CheckpointError(`${plan.file}: tensor ${tensors} (${plan.dtype}) holds ${what}; the file is damaged or was written wrongly, and loading it would give a wrong image. Re-download or re-convert it.`, plan.file, plan.segments[0].tensor);
      }
    }
    return saturated;
  }

  destroy(): void {
    this.staging.destroy();
    this.counts.destroy();
    this.scratch?.destroy();
  }
}

/** The plan's tensor names, quoted, for messages; with the name in the file where the reader renamed it. */
function tensorsOf(ck: Ck, p: Plan): string {
  const names = [...new Set(p.segments.map((s) => s.tensor))];
  return names.map((n) => {
    const stored = ck.has(n) ? ck.info(n).storedName : undefined;
    return stored && stored !== n ? `'${n}' (${stored} in the file)` : `'${n}'`;
  }).join(', ');
}
