// A streaming safetensors reader. The npm `safetensors` package reads a whole file into one buffer, which for a
// 24 GB FLUX.1-dev checkpoint means 24 GB of host memory; this reader parses only the header up front and then
// reads tensor by tensor (large tensors in bounded chunks) through one FileHandle, so the process's host
// memory stays bounded by the chunk size whatever the checkpoint size.
//
// Format: 8-byte little-endian u64 N, then N bytes of UTF-8 JSON {name: {dtype, shape, data_offsets:[b,e]},
// "__metadata__": {string: string}}, then the data section; offsets are relative to the data section's start.
import { open, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { UserInputError } from '../util/errors.js';
import { ITEM_BYTES, isSafetensorsDType, type SafetensorsDType, type TensorDType } from './dtypes.js';

/** Headers beyond this are refused as corrupt (real ones are ~100 KB; the reference implementation caps at 100 MB). */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;
/** Default streaming chunk: large enough for full disk throughput, small enough to keep peak RSS low. */
export const DEFAULT_CHUNK_BYTES = 64 * 1024 * 1024;
/** read() returns a whole tensor in one buffer only up to this size; larger tensors must be streamed. */
export const MAX_WHOLE_READ_BYTES = 512 * 1024 * 1024;

export interface TensorInfo {
  name: string;
  /** Element type: a safetensors dtype, or a GGUF block type (gguf.ts). */
  dtype: TensorDType;
  shape: number[];
  numel: number;
  byteLength: number;
  /** Absolute byte position of the tensor's first byte in the file. */
  filePosition: number;
  /** The file holding the tensor (path as given to open()). */
  file: string;
  /** The name in the file when the reader lists it under another (llama.cpp-named GGUF: gguf-names.ts). */
  storedName?: string;
}

/** A tensor of a safetensors file (its dtype is always a safetensors one). */
export interface SafetensorsTensorInfo extends TensorInfo {
  dtype: SafetensorsDType;
}

/** Any problem with a checkpoint file: the message names the file and, where there is one, the tensor. */
export class CheckpointError extends UserInputError {
  constructor(
    message: string,
    readonly file: string,
    readonly tensor?: string,
  ) {
    super(message, 'BAD_FILE');
    this.name = 'CheckpointError';
  }
}

export interface ParsedHeader {
  metadata: Record<string, string>;
  /** Tensors in data-offset order. */
  tensors: SafetensorsTensorInfo[];
  /** Absolute position of the data section (8 + header length). */
  dataStart: number;
}

function fail(file: string, message: string, tensor?: string): never {
  throw new CheckpointError(`${file}: ${message}`, file, tensor);
}

function isNonNegInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

/**
 * Reads the 8-byte length prefix and bounds-checks it against the file size. Separate from the JSON parse so
 * the reader can read exactly the header bytes and nothing more.
 */
export function parseHeaderLength(prefix: Uint8Array, fileSize: number, file: string, maxHeaderBytes = MAX_HEADER_BYTES): number {
  if (fileSize < 8 || prefix.byteLength < 8) {
    fail(file, `truncated file: ${fileSize} bytes is too short to hold the 8-byte safetensors header length`);
  }
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(maxHeaderBytes)) {
    fail(file, `corrupt header: header length ${n} bytes exceeds the ${maxHeaderBytes}-byte limit (not a safetensors file, or a damaged one)`);
  }
  const len = Number(n);
  if (len < 2) fail(file, `corrupt header: header length ${len} is too small to hold a JSON object`);
  if (8 + len > fileSize) {
    fail(file, `truncated file or corrupt header: the header claims ${len} bytes but the file has only ${fileSize - 8} after the length prefix`);
  }
  return len;
}

/**
 * Parses and validates the JSON header: dtypes known, shapes non-negative integers, byte length equal to
 * numel * itemsize, every tensor inside the data section, no two tensors overlapping. Contiguity and order are
 * not required by the format, so they are not checked.
 */
