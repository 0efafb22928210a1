// Tensor-core fused attention through Dawn's subgroup matrices (16x16x16, f16 x f16 -> f32), D in {64, 128}.
//
// A workgroup of NSG subgroups owns BQ = 16 * NSG query rows of one (batch, head); subgroup g owns rows
// 16g..16g+15 and keeps them as D/16 Q fragments (left) and D/16 f32 output fragments (result) in registers
// for the whole key loop. Per block of BKV keys:
//   1. K and V reach the matrix units either staged through workgroup memory by all invocations
//      (kvLoad 'staged': zero-filled past the visible keys) or loaded by each subgroup straight from the storage
//      buffers (kvLoad 'direct': no staging, no staging barriers; the last block is shifted back so that it ends at
//      the last key and its already-seen keys are masked, so every load stays inside the tensor);
//   2. each subgroup computes its 16 x BKV scores S = Q K^T with BKV/16 * D/16 MMAs and stores them (f32);
//   3. each row's scores are read by SG/16 invocations of the owning subgroup (max/sum combined through
//      workgroup memory, or with subgroup shuffles: reduce 'shuffle'), turned into f16 probabilities P, stored;
//   4. each subgroup accumulates O += P V with BKV/16 * D/16 MMAs.
// Scores are in the log2 domain (scale * log2(e) is folded into P.scaleLog2 on the host), so exp() is exp2().
//
// Fragments are opaque, so rows of O cannot be rescaled in registers. The kernel therefore rescales lazily (as
// FlashAttention-3 does): a row keeps its stale maximum m until a new score exceeds it by more than TAU (log2
// units), so probabilities stay <= 2^TAU (exact in f16's range) and l and O always share the same reference m.
// Only when some row of the workgroup must move its maximum are the O fragments passed through workgroup memory
// and scaled (rare after the first blocks; the decision is made workgroup-uniform with workgroupUniformLoad
// because the pass contains barriers). A row's first visible block needs no rescale (O and l are 0). The
// uniform load doubles as the barrier that publishes P: the flag alternates between two slots by block parity,
// so no extra barrier is needed to reset it.
//
// Prefetch (staged + vecKv, `prefetch`): the loop is software-pipelined: while block kb's scores are computed,
// every invocation holds its share of V[kb] and K[kb + 1] in registers (global loads issued before the score MMAs,
// stored after the score barrier, when no subgroup reads the K or V tile any more), so the load latency hides
// behind the MMAs and a block costs 2 workgroup syncs (score barrier + the uniform load) instead of 4, in the same
// workgroup memory as plain staging.
//
// Split-KV (splits > 1, flash-decoding style): the key range is cut into `splits` chunks (multiples of BKV),
// grid z = B * splits; each workgroup writes its chunk's normalized output (f16) and log2-sum-exp into partial
// buffers, and `splitCombineWgsl` merges them (and writes the natural-log lse when asked). For short sequences
// this multiplies the number of workgroups (1536 tokens x 24 heads is only 576 workgroups of 64 rows).
//
// Workgroup memory: every workgroup variable's size is a multiple of 16 bytes. Cooperative-matrix loads and
// stores need 16-byte-aligned addresses, and the driver chooses where each workgroup variable lives: on the
// H100 one 8-byte variable declared after the tiles shifted them by 8 bytes and made every fragment wrong.
//
// Subgroup ownership follows local_invocation_index / SG (contiguous subgroups, as on NVIDIA); matrix
// offsets depend only on that, never on the lane (the uniformity diagnostic is off, see GPU-NOTES.md).
import { sgLoad, sgStore, type SubgroupMatrixSyntax } from '../gpu/subgroup-matrix-syntax.js';
import {
  type AttentionVariant,
  PARAMS_STRUCT,
  SOFTMAX_CONSTS,
  bindingsWgsl,
  scoreWgsl,
} from './attention-common.wgsl.js';

export interface SubgroupMatrixTiles {
  /** Subgroups per workgroup (each owns 16 query rows). */
  NSG: number;
  /** Keys per block (multiple of 16). */
  BKV: number;
  /** Invocations per subgroup (the adapter's fixed subgroup size: 16, 32 or 64). */
  SG: number;
  /**
   * How K and V reach the MMAs: 'staged' (default) through workgroup memory, 'direct' from the storage buffers
   * (Q too), or 'direct-k' (Q and K from the buffers, V staged: V is a row-major right operand, whose fragment
   * loads from global memory cannot be vectorized). 'direct*' needs Sq >= 16, Skv >= BKV and no kvLength:
   * attention.ts falls back to 'staged' otherwise.
   */
  kvLoad?: 'staged' | 'direct' | 'direct-k';
  /** How a row's partial max/sum are combined: 'smem' (default, workgroup memory + barrier) or 'shuffle' (subgroup shuffles). */
  reduce?: 'smem' | 'shuffle';
  /** Split-KV chunks (default 1): > 1 writes partial results that a second kernel combines. */
  splits?: number;
  /**
   * Type the staged Q/K/V array vec4<u32> (8 halves per element) instead of f16: each staged 8-half chunk is one
   * 16-byte store instead of eight 2-byte ones; fragments are loaded with offsets and strides in 8-half units
   * (Tint accepts vector arrays for subgroupMatrixLoad since Dawn d2749d8). Same bytes, same layout.
   */
  vecKv?: boolean;
  /**
   * Type the score scratch vec4<f32> and the probability scratch vec4<u32> (8 halves): each invocation reads its
   * row's scores with 16-byte loads and writes its probabilities with 16-byte stores instead of one element at a
   * time; fragments are stored/loaded in those arrays' element units. Needs BKV / (SG / 16) % 8 == 0 (the scores
   * one invocation owns). Default false.
   */
  vecScratch?: boolean;
  /**
   * K/V software pipelining (needs kvLoad 'staged' and vecKv; default false). Per block kb: global loads of V[kb]
   * and K[kb + 1] into registers, S = Q K[kb]^T, barrier (S visible; every subgroup is past its score MMAs of block
   * kb and its P V of block kb - 1, so neither tile is read any more), registers stored over the K and V tiles,
   * softmax, the uniform load (publishes P, V[kb] and K[kb + 1]), O += P V: 2 syncs per block instead of 4 (3 with
   * reduce 'smem'), and the global-load latency overlaps the score MMAs. Same workgroup memory as plain staging;
   * costs registers (2 BKV D / (8 WG) vec4<u32> per invocation).
   */
  prefetch?: boolean;
  /**
   * Score MMAs in independent chains (default false). S = Q K^T for a 16 x BKV block is BKV/16 fragments, each the
   * sum of D/16 MMAs into one accumulator: issued fragment after fragment, every MMA waits for the previous one
   * (a dependency chain of D/16 tensor-core latencies per fragment, with only NSG warps per workgroup to hide it).
   * With `interleave` the BKV/16 accumulators advance together (k outer, fragment inner), so that many MMAs are in
   * flight at once. Same arithmetic and summation order per score; BKV/16 live accumulators instead of one.
   */
  interleave?: boolean;
  /**
   * Write the output 8 halves (16 bytes) per store (default false): each invocation packs 8 consecutive columns of
   * its row into one vec4<u32> store instead of 8 scalar f16 stores, so a store instruction writes whole 32-byte
   * sectors of 16 rows instead of 2 bytes in each of 16 rows. OUT is then bound as array<vec4<u32>> (same bytes).
   */
  vecOut?: boolean;
  /**
   * Subgroups in pairs share query rows (default off; needs kvLoad 'staged', an even NSG, BKV a multiple of 32 and
   * D / BKV whole). At 16 query rows per subgroup every K and V fragment feeds one MMA (2 · BKV/16 · D/16 fragment
   * loads per as many MMAs; bench/attention-peak.ts). With pairs, subgroups 2p and 2p + 1 own rows 32p..32p+31
   * together, and subgroup 2p + h keeps the output columns of half h of the head dim for all 32 rows: P·V loads each V
   * fragment once for two MMAs (both row fragments). 'v': the scores stay per subgroup (its own 16 rows, all keys of
   * the block); 'kv': subgroup 2p + h computes both row fragments' scores for half h of the block's keys, so each K
   * fragment also feeds two MMAs, at the cost of holding 32 rows of Q (2 · D/16 fragments instead of D/16; its
   * 2 · BKV/32 score accumulators always advance together, as with `interleave`). The softmax (row = 16 sg + lane /
   * TPR) and the workgroup memory are unchanged; the O fragments pass through the score scratch (rescale, epilogue) in
   * the pair's column layout.
   */
  pairRows?: 'v' | 'kv';
  /**
   * Tests only: replace every subgroup-matrix builtin by a plain-WGSL emulation (SG must be 32), so the kernel's staging, indexing, masking and lazy-rescale logic runs on adapters without
   * tensor cores (lavapipe). `SG` then names a logical subgroup of contiguous invocations; only
   * its logical subgroups need no real subgroup operations ('shuffle' uses real ones, within aligned lane pairs).
   */
  emulate?: boolean;
  /**
   * Tests only (test/kernels/attention-probe.test.ts). `legacyLayout` reproduces the first version's
   * workgroup variables: an 8-byte flag pair and a 4-byte kvEnd declared after the matrix tiles. On the H100
   * (driver 580.159.04) that layout makes every fragment load/store wrong (see docs/attention.md).
   */
  probe?: { legacyLayout?: boolean };
}

