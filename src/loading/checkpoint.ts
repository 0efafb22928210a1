// One view over a checkpoint component however it is stored: a single .safetensors file (flux1-dev.safetensors,
// t5xxl_fp16.safetensors, clip_l.safetensors, ae.safetensors), a diffusers component folder
// (`transformer/`, `vae/`: `diffusion_pytorch_model.safetensors`, or sharded `diffusion_pytorch_model-0000K-of-
// 0000N.safetensors` + `diffusion_pytorch_model.safetensors.index.json`), or a transformers folder
// (`text_encoder_2/`: `model.safetensors`, or `model-0000K-of-0000N.safetensors` + `model.safetensors.index.json`),
// each with its `config.json`. listTensors()/info()/read()/chunks() hide which shard holds a tensor; every error
// names the shard file and the tensor. A .gguf file (gguf.ts) opens the same way, as a single file. Nothing here knows a model: callers say which component folder of a
// pipeline root they want and which sibling files are not it.
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { GgufFile } from './gguf.js';
import { isQuantCompanion } from './quant-formats.js';
import { CheckpointError, DEFAULT_CHUNK_BYTES, SafetensorsFile, similarNames, type TensorInfo } from './safetensors.js';

/** A checkpoint file of either container format (same reading interface). */
export type TensorFile = SafetensorsFile | GgufFile;

/** Weight file and shard index names of the two Hugging Face libraries, in the order they are tried. */
export const WEIGHT_FILES = ['diffusion_pytorch_model.safetensors', 'model.safetensors'] as const;
export const INDEX_FILES = WEIGHT_FILES.map((f) => `${f}.index.json`);
export const DIFFUSERS_WEIGHTS = WEIGHT_FILES[0];
export const DIFFUSERS_INDEX = INDEX_FILES[0];
/** Prefixes single-file exports put on every tensor name (ComfyUI / original Stability files). */
export const DEFAULT_STRIP_PREFIXES = ['model.diffusion_model.'];
const SHARD = /-\d+-of-\d+\.safetensors$/;

export interface OpenOptions {
  /**
   * When the path is a pipeline root (a folder holding component folders), the component folder to open
   * ('transformer', 'vae', 'text_encoder_2'). Default: none (the folder itself is the component).
   */
  component?: string;
  /** Files in a folder that are never this component's weights (e.g. a pipeline root's `ae.safetensors`). */
  ignoreFiles?: RegExp;
  /** Name prefixes stripped when every tensor of a single file carries one (default DEFAULT_STRIP_PREFIXES). */
  stripPrefixes?: readonly string[];
  /** Says what the caller looks for, in messages ('transformer weights'; default 'weights'). */
  what?: string;
}

interface Located {
  file: TensorFile;
  /** The name inside the file (with any stripped prefix). */
  raw: string;
}

export interface ResolvedCheckpoint {
  /** Weight files to open. */
  files: string[];
  /** The shard index, for sharded checkpoints. */
  index: string | null;
  /** config.json next to the weights, when present. */
  config: string | null;
}

async function kind(path: string): Promise<'file' | 'dir' | null> {
  try {
    const s = await stat(path);
    return s.isDirectory() ? 'dir' : s.isFile() ? 'file' : null;
  } catch {
    return null;
  }
}

async function siblingConfig(dir: string): Promise<string | null> {
  const c = join(dir, 'config.json');
  return (await kind(c)) === 'file' ? c : null;
}

/** Hugging Face library file names (diffusion_pytorch_model*, model*) come with a config.json; single files do not. */
function isLibraryFile(name: string): boolean {
  return /^(diffusion_pytorch_model|model)(-\d+-of-\d+)?\.safetensors$/.test(name);
}

/**
 * Finds a component's weights from what a user points at: a .safetensors file, an index file, a component
 * folder, or a pipeline root that contains `options.component`.
 */
