// Every model family the engine knows, one line each, and the generic operations over them: which family a
// checkpoint belongs to, its config, and loading it to the GPU. Adding a family = one folder + one line below.
import type { GpuContext } from '../gpu/context.js';
import type { WeightStore } from '../graph/weights.js';
import { Checkpoint, type OpenOptions } from '../loading/checkpoint.js';
import { type TensorListing, validateListing } from '../loading/listing.js';
import { CheckpointError } from '../loading/safetensors.js';
import { type LoadedWeights, registerWeights, type UploadOptions, uploadWeights } from '../loading/upload.js';
import type { FamilyConfig, FamilyKind, ModelFamily } from './family.js';
import { flux } from './flux/index.js';
import { sd3 } from './sd3/index.js';
import { tinyDit } from './tiny-dit/index.js';
import { t5 } from './t5/index.js';
import { clip } from './clip/index.js';
import { autoencoderKl } from './vae/index.js';

// Detection asks the families in this order; the first that recognises the tensor names wins. (`any`: each
// family has its own config type; familyOf() gives it back typed.)
export const FAMILIES: readonly ModelFamily<any>[] = [
  flux,
  sd3,
  tinyDit,
  t5,
  clip,
  autoencoderKl,
];

/** Where each kind's weights sit when the user points at a pipeline root (diffusers release folders). */
const OPEN_OPTIONS: Record<FamilyKind, OpenOptions> = {
  // BFL release folders hold the transformer as one file next to the autoencoder (ae.safetensors).
  dit: { component: 'transformer', ignoreFiles: /^(ae|vae)\.safetensors$/, what: 'transformer weights' },
  vae: { component: 'vae', what: 'VAE weights' },
  'text-encoder': { what: 'text-encoder weights' },
};

export function familyById(id: string): ModelFamily {
  const f = FAMILIES.find((x) => x.id === id);
  if (!f) throw new Error(`unknown model family '${id}' (known: ${FAMILIES.map((x) => x.id).join(', ')})`);
  return f;
}

/** The family of a config (config.family names it). */
export function familyOf<C extends FamilyConfig>(cfg: C): ModelFamily<C> {
  return familyById(cfg.family) as ModelFamily<C>;
}

/** Which family (and layout) a listing's tensor names belong to; the error lists what was looked for. */
export function detectFamily(ck: TensorListing, kind?: FamilyKind): { family: ModelFamily; layout: string } {
  for (const family of FAMILIES) {
    if (kind && family.kind !== kind) continue;
    const layout = family.detect(ck);
    if (layout !== null) return { family, layout };
  }
  const sample = ck.listTensors().slice(0, 5).join(', ');
  const known = FAMILIES.filter((f) => !kind || f.kind === kind).map((f) => f.title).join('; ');
  throw new CheckpointError(`${ck.description}: not a checkpoint of any known model family (${known}); first tensor names: ${sample || 'none'}`, ck.description);
}

/** Family, config (inferred from shapes, cross-checked with config.json) and validation of a listing. */
export function identify(ck: TensorListing, kind?: FamilyKind): { family: ModelFamily; config: FamilyConfig; unexpected: string[] } {
  const { family, layout } = detectFamily(ck, kind);
  const config = family.inferConfig(ck, layout);
  const { unexpected } = validateListing(ck, family.expectedTensors(config), `the inferred ${config.family} ${config.layout} configuration`);
  return { family, config, unexpected };
}

/** The config implied by a listing's tensors (any family). */
export function inferConfig(ck: TensorListing): FamilyConfig {
  return identify(ck).config;
}

/** Opens a checkpoint the way `kind` expects to find it (default: a DiT's transformer). */
export function openCheckpoint(path: string, kind: FamilyKind = 'dit'): Promise<Checkpoint> {
  return Checkpoint.open(path, OPEN_OPTIONS[kind]);
}

export interface LoadedModel<C extends FamilyConfig = FamilyConfig> {
  family: ModelFamily<C>;
  config: C;
  weights: LoadedWeights;
  /** Checkpoint tensors the layout does not use (ignored). */
  unexpected: string[];
  /** Wall time of the load in seconds. */
  seconds: number;
  /** Things a user should hear about (values clamped to the f16 range, unused tensors); the CLI prints them. */
  warnings: string[];
}

export interface LoadOptions extends UploadOptions {
  /** Also register the weights in this store (what the family's graph compiles against). */
  store?: WeightStore;
  /** The kind of model expected (default dit); a checkpoint of another kind is an error. */
  kind?: FamilyKind;
}

/**
 * Opens, identifies, checks and uploads a model. `C` is the config type the caller expects (e.g. a union of the
 * DiT configs it can run); it is not checked here: switch on `config.family` before relying on it.
 */
export async function loadModel<C extends FamilyConfig = FamilyConfig>(ctx: GpuContext, path: string, options: LoadOptions = {}): Promise<LoadedModel<C>> {
  const t0 = performance.now();
  const kind = options.kind ?? 'dit';
  const ck = await openCheckpoint(path, kind);
  try {
    const { family, config, unexpected } = identify(ck, kind);
    const weights = await uploadWeights(ctx, ck, family.weightSources(config), options);
    if (options.store) registerWeights(options.store, weights);
    const warnings: string[] = [];
    if (weights.saturated > 0) {
      warnings.push(`${ck.description}: ${weights.saturated} weight values exceed the f16 range and were clamped to +-65504; ` +
        'keep the affected weights in f32 (dtypeOf) if outputs look wrong');
    }
    if (unexpected.length) warnings.push(`${ck.description}: ${unexpected.length} tensors not used by the ${config.family} graph were ignored (e.g. ${unexpected.slice(0, 3).join(', ')})`);
    return { family: family as ModelFamily<C>, config: config as C, weights, unexpected, seconds: (performance.now() - t0) / 1000, warnings };
  } finally {
    await ck.close();
  }
}

export interface InspectedModel {
  family: ModelFamily;
  config: FamilyConfig;
  unexpected: string[];
  files: string[];
  bytes: number;
}

/** Identifies a checkpoint of any family without reading tensor data (`dit inspect`). */
export async function inspectModel(path: string): Promise<InspectedModel> {
  const ck = await openCheckpoint(path, 'dit');
  try {
    const { family, config, unexpected } = identify(ck);
    return { family, config, unexpected, files: ck.files.map((f) => f.path), bytes: ck.totalBytes };
  } finally {
    await ck.close();
  }
}
