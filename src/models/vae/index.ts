// The AutoencoderKL VAE family: see docs/vae.md. The pipeline uses VaeRuntime (decode / encode); the loader
// registry uses autoencoderKl (the ModelFamily).
export { autoencoderKl, vaeWeightSources } from './family.js';
export { FLUX_SCALING_FACTOR, FLUX_SHIFT_FACTOR, vaeScale, type VaeConfig, type VaeLayout } from './config.js';
export { buildVaeDecoder, buildVaeEncoder, encodedSize } from './graph.js';
export { inspectVae, loadVae, openVaeCheckpoint, type LoadedVae, type VaePart } from './load.js';
export {
  gaussianNoise, imageToRgb8, rgb8ToImage, VaeRuntime,
  type DecodedImage, type DecodeOptions, type EncodedLatents, type EncodeOptions, type VaeRuntimeOptions,
} from './runtime.js';
