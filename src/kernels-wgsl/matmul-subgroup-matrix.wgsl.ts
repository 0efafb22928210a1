// Tensor-core matmul through Dawn's subgroup matrices (chromium_experimental_subgroup_matrix, 16x16x16
// f16 x f16 -> f32). A workgroup computes a BM x BN tile with sgM x sgN subgroups, each owning fragM x fragN
// 16x16 accumulator fragments (register blocking: fragM + fragN fragment loads feed fragM * fragN MMAs).
//
// Three ways to feed the fragments (`staging`):
//  - 'staged': A and B tiles are copied into workgroup memory (16-byte global loads held in registers while the
//    previous tile is multiplied = register double buffering; WGSL has no asynchronous copies). With stages = 2
//    there are two smem buffers and one barrier per K step; stages = 1 halves the workgroup memory (room for a
//    bigger tile or K step within the 48 KiB limit) at the price of a second barrier per K step. Tile rows are
//    padded by `pad` halves (default 8 = 16 bytes) so the 8 rows a fragment load touches fall in different banks
//    (an XOR swizzle is not expressible: subgroupMatrixLoad addresses rows by a plain stride).
//    Out-of-range rows/columns/K are zero-filled during the copy, so any M, N, K is handled in bounds.
//  - 'stageA': only A goes through workgroup memory; B fragments are loaded straight from storage (the weight
//    rows are re-read by the sgM subgroup rows through L1). Half the workgroup memory of 'staged' (so 2 stages at
//    K step 64 fit), no B staging instructions. B must be whole tiles: N % BN == 0 and K % bk == 0 (the launcher
//    falls back to 'staged' otherwise).
//  - 'direct': fragments of both operands are loaded straight from storage (L1/L2 serve the reuse). Only for
//    M % BM == 0, N % BN == 0 and K % bk == 0 (the launcher checks), because a fragment load cannot be guarded.
// Split-K (tiling.splitK > 1): workgroup z index s multiplies K range [s*kSplit, min(K, (s+1)*kSplit)) and writes
// its f32 partial tile as output "batch" s (the launcher binds an f32 workspace [S, M, N] as OUT with no
// epilogue); splitKReduceWgsl sums the slices and applies the epilogue. Batch must be 1 there.
// The epilogue goes through a per-subgroup 16x16 f32 scratch in workgroup memory, so bias/activation/gate/residual
// and the f16/f32 output conversion are applied per element with bounds checks (shared epilogue module).
// (The scratch cannot alias the f16 staging arrays: WGSL has no unions, and subgroupMatrixStore of an f32 result
// needs an f32 array.)
//
// B-operand seam (BLoader): the global->register half of the B staging can be replaced by a caller's WGSL
// function, e.g. to dequantize 8-bit weights while they are staged (helper H1, issue 16).
//
// Uniformity: fragment offsets derive from local_invocation_index / subgroupSize (uniform within a subgroup but
// not across the workgroup), which the default uniformity analysis rejects; the diagnostic is turned off
// (GPU-NOTES: multi-subgroup tiling works and matches the reference with it off).
import { sgLoad, sgStore, type SubgroupMatrixSyntax } from '../gpu/subgroup-matrix-syntax.js';
import { epilogueVec8Wgsl, epilogueWgsl, gemmBindings, I8_SCALE_BINDINGS, needsF16, PARAMS_WGSL, type GemmSpec } from './matmul-epilogue.wgsl.js';

export type SgStaging = 'staged' | 'stageA' | 'direct';

