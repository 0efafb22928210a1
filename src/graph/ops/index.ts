// All op wrappers, one import for model code: `import { ops } from '../graph/index.js'; ops.linear(g, x, w)`.
export * from './elementwise.js';
export * from './norm.js';
export * from './matmul.js';
export * from './attention.js';
export * from './misc.js';
export * from './layout.js';
export * from './vae.js';
export * from './collective.js';
export * from './reduce.js';
