// The T5 v1.1 encoder family (T5-XXL: FLUX.1 text_encoder_2, SD3 text_encoder_3); `t5` is its entry in
// src/models/registry.ts.
export * from './config.js';
export { t5Family, t5Family as t5, T5W } from './family.js';
export { buildT5Graph } from './graph.js';
export { relativePositionBucket, relativePositionBuckets } from './position-bias.js';
export { T5Encoder } from './runtime.js';
