// A streaming GGUF reader (llama.cpp's container; city96's FLUX/T5 conversions use it). Like SafetensorsFile it
// parses only the header up front (magic, version, metadata key/values, tensor infos), then reads tensor bytes on
// demand through one FileHandle, so host memory stays bounded whatever the file size.
//
// Format (versions 2 and 3; little-endian; version 1 used 32-bit counts and is refused):
//   u32 magic "GGUF" | u32 version | u64 tensor_count | u64 kv_count
//   kv_count x { string key | u32 value_type | value }            string = u64 length + UTF-8 bytes
//   tensor_count x { string name | u32 n_dims | u64 dims[n_dims] | u32 ggml_type | u64 offset }
//   padding to `general.alignment` (default 32) | data section (each tensor's offset is relative to it, aligned)
// dims are innermost first (ne[0] = row length): the torch shape is the reverse. ComfyUI-GGUF records the torch
// shape of tensors it had to flatten as metadata `comfy.gguf.orig_shape.<name>` (INT32 array); it wins when present.
import type { FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { blockOf, type TensorDType } from './dtypes.js';
import { ggufNameMap } from './gguf-names.js';
import { CheckpointError, DEFAULT_CHUNK_BYTES, MAX_WHOLE_READ_BYTES, openCheckpointFile, readFully, similarNames, type TensorInfo } from './safetensors.js';

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** GGML type ids (ggml.h) -> our dtype names; ids not listed are refused with the id named. */
export const GGML_TYPE_NAMES: Record<number, TensorDType> = {
  0: 'F32', 1: 'F16', 2: 'Q4_0', 3: 'Q4_1', 6: 'Q5_0', 7: 'Q5_1', 8: 'Q8_0', 9: 'Q8_1', 10: 'Q2_K', 11: 'Q3_K',
  12: 'Q4_K', 13: 'Q5_K', 14: 'Q6_K', 15: 'Q8_K', 16: 'IQ2_XXS', 17: 'IQ2_XS', 18: 'IQ3_XXS', 19: 'IQ1_S', 20: 'IQ4_NL',
  21: 'IQ3_S', 22: 'IQ2_S', 23: 'IQ4_XS', 24: 'I8', 25: 'I16', 26: 'I32', 27: 'I64', 28: 'F64', 29: 'IQ1_M', 30: 'BF16',
  34: 'TQ1_0', 35: 'TQ2_0', 39: 'MXFP4',
};

export type GgufValue = number | bigint | boolean | string | GgufValue[];

/** Metadata strings/arrays beyond these are refused as corrupt (real tokenizer vocabularies are ~250k entries). */
const MAX_STRING_BYTES = 64 * 1024 * 1024;
const MAX_ARRAY_ITEMS = 64 * 1024 * 1024;
const MAX_DIMS = 4; // GGML_MAX_DIMS

/** Sequential little-endian reads over a file, through one growing buffer (header parsing only). */
class HeaderReader {
  private buf = new Uint8Array(1 << 16);
  private start = 0; // file position of buf[0]
  private len = 0;
  pos = 0; // file position of the next read

  constructor(private readonly fh: FileHandle, private readonly size: number, private readonly file: string) {}

  private async need(n: number, what: string): Promise<DataView> {
    if (this.pos + n > this.size) {
      throw new CheckpointError(`${this.file}: truncated GGUF header: ${what} needs bytes up to ${this.pos + n} but the file has ${this.size}`, this.file);
    }
    if (this.pos < this.start || this.pos + n > this.start + this.len) {
      const want = Math.min(this.size - this.pos, Math.max(n, 1 << 20));
      if (this.buf.byteLength < want) this.buf = new Uint8Array(want);
      await readFully(this.fh, this.buf.subarray(0, want), this.pos, this.file);
      this.start = this.pos;
      this.len = want;
    }
    const view = new DataView(this.buf.buffer, this.buf.byteOffset + (this.pos - this.start), n);
    this.pos += n;
    return view;
  }

  async u32(what: string): Promise<number> { return (await this.need(4, what)).getUint32(0, true); }
  async u64(what: string): Promise<number> {
    const v = (await this.need(8, what)).getBigUint64(0, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new CheckpointError(`${this.file}: corrupt GGUF header: ${what} is ${v}`, this.file);
    return Number(v);
  }

  async string(what: string): Promise<string> {
    const n = await this.u64(`${what} length`);
    if (n > MAX_STRING_BYTES) throw new CheckpointError(`${this.file}: corrupt GGUF header: ${what} claims ${n} bytes`, this.file);
    const v = await this.need(n, what);
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array(v.buffer, v.byteOffset, n));
    } catch {
      throw new CheckpointError(`${this.file}: corrupt GGUF header: ${what} is not valid UTF-8`, this.file);
    }
  }

  async value(type: number, what: string, depth = 0): Promise<GgufValue> {
    switch (type) {
      case 0: return (await this.need(1, what)).getUint8(0);
      case 1: return (await this.need(1, what)).getInt8(0);
      case 2: return (await this.need(2, what)).getUint16(0, true);
      case 3: return (await this.need(2, what)).getInt16(0, true);
      case 4: return (await this.need(4, what)).getUint32(0, true);
      case 5: return (await this.need(4, what)).getInt32(0, true);
      case 6: return (await this.need(4, what)).getFloat32(0, true);
      case 7: return (await this.need(1, what)).getUint8(0) !== 0;
      case 8: return this.string(what);
      case 9: {
        if (depth > 2) throw new CheckpointError(`${this.file}: corrupt GGUF header: ${what} nests arrays too deep`, this.file);
        const itemType = await this.u32(`${what} item type`);
        const count = await this.u64(`${what} count`);
        if (count > MAX_ARRAY_ITEMS || count > this.size - this.pos) throw new CheckpointError(`${this.file}: corrupt GGUF header: ${what} claims ${count} items`, this.file);
        const out: GgufValue[] = [];
        for (let i = 0; i < count; i++) out.push(await this.value(itemType, what, depth + 1));
        return out;
      }
      case 10: return (await this.need(8, what)).getBigUint64(0, true);
      case 11: return (await this.need(8, what)).getBigInt64(0, true);
      case 12: return (await this.need(8, what)).getFloat64(0, true);
      default: throw new CheckpointError(`${this.file}: corrupt GGUF header: ${what} has unknown value type ${type}`, this.file);
    }
  }
}

