// WGSL pieces shared by both attention kernels: the uniform parameter block, the binding list (optional
// inputs/outputs are bound only when a variant uses them, so `layout: 'auto'` never drops an unused binding),
// and the constants of the online-softmax state.
//
// Softmax state conventions (both kernels):
// - scores live in the log2 domain: s2 = (scale * q.k + bias) * log2(e), so exp() becomes exp2();
// - a masked score is MASKED (a finite -3e38, never -inf: WGSL lets compilers assume no infinities);
// - the running row maximum starts at EMPTY (-1e30); while it is EMPTY the row has seen no visible key, its
//   accumulator and sum are exactly 0, and exp2(MASKED - EMPTY) underflows to 0, so no NaN can appear;
// - a row that never sees a visible key ends with l = 0: its output is written as 0 and its lse as -inf.

export const FLAG_BIAS = 1;
export const FLAG_CAUSAL = 2;
export const FLAG_KVLEN = 4;
export const FLAG_LSE = 8;

/**
 * Which options a compiled kernel handles. The tensor-core kernel specializes on them at compile time (only
 * the bindings it uses exist). The tiled kernel is compiled once per head dim with every binding present
 * and reads the options from P.flags (uniform branches): each variant costs seconds of JIT on lavapipe.
 */
export interface AttentionVariant {
  /** Head dimension (multiple of 4, <= 512). */
  D: number;
  hasBias: boolean;
  causal: boolean;
  hasKvLength: boolean;
  hasLse: boolean;
  /** Options come from P.flags at run time; all bindings are declared (unused ones get dummy buffers). */
  runtimeFlags?: boolean;
}

/** WGSL lets naming which options are active: constants when specialized, uniform reads otherwise. */
export function optionLetsWgsl(v: AttentionVariant): string {
  if (v.runtimeFlags) {
    return `  let HAS_BIAS = (P.flags & ${FLAG_BIAS}u) != 0u;
  let CAUSAL = (P.flags & ${FLAG_CAUSAL}u) != 0u;
  let HAS_KVLEN = (P.flags & ${FLAG_KVLEN}u) != 0u;
  let HAS_LSE = (P.flags & ${FLAG_LSE}u) != 0u;
`;
  }
  return '';
}

const on = (v: AttentionVariant, flag: boolean) => v.runtimeFlags || flag;

/** Field order must match `attentionParams` in attention.ts. */
export const PARAMS_STRUCT = /* wgsl */ `
struct Params {
  B: u32,
  H: u32,
  Sq: u32,
  Skv: u32,
  scaleLog2: f32,   // scale * log2(e)
  negInfBits: u32,  // 0xff800000: -inf for fully masked rows' lse, passed at run time (not a WGSL constant)
  loopD4: u32,   // tiled kernel: D / 4 and BKV as run-time loop bounds (see attention-tiled.wgsl.ts)
  loopBKV: u32,
  flags: u32,    // tiled kernel: 1 bias, 2 causal, 4 kvLength, 8 lse (it decides at run time, see below)
  kvChunk: u32,  // subgroup-matrix kernel, split-KV: keys per chunk (a multiple of BKV)
}
`;

export const SOFTMAX_CONSTS = /* wgsl */ `
const LOG2E: f32 = 1.4426950408889634;
const LN2: f32 = 0.6931471805599453;
const EMPTY: f32 = -1.0e30;
const MASKED: f32 = -3.0e38;
`;

/**
 * Binding declarations. q/k/v/out element types differ per kernel (vector loads for the tiled kernel, u32
 * pairs / scalar f16 for the subgroup-matrix kernel's staging), so the caller names them.
 */