export function parseHeaderJson(json: Uint8Array, fileSize: number, file: string): ParsedHeader {
  const dataStart = 8 + json.byteLength;
  const dataSize = fileSize - dataStart;
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(json));
  } catch (e) {
    fail(file, `corrupt header: the ${json.byteLength}-byte header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    fail(file, 'corrupt header: the header JSON is not an object of tensors');
  }
  const metadata: Record<string, string> = {};
  const tensors: SafetensorsTensorInfo[] = [];
  for (const [name, entry] of Object.entries(parsed as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) fail(file, 'corrupt header: __metadata__ is not an object of strings');
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(file, `corrupt header: __metadata__['${k}'] is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) fail(file, `corrupt header: entry for tensor '${name}' is not an object`, name);
    const { dtype, shape, data_offsets: offsets } = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!isSafetensorsDType(dtype)) {
      fail(file, `bad dtype: tensor '${name}' has dtype ${JSON.stringify(dtype)}; known dtypes are ${Object.keys(ITEM_BYTES).join(', ')}`, name);
    }
    if (!Array.isArray(shape) || !shape.every(isNonNegInt)) {
      fail(file, `corrupt header: tensor '${name}' has shape ${JSON.stringify(shape)}; expected an array of non-negative integers`, name);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegInt) || offsets[0] > offsets[1]) {
      fail(file, `corrupt header: tensor '${name}' has data_offsets ${JSON.stringify(offsets)}; expected [begin, end] with 0 <= begin <= end`, name);
    }
    const numel = (shape as number[]).reduce((a, b) => a * b, 1);
    const byteLength = numel * ITEM_BYTES[dtype];
    const [begin, end] = offsets as [number, number];
    if (end - begin !== byteLength) {
      fail(file, `mis-shaped tensor: '${name}' is ${dtype} [${shape}] (${byteLength} bytes) but its data_offsets [${begin}, ${end}] span ${end - begin} bytes`, name);
    }
    if (end > dataSize) {
      fail(file, `truncated file: tensor '${name}' ends at data byte ${end} but the data section has only ${Math.max(0, dataSize)} bytes (file size ${fileSize}); re-download the file`, name);
    }
    tensors.push({ name, dtype, shape: [...(shape as number[])], numel, byteLength, filePosition: dataStart + begin, file });
  }
  tensors.sort((a, b) => a.filePosition - b.filePosition || a.byteLength - b.byteLength);
  // Overlap check on the sorted list: each non-empty tensor must start at or after the previous one's end.
  let prev: SafetensorsTensorInfo | null = null;
  for (const t of tensors) {
    if (t.byteLength === 0) continue;
    if (prev && t.filePosition < prev.filePosition + prev.byteLength) {
      fail(file, `corrupt header: tensors '${prev.name}' and '${t.name}' overlap (data bytes [${prev.filePosition - dataStart}, ${prev.filePosition - dataStart + prev.byteLength}) and [${t.filePosition - dataStart}, ${t.filePosition - dataStart + t.byteLength}))`, t.name);
    }
    prev = t;
  }
  return { metadata, tensors, dataStart };
}

/** Fills `dst` from `position`, looping over short reads; a read returning 0 bytes means the file is shorter. */
/**
 * Opens a checkpoint file for reading and hands it to `parse` (which reads its header); a file that cannot be
 * opened is a CheckpointError naming it, and the handle is closed if parsing fails. Every container format
 * (safetensors, GGUF) opens its files through here.
 */
export async function openCheckpointFile<T>(path: string, parse: (fh: FileHandle, size: number) => Promise<T>): Promise<T> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw new CheckpointError(`${path}: cannot open checkpoint file (${(e as Error).message})`, path);
  }
  try {
    const { size } = await fh.stat();
    return await parse(fh, size);
  } catch (e) {
    await fh.close();
    throw e;
  }
}

export async function readFully(fh: FileHandle, dst: Uint8Array, position: number, file: string, tensor?: string): Promise<void> {
  let done = 0;
  while (done < dst.byteLength) {
    const { bytesRead } = await fh.read(dst, done, dst.byteLength - done, position + done);
    if (bytesRead === 0) {
      fail(file, `truncated file: ${tensor ? `tensor '${tensor}' ` : ''}needs bytes up to position ${position + dst.byteLength} but the file ends at ${position + done}`, tensor);
    }
    done += bytesRead;
  }
}

export class SafetensorsFile {
  private readonly byName: Map<string, SafetensorsTensorInfo>;
  private chunk: Uint8Array | null = null;
  private chunkInUse = false;

  private constructor(
    readonly path: string,
    private fh: FileHandle | null,
    readonly fileSize: number,
    readonly dataStart: number,
    readonly metadata: Record<string, string>,
    /** Tensors in file order. */
    readonly tensors: readonly SafetensorsTensorInfo[],
  ) {
    this.byName = new Map(tensors.map((t) => [t.name, t]));
  }