export interface GgufHeader {
  version: number;
  alignment: number;
  metadata: Map<string, GgufValue>;
  tensors: TensorInfo[];
  dataStart: number;
}

function fail(file: string, message: string, tensor?: string): never {
  throw new CheckpointError(`${file}: ${message}`, file, tensor);
}

/** Parses and validates a GGUF header from an open file: types known, sizes consistent, data inside the file. */
export async function parseGgufHeader(fh: FileHandle, size: number, file: string): Promise<GgufHeader> {
  const r = new HeaderReader(fh, size, file);
  if (size < 24) fail(file, `not a GGUF file: ${size} bytes is too short for the header`);
  const magic = await r.u32('magic');
  if (magic !== GGUF_MAGIC) {
    const got = [0, 8, 16, 24].map((s) => String.fromCharCode((magic >>> s) & 0xff)).join('');
    fail(file, `bad magic: expected "GGUF", found ${JSON.stringify(got)} (not a GGUF file, or a damaged one)`);
  }
  const version = await r.u32('version');
  if (version !== 2 && version !== 3) fail(file, `GGUF version ${version} is not supported (versions 2 and 3 are; re-convert the file with a current gguf tool)`);
  const tensorCount = await r.u64('tensor count');
  const kvCount = await r.u64('metadata count');
  if (tensorCount > size / 24 || kvCount > size / 12) fail(file, `corrupt GGUF header: ${tensorCount} tensors / ${kvCount} metadata entries cannot fit in ${size} bytes`);
  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < kvCount; i++) {
    const key = await r.string(`metadata key #${i}`);
    const type = await r.u32(`metadata '${key}' type`);
    metadata.set(key, await r.value(type, `metadata '${key}'`));
  }
  const alignValue = metadata.get('general.alignment') ?? GGUF_DEFAULT_ALIGNMENT;
  const alignment = typeof alignValue === 'number' ? alignValue : NaN;
  if (!Number.isInteger(alignment) || alignment <= 0 || alignment % 8 !== 0) fail(file, `corrupt GGUF header: general.alignment ${String(alignValue)} is not a positive multiple of 8`);

  const raw: { name: string; dims: number[]; type: number; offset: number }[] = [];
  for (let i = 0; i < tensorCount; i++) {
    const name = await r.string(`tensor #${i} name`);
    const nDims = await r.u32(`tensor '${name}' rank`);
    if (nDims > MAX_DIMS) fail(file, `corrupt GGUF header: tensor '${name}' has ${nDims} dimensions (at most ${MAX_DIMS})`, name);
    const dims: number[] = [];
    for (let d = 0; d < nDims; d++) dims.push(await r.u64(`tensor '${name}' dim ${d}`));
    const type = await r.u32(`tensor '${name}' type`);
    const offset = await r.u64(`tensor '${name}' offset`);
    raw.push({ name, dims, type, offset });
  }
  const dataStart = Math.ceil(r.pos / alignment) * alignment;
  const dataSize = size - dataStart;
  const tensors: TensorInfo[] = [];
  const seen = new Set<string>();
  for (const t of raw) {
    if (seen.has(t.name)) fail(file, `corrupt GGUF header: tensor '${t.name}' appears twice`, t.name);
    seen.add(t.name);
    const dtype = GGML_TYPE_NAMES[t.type];
    if (!dtype) fail(file, `tensor '${t.name}' has unknown GGML type id ${t.type}; the engine knows ${Object.values(GGML_TYPE_NAMES).join(', ')} (a newer quantization? re-quantize to Q8_0, Q5_K or Q4_K)`, t.name);
    const blk = blockOf(dtype);
    const numel = t.dims.reduce((a, b) => a * b, 1);
    if ((t.dims[0] ?? 1) % blk.elems !== 0) fail(file, `corrupt GGUF header: tensor '${t.name}' (${dtype}) has rows of ${t.dims[0]} values, not a multiple of the ${blk.elems}-value block`, t.name);
    const byteLength = (numel / blk.elems) * blk.bytes;
    if (t.offset % alignment !== 0) fail(file, `corrupt GGUF header: tensor '${t.name}' offset ${t.offset} is not aligned to ${alignment}`, t.name);
    if (t.offset + byteLength > dataSize) {
      fail(file, `truncated file: tensor '${t.name}' (${dtype}) ends at data byte ${t.offset + byteLength} but the data section has only ${Math.max(0, dataSize)} bytes (file size ${size}); re-download the file`, t.name);
    }
    let shape = [...t.dims].reverse();
    const orig = metadata.get(`comfy.gguf.orig_shape.${t.name}`);
    if (orig !== undefined) {
      if (!Array.isArray(orig) || !orig.every((d) => typeof d === 'number' && Number.isInteger(d) && d >= 0) || (orig as number[]).reduce((a, b) => a * b, 1) !== numel) {
        fail(file, `corrupt GGUF header: comfy.gguf.orig_shape.${t.name} = ${JSON.stringify(orig, (_, v) => (typeof v === 'bigint' ? String(v) : v))} does not describe the tensor's ${numel} values`, t.name);
      }
      shape = orig as number[];
    }
    tensors.push({ name: t.name, dtype, shape, numel, byteLength, filePosition: dataStart + t.offset, file });
  }
  tensors.sort((a, b) => a.filePosition - b.filePosition);
  for (let i = 1; i < tensors.length; i++) {
    const p = tensors[i - 1], t = tensors[i];
    if (p.byteLength && t.filePosition < p.filePosition + p.byteLength) fail(file, `corrupt GGUF header: tensors '${p.name}' and '${t.name}' overlap`, t.name);
  }
  return { version, alignment, metadata, tensors, dataStart };
}

