// Synthetic checkpoints with the REAL tensor names and shapes of any family's configuration (tiny ones for tests
// and the parity goldens, full-size ones for the load benchmark), written through the streaming writer so even
// a 24 GB FLUX.1-dev-shaped file needs only one chunk buffer of host memory. A path ending in .safetensors is
// written as one file (BFL style); any other path as a folder of diffusion_pytorch_model*.safetensors (+ index
// when sharded) and the family's config.json.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { f32ToBf16Bits, f32ToF16Bits } from '../util/f16.js';
import { ITEM_BYTES } from '../loading/dtypes.js';
import { DIFFUSERS_INDEX } from '../loading/checkpoint.js';
import type { ExpectedTensor, FamilyConfig } from '../models/family.js';
import { familyOf } from '../models/registry.js';
import { SafetensorsWriter, specBytes, type TensorSpec } from '../loading/safetensors-writer.js';
import { mulberry32 } from '../util/random.js';

export type FloatDType = 'BF16' | 'F16' | 'F32';

export interface SyntheticOptions {
  dtype?: FloatDType;
  seed?: number;
  /** diffusers layout only: split into this many shards plus an index (default 1: one file). */
  shards?: number;
  /** Write config.json next to diffusers weights (default true). */
  configJson?: boolean;
  /**
   * Fast mode for huge files: tensor bytes are copied from one pre-generated pool of N(0,1) values (rotated
   * per tensor) instead of drawn and scaled per element. Values are then NOT independent across tensors.
   */
  fast?: boolean;
  /** Host chunk size for writing (default 64 MiB). */
  chunkBytes?: number;
  /** Include optional tensors (SD3's pos_embed table); default true. */
  includeOptional?: boolean;
  metadata?: Record<string, string>;
}

export interface SyntheticResult {
  files: string[];
  index: string | null;
  config: string | null;
  bytes: number;
  tensors: number;
}

const rng = mulberry32;

function hashName(name: string, seed: number): number {
  let h = (2166136261 ^ seed) >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619) >>> 0;
  return h;
}

/**
 * Plausible value scale per tensor class, so random-weight models keep activations in range: weights
 * ~ N(0, 1/fan_in), biases small, norm scales ~ 1 (RMSNorm/QK-norm weights multiply, they must not be ~0).
 */
export function syntheticInit(name: string, shape: readonly number[]): { mean: number; std: number } {
  if (shape.length === 1 && /norm/.test(name)) return { mean: 1, std: 0.1 };
  if (name.endsWith('.bias')) return { mean: 0, std: 0.02 };
  if (shape.length >= 2) {
    const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
    return { mean: 0, std: 1 / Math.sqrt(Math.max(1, fanIn)) };
  }
  return { mean: 0, std: 0.02 };
}

function encoder(dtype: FloatDType): (view: DataView, i: number, v: number) => void {
  if (dtype === 'F32') return (dv, i, v) => dv.setFloat32(i * 4, v, true);
  if (dtype === 'F16') return (dv, i, v) => dv.setUint16(i * 2, f32ToF16Bits(v), true);
  return (dv, i, v) => dv.setUint16(i * 2, f32ToBf16Bits(v), true);
}

/** Deterministic per-tensor values: element i of tensor `name` is the same whatever the chunking. */
export function syntheticValues(name: string, shape: readonly number[], seed: number, count: number): Float64Array {
  const { mean, std } = syntheticInit(name, shape);
  const r = rng(hashName(name, seed));
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const u = Math.max(r(), 1e-12);
    const v = r();
    out[i] = mean + std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  return out;
}

class ValueSource {
  private pool: Uint8Array | null = null;

  constructor(private readonly dtype: FloatDType, private readonly seed: number, private readonly fast: boolean, private readonly chunkBytes: number) {}

