// Portable W8A8 matmul (adapters without int8 subgroup matrices: lavapipe in CI, GPUs without the i8 config):
// the tiled kernel's structure with int8 operands. A [M, K] and B [N, K] hold 4 int8 per u32 word (row-major,
// rows padded to whole words with zeros); the inner product is WGSL's dot4I8Packed (exact i32 sums, the same
// arithmetic as the tensor-core i8 MMA), and the epilogue scales each sum by SX[row] * SW[col] before the shared
// bias/activation/gate/residual steps. P.K counts u32 words here. Every global read is guarded and zero-filled.
import { epilogueWgsl, gemmBindings, I8_SCALE_BINDINGS, needsF16, PARAMS_WGSL, type GemmSpec } from './matmul-epilogue.wgsl.js';

/** Workgroup tile (words of K per step): the launcher sizes the grid with these. */
export const TILED_I8 = { BM: 64, BN: 64, BKW: 16, threads: 256 } as const;

export function tiledI8MatmulWgsl(spec: GemmSpec): string {
  if (spec.aType !== 'u32' || spec.bType !== 'u32' || spec.bLayout !== 'nk') throw new Error('tiled int8 matmul: A and B must be u32 words of int8, B as [N, K]');
  const { BM, BN, BKW, threads } = TILED_I8;
  const loadsPerThread = (BM * BKW) / threads; // = 4
  const R = [0, 1, 2, 3];
  const accDecl = R.flatMap((i) => R.map((j) => `var c${i}${j} = 0i;`)).join(' ');
  const dots = R.flatMap((i) => R.map((j) => `c${i}${j} += dot4I8Packed(a${i}, b${j});`)).join('\n      ');
  const aReads = R.map((i) => `let a${i} = As[kk * ${BM}u + lid.y + ${16 * i}u];`).join(' ');
  const bReads = R.map((j) => `let b${j} = Bs[kk * ${BN}u + lid.x + ${16 * j}u];`).join(' ');
  const toSmem = R.flatMap((i) => R.map((j) => `Cs[(lid.y + ${16 * i}u) * ${BN}u + lid.x + ${16 * j}u] = c${i}${j};`)).join('\n  ');
  const loads: string[] = [];
  for (let l = 0; l < loadsPerThread; l++) {
    loads.push(`{
      let e = li + ${l * threads}u;
      let r = e / ${BKW}u; let kw = e % ${BKW}u;
      let gm = m0 + r; let gn = n0 + r; let gk = k0 + kw;
      var av = 0u; var bv = 0u;
      if (gm < P.M && gk < P.K) { av = A[gm * P.K + gk]; }
      if (gn < P.N && gk < P.K) { bv = B[gn * P.K + gk]; }
      As[kw * ${BM}u + r] = av;
      Bs[kw * ${BN}u + r] = bv;
    }`);
  }
  return `${needsF16(spec) ? 'enable f16;' : ''}
${PARAMS_WGSL}
${gemmBindings(spec)}
${I8_SCALE_BINDINGS}

// Word tiles stored k-major ([kw][m], [kw][n]); 4 int8 per word.
var<workgroup> As: array<u32, ${BKW * BM}>;
var<workgroup> Bs: array<u32, ${BKW * BN}>;
var<workgroup> Cs: array<i32, ${BM * BN}>;

${epilogueWgsl(spec)}

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let batch = 0u;
  let m0 = wid.y * ${BM}u;
  let n0 = wid.x * ${BN}u;
  ${accDecl}
  for (var k0 = 0u; k0 < P.K; k0 += ${BKW}u) {
    ${loads.join('\n    ')}
    workgroupBarrier();
    // P.loopK == ${BKW}: a uniform bound keeps lavapipe's LLVM from unrolling this loop.
    for (var kk = 0u; kk < P.loopK; kk++) {
      ${aReads}
      ${bReads}
      ${dots}
    }
    workgroupBarrier();
  }
  ${toSmem}
  workgroupBarrier();
  for (var e = li; e < ${BM * BN}u; e += P.epiStride) {
    let row = m0 + e / ${BN}u;
    let col = n0 + e % ${BN}u;
    if (row < P.M && col < P.N) { store_out(batch, row, col, f32(Cs[e]) * SX[row] * SW[col]); }
  }
}
`;
}