export interface SgTiling {
  sgM: number;
  sgN: number;
  fragM: number;
  fragN: number;
  /** K step per iteration (multiple of 16). */
  bk: number;
  staging: SgStaging;
  /** Workgroup-memory buffers for the staged paths: 2 (double buffered) or 1. Default 2. */
  stages?: 1 | 2;
  /** Tile-order swizzle: GROUP_M tile rows are walked together so B tiles are reused from L2. */
  groupM: number;
  subgroupSize: number;
  /** Halves of padding per staged row, a multiple of 8 (keeps 16-byte chunk stores aligned). Default 8. */
  pad?: number;
  /** Split K over this many workgroups per tile (f32 partials + a reduce pass; linearCalls only). Default 1. */
  splitK?: number;
  /**
   * Staged paths: type the workgroup staging arrays vec4<u32> (8 halves per element) instead of f16, so each
   * staged 8-half chunk is one 16-byte store instead of eight 2-byte stores, and fragments are loaded with
   * offsets and strides in 8-half units (Tint accepts vector arrays for subgroupMatrixLoad since Dawn d2749d8,
   * 2026-08-11; units are the array's element). A and B share one array, which also serves the epilogue: the
   * f32 accumulators are stored into it as bits (4 per element) several fragments per barrier pair, so the
   * separate f32 scratch (8 KiB at 8 subgroups) and 3 of every 4 epilogue barriers go. Ignored by 'direct'
   * (no staging arrays). Default false.
   */
  vecSmem?: boolean;
  /**
   * 16-byte output stores (store_out8: each lane writes 8 consecutive columns of a fragment row per call) where the
   * vecSmem epilogue runs and N % 8 == 0. Default (undefined): on for tilings of at most 8 fragments per subgroup.
   * Measured on the H200 (2026-12-01, docs/matmul.md): +8-16% at M = 4608 for the 4x2-fragment tilings (f16 and
   * int8), -8% for the f16 4x4-fragment tiling (16 accumulators per lane: the wider epilogue costs it more than
   * the stores save).
   */
  vecOut?: boolean;
  /**
   * Staged paths: issue the next K step's global loads into registers while this one is multiplied (register double
   * buffering; default true). false: each K step is loaded and stored right before its MMAs (needs stages 1), so no
   * tile is held in registers across the MMAs: meant to free registers so that a second workgroup shares the SM
   * (65536 registers: two 256-invocation workgroups need <= 128 each). H200 (docs/matmul.md, "Where the GEMM loses"):
   * 209 registers alone, 137 with rollK; slower than prefetch either way.
   */
  prefetch?: boolean;
  /**
   * Staged paths with prefetch: how many K steps ahead the global loads are issued (register sets of the next tiles;
   * default 1). 2: the loads of step kt + 2 are issued while step kt is multiplied and step kt + 1 waits in the other
   * register set, so every load has two K steps to arrive (twice the bytes in flight per SM, for 4 * (chunks per
   * invocation) more registers). Needs stages 1; the main loop is unrolled by 2 so each register set is named statically.
   * H200: 222 registers, 0.35-1.0x the speed of depth 1 (the driver sinks the loads to their stores anyway).
   */
  prefetchDepth?: 1 | 2;
  /**
   * Staged paths with vec4 global bindings: every global load of the staging is an unconditional read at a clamped
   * index, masked with select (instead of a load inside bounds branches), and the next K step's loads and stores run
   * without the `hasNext` branch (past the last step they read index 0 and store zeros that nobody reads), so the K
   * loop body is straight-line code between its barriers. Default false. H200: the driver then keeps the loads in
   * flight across the MMAs (with branches it sinks them to their stores), at 255 registers and 0.76-0.83x the speed.
   */
  branchFree?: boolean;
  /**
   * Emit the bk / fragK sub-steps of a K step as a loop whose trip count the compiler cannot fold (min(bk / fragK, K):
   * the sub-steps past K only multiply zero-filled tiles), instead of unrolled code. Unrolled, the driver hoists every
   * sub-step's fragment loads ahead of the MMAs (4 sub-steps x 6 fragments x 4 registers at 4x2 fragments, bk 64);
   * rolled, only one sub-step's fragments are live. Default false. H200: 188 registers (from 195), 0.81-0.87x the speed.
   */
  rollK?: boolean;
  /**
   * With rollK: sub-steps per iteration of the rolled loop (default 1), so that many sub-steps' fragments are live and
   * their MMAs can overlap the next loads; bk / fragK must be a multiple. H200: 185 registers, 0.93-0.99x the speed of
   * the unrolled loop; with branchFree 153 registers and 0.54-0.74x.
   */
  rollKStep?: 1 | 2;
}

/**
 * A replacement for the B tile's global->register load (staged B, [N, K] layout only). `decls` is module-scope
 * WGSL (extra bindings at @group(0) @binding(7) and up, helper functions); `fn` names a function
 * `fn(bBase: u32, n: u32, k: u32, kEnd: u32) -> vec4<u32>` that returns the 8 halves B[n, k .. k+8) packed two
 * per u32 (lower index in the low 16 bits), with halves at k + j >= kEnd set to 0. The caller guarantees
 * n < N and k < kEnd (k is a multiple of 8). `bElem` re-types binding 2 (`B`), e.g. 'u32' for packed int8.
 */
export interface BLoader {
  /** Part of the pipeline cache key: must change whenever decls/fn/bElem change. */
  name: string;
  decls: string;
  fn: string;
  bElem?: string;
}

/**
 * Timing decomposition only (bench/matmul-tune.ts --ablate): the kernel leaves one part of its main loop out, so
 * its output is WRONG. 'no-global': staging stores write register garbage instead of global loads; 'no-stage':
 * no global loads and no staging stores (fragments read stale workgroup memory); 'no-barrier': no barrier in the
 * main loop (races); 'mma-only': only the MMAs, on fragments loaded once before the loop.
 */
export type SgAblation = 'no-global' | 'no-stage' | 'no-barrier' | 'mma-only';

export interface SgOptions {
  bLoader?: BLoader;
  /**
   * W8A8: A and B are int8 (4 per u32, [M, K] and [N, K] row-major, K a multiple of 16 int8 = one 16-byte chunk),
   * multiplied as 16x16x32 i8 x i8 -> i32 subgroup matrices; the epilogue scales the i32 sums by the per-row
   * scales SX[row] (@binding(7)) and SW[col] (@binding(8)) before bias/activation/gate/residual. K, bk and pad
   * count int8 elements. Needs staging 'staged', vecSmem, bLayout 'nk', vec4 bindings, no B loader. With split-K the
   * partials are already scaled (the scales are per row and column, so the sum of scaled partials is exact).
   */
  int8?: boolean;
  ablate?: SgAblation;
  /** How the device spells subgroupMatrixLoad/Store (ctx.caps.subgroupMatrixSyntax); default: what this Dawn wants. */
  syntax?: SubgroupMatrixSyntax;
}

/** One fragment load's operands: pointer, offset and stride (WGSL, in halves), and whether it is column-major. */
type Frag = [ptr: string, offset: string, colMajor: boolean, stride: string];
/** A K sub-step index: a constant (unrolled code) or a WGSL expression of the loop variable (SgTiling.rollK). */
type SubStep = number | string;
/** `base + kk * unit` as WGSL: one folded constant for an unrolled sub-step. */
const subStepOffset = (base: number, kk: SubStep, unit: number) =>
  (typeof kk === 'number' ? `${base + kk * unit}u` : `${base}u + ${kk === 'kk' ? kk : `(${kk})`} * ${unit}u`);