/** The tunable part of the tiles (what the per-device table stores). */
export type SubgroupMatrixTuning = Pick<SubgroupMatrixTiles, 'NSG' | 'BKV' | 'kvLoad' | 'reduce' | 'splits' | 'vecKv' | 'vecScratch' | 'prefetch' | 'interleave' | 'vecOut' | 'pairRows'>;

/**
 * Emulated fragments for tests: lane L of a 32-invocation logical subgroup holds row L/2, columns
 * (L%2)*8..+8 of each 16x16 fragment; an MMA exchanges operands through per-subgroup workgroup scratch.
 * Loops run to run-time bounds so lavapipe does not unroll them (its JIT time grows with unrolled code).
 */
function emulationWgsl(NSG: number, arrays: string[], vecArrays: string[] = [], vecSc = false): string {
  // A vec4<u32> array (vecKv, vecScratch's pm) holds 8 halves per element, vecScratch's sc (vec4<f32>) 4 floats;
  // offset and stride count elements.
  const read = (arr: string) => (arr === 'sc' && vecSc
    ? `let e = select(off * 4u + r * stride * 4u + c, off * 4u + c * stride * 4u + r, colMajor);
    f[i] = sc[e / 4u][e % 4u];`
    : vecArrays.includes(arr)
      ? `let e = select(off * 8u + r * stride * 8u + c, off * 8u + c * stride * 8u + r, colMajor);
    f[i] = f32(bitcast<vec2<f16>>(${arr}[e / 8u][(e % 8u) / 2u])[e % 2u]);`
      : `f[i] = f32(${arr}[select(off + r * stride + c, off + c * stride + r, colMajor)]);`);
  const loads = arrays
    .map(
      (arr) => `fn sim_load_${arr}(off: u32, colMajor: bool, stride: u32) -> Frag {
  var f: Frag;
  let r = simLane / 2u;
  for (var i = 0u; i < N8; i++) {
    let c = (simLane % 2u) * 8u + i;
    ${read(arr)}
  }
  return f;
}`,
    )
    .join('\n');
  return /* wgsl */ `
alias Frag = array<f32, 8>;
var<workgroup> simA: array<f16, ${NSG * 256}>;
var<workgroup> simB: array<f16, ${NSG * 256}>;
var<private> simLane: u32;
var<private> simSg: u32;
var<private> N8: u32;
${loads}
fn sim_store_sc(off: u32, v: Frag, stride: u32) {
  let r = simLane / 2u;
  for (var i = 0u; i < N8; i++) { ${vecSc ? 'let e = off * 4u + r * stride * 4u + (simLane % 2u) * 8u + i; sc[e / 4u][e % 4u] = v[i];' : 'sc[off + r * stride + (simLane % 2u) * 8u + i] = v[i];'} }
}
fn sim_mma(a: Frag, b: Frag, acc: Frag) -> Frag {
  let base = simSg * 256u;
  let r = simLane / 2u;
  let c0 = (simLane % 2u) * 8u;
  for (var i = 0u; i < N8; i++) {
    simA[base + r * 16u + c0 + i] = f16(a[i]);
    simB[base + r * 16u + c0 + i] = f16(b[i]);
  }
  workgroupBarrier();
  var o = acc;
  for (var i = 0u; i < N8; i++) {
    var x = o[i];
    for (var k = 0u; k < 2u * N8; k++) { x += f32(simA[base + r * 16u + k]) * f32(simB[base + k * 16u + c0 + i]); }
    o[i] = x;
  }
  workgroupBarrier();
  return o;
}
`;
}

/** Lazy-rescale threshold in log2 units: probabilities stay <= 2^8 = 256 before a forced rescale. */
export const LAZY_RESCALE_TAU = 8;

/** Padding (in elements) of workgroup-memory rows: shifts consecutive rows across banks for fragment loads. */
const HALF_PAD = 8;
const F32_PAD = 4;

export function subgroupMatrixSmemBytes(D: number, t: SubgroupMatrixTiles): number {
  const BQ = 16 * t.NSG;
  const emulation = t.emulate ? t.NSG * 256 * 2 * 2 : 0;
  const flags = t.probe?.legacyLayout ? 8 + 4 : 16;
  const red = t.reduce === 'shuffle' ? 0 : 2 * t.NSG * t.SG * 4; // redMax, redSum
  const rowStats = red + BQ * 4 + flags; // invS, flags
  const rows = t.kvLoad === 'direct' ? 0 : t.kvLoad === 'direct-k' ? t.BKV : 2 * t.BKV; // K, V (prefetch too)
  const kv = rows * (D + HALF_PAD) * 2;
  return kv + BQ * (t.BKV + F32_PAD) * 4 + BQ * (t.BKV + HALF_PAD) * 2 + rowStats + emulation;
}

