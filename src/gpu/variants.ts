// Which kernel implementation each op uses on a given adapter. One place decides, so `dit doctor`, the
// benchmarks and the graph agree.
import type { GpuCaps } from './context.js';

export type MatmulPath = 'subgroup-matrix' | 'tiled';
export type AttentionPath = 'subgroup-matrix' | 'tiled';

/**
 * Why the tensor-core GEMM cannot run on this adapter, or null when it can: it needs an f16 subgroup-matrix
 * config (caps.tensorCores) and one fixed subgroup size (its tiling assumes it).
 */
export function tensorCoreMatmulUnavailable(caps: GpuCaps): string | null {
  if (!caps.tensorCores) return `adapter '${caps.adapterName}' has no f16 subgroup-matrix config (caps.tensorCores is false)`;
  if (!(caps.subgroupMinSize === caps.subgroupMaxSize && caps.subgroupMaxSize > 0)) {
    return `it needs a fixed subgroup size (adapter reports ${caps.subgroupMinSize}..${caps.subgroupMaxSize})`;
  }
  return null;
}

/**
 * Why the int8 tensor-core GEMM (W8A8 linears) cannot run here, or null: it needs a 16x16x32 i8 x i8 -> i32
 * subgroup-matrix config, a fixed subgroup size, and Tint's vector-array subgroupMatrixLoad (the template spelling,
 * Dawn d2749d8), since its staging arrays are vec4<u32>. Where it cannot, W8A8 runs on the portable dot4I8Packed kernel.
 */
export function int8MatmulUnavailable(caps: GpuCaps): string | null {
  const has = caps.subgroupMatrixConfigs.some((c) => c.componentType === 'i8' && c.resultComponentType === 'i32' && c.M === 16 && c.N === 16 && c.K === 32);
  if (!has) return `adapter '${caps.adapterName}' has no 16x16x32 i8 -> i32 subgroup-matrix config`;
  if (!(caps.subgroupMinSize === caps.subgroupMaxSize && caps.subgroupMaxSize > 0)) {
    return `it needs a fixed subgroup size (adapter reports ${caps.subgroupMinSize}..${caps.subgroupMaxSize})`;
  }
  if (caps.subgroupMatrixSyntax !== 'majorness-template') return "this Dawn's WGSL compiler lacks vector-array subgroupMatrixLoad (needs Dawn d2749d8 or newer)";
  return null;
}

/** The path an f16 GEMM takes on this adapter ('auto'); f32 inputs always take the tiled path. */
export function matmulPath(caps: GpuCaps): MatmulPath {
  return tensorCoreMatmulUnavailable(caps) === null ? 'subgroup-matrix' : 'tiled';
}

export function attentionPath(caps: GpuCaps): AttentionPath {
  return caps.tensorCores ? 'subgroup-matrix' : 'tiled';
}

/**
 * Whether the fused tensor-core attention kernel is proven on hardware (kernels-wgsl/attention.ts explains).
 * Verified on an H100 on 2026-11-23 (docs/attention.md). If it is ever set false again, plain attention on
 * tensor-core adapters runs as tensor-core GEMMs + softmax (attention-composed.ts).
 */
export const TENSOR_CORE_ATTENTION_VERIFIED = true;

export function kernelPaths(caps: GpuCaps): Record<string, string> {
  return {
    matmul: matmulPath(caps) === 'subgroup-matrix' ? 'subgroup-matrix (f16 inputs; f32: tiled)' : 'tiled',
    attention: !caps.tensorCores ? 'tiled (fused, online softmax)'
      : TENSOR_CORE_ATTENTION_VERIFIED ? 'subgroup-matrix (fused, online softmax) for D 64/128; other plain attention: composed tensor-core GEMMs; masked: tiled fused'
      : 'composed (tensor-core GEMMs + softmax, head-chunked; masked/biased attention: tiled fused)',
    reductions: caps.subgroups ? 'subgroup' : 'workgroup-memory',
  };
}
