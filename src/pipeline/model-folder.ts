// What `--model` points at, resolved into the paths of each pipeline component, before anything is loaded:
//   a diffusers pipeline folder: model_index.json naming transformer/, vae/, text_encoder*/, tokenizer*/,
//     scheduler/ (FluxPipeline: CLIP-L + T5; StableDiffusion3Pipeline: CLIP-L + CLIP-G + T5);
//   a BFL-style folder of single files: flux1-*.safetensors (transformer), ae.safetensors (VAE),
//     t5xxl*.safetensors and clip_l*.safetensors (text encoders; or text_encoder/, text_encoder_2/ folders), with
//     the two tokenizers as tokenizer/ (CLIP)
//     and tokenizer_2/ (T5) folders copied from the diffusers release (BFL ships no tokenizer files).
// Every missing piece is reported at once, with the file or folder that would fix it.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { DitFamilyId } from './request-state.js';

export interface ModelFolder {
  root: string;
  layout: 'diffusers' | 'bfl';
  /** The pipeline class model_index.json names ('FluxPipeline', ...); 'BFL files' for the single-file set. */
  pipelineClass: string;
  family: DitFamilyId;
  transformer: string;
  vae: string;
  /** Text encoders, by role. FLUX: clipL + t5; SD3: clipL + clipG + t5. */
  textEncoders: { clipL: string; clipG?: string; t5: string | null };
  /** t5 null: an SD3 folder saved without T5 (model_index.json lists text_encoder_3 as null; its context is zeros). */
  tokenizers: { clipL: string; clipG?: string; t5: string | null };
  /** scheduler/scheduler_config.json contents, when present. */
  schedulerConfig: Record<string, unknown> | null;
  /** Optional generation defaults shipped with the model (tetriserve.json: steps, guidance, width, height, ...). */
  defaults: Record<string, unknown> | null;
  /** vae/config.json sample_size: the image size the model was made for (1024 for FLUX.1 and SD3). */
  vaeSampleSize: number | null;
  /** The T5 tokenizer's model_max_length (tokenizer_config.json), when it says one. */
  t5MaxLength: number | null;
}

async function positiveInt(path: string, key: string): Promise<number | null> {
  const j = await readJson(path).catch(() => null);
  const v = j?.[key];
  return typeof v === 'number' && Number.isInteger(v) && v > 0 && v < 1e6 ? v : null;
}

async function kind(p: string): Promise<'file' | 'dir' | null> {
  try {
    const s = await stat(p);
    return s.isDirectory() ? 'dir' : s.isFile() ? 'file' : null;
  } catch {
    return null;
  }
}

async function readJson(p: string): Promise<Record<string, unknown> | null> {
  if ((await kind(p)) !== 'file') return null;
  let v: unknown;
  try {
    v = JSON.parse(await readFile(p, 'utf8'));
  } catch (e) {
    throw new Error(`${p}: not valid JSON (${(e as Error).message})`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${p}: expected a JSON object`);
  return v as Record<string, unknown>;
}

const PIPELINES: Record<string, { family: DitFamilyId; encoders: Record<string, 'clipL' | 'clipG' | 't5'>; tokenizers: Record<string, 'clipL' | 'clipG' | 't5'> }> = {
  FluxPipeline: { family: 'flux', encoders: { text_encoder: 'clipL', text_encoder_2: 't5' }, tokenizers: { tokenizer: 'clipL', tokenizer_2: 't5' } },
  FluxImg2ImgPipeline: { family: 'flux', encoders: { text_encoder: 'clipL', text_encoder_2: 't5' }, tokenizers: { tokenizer: 'clipL', tokenizer_2: 't5' } },
  StableDiffusion3Pipeline: {
    family: 'sd3',
    encoders: { text_encoder: 'clipL', text_encoder_2: 'clipG', text_encoder_3: 't5' },
    tokenizers: { tokenizer: 'clipL', tokenizer_2: 'clipG', tokenizer_3: 't5' },
  },
};
PIPELINES.StableDiffusion3Img2ImgPipeline = PIPELINES.StableDiffusion3Pipeline;

export async function resolveModelFolder(root: string): Promise<ModelFolder> {
  const k = await kind(root);
  if (k === null) throw new Error(`--model ${root}: no such folder (give a diffusers pipeline folder with model_index.json, or a folder of BFL files)`);
  if (k === 'file') {
    throw new Error(`--model ${root}: a single file is only the transformer; \`dit generate\` needs the whole pipeline: ` +
      'point --model at the folder holding it with ae.safetensors, t5xxl*.safetensors, clip_l*.safetensors and tokenizer folders, or at a diffusers pipeline folder');
  }
  const index = await readJson(join(root, 'model_index.json'));
  const defaults = await readJson(join(root, 'tetriserve.json'));
  return index ? resolveDiffusers(root, index, defaults) : resolveBfl(root, defaults);
}

