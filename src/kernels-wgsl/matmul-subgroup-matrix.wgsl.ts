// Tensor-core matmul through Dawn's subgroup matrices (chromium_experimental_subgroup_matrix, 16x16x16
// f16 x f16 -> f32). A workgroup computes a BM x BN tile with sgM x sgN subgroups, each owning fragM x fragN
// 16x16 accumulator fragments.
//
// Two ways to feed the fragments:
//  - 'staged': A and B tiles are copied into workgroup memory (16-byte global loads held in registers while the
//    previous tile is multiplied = register double buffering). With stages = 2 there are two smem buffers and one
//    barrier per K step; stages = 1 halves the workgroup memory (room for a bigger tile or K step within the
//    48 KiB limit) at the price of a second barrier per K step. Tile
//    rows are padded by 8 halves (16 bytes) so the 8 rows a fragment load touches fall in different banks.
//    Out-of-range rows/columns/K are zero-filled during the copy, so any M, N, K is handled in bounds.
//  - 'direct': fragments are loaded straight from storage (L1/L2 serve the reuse). Only for M % BM == 0,
//    N % BN == 0 and K % bk == 0 (the launcher checks), because a fragment load cannot be partially guarded.
// The epilogue goes through a per-subgroup 16x16 f32 scratch in workgroup memory, so bias/activation/gate/residual
// and the f16/f32 output conversion are applied per element with bounds checks (shared epilogue module).
//
// Uniformity: fragment offsets derive from local_invocation_index / subgroupSize (uniform within a subgroup but
// not across the workgroup), which the default uniformity analysis rejects; the diagnostic is turned off
// (GPU-NOTES: multi-subgroup tiling works and matches the reference with it off).
import { epilogueWgsl, gemmBindings, PARAMS_WGSL, type GemmSpec } from './matmul-epilogue.wgsl.js';

export interface SgTiling {
  sgM: number;
  sgN: number;
  fragM: number;
  fragN: number;
  /** K step per iteration (multiple of 16). */
  bk: number;
  staging: 'staged' | 'direct';
  /** Workgroup-memory buffers for the staged path: 2 (double buffered) or 1. Default 2. */
  stages?: 1 | 2;
  /** Tile-order swizzle: GROUP_M tile rows are walked together so B tiles are reused from L2. */
  groupM: number;
  subgroupSize: number;
}

export function sgTileShape(t: SgTiling): { BM: number; BN: number; threads: number } {
  return { BM: t.sgM * t.fragM * 16, BN: t.sgN * t.fragN * 16, threads: t.sgM * t.sgN * t.subgroupSize };
}

const PAD = 8; // halves of padding per staged row (16 bytes)

/** Workgroup memory the kernel declares, in bytes (the launcher checks it against the adapter limit). */
export function sgWorkgroupBytes(t: SgTiling, bLayout: GemmSpec['bLayout']): number {
  const { BM, BN } = sgTileShape(t);
  const scratch = t.sgM * t.sgN * 256 * 4;
  if (t.staging === 'direct') return scratch;
  const aStage = BM * (t.bk + PAD);
  const bStage = bLayout === 'nk' ? BN * (t.bk + PAD) : t.bk * (BN + PAD);
  return (t.stages ?? 2) * (aStage + bStage) * 2 + scratch;
}

const LEFT = 'subgroup_matrix_left<f16, 16, 16>';
const RIGHT = 'subgroup_matrix_right<f16, 16, 16>';
const RESULT = 'subgroup_matrix_result<f32, 16, 16>';