/** Default tiles: the largest key block that fits next to 4 subgroups' score/probability scratch. */
export function subgroupMatrixTiles(D: number, SG: number, smemBytes: number, override?: Partial<SubgroupMatrixTiles>): SubgroupMatrixTiles {
  const t: SubgroupMatrixTiles = {
    NSG: override?.NSG ?? 4,
    BKV: override?.BKV ?? (D <= 64 ? 64 : 32),
    SG,
    kvLoad: override?.kvLoad ?? 'staged',
    reduce: override?.reduce ?? 'smem',
    splits: override?.splits ?? 1,
    ...(override?.vecKv ? { vecKv: true } : {}),
    ...(override?.vecScratch ? { vecScratch: true } : {}),
    ...(override?.prefetch ? { prefetch: true } : {}),
    ...(override?.interleave ? { interleave: true } : {}),
    ...(override?.vecOut ? { vecOut: true } : {}),
    ...(override?.pairRows ? { pairRows: override.pairRows } : {}),
    emulate: override?.emulate,
    probe: override?.probe,
  };
  if (t.BKV % 16 !== 0 || t.BKV < 16 || t.BKV > 256) throw new Error(`attention(subgroup-matrix): blockKv ${t.BKV} must be a multiple of 16 from 16 to 256`);
  if (![1, 2, 4, 8, 16].includes(t.NSG)) throw new Error(`attention(subgroup-matrix): subgroups ${t.NSG} must be 1, 2, 4, 8 or 16`);
  if ((t.BKV * 16) % SG !== 0) throw new Error(`attention(subgroup-matrix): subgroup size ${SG} does not divide a 16 x ${t.BKV} score block`);
  if (!['staged', 'direct', 'direct-k'].includes(t.kvLoad!)) throw new Error(`attention(subgroup-matrix): kvLoad '${t.kvLoad}' must be 'staged', 'direct' or 'direct-k'`);
  if (t.reduce !== 'smem' && t.reduce !== 'shuffle') throw new Error(`attention(subgroup-matrix): reduce '${t.reduce}' must be 'smem' or 'shuffle'`);
  if (!Number.isInteger(t.splits) || t.splits! < 1 || t.splits! > 64) throw new Error(`attention(subgroup-matrix): splits ${t.splits} must be an integer from 1 to 64`);
  if (t.vecScratch && (t.BKV / (SG / 16)) % 8 !== 0) throw new Error(`attention(subgroup-matrix): vecScratch needs BKV / (subgroup size / 16) to be a multiple of 8 (BKV ${t.BKV}, subgroup ${SG})`);
  if (t.probe?.legacyLayout && (t.kvLoad !== 'staged' || t.reduce !== 'smem' || t.splits !== 1 || t.prefetch)) {
    throw new Error('attention(subgroup-matrix): probe.legacyLayout reproduces the first kernel only (staged, smem, 1 split, no prefetch)');
  }
  if (t.prefetch && t.kvLoad !== 'staged') throw new Error(`attention(subgroup-matrix): prefetch pipelines the staged K/V loads: use kvLoad 'staged' (not '${t.kvLoad}') or drop prefetch`);
  if (t.prefetch && !t.vecKv) throw new Error('attention(subgroup-matrix): prefetch keeps the next K/V chunks in vec4<u32> registers: set vecKv: true or drop prefetch');
  if (t.pairRows !== undefined) {
    const why = pairRowsUnsupported(D, t);
    if (why) throw new Error(`attention(subgroup-matrix): pairRows '${t.pairRows}' ${why}`);
  }
  const need = subgroupMatrixSmemBytes(D, t);
  if (need > smemBytes) {
    throw new Error(`attention(subgroup-matrix): tiles ${JSON.stringify(t)} need ${need} bytes of workgroup memory, the adapter has ${smemBytes}`);
  }
  return t;
}