  /** Calls `sink` with the tensor's bytes in chunks of at most chunkBytes (one reused buffer). */
  async emit(spec: ExpectedTensor, buf: Uint8Array, sink: (bytes: Uint8Array) => Promise<void>): Promise<void> {
    const item = ITEM_BYTES[this.dtype];
    const total = specBytes({ ...spec, dtype: this.dtype });
    const perChunk = Math.floor(this.chunkBytes / item);
    if (this.fast) {
      const pool = this.poolBytes();
      let at = (hashName(spec.name, this.seed) % (pool.byteLength / item)) * item;
      for (let off = 0; off < total; ) {
        const n = Math.min(total - off, pool.byteLength - at, buf.byteLength);
        await sink(pool.subarray(at, at + n));
        off += n;
        at = (at + n) % pool.byteLength;
      }
      return;
    }
    // Scaled mode: generate the tensor's value stream once per chunk, reproducibly.
    const numel = total / item;
    const { mean, std } = syntheticInit(spec.name, spec.shape);
    const r = rng(hashName(spec.name, this.seed));
    const enc = encoder(this.dtype);
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    for (let e = 0; e < numel; e += perChunk) {
      const k = Math.min(perChunk, numel - e);
      for (let i = 0; i < k; i++) {
        const u = Math.max(r(), 1e-12);
        const v = r();
        enc(dv, i, mean + std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v));
      }
      await sink(buf.subarray(0, k * item));
    }
  }

  private poolBytes(): Uint8Array {
    if (this.pool) return this.pool;
    const item = ITEM_BYTES[this.dtype];
    // 16 MiB of N(0,1) values is plenty of variety for load benchmarks; encoded directly (no f64 staging).
    const n = Math.max(1024, Math.floor(Math.min(this.chunkBytes, 16 * 1024 * 1024) / item));
    const pool = new Uint8Array(n * item);
    const dv = new DataView(pool.buffer);
    const enc = encoder(this.dtype);
    const r = rng(hashName('__pool__', this.seed));
    for (let i = 0; i < n; i++) {
      const u = Math.max(r(), 1e-12);
      enc(dv, i, Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r()));
    }
    this.pool = pool;
    return pool;
  }
}

function splitShards(specs: TensorSpec[], shards: number): TensorSpec[][] {
  const total = specs.reduce((a, s) => a + specBytes(s), 0);
  const groups: TensorSpec[][] = Array.from({ length: shards }, () => []);
  let acc = 0;
  for (const s of specs) {
    const g = Math.min(shards - 1, Math.floor((acc / Math.max(1, total)) * shards));
    groups[g].push(s);
    acc += specBytes(s);
  }
  return groups.filter((g) => g.length > 0);
}

/**
 * Writes a checkpoint of configuration `c` with random values: to `path` itself when it ends in .safetensors,
 * else into the folder `path` (created) as diffusion_pytorch_model*.safetensors, the index when sharded, and the
 * family's config.json.
 */
export async function writeSyntheticCheckpoint(path: string, c: FamilyConfig, options: SyntheticOptions = {}): Promise<SyntheticResult> {
  const family = familyOf(c);
  const dtype = options.dtype ?? 'BF16';
  const seed = options.seed ?? 1;
  const chunkBytes = options.chunkBytes ?? 64 * 1024 * 1024;
  const expected = family.expectedTensors(c).filter((t) => options.includeOptional !== false || !t.optional);
  const byName = new Map(expected.map((t) => [t.name, t]));
  const specs: TensorSpec[] = expected.map((t) => ({ name: t.name, dtype, shape: t.shape }));
  const source = new ValueSource(dtype, seed, options.fast ?? false, chunkBytes);
  const buf = new Uint8Array(Math.min(chunkBytes, Math.max(...specs.map(specBytes), 8)));
  const metadata = { format: 'pt', ...(options.metadata ?? {}) };
  const writeFileOf = async (file: string, group: TensorSpec[]) => {
    const w = await SafetensorsWriter.create(file, group, metadata);
    for (const s of group) await source.emit(byName.get(s.name)!, buf, (b) => w.write(b));
    await w.close();
  };
  const bytes = specs.reduce((a, s) => a + specBytes(s), 0);
  if (path.endsWith('.safetensors')) {
    if ((options.shards ?? 1) !== 1) throw new Error(`synthetic: ${path} is a single file; give a folder path to write ${options.shards} shards`);
    await writeFileOf(path, specs);
    return { files: [path], index: null, config: null, bytes, tensors: specs.length };
  }
  await mkdir(path, { recursive: true });
  const groups = splitShards(specs, Math.max(1, options.shards ?? 1));
  const files: string[] = [];
  let index: string | null = null;
  if (groups.length === 1) {
    files.push(join(path, 'diffusion_pytorch_model.safetensors'));
    await writeFileOf(files[0], groups[0]);
  } else {
    const n = String(groups.length).padStart(5, '0');
    const weightMap: Record<string, string> = {};
    for (let k = 0; k < groups.length; k++) {
      const name = `diffusion_pytorch_model-${String(k + 1).padStart(5, '0')}-of-${n}.safetensors`;
      files.push(join(path, name));
      await writeFileOf(files[k], groups[k]);
      for (const s of groups[k]) weightMap[s.name] = name;
    }
    index = join(path, DIFFUSERS_INDEX);
    await writeFile(index, JSON.stringify({ metadata: { total_size: bytes }, weight_map: weightMap }, null, 2));
  }
  let config: string | null = null;
  if (options.configJson !== false && family.configJson) {
    config = join(path, 'config.json');
    await writeFile(config, JSON.stringify(family.configJson(c), null, 2));
  }
  return { files, index, config, bytes, tensors: specs.length };
}