/** A GGUF file with the same reading interface as SafetensorsFile (Checkpoint opens either). */
export class GgufFile {
  private readonly byName: Map<string, TensorInfo>;

  private constructor(
    readonly path: string,
    private fh: FileHandle | null,
    readonly fileSize: number,
    readonly header: GgufHeader,
  ) {
    this.byName = new Map(header.tensors.map((t) => [t.name, t]));
  }

  /**
   * Opens a file; tensors of llama.cpp-named architectures (T5 encoders: `enc.blk.N.attn_q.weight`, ...) are listed
   * under the names our families read (gguf-names.ts); `storedName` gives the name in the file.
   */
  static async open(path: string): Promise<GgufFile> {
    return openCheckpointFile(path, async (fh, size) => {
      const header = await parseGgufHeader(fh, size, path);
      const arch = header.metadata.get('general.architecture');
      const map = ggufNameMap(typeof arch === 'string' ? arch : undefined);
      if (map) {
        const seen = new Map<string, string>();
        header.tensors = header.tensors.map((t) => {
          const name = map(t.name);
          const prev = seen.get(name);
          if (prev !== undefined) fail(path, `corrupt GGUF header: tensors '${prev}' and '${t.name}' both map to '${name}'`, t.name);
          seen.set(name, t.name);
          return name === t.name ? t : { ...t, name, storedName: t.name };
        });
      }
      return new GgufFile(path, fh, size, header);
    });
  }