  /** Opens a file and validates its header; reads nothing else. */
  static async open(path: string, options: { maxHeaderBytes?: number } = {}): Promise<SafetensorsFile> {
    return openCheckpointFile(path, async (fh, size) => {
      const prefix = new Uint8Array(8);
      if (size >= 8) await readFully(fh, prefix, 0, path);
      const len = parseHeaderLength(prefix, size, path, options.maxHeaderBytes);
      const json = new Uint8Array(len);
      await readFully(fh, json, 8, path);
      const h = parseHeaderJson(json, size, path);
      return new SafetensorsFile(path, fh, size, h.dataStart, h.metadata, h.tensors);
    });
  }

  get fileName(): string {
    return basename(this.path);
  }

  names(): string[] {
    return this.tensors.map((t) => t.name);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  info(name: string): SafetensorsTensorInfo {
    const t = this.byName.get(name);
    if (!t) fail(this.path, `missing tensor '${name}' (the file has ${this.tensors.length} tensors${similarNames(name, this.byName.keys())})`, name);
    return t;
  }

  private handle(): FileHandle {
    if (!this.fh) throw new CheckpointError(`${this.path}: file used after close()`, this.path);
    return this.fh;
  }

  /** Reads `dst.byteLength` bytes of tensor `name`, starting `tensorOffset` bytes into it. */
  async readInto(name: string, dst: Uint8Array, tensorOffset = 0): Promise<void> {
    const t = this.info(name);
    if (tensorOffset < 0 || tensorOffset + dst.byteLength > t.byteLength) {
      throw new RangeError(`${this.path}: read of bytes [${tensorOffset}, ${tensorOffset + dst.byteLength}) is outside tensor '${name}' (${t.byteLength} bytes)`);
    }
    await readFully(this.handle(), dst, t.filePosition + tensorOffset, this.path, name);
  }

  /** A whole tensor in a new buffer (for small tensors; stream large ones with chunks()). */
  async read(name: string): Promise<Uint8Array> {
    const t = this.info(name);
    if (t.byteLength > MAX_WHOLE_READ_BYTES) {
      fail(this.path, `tensor '${name}' is ${t.byteLength} bytes; read() is limited to ${MAX_WHOLE_READ_BYTES} to bound host memory: use chunks()`, name);
    }
    const out = new Uint8Array(t.byteLength);
    await this.readInto(name, out);
    return out;
  }

  /**
   * Streams a tensor in chunks of at most `chunkBytes` (rounded down to whole elements). Every chunk is a view
   * into ONE reused buffer: consume it (write to the GPU, convert, hash) before asking for the next.
   */
  async *chunks(name: string, chunkBytes = DEFAULT_CHUNK_BYTES): AsyncGenerator<Uint8Array> {
    const t = this.info(name);
    const item = ITEM_BYTES[t.dtype];
    const step = Math.max(item, Math.floor(chunkBytes / item) * item);
    // The file's shared buffer, unless another chunks() stream is still using it (then a private one).
    const shared = !this.chunkInUse;
    const buf = shared ? this.chunkBuffer(Math.min(step, t.byteLength)) : new Uint8Array(Math.min(step, t.byteLength));
    if (shared) this.chunkInUse = true;
    try {
      for (let off = 0; off < t.byteLength; off += step) {
        const view = buf.subarray(0, Math.min(step, t.byteLength - off));
        await readFully(this.handle(), view, t.filePosition + off, this.path, name);
        yield view;
      }
    } finally {
      if (shared) this.chunkInUse = false;
    }
  }

  /** The reusable chunk buffer, grown on demand (never beyond the largest chunk asked for). */
  private chunkBuffer(bytes: number): Uint8Array {
    if (!this.chunk || this.chunk.byteLength < bytes) this.chunk = new Uint8Array(bytes);
    return this.chunk;
  }

  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = null;
    this.chunk = null;
    if (fh) await fh.close();
  }
}

/** "; similar names: a, b" for a missing-name error (most shared dot-components first), so a typo or a layout mix-up is obvious. */
export function similarNames(name: string, names: Iterable<string>, limit = 3): string {
  const parts = name.split('.');
  const scored: [number, string][] = [];
  for (const n of names) {
    const q = n.split('.');
    let score = 0;
    for (let i = 0; i < Math.min(q.length, parts.length); i++) if (q[i] === parts[i]) score += 1;
    if (q.length === parts.length) score += 0.5;
    if (score >= Math.max(1, parts.length / 2)) scored.push([score, n]);
  }
  scored.sort((a, b) => b[0] - a[0] || (a[1] < b[1] ? -1 : 1));
  const hits = scored.slice(0, limit).map((s) => s[1]);
  return hits.length ? `; similar names: ${hits.join(', ')}` : '';
}