async function resolveDiffusers(root: string, index: Record<string, unknown>, defaults: Record<string, unknown> | null): Promise<ModelFolder> {
  const cls = String(index._class_name ?? '');
  const spec = PIPELINES[cls];
  if (!spec) {
    throw new Error(`${join(root, 'model_index.json')}: pipeline class '${cls}' is not supported; ` +
      `supported: ${Object.keys(PIPELINES).join(', ')}`);
  }
  const missing: string[] = [];
  const need = async (name: string, what: string): Promise<string> => {
    const p = join(root, name);
    if ((await kind(p)) !== 'dir') missing.push(`${name}/ (${what})`);
    return p;
  };
  const transformer = await need('transformer', 'the denoising transformer');
  const vae = await need('vae', 'the autoencoder');
  const textEncoders: Record<string, string | null> = {};
  const tokenizers: Record<string, string | null> = {};
  const listedNull = (dir: string) => Array.isArray(index[dir]) && (index[dir] as unknown[])[0] === null;
  const noT5 = spec.family === 'sd3' && listedNull('text_encoder_3') && (await kind(join(root, 'text_encoder_3'))) !== 'dir';
  for (const [dir, role] of Object.entries(spec.encoders)) {
    textEncoders[role] = role === 't5' && noT5 ? null : await need(dir, `text encoder ${role}`);
  }
  for (const [dir, role] of Object.entries(spec.tokenizers)) {
    tokenizers[role] = role === 't5' && noT5 ? null : await need(dir, `tokenizer ${role}`);
  }
  if (missing.length) {
    throw new Error(`${root} (${cls}) is missing ${missing.join(', ')}; download the full pipeline folder ` +
      '(e.g. huggingface-cli download <repo> --local-dir <folder>)');
  }
  const schedulerConfig = await readJson(join(root, 'scheduler', 'scheduler_config.json'));
  return {
    root, layout: 'diffusers', pipelineClass: cls, family: spec.family, transformer, vae,
    textEncoders: textEncoders as unknown as ModelFolder['textEncoders'], tokenizers: tokenizers as unknown as ModelFolder['tokenizers'], schedulerConfig, defaults,
    vaeSampleSize: await positiveInt(join(vae, 'config.json'), 'sample_size'),
    t5MaxLength: typeof tokenizers.t5 === 'string' ? await positiveInt(join(tokenizers.t5, 'tokenizer_config.json'), 'model_max_length') : null,
  };
}

async function resolveBfl(root: string, defaults: Record<string, unknown> | null): Promise<ModelFolder> {
  const files = (await readdir(root)).filter((f) => f.endsWith('.safetensors') || f.endsWith('.gguf')).sort(); // .gguf: city96 FLUX conversions
  const pick = (re: RegExp) => files.filter((f) => re.test(f));
  const missing: string[] = [];
  const one = (re: RegExp, what: string, example: string): string => {
    const c = pick(re);
    if (c.length === 0) missing.push(`${what} (e.g. ${example})`);
    if (c.length > 1) throw new Error(`${root}: several files could be the ${what}: ${c.join(', ')}; keep one`);
    return join(root, c[0] ?? example);
  };
  if (files.length === 0 && (await kind(join(root, 'transformer'))) === 'dir') {
    throw new Error(`${root}: has transformer/ but no model_index.json; download the whole diffusers pipeline folder (model_index.json, vae/, text_encoder*/, tokenizer*/, scheduler/)`);
  }
  const transformer = one(/^flux1?[-_].*\.(safetensors|gguf)$/i, 'FLUX transformer', 'flux1-dev.safetensors');
  const vae = one(/^(ae|vae)\.safetensors$/i, 'autoencoder', 'ae.safetensors');
  // Text encoders: ComfyUI-style single files, or transformers folders (text_encoder/, text_encoder_2/ copied from
  // the diffusers release) when those are what the user has.
  const encDir = async (d: string) => ((await kind(join(root, d))) === 'dir' ? join(root, d) : null);
  const clipDir = await encDir('text_encoder'), t5Dir = await encDir('text_encoder_2');
  const t5 = t5Dir ?? one(/^t5.*\.safetensors$/i, 'T5 text encoder', 't5xxl_fp16.safetensors (or a text_encoder_2/ folder)');
  const clipL = clipDir ?? one(/^clip_l.*\.safetensors$/i, 'CLIP-L text encoder', 'clip_l.safetensors (or a text_encoder/ folder)');
  const tokClip = join(root, 'tokenizer'), tokT5 = join(root, 'tokenizer_2');
  if ((await kind(tokClip)) !== 'dir') missing.push('tokenizer/ (CLIP tokenizer: copy tokenizer/ from the diffusers FLUX.1 repository)');
  if ((await kind(tokT5)) !== 'dir') missing.push('tokenizer_2/ (T5 tokenizer: copy tokenizer_2/ from the diffusers FLUX.1 repository)');
  if (missing.length) {
    throw new Error(`${root}: not a diffusers pipeline folder (no model_index.json) and the BFL file set is incomplete: missing ${missing.join(', ')}`);
  }
  return {
    root, layout: 'bfl', pipelineClass: 'BFL files', family: 'flux', transformer, vae, textEncoders: { clipL, t5 },
    tokenizers: { clipL: tokClip, t5: tokT5 }, schedulerConfig: await readJson(join(root, 'scheduler', 'scheduler_config.json')), defaults,
    vaeSampleSize: null, t5MaxLength: await positiveInt(join(tokT5, 'tokenizer_config.json'), 'model_max_length'),
  };
}
