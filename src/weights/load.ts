// One call from a path to weights on the GPU: open the checkpoint (file or diffusers folder), infer and
// validate its configuration, map its tensors to canonical names (fusing QKV), stream them to the GPU.
import type { GpuContext } from '../gpu/context.js';
import type { WeightStore } from '../graph/weights.js';
import { Checkpoint, type OpenOptions } from '../loading/checkpoint.js';

/** A DiT's weights: the diffusers `transformer/` folder of a pipeline root, never the root's autoencoder file. */
export const DIT_OPEN: OpenOptions = { component: 'transformer', ignoreFiles: /^(ae|vae)\.safetensors$/, what: 'transformer weights' };
import { inferConfig, validateCheckpoint } from './config.js';
import type { ModelConfig } from './model-config.js';
import { weightSources } from './name-map.js';
import { uploadWeights, type LoadedWeights, type UploadOptions } from '../loading/upload.js';

export interface LoadedModel {
  config: ModelConfig;
  weights: LoadedWeights;
  /** Checkpoint tensors the layout does not use (ignored). */
  unexpected: string[];
  /** Wall time of the load in seconds. */
  seconds: number;
  /** Things a user should hear about (values clamped to the f16 range, unused tensors); the CLI prints them. */
  warnings: string[];
}

/** Opens, checks and uploads a model; with `store`, the weights are also registered in the graph's store. */
export async function loadModel(ctx: GpuContext, path: string, options: UploadOptions & { store?: WeightStore } = {}): Promise<LoadedModel> {
  const t0 = performance.now();
  const ck = await Checkpoint.open(path, DIT_OPEN);
  try {
    const config = inferConfig(ck);
    const { unexpected } = validateCheckpoint(ck, config);
    const weights = await uploadWeights(ctx, ck, weightSources(config), options);
    if (options.store) for (const [name, view] of weights.views) options.store.set(name, view);
    const warnings: string[] = [];
    if (weights.saturated > 0) {
      warnings.push(`${ck.description}: ${weights.saturated} weight values exceed the f16 range and were clamped to +-65504; ` +
        'keep the affected weights in f32 (dtypeOf) if outputs look wrong');
    }
    if (unexpected.length) warnings.push(`${ck.description}: ${unexpected.length} tensors not used by the ${config.family} graph were ignored (e.g. ${unexpected.slice(0, 3).join(', ')})`);
    return { config, weights, unexpected, seconds: (performance.now() - t0) / 1000, warnings };
  } finally {
    await ck.close();
  }
}

/** Opens a checkpoint and returns its configuration without reading any tensor data (`dit` info commands). */
export async function inspectModel(path: string): Promise<{ config: ModelConfig; unexpected: string[]; files: string[]; bytes: number }> {
  const ck = await Checkpoint.open(path, DIT_OPEN);
  try {
    const config = inferConfig(ck);
    const { unexpected } = validateCheckpoint(ck, config);
    return { config, unexpected, files: ck.files.map((f) => f.path), bytes: ck.totalBytes };
  } finally {
    await ck.close();
  }
}