export async function resolveCheckpoint(path: string, options: OpenOptions = {}): Promise<ResolvedCheckpoint> {
  const what = options.what ?? 'weights';
  const ignored = (f: string) => SHARD.test(f) || (options.ignoreFiles?.test(f) ?? false);
  const k = await kind(path);
  if (k === null) throw new CheckpointError(`${path}: no such file or folder (give the path of a .safetensors file or a model folder)`, path);
  if (k === 'file') {
    if (path.endsWith('.index.json')) return { files: [], index: path, config: await siblingConfig(dirname(path)) };
    if (path.endsWith('.gguf')) return { files: [path], index: null, config: null };
    if (path.endsWith('.safetensors')) {
      const config = isLibraryFile(basename(path)) ? await siblingConfig(dirname(path)) : null;
      return { files: [path], index: null, config };
    }
    throw new CheckpointError(`${path}: not a checkpoint (expected a .safetensors or .gguf file, a *.safetensors.index.json, or a folder)`, path);
  }
  if (options.component && (await kind(join(path, options.component))) === 'dir') {
    try {
      return await resolveCheckpoint(join(path, options.component), { ...options, component: undefined });
    } catch (e) {
      // A component folder without weights (only config.json downloaded): fall back to one single file in the root.
      const rootFile = (await readdir(path)).filter((f) => f.endsWith('.safetensors') && !ignored(f));
      if (rootFile.length !== 1) throw e;
      return { files: [join(path, rootFile[0])], index: null, config: null };
    }
  }
  for (const idx of INDEX_FILES) if ((await kind(join(path, idx))) === 'file') return { files: [], index: join(path, idx), config: await siblingConfig(path) };
  for (const w of WEIGHT_FILES) if ((await kind(join(path, w))) === 'file') return { files: [join(path, w)], index: null, config: await siblingConfig(path) };
  const entries = (await readdir(path)).sort();
  const indexes = entries.filter((e) => e.endsWith('.safetensors.index.json'));
  if (indexes.length === 1) return { files: [], index: join(path, indexes[0]), config: await siblingConfig(path) };
  const weights = entries.filter((e) => (e.endsWith('.safetensors') || e.endsWith('.gguf')) && !ignored(e));
  if (weights.length === 1 && indexes.length === 0) return { files: [join(path, weights[0])], index: null, config: null };
  const shards = entries.filter((e) => SHARD.test(e));
  if (shards.length && !indexes.length) {
    throw new CheckpointError(`${path}: found sharded weights (${shards.join(', ')}) but no *.safetensors.index.json; download the index file too`, path);
  }
  const found = [...weights, ...indexes];
  throw new CheckpointError(
    found.length
      ? `${path}: several candidate checkpoints (${found.join(', ')}); give the path of one file instead of the folder`
      : `${path}: no ${what} found (expected ${WEIGHT_FILES.join(' or ')}, a shard index${options.component ? `, a ${options.component}/ folder` : ''}, or one .safetensors file)`,
    path,
  );
}

async function readJson(path: string, what: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new CheckpointError(`${path}: cannot read ${what} (${(e as Error).message})`, path);
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object');
    return v as Record<string, unknown>;
  } catch (e) {
    throw new CheckpointError(`${path}: ${what} is not valid JSON (${(e as Error).message})`, path);
  }
}

export class Checkpoint {
  private readonly located = new Map<string, Located>();

  private constructor(
    /** What the user pointed at. */
    readonly path: string,
    readonly files: readonly TensorFile[],
    readonly indexPath: string | null,
    readonly configPath: string | null,
    /** config.json contents (null for single files). */
    readonly configJson: Record<string, unknown> | null,
    /** Prefix stripped from every tensor name ('' when none). */
    readonly namePrefix: string,
  ) {}

  /** Opens a file, component folder or (with options.component) a pipeline root; reads headers only. */
  static async open(path: string, options: OpenOptions = {}): Promise<Checkpoint> {
    const r = await resolveCheckpoint(path, options);
    const opened: TensorFile[] = [];
    try {
      let weightMap: Record<string, string> | null = null;
      let files = r.files;
      if (r.index) {
        const idx = await readJson(r.index, 'shard index');
        const wm = idx.weight_map;
        if (wm === null || typeof wm !== 'object' || Array.isArray(wm) || !Object.values(wm).every((v) => typeof v === 'string')) {
          throw new CheckpointError(`${r.index}: shard index has no "weight_map" of tensor name -> shard file`, r.index);
        }
        weightMap = wm as Record<string, string>;
        const shardNames = [...new Set(Object.values(weightMap))].sort();
        files = [];
        for (const s of shardNames) {
          const p = join(dirname(r.index), s);
          if ((await kind(p)) !== 'file') {
            throw new CheckpointError(`${p}: shard listed in ${basename(r.index)} is missing (incomplete download?)`, p);
          }
          files.push(p);
        }
      }
      for (const f of files) opened.push(f.endsWith('.gguf') ? await GgufFile.open(f) : await SafetensorsFile.open(f));
      const config = r.config ? await readJson(r.config, 'config.json') : null;
      const prefix = opened.length === 1 ? commonKnownPrefix(opened[0].names(), options.stripPrefixes ?? DEFAULT_STRIP_PREFIXES) : '';
      const ck = new Checkpoint(path, opened, r.index, r.config, config, prefix);
      ck.indexTensors(weightMap);
      return ck;
    } catch (e) {
      await Promise.all(opened.map((f) => f.close()));
      throw e;
    }
  }

