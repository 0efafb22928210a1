// The CLIP text encoder family (CLIP-L, OpenCLIP bigG); `clip` is its entry in src/models/registry.ts.
export * from './config.js';
export { clipFamily, clipFamily as clip, CLIPW } from './family.js';
export { buildClipGraph } from './graph.js';
export { ClipTextEncoder, type ClipOutput } from './runtime.js';
