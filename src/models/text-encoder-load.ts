// Loads a text encoder's weights onto the GPU for any text-encoder family (T5, CLIP): opens the checkpoint a
// path designates (a transformers component folder with config.json and one file or shards + index, or a single
// ComfyUI-style file like t5xxl_fp16.safetensors / clip_l.safetensors / clip_g.safetensors), checks the family
// recognises it, infers and validates the config, then streams the weights (q/k/v fused) into a WeightStore.
import { stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { GpuContext } from '../gpu/context.js';
import { WeightStore } from '../graph/weights.js';
import { Checkpoint } from '../loading/checkpoint.js';
import { validateListing } from '../loading/listing.js';
import { CheckpointError } from '../loading/safetensors.js';
import { ggufT5ConfigJson } from '../loading/gguf-names.js';
import { registerWeights, type UploadOptions, uploadWeights } from '../loading/upload.js';
import type { FamilyConfig, ModelFamily } from './family.js';

type Listing = Parameters<ModelFamily['detect']>[0];

export interface LoadedEncoderWeights<C extends FamilyConfig> {
  config: C;
  store: WeightStore;
  description: string;
  gpuBytes: number;
  seconds: number;
  warnings: string[];
  destroy(): void;
}

async function readConfigNextTo(path: string): Promise<Record<string, unknown> | null> {
  try {
    const dir = (await stat(path)).isDirectory() ? path : dirname(path);
    const { readFile } = await import('node:fs/promises');
    const v = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** The listing a family sees: the checkpoint, with the folder's config.json when the opener did not attach one. */
function listingWith(ck: Checkpoint, configJson: Record<string, unknown> | null): Listing {
  return {
    listTensors: () => ck.listTensors(),
    has: (n: string) => ck.has(n),
    info: (n: string) => ck.info(n),
    configJson: ck.configJson ?? configJson,
    description: ck.description,
    metadata: ck.metadata,
  };
}

/** Opens a checkpoint and returns the family's config for it, without reading tensor data. */
export async function inspectEncoder<C extends FamilyConfig>(family: ModelFamily<C>, path: string, component?: string): Promise<{ config: C; unexpected: string[] }> {
  const ck = await Checkpoint.open(path, { component, what: `${family.id} weights`, stripPrefixes: [] });
  try {
    const listing = listingWith(ck, ck.configJson ? null : (ggufT5ConfigJson(ck.metadata) ?? await readConfigNextTo(path)));
    return { config: configFor(family, listing), unexpected: validateListing(listing, family.expectedTensors(configFor(family, listing)), `the inferred ${family.id} configuration`).unexpected };
  } finally {
    await ck.close();
  }
}

function configFor<C extends FamilyConfig>(family: ModelFamily<C>, listing: Listing): C {
  const layout = family.detect(listing);
  if (layout === null) {
    const sample = listing.listTensors().slice(0, 3).join(', ');
    throw new CheckpointError(`${listing.description}: not a ${family.title} checkpoint (tensor names like ${sample || '(none)'}); point at the ${family.id} weights`, listing.description);
  }
  return family.inferConfig(listing, layout);
}

/** Opens, checks and uploads one text encoder. `component` picks e.g. text_encoder_2 inside a pipeline root. */
export async function loadEncoderWeights<C extends FamilyConfig>(
  ctx: GpuContext, family: ModelFamily<C>, path: string, component?: string, options: Pick<UploadOptions, 'weightsMode'> = {},
): Promise<LoadedEncoderWeights<C>> {
  const t0 = performance.now();
  const ck = await Checkpoint.open(path, { component, what: `${family.id} weights`, stripPrefixes: [] });
  try {
    const listing = listingWith(ck, ck.configJson ? null : (ggufT5ConfigJson(ck.metadata) ?? await readConfigNextTo(component ? join(path, component) : path)));
    const config = configFor(family, listing);
    const { unexpected } = validateListing(listing, family.expectedTensors(config), `the inferred ${family.id} configuration`);
    const weights = await uploadWeights(ctx, ck, family.weightSources(config), options);
    const store = new WeightStore();
    registerWeights(store, weights);
    const warnings: string[] = [];
    if (weights.saturated > 0) warnings.push(`${ck.description}: ${weights.saturated} weight values exceed the f16 range and were clamped to +-65504`);
    if (unexpected.length) warnings.push(`${ck.description}: ${unexpected.length} tensors not used by the ${family.id} encoder were ignored (e.g. ${unexpected.slice(0, 3).join(', ')})`);
    return {
      config, store, description: ck.description, gpuBytes: weights.gpuBytes, seconds: (performance.now() - t0) / 1000, warnings,
      destroy: () => weights.destroy(),
    };
  } finally {
    await ck.close();
  }
}