  /** The tensor's name as stored in the file (differs from `name` for llama.cpp-named architectures). */
  storedName(name: string): string {
    return (this.info(name) as TensorInfo & { storedName?: string }).storedName ?? name;
  }

  get fileName(): string {
    return basename(this.path);
  }

  get tensors(): readonly TensorInfo[] {
    return this.header.tensors;
  }

  /** Metadata as strings (the TensorListing contract); the typed values are in header.metadata. */
  get metadata(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of this.header.metadata) {
      if (Array.isArray(v) && v.length > 64) continue; // tokenizer vocabularies: not metadata anyone reads as text
      out[k] = typeof v === 'string' ? v : JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? String(x) : x));
    }
    return out;
  }

  names(): string[] {
    return this.header.tensors.map((t) => t.name);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  info(name: string): TensorInfo {
    const t = this.byName.get(name);
    if (!t) fail(this.path, `missing tensor '${name}' (the file has ${this.header.tensors.length} tensors${similarNames(name, this.byName.keys())})`, name);
    return t;
  }

  async readInto(name: string, dst: Uint8Array, tensorOffset = 0): Promise<void> {
    const t = this.info(name);
    if (tensorOffset < 0 || tensorOffset + dst.byteLength > t.byteLength) {
      throw new RangeError(`${this.path}: read of bytes [${tensorOffset}, ${tensorOffset + dst.byteLength}) is outside tensor '${name}' (${t.byteLength} bytes)`);
    }
    if (!this.fh) throw new CheckpointError(`${this.path}: file used after close()`, this.path);
    await readFully(this.fh, dst, t.filePosition + tensorOffset, this.path, name);
  }

  async read(name: string): Promise<Uint8Array> {
    const t = this.info(name);
    if (t.byteLength > MAX_WHOLE_READ_BYTES) fail(this.path, `tensor '${name}' is ${t.byteLength} bytes; read() is limited to ${MAX_WHOLE_READ_BYTES}: use chunks()`, name);
    const out = new Uint8Array(t.byteLength);
    await this.readInto(name, out);
    return out;
  }

  /** Streams a tensor in chunks of whole blocks (at most `chunkBytes`, at least one block). */
  async *chunks(name: string, chunkBytes = DEFAULT_CHUNK_BYTES): AsyncGenerator<Uint8Array> {
    const t = this.info(name);
    const { bytes } = blockOf(t.dtype);
    const step = Math.max(bytes, Math.floor(chunkBytes / bytes) * bytes);
    const buf = new Uint8Array(Math.min(step, t.byteLength));
    for (let off = 0; off < t.byteLength; off += step) {
      const view = buf.subarray(0, Math.min(step, t.byteLength - off));
      await this.readInto(name, view, off);
      yield view;
    }
  }

  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = null;
    if (fh) await fh.close();
  }
}