export function sgTileShape(t: SgTiling): { BM: number; BN: number; threads: number } {
  return { BM: t.sgM * t.fragM * 16, BN: t.sgN * t.fragN * 16, threads: t.sgM * t.sgN * t.subgroupSize };
}

/** Workgroup memory the kernel declares, in bytes (the launcher checks it against the adapter limit). */
export function sgWorkgroupBytes(t: SgTiling, bLayout: GemmSpec['bLayout'], elemBytes = 2): number {
  const { BM, BN } = sgTileShape(t);
  const pad = t.pad ?? 8;
  const scratch = t.sgM * t.sgN * 256 * 4;
  if (t.staging === 'direct') return scratch;
  const aStage = BM * (t.bk + pad);
  const bStage = t.staging === 'stageA' ? 0 : bLayout === 'nk' ? BN * (t.bk + pad) : t.bk * (BN + pad);
  const staging = (t.stages ?? 2) * (aStage + bStage) * elemBytes;
  // vecSmem: the epilogue reuses the staging array (at least one f32 fragment per subgroup).
  return t.vecSmem ? Math.max(staging, scratch) : staging + scratch; // ('direct' returned above)
}

/**
 * Whether a tiling asks for 16-byte output stores (SgTiling.vecOut; default on for at most 8 fragments per subgroup).
 * The launcher adds what the shape and spec need (vecSmem epilogue, N % 8 == 0, no split-K); the tuners name it.
 */
export function sgWantsVecOut(t: Pick<SgTiling, 'vecOut' | 'fragM' | 'fragN'>): boolean {
  return t.vecOut ?? t.fragM * t.fragN <= 8;
}

/**
 * The main-loop options of a tiling (prefetch, prefetchDepth, rollK, branchFree) as a variant-name suffix for the
 * tuners ('' for the default loop): ' nopf', ' pf2', ' rollK' / ' rollK2', ' bf'.
 */
export function sgLoopNameParts(t: Pick<SgTiling, 'prefetch' | 'prefetchDepth' | 'rollK' | 'rollKStep' | 'branchFree'>): string {
  return `${t.prefetch === false ? ' nopf' : ''}${(t.prefetchDepth ?? 1) > 1 ? ` pf${t.prefetchDepth}` : ''}${t.rollK ? ` rollK${(t.rollKStep ?? 1) > 1 ? t.rollKStep : ''}` : ''}${t.branchFree ? ' bf' : ''}`;
}

/** Why this tiling cannot be generated (null when it can): every tuner/table entry goes through it. */
export function sgTilingProblem(t: SgTiling): string | null {
  const ints = ['sgM', 'sgN', 'fragM', 'fragN', 'bk', 'groupM', 'subgroupSize'] as const;
  for (const k of ints) if (!Number.isInteger(t[k]) || t[k] < 1) return `${k}=${t[k]} must be a positive integer`;
  if (t.bk % 16 !== 0) return `bk=${t.bk} must be a multiple of 16`;
  if (!['staged', 'stageA', 'direct'].includes(t.staging)) return `staging '${t.staging}' must be staged, stageA or direct`;
  if (t.stages !== undefined && t.stages !== 1 && t.stages !== 2) return `stages=${t.stages} must be 1 or 2`;
  const pad = t.pad ?? 8;
  if (!Number.isInteger(pad) || pad < 0 || pad % 8 !== 0) return `pad=${pad} must be a non-negative multiple of 8 halves`;
  const sk = t.splitK ?? 1;
  if (!Number.isInteger(sk) || sk < 1) return `splitK=${sk} must be a positive integer`;
  const depth = t.prefetchDepth ?? 1;
  if (depth !== 1 && depth !== 2) return `prefetchDepth=${depth} must be 1 or 2`;
  if (depth === 2 && (t.prefetch === false || t.staging === 'direct' || t.stages !== 1)) {
    return `prefetchDepth=2 keeps two register sets in front of the single workgroup-memory stage: needs prefetch, staging 'staged' or 'stageA' and stages 1 (got prefetch ${t.prefetch ?? true}, ${t.staging}, stages ${t.stages ?? 2})`;
  }
  if (t.rollKStep !== undefined && (![1, 2].includes(t.rollKStep) || !t.rollK)) return `rollKStep=${t.rollKStep} must be 1 or 2, with rollK`;
  if (t.prefetch === false && (t.staging === 'direct' || t.stages !== 1)) {
    return `prefetch=false loads each K step into the single workgroup-memory stage: needs staging 'staged' or 'stageA' with stages 1 (got ${t.staging}, stages ${t.stages ?? 2})`;
  }
  return null;
}

const LEFT = 'subgroup_matrix_left<f16, 16, 16>';
const RIGHT = 'subgroup_matrix_right<f16, 16, 16>';
const RESULT = 'subgroup_matrix_result<f32, 16, 16>';
// W8A8 (opts.int8): 16x16x32 i8 -> i32 (the config the H200 lists beside the f16 ones).
const LEFT_I8 = 'subgroup_matrix_left<i8, 32, 16>';
const RIGHT_I8 = 'subgroup_matrix_right<i8, 16, 32>';
const RESULT_I32 = 'subgroup_matrix_result<i32, 16, 16>';

