// Which kernel implementation each op uses on a given adapter. One place decides, so `dit doctor`, the
// benchmarks and the graph agree.
import type { GpuCaps } from './context.js';

export type MatmulPath = 'subgroup-matrix' | 'tiled';
export type AttentionPath = 'subgroup-matrix' | 'tiled';

export function matmulPath(caps: GpuCaps): MatmulPath {
  return caps.tensorCores ? 'subgroup-matrix' : 'tiled';
}

export function attentionPath(caps: GpuCaps): AttentionPath {
  return caps.tensorCores ? 'subgroup-matrix' : 'tiled';
}

export function kernelPaths(caps: GpuCaps): Record<string, string> {
  return {
    matmul: matmulPath(caps),
    attention: attentionPath(caps),
    reductions: caps.subgroups ? 'subgroup' : 'workgroup-memory',
  };
}