export function bindingsWgsl(v: AttentionVariant, types: { q: string; kv: string; v?: string; out: string }): string {
  const lines = [
    `@group(0) @binding(0) var<uniform> P: Params;`,
    `@group(0) @binding(1) var<storage, read> Q: array<${types.q}>;`,
    `@group(0) @binding(2) var<storage, read> K: array<${types.kv}>;`,
    `@group(0) @binding(3) var<storage, read> V: array<${types.v ?? types.kv}>;`,
    `@group(0) @binding(4) var<storage, read_write> OUT: array<${types.out}>;`,
  ];
  let next = 5;
  if (on(v, v.hasBias)) lines.push(`@group(0) @binding(${next++}) var<storage, read> BIAS: array<f32>;`);
  if (on(v, v.hasKvLength)) lines.push(`@group(0) @binding(${next++}) var<storage, read> KVLEN: array<u32>;`);
  if (on(v, v.hasLse)) lines.push(`@group(0) @binding(${next++}) var<storage, read_write> LSE: array<f32>;`);
  return lines.join('\n') + '\n';
}

/**
 * Statements computing `kvEnd` (visible keys of this batch item), made workgroup-uniform through
 * workgroupUniformLoad: the key-block loop contains barriers, so its bound must be provably uniform.
 */
export function kvEndWgsl(v: AttentionVariant): string {
  if (v.runtimeFlags) {
    return `  if (lid == 0u) {
    var e = P.Skv;
    if (HAS_KVLEN) { e = min(P.Skv, KVLEN[b]); }
    kvEndShared = e;
  }
  let kvEnd = workgroupUniformLoad(&kvEndShared);
`;
  }
  if (!v.hasKvLength) return `  let kvEnd = P.Skv;\n`;
  return `  if (lid == 0u) { kvEndShared = min(P.Skv, KVLEN[b]); }
  let kvEnd = workgroupUniformLoad(&kvEndShared);
`;
}

/** WGSL expression: number of key blocks this query tile must visit (causal tiles stop at their diagonal). */
export function blockCountWgsl(v: AttentionVariant, bq: string, bkv: string): string {
  const limit = v.runtimeFlags ? `select(kvEnd, min(kvEnd, q0 + ${bq}), CAUSAL)` : v.causal ? `min(kvEnd, q0 + ${bq})` : `kvEnd`;
  return `(${limit} + ${bkv} - 1u) / ${bkv}`;
}

/**
 * Statements turning the raw dot product `dotExpr` for (query qi, key kj) into a log2-domain score `sName`,
 * applying scale, bias and masks. Out-of-range queries (qi >= Sq) keep finite scores and are never written.
 */
export function scoreWgsl(v: AttentionVariant, sName: string, dotExpr: string, qi: string, kj: string, branchFree = false): string {
  let s = `    var ${sName} = (${dotExpr}) * P.scaleLog2;\n`;
  if (branchFree && v.hasBias && !v.runtimeFlags) {
    // Clamped indices + select: no divergent branch (the tensor-core kernel keeps its warps converged). Only
    // reached inside the key loop, where kvEnd >= 1; Sq >= 1 always.
    s += `    ${sName} += select(0.0, BIAS[(h * P.Sq + min(${qi}, P.Sq - 1u)) * P.Skv + min(${kj}, kvEnd - 1u)], ${qi} < P.Sq && ${kj} < kvEnd) * LOG2E;\n`;
  } else if (on(v, v.hasBias)) {
    s += `    if (${v.runtimeFlags ? 'HAS_BIAS && ' : ''}${qi} < P.Sq && ${kj} < kvEnd) { ${sName} += BIAS[(h * P.Sq + ${qi}) * P.Skv + ${kj}] * LOG2E; }\n`;
  }
  const visible = v.runtimeFlags
    ? `(${kj} < kvEnd && (!CAUSAL || ${kj} <= ${qi}))`
    : v.causal ? `(${kj} < kvEnd && ${kj} <= ${qi})` : `(${kj} < kvEnd)`;
  // max() also turns a user's -inf bias into MASKED.
  s += `    ${sName} = select(MASKED, max(${sName}, MASKED), ${visible});\n`;
  return s;
}