/** Why these tiles cannot pair subgroups (SubgroupMatrixTiles.pairRows), or null. */
export function pairRowsUnsupported(D: number, t: Pick<SubgroupMatrixTiles, 'NSG' | 'BKV' | 'kvLoad' | 'pairRows' | 'probe'>): string | null {
  if (t.pairRows !== 'v' && t.pairRows !== 'kv') return `must be 'v' or 'kv'`;
  if ((t.kvLoad ?? 'staged') !== 'staged') return `needs kvLoad 'staged' (not '${t.kvLoad}')`;
  if (t.NSG % 2 !== 0) return `needs an even number of subgroups (NSG ${t.NSG})`;
  // Each half of a pair takes BKV/32 whole key fragments, and every rescale / epilogue pass moves BKV/32 whole
  // column fragments per subgroup (D/16 of them in halves: D/BKV passes).
  if (t.BKV % 32 !== 0 || D % t.BKV !== 0) return `needs BKV a multiple of 32 that divides D (BKV ${t.BKV}, D ${D})`;
  if (t.probe) return 'cannot be combined with probe layouts';
  return null;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/**
 * The attention kernel. In split mode (t.splits > 1) OUT is the f16 partial buffer [splits, B, Sq, H*D] and LSE
 * the f32 partial log2-sum-exp [splits, B, H, Sq] (MASKED for rows with no visible key in the chunk); the caller
 * binds both (v.hasLse must be true) and P.kvChunk holds the chunk length.
 */
export function subgroupMatrixAttentionWgsl(v: AttentionVariant, t: SubgroupMatrixTiles, syntax?: SubgroupMatrixSyntax): string {
  const { D } = v;
  const { NSG, BKV, SG } = t;
  if (D !== 64 && D !== 128) throw new Error(`attention(subgroup-matrix): head dim ${D} not supported (64 or 128)`);
  // direct: Q windows and K (and V unless 'direct-k') straight from the storage buffers.
  const direct = t.kvLoad === 'direct' || t.kvLoad === 'direct-k';
  const vDirect = t.kvLoad === 'direct';
  // prefetch: see SubgroupMatrixTiles.prefetch (kv holds the K then the V tile, as in plain staging).
  const prefetch = !!t.prefetch;
  if (prefetch && (t.kvLoad !== 'staged' || !t.vecKv)) throw new Error("attention(subgroup-matrix): prefetch needs kvLoad 'staged' and vecKv");
  // Plain attention (no bias, not causal; kvLength only moves kvEnd): interior blocks skip the per-score masks.
  const plain = !v.hasBias && !v.causal;
  const shuffle = t.reduce === 'shuffle';
  const SPLITS = t.splits ?? 1;
  const split = SPLITS > 1;
  if (split && !v.hasLse) throw new Error('attention(subgroup-matrix): split-KV writes partial lse: the variant needs hasLse');
  if (direct && v.hasKvLength) throw new Error(`attention(subgroup-matrix): kvLoad '${t.kvLoad}' does not support kvLength (use 'staged')`);
  const BQ = 16 * NSG;
  const WG = NSG * SG;
  const DF = D / 16; // fragments along the head dim
  const NF = BKV / 16; // fragments along a key block
  const KP = D + HALF_PAD; // row stride of staged Q/K/V (halves)
  const SP = BKV + F32_PAD; // row stride of the score scratch (f32)
  const PP = BKV + HALF_PAD; // row stride of the probability scratch (halves)
  const TPR = SG / 16; // invocations per score row
  const CPT = BKV / TPR; // score columns per invocation
  const V4 = D / 8; // vec4<u32> words (8 halves) per Q/K/V row
  // Q is staged through the K/V area (2 BKV rows), RPP rows at a time.
  const kvRows = 2 * BKV;
  const RPP = Math.min(BQ, Math.floor(kvRows / 16) * 16);
  const phases = Math.ceil(BQ / RPP);
  const sim = !!t.emulate;
  const legacy = !!t.probe?.legacyLayout;
  // pairRows: see SubgroupMatrixTiles.pairRows. HB keys / DH column fragments per half of a pair; NH key fragments.
  const pairs = t.pairRows;
  if (pairs !== undefined) {
    const why = pairRowsUnsupported(D, t);
    if (why) throw new Error(`attention(subgroup-matrix): pairRows '${pairs}' ${why}`);
  }
  const HB = BKV / 2;
  const NH = NF / 2;
  const DH = DF / 2;
  // O fragments: o{j} (16 rows, column fragment j), or with pairs o{r}_{j} (row fragment r of the pair, column
  // fragment DH half + j). Q fragments: qf{k}, or with 'kv' qf{r}_{k} (both row fragments of the pair).
  const oFrags = pairs ? range(2).flatMap((r) => range(DH).map((j) => `o${r}_${j}`)) : range(DF).map((j) => `o${j}`);
  const qFrags = pairs === 'kv' ? range(2).flatMap((r) => range(DF).map((k) => `qf${r}_${k}`)) : range(DF).map((k) => `qf${k}`);
  const KVEND = legacy ? 'kvEndShared' : 'flags[2]';
  const LEFT = 'subgroup_matrix_left<f16, 16, 16>';
  const RIGHT = 'subgroup_matrix_right<f16, 16, 16>';
  const RESULT = 'subgroup_matrix_result<f32, 16, 16>';
  // Matrix operations, real or emulated (see `emulate`).
  const load = (ty: string, arr: string, off: string, colMajor: boolean, stride: string) =>
    sim ? `sim_load_${arr}(${off}, ${colMajor}, ${stride})` : sgLoad(ty, `&${arr}`, off, colMajor, stride, syntax);
  const store = (arr: string, off: string, val: string, stride: string) =>
    sim ? `sim_store_${arr}(${off}, ${val}, ${stride})` : sgStore(`&${arr}`, off, val, false, stride, syntax);
  const mma = (a: string, b: string, c: string) => (sim ? `sim_mma(${a}, ${b}, ${c})` : `subgroupMatrixMultiplyAccumulate(${a}, ${b}, ${c})`);
  const zero = (ty: string) => (sim ? `Frag()` : `${ty}()`);

  const stageLoop = (rows: number, body: string) => {
    const total = rows * V4;
    const trips = Math.ceil(total / WG);
    const guard = total % WG === 0 ? '' : `if (e < ${total}u) `;
    return `    for (var it = 0u; it < ${trips}u; it++) {
      let e = lid + it * WG;
      ${guard}{
${body}
      }
    }\n`;
  };
  // 8 halves of a vec4<u32> word into row r, chunk c of the staged array kv from element `base` (halves): eight
  // scalar f16 stores, or one 16-byte store when kv is a vec4<u32> array (vecKv; KPU/VBU count its elements).
  const vecKv = !!t.vecKv && !vDirect;
  const putRow = (base: 'VB' | '', w: string) => vecKv
    ? `        kv[${base ? 'VBU + ' : ''}r * KPU + c] = ${w};`
    : range(4).map((j) => `        { let hw = bitcast<vec2<f16>>(${w}[${j}]); kv[${base ? 'VB + ' : ''}r * KP + 8u * c + ${2 * j}u] = hw.x; kv[${base ? 'VB + ' : ''}r * KP + 8u * c + ${2 * j + 1}u] = hw.y; }`).join('\n');
  // vecScratch: sc (scores, f32) as vec4<f32> and pm (probabilities, f16) as vec4<u32>; SC4/PP8 and SPU/PPU are
  // the unit divisors and row pitches in elements.
  const vs = !!t.vecScratch;
  const SC4 = vs ? 4 : 1;
  const PP8 = vs ? 8 : 1;
  const SPX = vs ? 'SPU' : 'SP';
  const PPX = vs ? 'PPU' : 'PP';
  // kv's row pitch, V base and a 16-half column step in its element units.
  const KPX = vecKv ? 'KPU' : 'KP';
  const VBX = vecKv ? 'VBU' : 'VB';
  const col16 = (k: number) => `${vecKv ? 2 * k : 16 * k}u`;

  const qPhases = range(phases).map((p) => {
    const body = `        let r = e / V4;
        let c = e % V4;
        let qr = q0 + ${p * RPP}u + r;
        let w = select(vec4<u32>(), Q[(bh * P.Sq + min(qr, P.Sq - 1u)) * V4 + c], qr < P.Sq);
${putRow('', 'w')}`;
    // 'kv': the pair's 32 rows (RPP is a multiple of 32 then: BKV and BQ are).
    const first = pairs === 'kv' ? 'pairRow' : 'sg * 16u';
    const loads = (pairs === 'kv' ? range(2).flatMap((r) => range(DF).map((k) => [`qf${r}_${k}`, `${first} + ${16 * r}u`, k] as const)) : range(DF).map((k) => [`qf${k}`, first, k] as const))
      .map(([name, rowOf, k]) => `      ${name} = ${load(LEFT, 'kv', `(${rowOf} - ${p * RPP}u) * ${KPX} + ${col16(k)}`, false, KPX)};`)
      .join('\n');
    const mine = phases === 1 ? `{` : `if (${first} >= ${p * RPP}u && ${first} < ${(p + 1) * RPP}u) {`;
    return `  {
    workgroupBarrier();
${stageLoop(Math.min(RPP, BQ - p * RPP), body)}    workgroupBarrier();
    ${mine}
${loads}
    }
  }`;
  });
  // Direct mode: each subgroup loads its 16 Q rows from Q; the last tile's windows are shifted back to end at
  // row Sq-1 (host guarantees Sq >= 16), so two subgroups may own the same queries and write identical values.
  const qDirect = range(DF)
    .map((k) => `  qf${k} = ${load(LEFT, 'Q', `(bh * P.Sq + qs) * ${D}u + ${16 * k}u`, false, `${D}u`)};`)
    .join('\n');

  const kvStage = `        let r = e / V4;
        let c = e % V4;
        let kj = k0 + r;
        let gi = (bh * P.Skv + min(kj, kvEnd - 1u)) * V4 + c;  // kvEnd >= 1 inside the key loop
        let wk = select(vec4<u32>(), K[gi], kj < kvEnd);
        let wv = select(vec4<u32>(), V[gi], kj < kvEnd);
${putRow('', 'wk')}
${putRow('VB', 'wv')}`;

  // 'direct-k': V rows [kBase, kBase + BKV) are inside [0, kvEnd) by construction (no zero-fill needed).
  const vStage = `        let r = e / V4;
        let c = e % V4;
        let wv = V[(bh * P.Skv + kBase + r) * V4 + c];
${putRow('', 'wv')}`;

  // Prefetch (vecKv): the prologue stages key block 0 into the K tile (kvEnd may be 0 here, or below kStart for
  // an empty split chunk: kvLast keeps the clamped row inside K). In the loop every invocation owns the same
  // vec4<u32> chunks e = lid + i * WG of V[kb] and K[kb + 1] (registers pv_i, pk_i, unrolled so they stay in
  // registers): loaded before the score MMAs, stored after the score barrier. Without a next block, nEnd = k0 + 1
  // masks every K row (all invocations then read row k0 once, in bounds). Zero-fill past kvEnd as in kvStage.
  const pfTotal = BKV * V4;
  const pfTrips = Math.ceil(pfTotal / WG);
  const pfChunk = (i: number, body: string) => `    {
      let e = lid + ${i * WG}u;
      ${pfTotal % WG === 0 ? '' : `if (e < ${pfTotal}u) `}{
        let r = e / V4;
        let c = e % V4;
${body}
      }
    }`;
  const k0Stage = `        let r = e / V4;
        let c = e % V4;
        let kj = kStart + r;
        kv[r * KPU + c] = select(vec4<u32>(), K[(bh * P.Skv + min(kj, kvLast)) * V4 + c], kj < kvEnd);`;
  const pfLoads = `    // V[kb] and K[kb + 1] into registers now; stored after the score barrier, so the loads overlap the MMAs.
    let nEnd = select(k0 + 1u, kvEnd, kb + 1u < nBlocks);  // keys of K[kb + 1] to load: [k0 + BKV, nEnd)
${range(pfTrips).map((i) => `    var pv${i} = vec4<u32>();
    var pk${i} = vec4<u32>();`).join('\n')}
${range(pfTrips).map((i) => pfChunk(i, `        let kj = k0 + r;
        pv${i} = select(vec4<u32>(), V[(bh * P.Skv + min(kj, kvEnd - 1u)) * V4 + c], kj < kvEnd);  // kvEnd >= 1 in the loop
        let kn = k0 + BKV + r;
        pk${i} = select(vec4<u32>(), K[(bh * P.Skv + min(kn, nEnd - 1u)) * V4 + c], kn < nEnd);`)).join('\n')}`;
  const pfStores = range(pfTrips).map((i) => pfChunk(i, `        kv[VBU + r * KPU + c] = pv${i};
        kv[r * KPU + c] = pk${i};`)).join('\n');

  const kOperand = (n: number, k: number) =>
    direct
      ? load(RIGHT, 'K', `kRow + ${16 * n * D + 16 * k}u`, true, `${D}u`)
      : load(RIGHT, 'kv', `${16 * n}u * ${KPX} + ${col16(k)}`, true, KPX);
  const vOperand = (kk: number, j: number) =>
    vDirect ? load(RIGHT, 'V', `kRow + ${16 * kk * D + 16 * j}u`, false, `${D}u`) : load(RIGHT, 'kv', `${VBX} + ${16 * kk}u * ${KPX} + ${col16(j)}`, false, KPX);

  // pairRows 'kv': half h of the pair computes key fragments h NH .. h NH + NH - 1 for both row fragments; each K
  // fragment is loaded once for the two MMAs, and the 2 NH accumulators advance together (k outer).
  const pairScores = `    {
${range(2).flatMap((r) => range(NH).map((n) => `      var acc${r}_${n} = ${zero(RESULT)};`)).join('\n')}
${range(DF).flatMap((k) => range(NH).flatMap((n) => [
    `      { let kf = ${load(RIGHT, 'kv', `(half * ${HB}u + ${16 * n}u) * ${KPX} + ${col16(k)}`, true, KPX)};`,
    ...range(2).map((r) => `        acc${r}_${n} = ${mma(`qf${r}_${k}`, 'kf', `acc${r}_${n}`)};`),
    '      }',
  ])).join('\n')}
${range(2).flatMap((r) => range(NH).map((n) => `      ${store('sc', `(pairRow + ${16 * r}u) * ${SPX} + half * ${HB / SC4}u + ${(16 * n) / SC4}u`, `acc${r}_${n}`, SPX)};`)).join('\n')}
    }`;
  // interleave: the NF score accumulators advance together (k outer), so NF MMA chains are in flight at once.
  const scores = pairs === 'kv' ? pairScores : t.interleave
    ? `    {
${range(NF).map((n) => `      var acc${n} = ${zero(RESULT)};`).join('\n')}
${range(DF).flatMap((k) => range(NF).map((n) => `      acc${n} = ${mma(`qf${k}`, kOperand(n, k), `acc${n}`)};`)).join('\n')}
${range(NF).map((n) => `      ${store('sc', `sg * 16u * ${SPX} + ${(16 * n) / SC4}u`, `acc${n}`, SPX)};`).join('\n')}
    }`
    : range(NF)
    .map((n) => {
      const mmas = range(DF)
        .map((k) => `      acc = ${mma(`qf${k}`, kOperand(n, k), 'acc')};`)
        .join('\n');
      return `    {
      var acc = ${zero(RESULT)};
${mmas}
      ${store('sc', `sg * 16u * ${SPX} + ${(16 * n) / SC4}u`, 'acc', SPX)};
    }`;
    })
    .join('\n');

  // Row max and sum combine the TPR partial values of a row: through workgroup memory ('smem') or with subgroup
  // shuffles between the row's lanes (adjacent lanes: lane / TPR is the row).
  const rowBase = `(lid - part)`;
  const combine = (arr: string, op: (a: string, b: string) => string, init: string) =>
    range(TPR).reduce((acc, t) => op(acc, `${arr}[${rowBase} + ${t}u]`), init);
  const butterfly = (x: string, op: (a: string, b: string) => string) =>
    range(Math.log2(TPR)).map((i) => `    ${x} = ${op(x, `subgroupShuffleXor(${x}, ${1 << i}u)`)};`).join('\n');

  // O fragments through the score scratch, a pass at a time: [fragment, its sc offset] of pass `pass`. Without pairs,
  // NF fragments of the subgroup's 16 rows; with pairs, each half stores NH column fragments of both row fragments
  // into its half of the pair's 32 rows (sc columns h HB.., whole passes: D / BKV of them).
  const oPasses = pairs ? DF / NF : Math.ceil(DF / NF);
  const passFrags = (pass: number): [string, string][] => pairs
    ? range(2).flatMap((r) => range(NH).map((i) => [`o${r}_${pass * NH + i}`, `(pairRow + ${16 * r}u) * ${SPX} + half * ${HB / SC4}u + ${(16 * i) / SC4}u`] as [string, string]))
    : range(NF).map((i) => pass * NF + i).filter((j) => j < DF).map((j, i) => [`o${j}`, `sg * 16u * ${SPX} + ${(16 * i) / SC4}u`]);
  // A pass fills all NF * 16 columns of sc (always with pairs) or, the last one without pairs, fewer: then an
  // invocation's columns `col` past them are skipped.
  const passGuard = (pass: number) => {
    const cols = pairs ? NF : passFrags(pass).length;
    return cols === NF ? '' : `if (col < ${16 * cols}u) `;
  };
  // Rescale O through the score scratch.
  const rescalePasses = range(oPasses)
    .map((pass) => {
      const frags = passFrags(pass);
      const guard = passGuard(pass);
      const stores = frags.map(([o, off]) => `      ${store('sc', off, o, SPX)};`).join('\n');
      const loads = frags.map(([o, off]) => `      ${o} = ${load(RESULT, 'sc', off, false, SPX)};`).join('\n');
      const scale = vs
        ? `for (var i = 0u; i < CPT / 4u; i++) {
        let col = part * CPT + 4u * i;
        ${guard}{ sc[row * SPU + col / 4u] *= a; }
      }`
        : `for (var i = 0u; i < CPT; i++) {
        let col = part * CPT + i;
        ${guard}{ sc[row * SP + col] *= a; }
      }`;
      return `${stores}
      workgroupBarrier();
      ${scale}
      workgroupBarrier();
${loads}
      workgroupBarrier();`;
    })
    .join('\n');

  // pairRows: P of both row fragments; each V fragment of this half's columns feeds the two MMAs.
  const pairPv = range(NF)
    .map((kk) => `    {
${range(2).map((r) => `      let pf${r} = ${load(LEFT, 'pm', `(pairRow + ${16 * r}u) * ${PPX} + ${(16 * kk) / PP8}u`, false, PPX)};`).join('\n')}
${range(DH).map((j) => `      { let vf = ${load(RIGHT, 'kv', `${VBX} + ${16 * kk}u * ${KPX} + half * ${vecKv ? 2 * DH : 16 * DH}u + ${col16(j)}`, false, KPX)};
${range(2).map((r) => `        o${r}_${j} = ${mma(`pf${r}`, 'vf', `o${r}_${j}`)};`).join('\n')}
      }`).join('\n')}
    }`)
    .join('\n');
  const pv = pairs ? pairPv : range(NF)
    .map((kk) => {
      const mmas = range(DF)
        .map((j) => `      o${j} = ${mma('pf', vOperand(kk, j), `o${j}`)};`)
        .join('\n');
      return `    {
      let pf = ${load(LEFT, 'pm', `sg * 16u * ${PPX} + ${(16 * kk) / PP8}u`, false, PPX)};
${mmas}
    }`;
    })
    .join('\n');

  // Staged mode: rows past Sq (last query tile only) copy row Sq-1's values to row Sq-1's address: every store
  // stays in bounds without a divergent branch, and the duplicate writers store identical values. Direct mode:
  // every row is a real query (shifted windows).
  const outRow = direct ? 'qi' : 'q0 + srcRow';
  const obase = split
    ? `(((split * P.B + b) * P.Sq + ${outRow}) * P.H + h) * ${D}u`
    : `((b * P.Sq + ${outRow}) * P.H + h) * ${D}u`;
  const epiloguePasses = range(oPasses)
    .map((pass) => {
      const stores = passFrags(pass).map(([o, off]) => `  ${store('sc', off, o, SPX)};`).join('\n');
      const guard = passGuard(pass);
      // Output column of sc column c in this pass. With pairs, half h = c / HB stored its pass-th slice of HB columns
      // there: output column h · D/2 + pass · HB + c % HB.
      const outCol = (c: string) => (pairs ? `(${c} / ${HB}u) * ${D / 2}u + ${pass * HB}u + ${c} % ${HB}u` : `${pass * NF * 16}u + ${c}`);
      // vecOut: 8 columns per 16-byte store (CPT = BKV / TPR is a multiple of 8; obase and the pass offset are
      // multiples of D, hence of 8).
      const f32At = (c: string) => (vs ? `sc[srcRow * SPU + (${c}) / 4u][(${c}) % 4u]` : `sc[srcRow * SP + ${c}]`);
      const write = t.vecOut
        ? `  for (var i = 0u; i < CPT / 8u; i++) {
    let col = part * CPT + 8u * i;
    ${guard}{
      var w: array<u32, 4>;
      for (var j = 0u; j < 4u; j++) {
        w[j] = bitcast<u32>(vec2<f16>(f16(${f32At('col + 2u * j')} * invS[srcRow]), f16(${f32At('col + 2u * j + 1u')} * invS[srcRow])));
      }
      OUT[(obase + ${outCol('col')}) / 8u] = vec4<u32>(w[0], w[1], w[2], w[3]);
    }
  }`
        : `  for (var i = 0u; i < CPT; i++) {
    let col = part * CPT + i;
    ${guard}{ OUT[obase + ${outCol('col')}] = f16(${f32At('col')} * invS[srcRow]); }
  }`;
      return `${stores}
  workgroupBarrier();
${write}
  workgroupBarrier();`;
    })
    .join('\n');

  const lseOut = split
    ? `  if (part == 0u && qi < P.Sq) {  // partial log2-sum-exp of this chunk (MASKED: no visible key in it)
    LSE[(split * P.B * P.H + bh) * P.Sq + qi] = select(MASKED, m + log2(l), l > 0.0);
  }`
    : v.hasLse
      ? `  if (part == 0u && qi < P.Sq) {  // after the last matrix operation: divergence is harmless here
    LSE[bh * P.Sq + qi] = select(bitcast<f32>(P.negInfBits), (m + log2(l)) * LN2, l > 0.0);
  }`
      : '';

  // Lazy-rescale flag protocol. Legacy (first kernel): one slot reset after the block's first barrier and an
  // explicit barrier before the uniform load. Otherwise: slot kb % 2; the next block's slot is reset after this
  // block's score barrier (its last reader was the previous block's uniform load), and the uniform load is the
  // barrier that publishes P.
  const slot = legacy ? '0u' : 'slot';
  const sink = legacy ? '1u' : '3u';
  const FL = legacy ? 'rescaleFlags' : 'flags';

  const header = `enable f16;
${shuffle ? 'enable subgroups;\n' : ''}${sim ? '' : `enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
`}`;
  const types = { q: direct ? 'f16' : 'vec4<u32>', kv: direct ? 'f16' : 'vec4<u32>', v: vDirect ? 'f16' : 'vec4<u32>', out: t.vecOut ? 'vec4<u32>' : 'f16' };
  const simArrays = ['pm', 'sc', ...(direct ? ['Q', 'K'] : []), vDirect ? 'V' : 'kv'];
  return /* wgsl */ `${header}${PARAMS_STRUCT}
${SOFTMAX_CONSTS}
const BQ: u32 = ${BQ}u;
const BKV: u32 = ${BKV}u;
const WG: u32 = ${WG}u;
const SG: u32 = ${SG}u;
const V4: u32 = ${V4}u;
const KP: u32 = ${KP}u;
const SP: u32 = ${SP}u;
const PP: u32 = ${PP}u;
${vs ? `const SPU: u32 = ${SP / 4}u;  // SP in sc's vec4<f32> elements
const PPU: u32 = ${PP / 8}u;  // PP in pm's vec4<u32> elements
` : ''}
const VB: u32 = ${direct ? 0 : (kvRows - BKV) * KP}u;  // V rows start here in kv
${vecKv ? `const KPU: u32 = ${KP / 8}u;  // KP and VB in kv's vec4<u32> elements\nconst VBU: u32 = ${direct ? 0 : ((kvRows - BKV) * KP) / 8}u;\n` : ''}
const TPR: u32 = ${TPR}u;
const CPT: u32 = ${CPT}u;
const TAU: f32 = ${LAZY_RESCALE_TAU}.0;
const SPLITS: u32 = ${SPLITS}u;

${bindingsWgsl(v, types)}
${vDirect ? '' : direct ? `var<workgroup> kv: array<${vecKv ? `vec4<u32>, ${(BKV * KP) / 8}` : `f16, ${BKV * KP}`}>;   // V block\n` : `var<workgroup> kv: array<${vecKv ? `vec4<u32>, ${(kvRows * KP) / 8}` : `f16, ${kvRows * KP}`}>;   // K block then V block; Q tile before the loop\n`}var<workgroup> sc: array<${vs ? `vec4<f32>, ${(BQ * SP) / 4}` : `f32, ${BQ * SP}`}>;        // scores; O fragments when rescaling / writing out
var<workgroup> pm: array<${vs ? `vec4<u32>, ${(BQ * PP) / 8}` : `f16, ${BQ * PP}`}>;        // probabilities
${legacy ? `var<workgroup> rescaleFlags: array<u32, 2>;
var<workgroup> redMax: array<f32, WG>;
var<workgroup> redSum: array<f32, WG>;
var<workgroup> invS: array<f32, BQ>;
var<workgroup> kvEndShared: u32;` : `${shuffle ? '' : `var<workgroup> redMax: array<f32, WG>;
var<workgroup> redSum: array<f32, WG>;
`}var<workgroup> invS: array<f32, BQ>;
// [0], [1]: "some row must rescale" for even / odd blocks; [2]: kvEnd; [3]: sink for the other rows' writes.
// Every workgroup variable's size is a multiple of 16 bytes, so wherever the driver places them, the matrix
// tiles stay 16-byte aligned.
var<workgroup> flags: array<u32, 4>;`}
${sim ? emulationWgsl(NSG, simArrays, [...(vecKv ? ['kv'] : []), ...(vs ? ['pm'] : [])], vs) : ''}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.y;
  let b = wid.z / SPLITS;
  let split = wid.z % SPLITS;
  let q0 = wid.x * BQ;
  let bh = b * P.H + h;
  let sg = lid / SG;
  let lane = lid % SG;
  let row = sg * 16u + lane / TPR;  // score row handled by this invocation (inside its own subgroup's rows)
  let part = lane % TPR;
${direct ? `  let qs = min(q0 + sg * 16u, P.Sq - 16u);  // this subgroup's first query (P.Sq >= 16 in direct mode)
  let qi = qs + lane / TPR;` : `  let qi = q0 + row;`}
${v.hasKvLength ? `  ${KVEND} = min(P.Skv, KVLEN[b]);  // every invocation stores the same value (no divergent branch)
  let kvEndB = workgroupUniformLoad(&${KVEND});` : `  let kvEndB = P.Skv;`}
${split ? `  let kStart = split * P.kvChunk;  // this workgroup's key chunk [kStart, kvEnd)
  let kvEnd = min(kvEndB, kStart + P.kvChunk);` : `  let kStart = 0u;
  let kvEnd = kvEndB;`}
${legacy ? '' : '  flags[0] = 0u;  // block 0\'s slot; published by the first barrier below'}
${sim ? `  N8 = select(8u, 9u, P.B == 0xffffffffu);  // a run-time 8
  simLane = lane;
  simSg = sg;` : ''}
${pairs ? `  let pairRow = (sg / 2u) * 32u;  // the pair's first row (pairRows)
  let half = sg % 2u;  // which half of the pair's keys ('kv') and output columns
` : ''}${qFrags.map((q) => `  var ${q} = ${zero(LEFT)};`).join('\n')}
${direct ? qDirect : qPhases.join('\n')}
${oFrags.map((o) => `  var ${o} = ${zero(RESULT)};`).join('\n')}
  var m = EMPTY;
  var l = 0.0;
  let limit = ${v.causal ? 'min(kvEnd, q0 + BQ)' : 'kvEnd'};  // causal tiles stop at their diagonal
  let nBlocks = select(0u, (limit - kStart + BKV - 1u) / BKV, limit > kStart);
${prefetch ? `  {  // prologue: key block 0 into the K tile (the loop stages block kb + 1 while it computes block kb)
    let kvLast = max(kvEnd, 1u) - 1u;
    workgroupBarrier();  // every subgroup has loaded its Q fragments (Q was staged in the same area)
${stageLoop(BKV, k0Stage)}    workgroupBarrier();
  }
` : ''}  for (var kb = 0u; kb < nBlocks; kb++) {
    let k0 = kStart + kb * BKV;
${legacy ? '' : '    let slot = kb & 1u;'}
${direct ? `    // The block's first key row: shifted back at the end so that all BKV rows lie in [0, kvEnd) (kvEnd >= BKV
    // in direct mode); its keys below k0 were seen by the previous block and are masked.
    let kBase = min(k0, kvEnd - BKV);
    let kRow = (bh * P.Skv + kBase) * ${D}u;${vDirect ? '' : `
    workgroupBarrier();  // the previous block's V is no longer read
${stageLoop(BKV, vStage)}    workgroupBarrier();`}` : prefetch ? `    let kBase = k0;
${pfLoads}` : `    let kBase = k0;
    workgroupBarrier();  // the previous block's K/V are no longer read
${legacy ? `    ${FL}[0] = 0u;  // all invocations, same value; set again only after the next barrier\n` : ''}${stageLoop(BKV, kvStage)}    workgroupBarrier();`}
${scores}
${prefetch ? `    // S visible. Also every subgroup is past its score MMAs of block kb (the K tile is free) and its P V of block
    // kb - 1 (the V tile is free): the registers are stored after it and published by the uniform load.
` : ''}    workgroupBarrier();
${legacy ? '' : `    flags[slot ^ 1u] = 0u;  // next block's slot: its last reader (previous block's uniform load) is behind us`}
${prefetch ? `${pfStores}
` : ''}    var sv: array<f32, ${CPT}>;
${vs ? `    for (var i = 0u; i < CPT / 4u; i++) {  // this invocation's raw scores, 16 bytes at a time
      let s4 = sc[row * SPU + part * (CPT / 4u) + i];
      sv[4u * i] = s4.x; sv[4u * i + 1u] = s4.y; sv[4u * i + 2u] = s4.z; sv[4u * i + 3u] = s4.w;
    }
` : ''}    var bm = MASKED;
${plain ? `    if (kBase == k0 && k0 + BKV <= kvEnd) {  // interior block (no bias, not causal): nothing to mask
      for (var i = 0u; i < CPT; i++) {
        let s = ${vs ? 'sv[i]' : 'sc[row * SP + part * CPT + i]'} * P.scaleLog2;
        sv[i] = s;
        bm = max(bm, s);
      }
    } else {
` : ''}    for (var i = 0u; i < CPT; i++) {
      let kj = kBase + part * CPT + i;
${scoreWgsl(v, 's', vs ? 'sv[i]' : `sc[row * SP + part * CPT + i]`, 'qi', 'kj', true)}${direct ? `      s = select(MASKED, s, kj >= k0);\n` : ''}      sv[i] = s;
      bm = max(bm, s);
    }
${plain ? '    }\n' : ''}${shuffle ? butterfly('bm', (a, b) => `max(${a}, ${b})`) : `    redMax[lid] = bm;
    workgroupBarrier();
    bm = ${combine('redMax', (a, b) => `max(${a}, ${b})`, 'MASKED')};`}
    let mc = max(m, bm);
    // Branch-free (selects): the matrix builtins below want converged subgroups.
    let firstKeys = m == EMPTY;  // O and l are still 0: move m without rescaling
    let bump = !firstKeys && mc > m + TAU;
    let alpha = select(1.0, exp2(m - mc), bump);
    m = select(m, mc, firstKeys || bump);
    ${FL}[select(${sink}, ${slot}, bump)] = 1u;
    var psum = 0.0;
${vs ? `    for (var i = 0u; i < CPT / 8u; i++) {  // 8 probabilities per 16-byte store
      var w: array<u32, 4>;
      for (var j = 0u; j < 4u; j++) {
        let p = vec2<f16>(f16(exp2(sv[8u * i + 2u * j] - m)), f16(exp2(sv[8u * i + 2u * j + 1u] - m)));
        w[j] = bitcast<u32>(p);
        psum += f32(p.x) + f32(p.y);  // sum what the MMA will use
      }
      pm[row * PPU + part * (CPT / 8u) + i] = vec4<u32>(w[0], w[1], w[2], w[3]);
    }` : `    for (var i = 0u; i < CPT; i++) {
      let p = f16(exp2(sv[i] - m));
      pm[row * PP + part * CPT + i] = p;
      psum += f32(p);  // sum what the MMA will use
    }`}
${shuffle ? butterfly('psum', (a, b) => `${a} + ${b}`) : '    redSum[lid] = psum;'}
${legacy ? '    workgroupBarrier();  // P, redSum and the flag are visible from here on\n' : ''}    let rescale = workgroupUniformLoad(&${FL}[${slot}]);  // ${legacy ? 'uniform decision' : `also the barrier that publishes P (and redSum${prefetch ? ', V[kb], K[kb + 1]' : ''})`}
${shuffle ? '' : `    psum = ${combine('redSum', (a, b) => `${a} + ${b}`, '0.0')};`}
    l = l * alpha + psum;
    if (rescale != 0u) {
      let a = alpha;  // the row's partner invocations computed the same value
${rescalePasses}
    }
${pv}
  }
  invS[row] = select(0.0, 1.0 / l, l > 0.0);  // the row's TPR invocations store the same value
  workgroupBarrier();
  let srcRow = ${direct ? 'row' : 'min(row, P.Sq - 1u - q0)'};
  let obase = ${obase};
${epiloguePasses}
${lseOut}
}
`;
}

/**
 * Split-KV combine: out[b, i, h*D..] = sum_s w_s part_s / sum_s w_s with w_s = 2^(lse2_s - max_s lse2_s); rows with
 * no visible key in any chunk get zeros (and lse -inf). One invocation per (row, 4 head-dim elements).
 * PART [splits, B, Sq, H, D] f16, PLSE [splits, B, H, Sq] f32 (log2 domain, MASKED when empty).
 */
export function splitCombineWgsl(D: number, splits: number, hasLse: boolean): string {
  const D4 = D / 4;
  return /* wgsl */ `enable f16;
struct CP { B: u32, H: u32, Sq: u32, nx: u32, negInfBits: u32, pad0: u32, pad1: u32, pad2: u32 }
const MASKED: f32 = -3.0e38;
const LN2: f32 = 0.6931471805599453;
const SPLITS: u32 = ${splits}u;
@group(0) @binding(0) var<uniform> C: CP;
@group(0) @binding(1) var<storage, read> PART: array<vec4<f16>>;
@group(0) @binding(2) var<storage, read> PLSE: array<f32>;
@group(0) @binding(3) var<storage, read_write> OUT: array<vec4<f16>>;
${hasLse ? '@group(0) @binding(4) var<storage, read_write> LSE: array<f32>;' : ''}
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let e = (wid.y * C.nx + wid.x) * 256u + lid;
  let rows = C.B * C.Sq * C.H;
  if (e >= rows * ${D4}u) { return; }
  let r = e / ${D4}u;  // (b * Sq + i) * H + h
  let c = e % ${D4}u;
  let h = r % C.H;
  let i = (r / C.H) % C.Sq;
  let b = r / (C.H * C.Sq);
  let li = (b * C.H + h) * C.Sq + i;
  var mx = MASKED;
  for (var s = 0u; s < SPLITS; s++) { mx = max(mx, PLSE[s * rows + li]); }
  var acc = vec4<f32>();
  var wsum = 0.0;
  if (mx > MASKED) {
    for (var s = 0u; s < SPLITS; s++) {
      let w = exp2(PLSE[s * rows + li] - mx);  // 0 for empty chunks
      acc += w * vec4<f32>(PART[(s * rows + r) * ${D4}u + c]);
      wsum += w;
    }
  }
  OUT[e] = vec4<f16>(select(vec4<f32>(), acc / wsum, wsum > 0.0));
${hasLse ? `  if (c == 0u) { LSE[li] = select(bitcast<f32>(C.negInfBits), (mx + log2(wsum)) * LN2, wsum > 0.0); }` : ''}
}
`;
}