export function subgroupMatrixMatmulWgsl(spec: GemmSpec, t: SgTiling): string {
  if (spec.aType !== 'f16' || spec.bType !== 'f16') throw new Error('subgroup-matrix matmul needs f16 a and b');
  if (t.bk % 16 !== 0) throw new Error(`subgroup-matrix matmul: bk=${t.bk} must be a multiple of 16`);
  if (t.staging === 'direct' && (spec.vecA || spec.vecB)) throw new Error('direct loads need f16 (not vec4) bindings');
  const { BM, BN, threads } = sgTileShape(t);
  const SG = t.subgroupSize;
  const FM = t.fragM;
  const FN = t.fragN;
  const nsg = t.sgM * t.sgN;
  const ind = (s: string, n: number) => s.split('\n').map((l) => ' '.repeat(n) + l).join('\n');

  const accDecl: string[] = [];
  const mmaLines = (loadA: (i: number, kk: number) => string, loadB: (j: number, kk: number) => string) => {
    const out: string[] = [];
    for (let kk = 0; kk < t.bk / 16; kk++) {
      out.push('{');
      for (let i = 0; i < FM; i++) out.push(`  var fa${i} = subgroupMatrixLoad<${LEFT}>(${loadA(i, kk)});`);
      for (let j = 0; j < FN; j++) out.push(`  var fb${j} = subgroupMatrixLoad<${RIGHT}>(${loadB(j, kk)});`);
      for (let i = 0; i < FM; i++) {
        for (let j = 0; j < FN; j++) out.push(`  acc${i}_${j} = subgroupMatrixMultiplyAccumulate(fa${i}, fb${j}, acc${i}_${j});`);
      }
      out.push('}');
    }
    return out.join('\n');
  };
  for (let i = 0; i < FM; i++) for (let j = 0; j < FN; j++) accDecl.push(`var acc${i}_${j} = ${RESULT}();`);

  // Epilogue: each fragment goes through this subgroup's 16x16 scratch, then lanes apply store_out per element.
  const epi: string[] = [];
  for (let i = 0; i < FM; i++) {
    for (let j = 0; j < FN; j++) {
      epi.push(`subgroupMatrixStore(&Cs, cBase, acc${i}_${j}, false, 16u);
workgroupBarrier();
for (var e = lane; e < 256u; e += ${SG}u) {
  let row = rowBase + ${i * 16}u + e / 16u;
  let col = colBase + ${j * 16}u + e % 16u;
  if (row < P.M && col < P.N) { store_out(batch, row, col, Cs[cBase + e]); }
}
workgroupBarrier();`);
    }
  }

  let smem = '';
  let mainLoop = '';
  if (t.staging === 'direct') {
    const loadA = (i: number, kk: number) => `&A, aBase + (rowBase + ${i * 16}u) * P.K + k0 + ${kk * 16}u, false, P.K`;
    const loadB = spec.bLayout === 'nk'
      ? (j: number, kk: number) => `&B, bBase + (colBase + ${j * 16}u) * P.K + k0 + ${kk * 16}u, true, P.K`
      : (j: number, kk: number) => `&B, bBase + (k0 + ${kk * 16}u) * P.N + colBase + ${j * 16}u, false, P.N`;
    mainLoop = `for (var k0 = 0u; k0 < P.K; k0 += ${t.bk}u) {
${ind(mmaLines(loadA, loadB), 2)}
}`;
  } else {
    const LDA = t.bk + PAD;
    const LDB = spec.bLayout === 'nk' ? t.bk + PAD : BN + PAD;
    const A_STAGE = BM * LDA;
    const B_STAGE = spec.bLayout === 'nk' ? BN * LDB : t.bk * LDB;
    const stages = t.stages ?? 2;
    smem = `var<workgroup> As: array<f16, ${stages * A_STAGE}>;
var<workgroup> Bs: array<f16, ${stages * B_STAGE}>;`;
    // Copy plan: 8-half chunks. A: rows of the M tile, chunks along K. B: 'nk' rows of the N tile, chunks
    // along K; 'kn' rows of the K step, chunks along N.
    const cprA = t.bk / 8;
    const chunksA = BM * cprA;
    const cprB = spec.bLayout === 'nk' ? t.bk / 8 : BN / 8;
    const chunksB = spec.bLayout === 'nk' ? BN * cprB : t.bk * cprB;
    const perA = Math.ceil(chunksA / threads);
    const perB = Math.ceil(chunksB / threads);
    const regDecl: string[] = [];
    for (let l = 0; l < perA; l++) regDecl.push(`var ra${l}: vec4<u32>;`);
    for (let l = 0; l < perB; l++) regDecl.push(`var rb${l}: vec4<u32>;`);

    // Global -> registers for the K step starting at k0. Guards make every read in bounds; misses are zero.
    const fetch: string[] = [];
    const gather8 = (reg: string, cond: (j: number) => string, index: (j: number) => string, arr: string) => {
      const hs: string[] = [];
      for (let j = 0; j < 8; j++) hs.push(`  var h${j} = 0.0h; if (${cond(j)}) { h${j} = ${arr}[${index(j)}]; }`);
      return `{\n${hs.join('\n')}\n  ${reg} = vec4<u32>(bitcast<u32>(vec2<f16>(h0, h1)), bitcast<u32>(vec2<f16>(h2, h3)), bitcast<u32>(vec2<f16>(h4, h5)), bitcast<u32>(vec2<f16>(h6, h7)));\n}`;
    };
    for (let l = 0; l < perA; l++) {
      const inner = spec.vecA
        ? `if (gr < P.M && gk < P.K) { ra${l} = A[(aBase + gr * P.K + gk) / 8u]; }`
        : `if (gr < P.M) ${gather8(`ra${l}`, (j) => `gk + ${j}u < P.K`, (j) => `aBase + gr * P.K + gk + ${j}u`, 'A')}`;
      fetch.push(`{
  let c = li + ${l * threads}u;
  let gr = m0 + c / ${cprA}u;
  let gk = k0 + (c % ${cprA}u) * 8u;
  ra${l} = vec4<u32>(0u);
  if (c < ${chunksA}u) {
${ind(inner, 4)}
  }
}`);
    }
    for (let l = 0; l < perB; l++) {
      let coords: string;
      let inner: string;
      if (spec.bLayout === 'nk') {
        coords = `let gn = n0 + c / ${cprB}u;\n  let gk = k0 + (c % ${cprB}u) * 8u;`;
        inner = spec.vecB
          ? `if (gn < P.N && gk < P.K) { rb${l} = B[(bBase + gn * P.K + gk) / 8u]; }`
          : `if (gn < P.N) ${gather8(`rb${l}`, (j) => `gk + ${j}u < P.K`, (j) => `bBase + gn * P.K + gk + ${j}u`, 'B')}`;
      } else {
        coords = `let gk = k0 + c / ${cprB}u;\n  let gn = n0 + (c % ${cprB}u) * 8u;`;
        inner = spec.vecB
          ? `if (gk < P.K && gn < P.N) { rb${l} = B[(bBase + gk * P.N + gn) / 8u]; }`
          : `if (gk < P.K) ${gather8(`rb${l}`, (j) => `gn + ${j}u < P.N`, (j) => `bBase + gk * P.N + gn + ${j}u`, 'B')}`;
      }
      fetch.push(`{
  let c = li + ${l * threads}u;
  ${coords}
  rb${l} = vec4<u32>(0u);
  if (c < ${chunksB}u) {
${ind(inner, 4)}
  }
}`);
    }
    // Registers -> workgroup memory stage `st`. Each thread writes 8 consecutive halves at a 16-byte aligned
    // address (row pitch is a multiple of 8 halves), which the compiler can merge into one 128-bit store.
    const put = (arr: string, reg: string, c: string, cpr: number, chunks: number, ld: number, stage: number) => `{
  let c = ${c};
  if (c < ${chunks}u) {
    let o = st * ${stage}u + (c / ${cpr}u) * ${ld}u + (c % ${cpr}u) * 8u;
    let p0 = bitcast<vec2<f16>>(${reg}.x); let p1 = bitcast<vec2<f16>>(${reg}.y);
    let p2 = bitcast<vec2<f16>>(${reg}.z); let p3 = bitcast<vec2<f16>>(${reg}.w);
    ${arr}[o] = p0.x; ${arr}[o + 1u] = p0.y; ${arr}[o + 2u] = p1.x; ${arr}[o + 3u] = p1.y;
    ${arr}[o + 4u] = p2.x; ${arr}[o + 5u] = p2.y; ${arr}[o + 6u] = p3.x; ${arr}[o + 7u] = p3.y;
  }
}`;
    const store: string[] = [];
    for (let l = 0; l < perA; l++) store.push(put('As', `ra${l}`, `li + ${l * threads}u`, cprA, chunksA, LDA, A_STAGE));
    for (let l = 0; l < perB; l++) store.push(put('Bs', `rb${l}`, `li + ${l * threads}u`, cprB, chunksB, LDB, B_STAGE));

    const loadA = (i: number, kk: number) => `&As, aOff + ${i * 16 * LDA + kk * 16}u, false, ${LDA}u`;
    const loadB = spec.bLayout === 'nk'
      ? (j: number, kk: number) => `&Bs, bOff + ${j * 16 * LDB + kk * 16}u, true, ${LDB}u`
      : (j: number, kk: number) => `&Bs, bOff + ${kk * 16 * LDB + j * 16}u, false, ${LDB}u`;
    const bOffSg = spec.bLayout === 'nk' ? `sgn * ${FN * 16 * LDB}u` : `sgn * ${FN * 16}u`;
    mainLoop = `${regDecl.join('\n')}
let nk = (P.K + ${t.bk - 1}u) / ${t.bk}u;
{
  let k0 = 0u;
${ind(fetch.join('\n'), 2)}
  let st = 0u;
${ind(store.join('\n'), 2)}
}
workgroupBarrier();
for (var kt = 0u; kt < nk; kt++) {
  let cur = ${stages === 2 ? 'kt & 1u' : '0u'};
  let hasNext = kt + 1u < nk;
  if (hasNext) {
    // Issue the next tile's global loads now; they complete while this tile is multiplied.
    let k0 = (kt + 1u) * ${t.bk}u;
${ind(fetch.join('\n'), 4)}
  }
  let aOff = cur * ${A_STAGE}u + sgm * ${FM * 16 * LDA}u;
  let bOff = cur * ${B_STAGE}u + ${bOffSg};
${ind(mmaLines(loadA, loadB), 2)}
${stages === 2 ? '' : '  workgroupBarrier(); // single stage: everyone has finished reading it before it is overwritten\n'}  if (hasNext) {
    // Two stages: the other one was last read in iteration kt-1, finished by every thread before the last barrier.
    let st = ${stages === 2 ? '1u - cur' : '0u'};
${ind(store.join('\n'), 4)}
  }
  workgroupBarrier();
}`;
  }

  return `enable f16;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
${PARAMS_WGSL}
${gemmBindings(spec)}
${smem}
var<workgroup> Cs: array<f32, ${nsg * 256}>;

${epilogueWgsl(spec)}

@compute @workgroup_size(${threads}, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  // Linear tile id, swizzled: groups of ${t.groupM} tile rows sweep all tile columns so B stays hot in L2.
  let pid = wid.x + wid.y * nwg.x;
  if (pid >= P.tilesM * P.tilesN) { return; }
  let groupSize = ${t.groupM}u * P.tilesN;
  let firstM = (pid / groupSize) * ${t.groupM}u;
  let rowsInGroup = min(P.tilesM - firstM, ${t.groupM}u);
  let tm = firstM + (pid % groupSize) % rowsInGroup;
  let tn = (pid % groupSize) / rowsInGroup;
  let batch = wid.z;
  let m0 = tm * ${BM}u;
  let n0 = tn * ${BN}u;
  let aBase = batch * P.batchA;
  let bBase = batch * P.batchB;
  let sg = li / ${SG}u;
  let lane = li % ${SG}u;
  let sgm = sg / ${t.sgN}u;
  let sgn = sg % ${t.sgN}u;
  let rowBase = m0 + sgm * ${FM * 16}u;
  let colBase = n0 + sgn * ${FN * 16}u;
  let cBase = sg * 256u;
${ind(accDecl.join('\n'), 2)}
${ind(mainLoop, 2)}
${ind(epi.join('\n'), 2)}
}
`;
}
