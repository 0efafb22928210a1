// Skinny linear (GEMV-like): out[m, n] = epilogue(sum_k a[m, k] b[n, k]) for a few rows M <= GEMV_MAX_ROWS, B as
// [N, K] f16 (nn.Linear weights). The adaLN modulation linears of FLUX/SD3 (one row per image, 3072 x 18432 weights)
// and the embedders are this shape: pure weight streaming, where a 128-row tensor-core tile wastes 127/128 of its
// MMAs and, with only N/128 workgroups, cannot keep enough loads in flight (measured on the H200: FLUX.1-dev's 114
// modulation linears took 7.5 ms of a step, ~0.9 TB/s).
//
// One workgroup per GEMV_COLS output columns; the COL_THREADS invocations of a column stream its weight row in
// 16-byte chunks (8 halves: one vec4<u32>) with a stride of COL_THREADS chunks, so each warp reads 512 contiguous
// bytes per load, and multiply them with the same chunk of every A row (A is tiny and stays in L1/L2). The partial
// sums are combined by a tree in workgroup memory (portable: no subgroup operations), then invocation (m, n) applies
// the shared epilogue. Shapes: a [M, K] f16, b [N, K] f16, K % 8 == 0 (the launcher checks), out [M, N].
import { epilogueWgsl, gemmBindings, PARAMS_WGSL, type GemmSpec } from './matmul-epilogue.wgsl.js';

/** Largest M served by the GEMV kernel (the accumulators per invocation are M). */
export const GEMV_MAX_ROWS = 8;
/** Output columns per workgroup. */
export const GEMV_COLS = 8;
/** Invocations per output column. */
export const GEMV_COL_THREADS = 32;

/** The kernel for exactly M rows (1..GEMV_MAX_ROWS); spec must bind A and B as vec4<u32> (vecA, vecB). */
export function gemvWgsl(spec: GemmSpec, M: number): string {
  if (!(Number.isInteger(M) && M >= 1 && M <= GEMV_MAX_ROWS)) throw new Error(`gemv: M = ${M} rows; the kernel serves 1..${GEMV_MAX_ROWS}`);
  if (!spec.vecA || !spec.vecB || spec.bLayout !== 'nk' || spec.aType !== 'f16' || spec.bType !== 'f16') {
    throw new Error('gemv: needs f16 A and B bound as vec4<u32> and B as [N, K]');
  }
  const WG = GEMV_COLS * GEMV_COL_THREADS;
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);
  return /* wgsl */ `enable f16;
${PARAMS_WGSL}
${gemmBindings(spec)}
${epilogueWgsl(spec)}
const M: u32 = ${M}u;
const CT: u32 = ${GEMV_COL_THREADS}u;
var<workgroup> red: array<f32, ${WG * M}>;  // [M][WG] partial sums

/** Dot product of two chunks of 8 halves. */
fn dot8(x: vec4<u32>, y: vec4<u32>) -> f32 {
  var s = 0.0;
  for (var j = 0u; j < 4u; j++) {
    let a = vec2<f32>(bitcast<vec2<f16>>(x[j]));
    let b = vec2<f32>(bitcast<vec2<f16>>(y[j]));
    s += a.x * b.x + a.y * b.y;
  }
  return s;
}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let colInWg = lid / CT;
  let part = lid % CT;
  let n = wid.x * ${GEMV_COLS}u + colInWg;
  let K8 = P.K / 8u;  // 16-byte chunks per row
  let nc = min(n, P.N - 1u);  // columns past N compute a duplicate of the last one and store nothing
${range(M).map((m) => `  var acc${m} = 0.0;`).join('\n')}
  for (var c = part; c < K8; c += CT) {
    let w = B[nc * K8 + c];
${range(M).map((m) => `    acc${m} += dot8(A[${m}u * K8 + c], w);`).join('\n')}
  }
${range(M).map((m) => `  red[${m}u * ${WG}u + lid] = acc${m};`).join('\n')}
  workgroupBarrier();
  // Tree over the CT partial sums of each column (they are contiguous: lid = colInWg * CT + part).
  for (var s = CT / 2u; s > 0u; s >>= 1u) {
    if (part < s) {
${range(M).map((m) => `      red[${m}u * ${WG}u + lid] += red[${m}u * ${WG}u + lid + s];`).join('\n')}
    }
    workgroupBarrier();
  }
  // Invocation t < M * COLS stores row t / COLS, column t % COLS of this workgroup.
  if (lid < M * ${GEMV_COLS}u) {
    let m = lid / ${GEMV_COLS}u;
    let j = lid % ${GEMV_COLS}u;
    let col = wid.x * ${GEMV_COLS}u + j;
    if (col < P.N) { store_out(0u, m, col, red[m * ${WG}u + j * CT]); }
  }
}
`;
}
