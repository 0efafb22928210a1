// A streaming GGUF (version 3) writer: the header (metadata, every tensor's info and offset) is written first, then
// tensor data is appended in declaration order in chunks of any size, padded to the alignment between tensors.
// Used by the quantized-load benchmark (full-size FLUX files of random blocks) and tests; the reader is gguf.ts.
import { open, type FileHandle } from 'node:fs/promises';
import { blockOf, type TensorDType } from './dtypes.js';
import { GGML_TYPE_NAMES, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC } from './gguf.js';

export interface GgufTensorSpec {
  name: string;
  dtype: TensorDType;
  /** torch order (outermost first); stored reversed, as GGUF wants. */
  shape: readonly number[];
}

const TYPE_IDS = new Map<TensorDType, number>(Object.entries(GGML_TYPE_NAMES).map(([id, name]) => [name, Number(id)]));

export function ggufTensorBytes(s: GgufTensorSpec): number {
  const blk = blockOf(s.dtype);
  const n = s.shape.reduce((a, b) => a * b, 1);
  if ((s.shape.at(-1) ?? 1) % blk.elems !== 0) throw new Error(`gguf-writer: '${s.name}' rows of ${s.shape.at(-1)} values are not whole ${s.dtype} blocks of ${blk.elems}`);
  return (n / blk.elems) * blk.bytes;
}

function encodeHeader(metadata: Record<string, string | number>, specs: readonly GgufTensorSpec[], alignment: number): { header: Uint8Array; offsets: number[]; dataBytes: number } {
  const parts: Uint8Array[] = [];
  const u32 = (v: number) => new Uint8Array(new Uint32Array([v]).buffer);
  const u64 = (v: number) => new Uint8Array(new BigUint64Array([BigInt(v)]).buffer);
  const str = (s: string) => {
    const b = new TextEncoder().encode(s);
    return [u64(b.length), b];
  };
  const meta = { ...metadata, ...(alignment !== GGUF_DEFAULT_ALIGNMENT ? { 'general.alignment': alignment } : {}) };
  parts.push(u32(GGUF_MAGIC), u32(3), u64(specs.length), u64(Object.keys(meta).length));
  for (const [k, v] of Object.entries(meta)) {
    parts.push(...str(k));
    if (typeof v === 'string') parts.push(u32(8), ...str(v));
    else parts.push(u32(4), u32(v)); // UINT32 (general.alignment and other counts)
  }
  const offsets: number[] = [];
  let offset = 0;
  for (const s of specs) {
    const id = TYPE_IDS.get(s.dtype);
    if (id === undefined) throw new Error(`gguf-writer: no GGML type for ${s.dtype}`);
    parts.push(...str(s.name), u32(s.shape.length), ...[...s.shape].reverse().map(u64), u32(id), u64(offset));
    offsets.push(offset);
    offset = Math.ceil((offset + ggufTensorBytes(s)) / alignment) * alignment;
  }
  const len = parts.reduce((a, p) => a + p.byteLength, 0);
  const header = new Uint8Array(Math.ceil(len / alignment) * alignment);
  let at = 0;
  for (const p of parts) { header.set(p, at); at += p.byteLength; }
  return { header, offsets, dataBytes: offset };
}

export class GgufWriter {
  private index = 0;
  private inTensor = 0;

  private constructor(private fh: FileHandle, private readonly specs: readonly GgufTensorSpec[], private readonly offsets: number[], private readonly dataStart: number) {}

  static async create(path: string, specs: readonly GgufTensorSpec[], metadata: Record<string, string | number> = {}, alignment = GGUF_DEFAULT_ALIGNMENT): Promise<GgufWriter> {
    const { header, offsets } = encodeHeader(metadata, specs, alignment);
    const fh = await open(path, 'w');
    await fh.write(header, 0, header.byteLength, 0);
    return new GgufWriter(fh, specs, offsets, header.byteLength);
  }

  /** Appends bytes of the current tensor (moves to the next one when it is complete). */
  async write(bytes: Uint8Array): Promise<void> {
    let done = 0;
    while (done < bytes.byteLength) {
      const s = this.specs[this.index];
      if (!s) throw new Error('gguf-writer: more bytes than the declared tensors hold');
      const total = ggufTensorBytes(s);
      const take = Math.min(total - this.inTensor, bytes.byteLength - done);
      await this.fh.write(bytes, done, take, this.dataStart + this.offsets[this.index] + this.inTensor);
      done += take;
      this.inTensor += take;
      if (this.inTensor === total) { this.index++; this.inTensor = 0; }
    }
  }

  async close(): Promise<void> {
    const complete = this.index === this.specs.length;
    await this.fh.close();
    if (!complete) throw new Error(`gguf-writer: closed after ${this.index} of ${this.specs.length} tensors`);
  }
}
