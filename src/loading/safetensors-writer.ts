// A streaming safetensors writer: the header (all names, dtypes, shapes, offsets) is written first, then the
// data is appended tensor by tensor in declaration order, in chunks of any size. Used for tests' tiny
// checkpoints, the synthetic checkpoints of the parity work, and the full-size random files of the load
// benchmark (24 GB written with one reusable chunk buffer).
import { open, type FileHandle } from 'node:fs/promises';
import { ITEM_BYTES, type SafetensorsDType } from './dtypes.js';

export interface TensorSpec {
  name: string;
  dtype: SafetensorsDType;
  shape: readonly number[];
}

export function specBytes(s: TensorSpec): number {
  return s.shape.reduce((a, b) => a * b, 1) * ITEM_BYTES[s.dtype];
}

/** The header bytes (length prefix + JSON, space-padded to 8 bytes so the data section stays 8-aligned). */
export function encodeHeader(specs: readonly TensorSpec[], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  const seen = new Set<string>();
  for (const s of specs) {
    if (s.name === '__metadata__' || seen.has(s.name)) throw new Error(`safetensors writer: duplicate or reserved tensor name '${s.name}'`);
    seen.add(s.name);
    const bytes = specBytes(s);
    header[s.name] = { dtype: s.dtype, shape: [...s.shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.byteLength / 8) * 8;
  if (padded !== json.byteLength) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.byteLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.byteLength), true);
  out.set(json, 8);
  return out;
}

export class SafetensorsWriter {
  private index = 0;
  /** Bytes written into the current tensor. */
  private inTensor = 0;
  private position: number;

  private constructor(
    readonly path: string,
    private fh: FileHandle,
    private readonly specs: readonly TensorSpec[],
    headerBytes: number,
  ) {
    this.position = headerBytes;
  }

  static async create(path: string, specs: readonly TensorSpec[], metadata?: Record<string, string>): Promise<SafetensorsWriter> {
    const header = encodeHeader(specs, metadata);
    const fh = await open(path, 'w');
    try {
      await writeAll(fh, header, 0);
    } catch (e) {
      await fh.close();
      throw e;
    }
    const w = new SafetensorsWriter(path, fh, specs, header.byteLength);
    w.skipEmpty();
    return w;
  }

  /** The tensor the next bytes belong to (null once all are complete). */
  get current(): TensorSpec | null {
    return this.specs[this.index] ?? null;
  }

  /** Appends data bytes; a call may span tensor boundaries. Refuses bytes beyond the declared total. */
  async write(bytes: Uint8Array): Promise<void> {
    let off = 0;
    while (off < bytes.byteLength) {
      const spec = this.current;
      if (!spec) throw new Error(`${this.path}: ${bytes.byteLength - off} bytes written past the last declared tensor`);
      const take = Math.min(specBytes(spec) - this.inTensor, bytes.byteLength - off);
      await writeAll(this.fh, bytes.subarray(off, off + take), this.position);
      this.position += take;
      this.inTensor += take;
      off += take;
      if (this.inTensor === specBytes(spec)) {
        this.index++;
        this.inTensor = 0;
        this.skipEmpty();
      }
    }
  }

  /** Writes one whole tensor; it must be the next declared one. */
  async writeTensor(name: string, bytes: Uint8Array): Promise<void> {
    const spec = this.current;
    if (!spec || spec.name !== name || this.inTensor !== 0) {
      throw new Error(`${this.path}: writeTensor('${name}') out of order; the next tensor is '${spec?.name ?? '(none)'}'`);
    }
    if (bytes.byteLength !== specBytes(spec)) {
      throw new Error(`${this.path}: tensor '${name}' ${spec.dtype} [${spec.shape}] needs ${specBytes(spec)} bytes, got ${bytes.byteLength}`);
    }
    await this.write(bytes);
  }

  private skipEmpty(): void {
    while (this.current && specBytes(this.current) === 0) this.index++;
  }

  async close(): Promise<void> {
    const missing = this.current;
    await this.fh.close();
    if (missing) throw new Error(`${this.path}: closed before tensor '${missing.name}' was fully written (${this.inTensor} of ${specBytes(missing)} bytes)`);
  }
}

async function writeAll(fh: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.byteLength) {
    const { bytesWritten } = await fh.write(bytes, done, bytes.byteLength - done, position + done);
    done += bytesWritten;
  }
}

/** Writes a small checkpoint in one call (tests, tiny synthetic models). */
export async function writeSafetensors(
  path: string,
  tensors: readonly (TensorSpec & { data: Uint8Array })[],
  metadata?: Record<string, string>,
): Promise<void> {
  const w = await SafetensorsWriter.create(path, tensors, metadata);
  for (const t of tensors) if (specBytes(t) > 0) await w.writeTensor(t.name, t.data);
  await w.close();
}
