// Portable matmul: workgroup-memory tiling, 4x4 outputs per thread, f32 accumulation. Runs on any adapter
// (lavapipe in CI, GPUs without subgroup matrices). Every global read is guarded and zero-filled, every write
// guarded, so arbitrary M, N, K (odd, 1, primes) are in bounds by construction, robustness on or off.
import { epilogueWgsl, gemmBindings, needsF16, PARAMS_WGSL, type GemmSpec } from './matmul-epilogue.wgsl.js';

/** Workgroup tile of the tiled kernel (the launcher sizes the grid with these). */
export const TILED = { BM: 64, BN: 64, BK: 16, threads: 256 } as const;

export function tiledMatmulWgsl(spec: GemmSpec): string {
  if (spec.vecA || spec.vecB) throw new Error('tiled matmul: vectorised bindings belong to the subgroup-matrix path');
  const { BM, BN, BK, threads } = TILED;
  const loadsPerThread = (BM * BK) / threads; // = (BN*BK)/threads = 4
  // B element (k, n) of the tile, for either layout, guarded.
  const bLoad =
    spec.bLayout === 'nk'
      ? `      // B is [N, K]: consecutive threads read consecutive k of one row (coalesced).
      let bn = e / ${BK}u; let bk = e % ${BK}u;
      let gn = n0 + bn; let gkb = k0 + bk;
      var bv = 0.0;
      if (gn < P.N && gkb < P.K) { bv = f32(B[bBase + gn * P.K + gkb]); }
      Bs[bk * ${BN}u + bn] = bv;`
      : `      // B is [K, N]: consecutive threads read consecutive n of one row (coalesced).
      let bk = e / ${BN}u; let bn = e % ${BN}u;
      let gn = n0 + bn; let gkb = k0 + bk;
      var bv = 0.0;
      if (gn < P.N && gkb < P.K) { bv = f32(B[bBase + gkb * P.N + gn]); }
      Bs[bk * ${BN}u + bn] = bv;`;
  // Scalar accumulators and the 4x4 product unrolled in TS (no private arrays, which lavapipe handles slowly).
  const R = [0, 1, 2, 3];
  const accDecl = R.flatMap((i) => R.map((j) => `var c${i}${j} = 0.0;`)).join(' ');
  const fmas = R.flatMap((i) => R.map((j) => `c${i}${j} = fma(a${i}, b${j}, c${i}${j});`)).join('\n      ');
  const aReads = R.map((i) => `let a${i} = As[kk * ${BM}u + lid.y + ${16 * i}u];`).join(' ');
  const bReads = R.map((j) => `let b${j} = Bs[kk * ${BN}u + lid.x + ${16 * j}u];`).join(' ');
  const toSmem = R.flatMap((i) => R.map((j) => `Cs[(lid.y + ${16 * i}u) * ${BN}u + lid.x + ${16 * j}u] = c${i}${j};`)).join('\n  ');
  const loads: string[] = [];
  for (let l = 0; l < loadsPerThread; l++) {
    loads.push(`{
      let e = li + ${l * threads}u;
      // A is [M, K]: consecutive threads read consecutive k of one row.
      let am = e / ${BK}u; let ak = e % ${BK}u;
      let gm = m0 + am; let gka = k0 + ak;
      var av = 0.0;
      if (gm < P.M && gka < P.K) { av = f32(A[aBase + gm * P.K + gka]); }
      As[ak * ${BM}u + am] = av;
${bLoad}
    }`);
  }
  const unrolled = `  ${accDecl}
  for (var k0 = 0u; k0 < P.K; k0 += ${BK}u) {
    ${loads.join('\n    ')}
    workgroupBarrier();
    // P.loopK == ${BK}: a uniform bound keeps lavapipe's LLVM from unrolling this loop (5x faster compiles).
    for (var kk = 0u; kk < P.loopK; kk++) {
      // Rows ty + 16*i and columns tx + 16*j: neighbouring threads read neighbouring words (no bank conflicts).
      ${aReads}
      ${bReads}
      ${fmas}
    }
    workgroupBarrier();
  }
  // The tile goes through workgroup memory so the epilogue has ONE call site in a loop (16 inlined copies of
  // it made lavapipe's compile several times slower) and the global writes are row-contiguous.
  ${toSmem}
  workgroupBarrier();
  for (var e = li; e < ${BM * BN}u; e += P.epiStride) {
    let row = m0 + e / ${BN}u;
    let col = n0 + e % ${BN}u;
    if (row < P.M && col < P.N) { store_out(batch, row, col, Cs[e]); }
  }`;
  return `${needsF16(spec) ? 'enable f16;' : ''}
${PARAMS_WGSL}
${gemmBindings(spec)}

// Tiles are stored k-major ([k][m], [k][n]) in f32 so the inner loop reads 4+4 values and does 16 FMAs.
var<workgroup> As: array<f32, ${BK * BM}>;
var<workgroup> Bs: array<f32, ${BK * BN}>;
var<workgroup> Cs: array<f32, ${BM * BN}>;

${epilogueWgsl(spec)}

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let batch = wid.z;
  let m0 = wid.y * ${BM}u;
  let n0 = wid.x * ${BN}u;
  let aBase = batch * P.batchA;
  let bBase = batch * P.batchB;
${unrolled}
}
`;
}