  private indexTensors(weightMap: Record<string, string> | null): void {
    for (const file of this.files) {
      for (const raw of file.names()) {
        const name = raw.slice(this.namePrefix.length);
        const prev = this.located.get(name);
        if (prev) {
          throw new CheckpointError(`${file.path}: tensor '${name}' is also stored in ${prev.file.path}; a checkpoint must hold each tensor once`, file.path, name);
        }
        this.located.set(name, { file, raw });
      }
    }
    if (!weightMap || !this.indexPath) return;
    for (const [name, shard] of Object.entries(weightMap)) {
      const at = this.located.get(name);
      const shardPath = join(dirname(this.indexPath), shard);
      if (!at) {
        throw new CheckpointError(`${shardPath}: missing tensor '${name}' (the index ${basename(this.indexPath)} places it in this shard but its header lacks it)`, shardPath, name);
      }
      if (at.file.path !== shardPath) {
        throw new CheckpointError(`${at.file.path}: tensor '${name}' is in this shard but the index places it in ${shard}`, at.file.path, name);
      }
    }
  }

  /** safetensors __metadata__ of the first file (shards of one checkpoint carry the same). */
  get metadata(): Record<string, string> {
    return this.files[0]?.metadata ?? {};
  }

  /** Where the weights come from, for messages: the file, or the folder of shards. */
  get description(): string {
    return this.files.length === 1 ? this.files[0].path : `${dirname(this.files[0]?.path ?? this.path)} (${this.files.length} shards)`;
  }

  /** Tensor names, without quantization companions (fp8 `*.scale_weight`, the `scaled_fp8` marker): the loader reads those itself. */
  listTensors(): string[] {
    return [...this.located.keys()].filter((n) => !isQuantCompanion(n));
  }

  has(name: string): boolean {
    return this.located.has(name);
  }

  private locate(name: string): Located {
    const at = this.located.get(name);
    if (!at) {
      throw new CheckpointError(
        `${this.description}: missing tensor '${name}' (the checkpoint has ${this.located.size} tensors${similarNames(name, this.located.keys())})`,
        this.description, name,
      );
    }
    return at;
  }

  /** Name, dtype, shape, byte size, and the shard file holding the tensor. */
  info(name: string): TensorInfo {
    const at = this.locate(name);
    return { ...at.file.info(at.raw), name };
  }

  read(name: string): Promise<Uint8Array> {
    const at = this.locate(name);
    return at.file.read(at.raw);
  }

  readInto(name: string, dst: Uint8Array, tensorOffset = 0): Promise<void> {
    const at = this.locate(name);
    return at.file.readInto(at.raw, dst, tensorOffset);
  }

  chunks(name: string, chunkBytes = DEFAULT_CHUNK_BYTES): AsyncGenerator<Uint8Array> {
    const at = this.locate(name);
    return at.file.chunks(at.raw, chunkBytes);
  }

  /** Total bytes of tensor data. */
  get totalBytes(): number {
    let n = 0;
    for (const f of this.files) for (const t of f.tensors) n += t.byteLength;
    return n;
  }

  async close(): Promise<void> {
    await Promise.all(this.files.map((f) => f.close()));
  }
}

function commonKnownPrefix(names: string[], prefixes: readonly string[]): string {
  for (const p of prefixes) if (names.length && names.every((n) => n.startsWith(p))) return p;
  return '';
}