/** Why this tiling/spec cannot run as the W8A8 kernel (null when it can). */
export function int8TilingProblem(spec: GemmSpec, t: SgTiling): string | null {
  if (t.staging !== 'staged' || !t.vecSmem) return `int8 needs staging 'staged' with vecSmem (got ${t.staging}${t.vecSmem ? '' : ', no vecSmem'})`;
  if (spec.bLayout !== 'nk' || !spec.vecA || !spec.vecB) return 'int8 needs B as [N, K] and both operands bound as vec4<u32>';
  if (t.bk % 32 !== 0) return `int8 bk=${t.bk} must be a multiple of 32 (the i8 fragment's K)`;
  if ((t.pad ?? 16) % 16 !== 0) return `int8 pad=${t.pad} must be a multiple of 16 int8 (one 16-byte chunk)`;
  return null;
}

export function subgroupMatrixMatmulWgsl(spec: GemmSpec, t: SgTiling, opts: SgOptions = {}): string {
  const bLoader = opts.bLoader;
  const int8 = !!opts.int8;
  if (int8) {
    const bad = int8TilingProblem(spec, t) ?? (bLoader ? 'int8 takes no B loader' : null);
    if (bad) throw new Error(`subgroup-matrix matmul: ${bad}`);
  } else if (spec.aType !== 'f16' || (spec.bType !== 'f16' && !bLoader)) throw new Error('subgroup-matrix matmul needs f16 a and b');
  // Elements per 16-byte chunk and the fragment's K: 8 / 16 for f16, 16 / 32 for int8. Every K quantity (bk, pad,
  // P.K, offsets) counts elements of the operand type.
  const E = int8 ? 16 : 8;
  const FK = int8 ? 32 : 16;
  const [LEFT_T, RIGHT_T, RESULT_T] = int8 ? [LEFT_I8, RIGHT_I8, RESULT_I32] : [LEFT, RIGHT, RESULT];
  const problem = sgTilingProblem(t);
  if (problem) throw new Error(`subgroup-matrix matmul: ${problem}`);
  if (t.staging === 'direct' && (spec.vecA || spec.vecB)) throw new Error('direct loads need f16 (not vec4) bindings');
  if (t.staging === 'stageA' && spec.vecB) throw new Error("stageA loads B fragments from storage: B needs an f16 (not vec4) binding");
  if (opts.ablate && (t.staging === 'direct' || bLoader || t.prefetch === false || (t.prefetchDepth ?? 1) > 1)) throw new Error('ablations are for the staged paths with prefetch and without a B loader');
  if (bLoader && (t.staging !== 'staged' || spec.bLayout !== 'nk')) {
    throw new Error(`a B loader replaces the staged [N, K] B copy: needs staging 'staged' and bLayout 'nk' (got ${t.staging}, ${spec.bLayout})`);
  }
  const split = (t.splitK ?? 1) > 1;
  const PAD = t.pad ?? E;
  const vecSmem = !!t.vecSmem && t.staging !== 'direct';
  if (spec.vecOut && !vecSmem) throw new Error('subgroup-matrix matmul: vecOut writes through the vecSmem epilogue (staging staged/stageA with vecSmem)');
  const stageB = t.staging === 'staged';
  const { BM, BN, threads } = sgTileShape(t);
  const SG = t.subgroupSize;
  const FM = t.fragM;
  const FN = t.fragN;
  const nsg = t.sgM * t.sgN;
  const ind = (s: string, n: number) => s.split('\n').map((l) => ' '.repeat(n) + l).join('\n');

  const ablate = opts.ablate;
  const accDecl: string[] = [];
  const fragLoads = (loadA: (i: number, kk: SubStep) => Frag, loadB: (j: number, kk: SubStep) => Frag, kk: SubStep) => [
    ...Array.from({ length: FM }, (_, i) => `var fa${i} = ${sgLoad(LEFT_T, ...loadA(i, kk), opts.syntax)};`),
    ...Array.from({ length: FN }, (_, j) => `var fb${j} = ${sgLoad(RIGHT_T, ...loadB(j, kk), opts.syntax)};`),
  ];
  const mmaLines = (loadA: (i: number, kk: SubStep) => Frag, loadB: (j: number, kk: SubStep) => Frag) => {
    const out: string[] = [];
    if (t.rollK && ablate !== 'mma-only') {
      // rollKStep sub-steps' fragments live at a time. The trip count is not a compile-time constant (sub-steps past K
      // multiply zero-filled tiles, so min(.., K) is exact) and the driver cannot unroll and hoist the loads.
      const R = t.rollKStep ?? 1;
      if ((t.bk / FK) % R) throw new Error(`subgroup-matrix matmul: rollKStep=${R} must divide the ${t.bk / FK} sub-steps of a K step`);
      const mmas = (kk: string) => [
        ...fragLoads(loadA, loadB, kk),
        ...Array.from({ length: FM * FN }, (_, f) => `acc${Math.floor(f / FN)}_${f % FN} = subgroupMatrixMultiplyAccumulate(fa${Math.floor(f / FN)}, fb${f % FN}, acc${Math.floor(f / FN)}_${f % FN});`),
      ];
      out.push(`for (var kk = 0u; kk < min(${t.bk / FK}u, P.K); kk += ${R}u) {`);
      if (R === 1) out.push(...mmas('kk').map((l) => `  ${l}`));
      else for (let r = 0; r < R; r++) out.push('  {', ...mmas(r ? `kk + ${r}u` : 'kk').map((l) => `    ${l}`), '  }');
      out.push('}');
      return out.join('\n');
    }
    for (let kk = 0; kk < t.bk / FK; kk++) {
      out.push('{');
      // mma-only: the fragments were loaded once before the loop (hoisted), only the MMAs stay.
      if (ablate !== 'mma-only') out.push(...fragLoads(loadA, loadB, kk).map((l) => `  ${l}`));
      for (let i = 0; i < FM; i++) {
        for (let j = 0; j < FN; j++) out.push(`  acc${i}_${j} = subgroupMatrixMultiplyAccumulate(fa${i}, fb${j}, acc${i}_${j});`);
      }
      out.push('}');
    }
    return out.join('\n');
  };
  for (let i = 0; i < FM; i++) for (let j = 0; j < FN; j++) accDecl.push(`var acc${i}_${j} = ${RESULT_T}();`);

  // Epilogue: each fragment goes through this subgroup's 16x16 scratch, then lanes apply store_out per element.
  // (vecSmem: through the staging array instead, vecEpilogue below.)
  const epi: string[] = [];
  for (let i = 0; i < (vecSmem ? 0 : FM); i++) {
    for (let j = 0; j < FN; j++) {
      epi.push(`${sgStore('&Cs', 'cBase', `acc${i}_${j}`, false, '16u', opts.syntax)};
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
  let cBaseExpr = 'sg * 256u'; // this subgroup's epilogue scratch (Cs, or AB with vecSmem)
  if (t.staging === 'direct') {
    const loadA = (i: number, kk: SubStep): Frag => ['&A', `aBase + (rowBase + ${i * 16}u) * P.K + k0 + ${subStepOffset(0, kk, 16)}`, false, 'P.K'];
    const loadB = spec.bLayout === 'nk'
      ? (j: number, kk: SubStep): Frag => ['&B', `bBase + (colBase + ${j * 16}u) * P.K + k0 + ${subStepOffset(0, kk, 16)}`, true, 'P.K']
      : (j: number, kk: SubStep): Frag => ['&B', `bBase + (k0 + ${subStepOffset(0, kk, 16)}) * P.N + colBase + ${j * 16}u`, false, 'P.N'];
    mainLoop = `for (var k0 = kBegin; k0 < kEnd; k0 += ${t.bk}u) {
${ind(mmaLines(loadA, loadB), 2)}
}`;
  } else {
    const LDA = t.bk + PAD;
    const LDB = spec.bLayout === 'nk' ? t.bk + PAD : BN + PAD;
    const A_STAGE = BM * LDA;
    const B_STAGE = !stageB ? 0 : spec.bLayout === 'nk' ? BN * LDB : t.bk * LDB;
    const stages = t.stages ?? 2;
    // vecSmem: workgroup arrays of vec4<u32>; every workgroup-memory offset and stride below is then in units of
    // U = 8 halves (all of them are multiples of 8: row pitches, stage sizes, fragment corners).
    const U = vecSmem ? E : 1;
    // vecSmem: one array AB, the A stages first, then the B stages from AB_B (in vec4 elements).
    const AB_B = (stages * A_STAGE) / E;
    const [aArr, bArr, bBaseOff] = vecSmem ? ['AB', 'AB', `${AB_B}u + `] : ['As', 'Bs', ''];
    if (vecSmem) {
      const total = sgWorkgroupBytes(t, spec.bLayout, int8 ? 1 : 2) / 16; // staging, or one f32 fragment per subgroup if larger
      smem = `var<workgroup> AB: array<vec4<u32>, ${total}>;  // A stages, B stages; f32 bits in the epilogue`;
      // Fragments per pass: as many of each subgroup's FM x FN as fit the array at 64 elements (1 KiB) each.
      const F = Math.min(FM * FN, Math.floor(total / (nsg * 64)));
      const frags = Array.from({ length: FM * FN }, (_, f) => [Math.floor(f / FN), f % FN]);
      for (let p = 0; p * F < frags.length; p++) {
        const pass = frags.slice(p * F, (p + 1) * F);
        // The main loop ends with a barrier after its last fragment loads: the first pass needs none before it.
        if (p > 0) epi.push('workgroupBarrier(); // every lane has read the previous pass');
        pass.forEach(([i, j], q) => epi.push(`${sgStore('&AB', `cBase + ${q * 64}u`, `acc${i}_${j}`, false, '4u', opts.syntax)};`));
        epi.push('workgroupBarrier();');
        // int8: the i32 sum times the row's activation scale and the column's weight scale.
        const acc = (bits: string) => (int8 ? `f32(bitcast<i32>(${bits})) * SX[row] * SW[col]` : `bitcast<f32>(${bits})`);
        // spec.vecOut: a lane takes 8 consecutive columns of one fragment row (2 vec4 of f32 bits) per store_out8.
        const acc4 = (bits: string, c: string) => (int8
          ? `vec4<f32>(bitcast<vec4<i32>>(${bits})) * SX[row] * vec4<f32>(SW[${c}], SW[${c} + 1u], SW[${c} + 2u], SW[${c} + 3u])`
          : `bitcast<vec4<f32>>(${bits})`);
        pass.forEach(([i, j], q) => epi.push(spec.vecOut
          ? `for (var ch = lane; ch < 32u; ch += ${SG}u) {
  let row = rowBase + ${i * 16}u + ch / 2u;
  let col = colBase + ${j * 16}u + (ch % 2u) * 8u;
  if (row < P.M && col < P.N) {
    let c8 = cBase + ${q * 64}u + (ch / 2u) * 4u + (ch % 2u) * 2u;
    store_out8(batch, row, col, ${acc4('AB[c8]', 'col')}, ${acc4('AB[c8 + 1u]', 'col + 4u')});
  }
}`
          : `for (var e = lane; e < 256u; e += ${SG}u) {
  let row = rowBase + ${i * 16}u + e / 16u;
  let col = colBase + ${j * 16}u + e % 16u;
  if (row < P.M && col < P.N) { store_out(batch, row, col, ${acc(`AB[cBase + ${q * 64}u + e / 4u][e % 4u]`)}); }
}`));
      }
      cBaseExpr = `sg * ${F * 64}u`;
    } else {
      smem = `var<workgroup> As: array<f16, ${stages * A_STAGE}>;` + (stageB ? `\nvar<workgroup> Bs: array<f16, ${stages * B_STAGE}>;` : '');
    }
    // Copy plan: 8-half chunks. A: rows of the M tile, chunks along K. B: 'nk' rows of the N tile, chunks
    // along K; 'kn' rows of the K step, chunks along N.
    const cprA = t.bk / E;
    const chunksA = BM * cprA;
    const cprB = spec.bLayout === 'nk' ? t.bk / E : BN / 8;
    const chunksB = !stageB ? 0 : spec.bLayout === 'nk' ? BN * cprB : t.bk * cprB;
    const perA = Math.ceil(chunksA / threads);
    const perB = Math.ceil(chunksB / threads);
    const regs = [...Array.from({ length: perA }, (_, l) => `ra${l}`), ...Array.from({ length: perB }, (_, l) => `rb${l}`)];
    const regDecl = regs.map((r) => `var ${r}: vec4<u32>;`);

    // Global -> registers for the K step starting at k0. Guards make every read in bounds; misses are zero.
    // K is guarded against kEnd (the end of this workgroup's split-K range; = K without split).
    const fetch: string[] = [];
    const gather8 = (reg: string, cond: (j: number) => string, index: (j: number) => string, arr: string) => {
      const hs: string[] = [];
      for (let j = 0; j < 8; j++) hs.push(`  var h${j} = 0.0h; if (${cond(j)}) { h${j} = ${arr}[${index(j)}]; }`);
      return `{\n${hs.join('\n')}\n  ${reg} = vec4<u32>(bitcast<u32>(vec2<f16>(h0, h1)), bitcast<u32>(vec2<f16>(h2, h3)), bitcast<u32>(vec2<f16>(h4, h5)), bitcast<u32>(vec2<f16>(h6, h7)));\n}`;
    };
    // branchFree: one select-masked read at a clamped index per chunk; `c < chunks` only where a thread's last chunk
    // can pass the end (chunks not a multiple of the workgroup size).
    const bf = !!t.branchFree && !bLoader;
    const masked = (reg: string, l: number, chunks: number, cond: string, arr: string, index: string) => {
      const ok = [...((l + 1) * threads > chunks ? [`c < ${chunks}u`] : []), cond].join(' && ');
      return `let ok = ${ok};
  ${reg} = select(vec4<u32>(0u), ${arr}[select(0u, ${index}, ok)], ok);`;
    };
    for (let l = 0; l < perA; l++) {
      if (bf && spec.vecA) {
        fetch.push(`{
  let c = li + ${l * threads}u;
  let gr = m0 + c / ${cprA}u;
  let gk = k0 + (c % ${cprA}u) * ${E}u;
  ${masked(`ra${l}`, l, chunksA, 'gr < P.M && gk < kEnd', 'A', `(aBase + gr * P.K + gk) / ${E}u`)}
}`);
        continue;
      }
      const inner = spec.vecA
        ? `if (gr < P.M && gk < kEnd) { ra${l} = A[(aBase + gr * P.K + gk) / ${E}u]; }`
        : `if (gr < P.M) ${gather8(`ra${l}`, (j) => `gk + ${j}u < kEnd`, (j) => `aBase + gr * P.K + gk + ${j}u`, 'A')}`;
      fetch.push(`{
  let c = li + ${l * threads}u;
  let gr = m0 + c / ${cprA}u;
  let gk = k0 + (c % ${cprA}u) * ${E}u;
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
        coords = `let gn = n0 + c / ${cprB}u;\n  let gk = k0 + (c % ${cprB}u) * ${E}u;`;
        inner = bLoader
          ? `if (gn < P.N && gk < kEnd) { rb${l} = ${bLoader.fn}(bBase, gn, gk, kEnd); }`
          : spec.vecB
            ? `if (gn < P.N && gk < kEnd) { rb${l} = B[(bBase + gn * P.K + gk) / ${E}u]; }`
            : `if (gn < P.N) ${gather8(`rb${l}`, (j) => `gk + ${j}u < kEnd`, (j) => `bBase + gn * P.K + gk + ${j}u`, 'B')}`;
      } else {
        coords = `let gk = k0 + c / ${cprB}u;\n  let gn = n0 + (c % ${cprB}u) * 8u;`;
        inner = spec.vecB
          ? `if (gk < kEnd && gn < P.N) { rb${l} = B[(bBase + gk * P.N + gn) / 8u]; }`
          : `if (gk < kEnd) ${gather8(`rb${l}`, (j) => `gn + ${j}u < P.N`, (j) => `bBase + gk * P.N + gn + ${j}u`, 'B')}`;
      }
      if (bf && spec.vecB) {
        const [cond, index] = spec.bLayout === 'nk'
          ? ['gn < P.N && gk < kEnd', `(bBase + gn * P.K + gk) / ${E}u`]
          : ['gk < kEnd && gn < P.N', '(bBase + gk * P.N + gn) / 8u'];
        fetch.push(`{
  let c = li + ${l * threads}u;
  ${coords}
  ${masked(`rb${l}`, l, chunksB, cond, 'B', index)}
}`);
        continue;
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
    // address (row pitch is a multiple of 8 halves): one 16-byte store into AB (vecSmem), or eight scalar f16 stores,
    // which NVIDIA's compiler does not merge (H200, 2026-11-30).
    const put = (arr: string, reg: string, c: string, cpr: number, chunks: number, ld: number, stage: number, always = false) => vecSmem ? `{
  let c = ${c};
  ${always ? '' : `if (c < ${chunks}u) `}{ AB[${arr === 'Bs' ? bBaseOff : ''}st * ${stage / E}u + (c / ${cpr}u) * ${ld / E}u + c % ${cpr}u] = ${reg}; }
}` : `{
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
    // branchFree: no chunk bound where every thread's chunk l is inside (local_invocation_index < threads).
    const inside = (l: number, chunks: number) => bf && (l + 1) * threads <= chunks;
    for (let l = 0; l < perA; l++) store.push(put('As', `ra${l}`, `li + ${l * threads}u`, cprA, chunksA, LDA, A_STAGE, inside(l, chunksA)));
    for (let l = 0; l < perB; l++) store.push(put('Bs', `rb${l}`, `li + ${l * threads}u`, cprB, chunksB, LDB, B_STAGE, inside(l, chunksB)));

    const loadA = (i: number, kk: SubStep): Frag => [`&${aArr}`, `aOff + ${subStepOffset((i * 16 * LDA) / U, kk, FK / U)}`, false, `${LDA / U}u`];
    let loadB: (j: number, kk: SubStep) => Frag;
    if (stageB) {
      loadB = spec.bLayout === 'nk'
        ? (j, kk) => [`&${bArr}`, `bOff + ${subStepOffset((j * 16 * LDB) / U, kk, FK / U)}`, true, `${LDB / U}u`]
        : (j, kk) => [`&${bArr}`, `bOff + ${subStepOffset((j * 16) / U, kk, (16 * LDB) / U)}`, false, `${LDB / U}u`];
    } else {
      // stageA: whole B tiles only (launcher), so these unguarded fragment loads stay in bounds.
      loadB = spec.bLayout === 'nk'
        ? (j, kk) => ['&B', `bBase + (colBase + ${j * 16}u) * P.K + kc + ${subStepOffset(0, kk, 16)}`, true, 'P.K']
        : (j, kk) => ['&B', `bBase + (kc + ${subStepOffset(0, kk, 16)}) * P.N + colBase + ${j * 16}u`, false, 'P.N'];
    }
    const bOffSg = spec.bLayout === 'nk' ? `sgn * ${(FN * 16 * LDB) / U}u` : `sgn * ${(FN * 16) / U}u`;
    // Ablations (timing decomposition, wrong output): see SgAblation.
    const fetchCode = ablate === 'no-stage' || ablate === 'mma-only' ? ''
      : ablate === 'no-global' ? regs.map((r) => `${r} = vec4<u32>(0x3c003c00u); // 1.0h x 8`).join('\n')
        : fetch.join('\n');
    const storeCode = ablate === 'no-stage' || ablate === 'mma-only' ? '' : store.join('\n');
    const barrier = ablate === 'no-barrier' || ablate === 'mma-only' ? '' : 'workgroupBarrier();';
    const aOffCode = (cur: string) => `let aOff = ${cur} * ${A_STAGE / U}u + sgm * ${(FM * 16 * LDA) / U}u;`;
    const bOffCode = (cur: string) => (stageB ? `let bOff = ${bBaseOff}${cur} * ${B_STAGE / U}u + ${bOffSg};` : '');
    const hoisted = ablate === 'mma-only' ? `${aOffCode('0u')}\n${bOffCode('0u')}\nlet kc = kBegin;\n${fragLoads(loadA, loadB, 0).join('\n')}\n` : '';
    // Without global loads A and B would drop out of the automatic bind group layout (then the bind group cannot be
    // made: the first H200 'no-global' runs aborted on it): keep them referenced in every ablation.
    const keepBindings = ablate ? '_ = A[0];\n_ = B[0];\n' : '';
    const nkDecl = `let nk = (kEnd - kBegin + ${t.bk - 1}u) / ${t.bk}u;`;
    // prefetch false: load, store, barrier, multiply, barrier; no tile held in registers across the MMAs.
    if (t.prefetch === false) {
      mainLoop = `${regDecl.join('\n')}
${nkDecl}
for (var kt = 0u; kt < nk; kt++) {
  let kc = kBegin + kt * ${t.bk}u;
  {
    let k0 = kc;
${ind(fetchCode, 4)}
    let st = 0u;
${ind(storeCode, 4)}
  }
  workgroupBarrier(); // the K step is staged
  ${aOffCode('0u')}
${stageB ? `  ${bOffCode('0u')}\n` : ''}${ind(mmaLines(loadA, loadB), 2)}
  workgroupBarrier(); // everyone has read it before the next K step overwrites it
}`;
    } else if ((t.prefetchDepth ?? 1) === 2) {
      // Two register sets (suffix s0 / s1 = K step parity): step kt's loads are issued at iteration kt - 2 into set
      // kt % 2 and stored at iteration kt - 1, after that iteration's MMAs. Unrolled by 2 so the sets are static.
      const inSet = (code: string, set: number) => code.replace(/\b(r[ab]\d+)\b/g, `$1s${set}`);
      const body = (k: string, set: number) => `{
  let kt = ${k};
  let kc = kBegin + kt * ${t.bk}u;
  if (kt + 2u < nk) {
    // Step kt + 2 into this parity's registers (step kt's were stored from them last iteration).
    let k0 = kc + ${2 * t.bk}u;
${ind(inSet(fetchCode, set), 4)}
  }
  ${aOffCode('0u')}
${stageB ? `  ${bOffCode('0u')}\n` : ''}${ind(mmaLines(loadA, loadB), 2)}
  workgroupBarrier(); // everyone has read the stage before step kt + 1 overwrites it
  if (kt + 1u < nk) {
    let st = 0u;
${ind(inSet(storeCode, 1 - set), 4)}
  }
  workgroupBarrier();
}`;
      mainLoop = `${[0, 1].flatMap((set) => regDecl.map((d) => inSet(d, set))).join('\n')}
${nkDecl}
{
  let k0 = kBegin;
${ind(inSet(fetchCode, 0), 2)}
  let st = 0u;
${ind(inSet(storeCode, 0), 2)}
}
if (1u < nk) {
  let k0 = kBegin + ${t.bk}u;
${ind(inSet(fetchCode, 1), 2)}
}
workgroupBarrier();
for (var kp = 0u; kp < nk; kp += 2u) {
${ind(body('kp', 0), 2)}
  if (kp + 1u < nk) {
${ind(body('kp + 1u', 1), 4)}
  }
}`;
    } else {
      // Register double buffering, one K step ahead. branchFree: past the last K step the loads read zeros (every guard
      // fails) and the stores fill the idle stage, so neither needs the hasNext branch.
      const nextIf = t.branchFree ? '{' : 'if (hasNext) {';
      mainLoop = `${keepBindings}${regDecl.join('\n')}
${nkDecl}
{
  let k0 = kBegin;
${ind(fetchCode, 2)}
  let st = 0u;
${ind(storeCode, 2)}
}
workgroupBarrier();
${hoisted}for (var kt = 0u; kt < nk; kt++) {
  let cur = ${stages === 2 ? 'kt & 1u' : '0u'};
  let hasNext = kt + 1u < nk;
${ablate === 'mma-only' ? '' : `  let kc = kBegin + kt * ${t.bk}u;\n`}  ${nextIf}
    // Issue the next tile's global loads now; they complete while this tile is multiplied.
    let k0 = kc + ${t.bk}u;
${ind(fetchCode, 4)}
  }
${ablate === 'mma-only' ? '' : `  ${aOffCode('cur')}\n${stageB ? `  ${bOffCode('cur')}\n` : ''}`}${ind(mmaLines(loadA, loadB), 2)}
${stages === 2 || !barrier ? '' : `  ${barrier} // single stage: everyone has finished reading it before it is overwritten\n`}  ${nextIf}
    // Two stages: the other one was last read in iteration kt-1, finished by every thread before the last barrier.
    let st = ${stages === 2 ? '1u - cur' : '0u'};
${ind(storeCode, 4)}
  }
  ${barrier}
}`;
    }
  }

  return `enable f16;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
${PARAMS_WGSL}
${gemmBindings(spec, bLoader?.bElem)}${int8 ? `\n${I8_SCALE_BINDINGS}` : ''}
${smem}
${vecSmem ? '' : `var<workgroup> Cs: array<f32, ${nsg * 256}>;`}

${spec.vecOut ? epilogueVec8Wgsl(spec) : epilogueWgsl(spec)}
${bLoader ? `\n// B loader '${bLoader.name}' (caller-supplied)\n${bLoader.decls}\n` : ''}
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
  let m0 = tm * ${BM}u;
  let n0 = tn * ${BN}u;
${split ? `  // Split-K: z is the K slice; its f32 partial tile is written as output batch z (batch 1 only).
  let batch = wid.z;
  let aBase = 0u;
  let bBase = 0u;
  let kBegin = wid.z * P.kSplit;` : `  let batch = wid.z;
  let aBase = batch * P.batchA;
  let bBase = batch * P.batchB;
  let kBegin = 0u;`}
  let kEnd = max(kBegin, min(P.K, kBegin + P.kSplit));
  let sg = li / ${SG}u;
  let lane = li % ${SG}u;
  let sgm = sg / ${t.sgN}u;
  let sgn = sg % ${t.sgN}u;
  let rowBase = m0 + sgm * ${FM * 16}u;
  let colBase = n0 + sgn * ${FN * 16}u;
  let cBase = ${cBaseExpr};
${ind(accDecl.join('\n'), 2)}
${ind(mainLoop, 2)}
${ind(epi.join('\n'), 2)}
}
`;
}

/**
 * Split-K second pass: out[row, col] = epilogue(sum over s < P.splits of WS[s, row, col]). Bindings as every GEMM
 * (A = the f32 workspace [S, M, N], B unused), so store_out applies the same fused epilogue. One thread per
 * output element; batch 1.
 */
export function splitKReduceWgsl(spec: GemmSpec): string {
  return `${needsF16(spec) ? 'enable f16;' : ''}
${PARAMS_WGSL}
${gemmBindings(spec)}

${epilogueWgsl(spec)}

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let idx = gid.x + gid.y * nwg.x * 256u;
  let mn = P.M * P.N;
  if (idx >= mn) { return; }
  var s = 0.0;
  for (var z = 0u; z < P.splits; z++) { s += A[z * mn + idx]; }
  // B is unused; this never-taken read keeps it in the 'auto' bind group layout (every GEMM binds 7 slots).
  if (P.splits == 0u) { s = f32(B[0]); }
  store_out(0u, idx / P.N, idx % P.N, s);
}
`;
}
