// Tensor-core fused attention through Dawn's subgroup matrices (16x16x16, f16 x f16 -> f32), D in {64, 128}.
//
// A workgroup of NSG subgroups owns BQ = 16 * NSG query rows of one (batch, head); subgroup g owns rows
// 16g..16g+15 and keeps them as D/16 Q fragments (left) and D/16 f32 output fragments (result) in registers
// for the whole key loop. Per block of BKV keys:
//   1. all invocations stage K and V rows into workgroup memory (zero-filled past the visible keys, so every
//      fragment load is in bounds by construction, with or without Dawn's robustness transform);
//   2. each subgroup computes its 16 x BKV scores S = Q K^T with BKV/16 * D/16 MMAs and stores them (f32);
//   3. each row's scores are read by SG/16 invocations of the owning subgroup (max/sum combined with
//      workgroup memory), turned into f16 probabilities P, and stored;
//   4. each subgroup accumulates O += P V with BKV/16 * D/16 MMAs.
//
// Fragments are opaque, so rows of O cannot be rescaled in registers. The kernel therefore rescales lazily:
// a row keeps its stale maximum m until a new score exceeds it by more than TAU (log2 units), so
// probabilities stay <= 2^TAU (exact in f16's range) and l and O always share the same reference m. Only when
// some row of the workgroup must move its maximum are the O fragments passed through workgroup memory and
// scaled (rare after the first blocks; the decision is made workgroup-uniform with workgroupUniformLoad
// because the pass contains barriers). A row's first visible block needs no rescale (O and l are 0).
//
// Workgroup memory: every workgroup variable's size is a multiple of 16 bytes. Cooperative-matrix loads and
// stores need 16-byte-aligned addresses, and the driver chooses where each workgroup variable lives: on the
// H100 one 8-byte variable declared after the tiles shifted them by 8 bytes and made every fragment wrong.
//
// Subgroup ownership follows local_invocation_index / SG (contiguous subgroups, as on NVIDIA); matrix
// offsets depend only on that, never on the lane (the uniformity diagnostic is off, see GPU-NOTES.md).
import {
  type AttentionVariant,
  PARAMS_STRUCT,
  SOFTMAX_CONSTS,
  bindingsWgsl,
  blockCountWgsl,
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
   * Tests only: replace every subgroup-matrix builtin by a plain-WGSL emulation (SG must be 32), so the kernel's staging, indexing, masking and lazy-rescale logic runs on adapters without
   * tensor cores (lavapipe). `SG` then names a logical subgroup of contiguous invocations; only
   * its logical subgroups need no real subgroup operations.
   */
  emulate?: boolean;
  /**
   * Tests only (test/kernels/attention-probe.test.ts). `legacyLayout` reproduces the first version's
   * workgroup variables: an 8-byte flag pair and a 4-byte kvEnd declared after the matrix tiles. On the H100
   * (driver 580.159.04) that layout makes every fragment load/store wrong (see docs/attention.md).
   */
  probe?: { legacyLayout?: boolean };
}

/**
 * Emulated fragments for tests: lane L of a 32-invocation logical subgroup holds row L/2, columns
 * (L%2)*8..+8 of each 16x16 fragment; an MMA exchanges operands through per-subgroup workgroup scratch.
 * Loops run to run-time bounds so lavapipe does not unroll them (its JIT time grows with unrolled code).
 */
function emulationWgsl(NSG: number): string {
  const loads = ['kv', 'pm', 'sc']
    .map(
      (arr) => `fn sim_load_${arr}(off: u32, colMajor: bool, stride: u32) -> Frag {
  var f: Frag;
  let r = simLane / 2u;
  for (var i = 0u; i < N8; i++) {
    let c = (simLane % 2u) * 8u + i;
    f[i] = f32(${arr}[select(off + r * stride + c, off + c * stride + r, colMajor)]);
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
  for (var i = 0u; i < N8; i++) { sc[off + r * stride + (simLane % 2u) * 8u + i] = v[i]; }
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
  const rowStats = 2 * t.NSG * t.SG * 4 + BQ * 4 + flags; // redMax, redSum, invS, flags
  return 2 * t.BKV * (D + HALF_PAD) * 2 + BQ * (t.BKV + F32_PAD) * 4 + BQ * (t.BKV + HALF_PAD) * 2 + rowStats + emulation;
}

/** Default tiles: the largest key block that fits next to 4 subgroups' score/probability scratch. */
export function subgroupMatrixTiles(D: number, SG: number, smemBytes: number, override?: Partial<SubgroupMatrixTiles>): SubgroupMatrixTiles {
  const t: SubgroupMatrixTiles = {
    NSG: override?.NSG ?? 4,
    BKV: override?.BKV ?? (D <= 64 ? 64 : 32),
    SG,
    emulate: override?.emulate,
    probe: override?.probe,
  };
  if (t.BKV % 16 !== 0 || t.BKV < 16) throw new Error(`attention(subgroup-matrix): blockKv ${t.BKV} must be a positive multiple of 16`);
  if (![1, 2, 4, 8, 16].includes(t.NSG)) throw new Error(`attention(subgroup-matrix): subgroups ${t.NSG} must be 1, 2, 4, 8 or 16`);
  if ((t.BKV * 16) % SG !== 0) throw new Error(`attention(subgroup-matrix): subgroup size ${SG} does not divide a 16 x ${t.BKV} score block`);
  const need = subgroupMatrixSmemBytes(D, t);
  if (need > smemBytes) {
    throw new Error(`attention(subgroup-matrix): tiles ${JSON.stringify(t)} need ${need} bytes of workgroup memory, the adapter has ${smemBytes}`);
  }
  return t;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

export function subgroupMatrixAttentionWgsl(v: AttentionVariant, t: SubgroupMatrixTiles): string {
  const { D } = v;
  const { NSG, BKV, SG } = t;
  if (D !== 64 && D !== 128) throw new Error(`attention(subgroup-matrix): head dim ${D} not supported (64 or 128)`);
  const BQ = 16 * NSG;
  const WG = NSG * SG;
  const DF = D / 16; // fragments along the head dim
  const NF = BKV / 16; // fragments along a key block
  const KP = D + HALF_PAD; // row stride of staged Q/K/V (halves)
  const SP = BKV + F32_PAD; // row stride of the score scratch (f32)
  const PP = BKV + HALF_PAD; // row stride of the probability scratch (halves)
  const TPR = SG / 16; // invocations per score row
  const CPT = BKV / TPR; // score columns per invocation
  const DH = D / 2; // u32 words per staged row
  // Q is staged through the K/V area, RPP rows at a time.
  const RPP = Math.min(BQ, Math.floor((2 * BKV) / 16) * 16);
  const phases = Math.ceil(BQ / RPP);
  const sim = !!t.emulate;
  const legacy = !!t.probe?.legacyLayout;
  const RF = legacy ? 'rescaleFlags' : 'flags'; // [0]: some row must rescale; [1]: sink for the others' writes
  const KVEND = legacy ? 'kvEndShared' : 'flags[2]';
  const LEFT = 'subgroup_matrix_left<f16, 16, 16>';
  const RIGHT = 'subgroup_matrix_right<f16, 16, 16>';
  const RESULT = 'subgroup_matrix_result<f32, 16, 16>';
  // Matrix operations, real or emulated (see `emulate`).
  const load = (ty: string, arr: string, off: string, colMajor: boolean, stride: string) =>
    sim ? `sim_load_${arr}(${off}, ${colMajor}, ${stride})` : `subgroupMatrixLoad<${ty}>(&${arr}, ${off}, ${colMajor}, ${stride})`;
  const store = (arr: string, off: string, val: string, stride: string) =>
    sim ? `sim_store_${arr}(${off}, ${val}, ${stride})` : `subgroupMatrixStore(&${arr}, ${off}, ${val}, false, ${stride})`;
  const mma = (a: string, b: string, c: string) => (sim ? `sim_mma(${a}, ${b}, ${c})` : `subgroupMatrixMultiplyAccumulate(${a}, ${b}, ${c})`);
  const zero = (ty: string) => (sim ? `Frag()` : `${ty}()`);

  const stageLoop = (rows: number, body: string) => {
    const total = rows * DH;
    const trips = Math.ceil(total / WG);
    const guard = total % WG === 0 ? '' : `if (e < ${total}u) `;
    return `    for (var it = 0u; it < ${trips}u; it++) {
      let e = lid + it * WG;
      ${guard}{
${body}
      }
    }\n`;
  };

  const qPhases = range(phases).map((p) => {
    const body = `        let r = e / DH;
        let c = e % DH;
        let qi = q0 + ${p * RPP}u + r;
        let w = select(0u, Q[(bh * P.Sq + min(qi, P.Sq - 1u)) * DH + c], qi < P.Sq);
        let hw = bitcast<vec2<f16>>(w);
        kv[r * KP + 2u * c] = hw.x;
        kv[r * KP + 2u * c + 1u] = hw.y;`;
    const loads = range(DF)
      .map((k) => `      qf${k} = ${load(LEFT, 'kv', `(sg * 16u - ${p * RPP}u) * KP + ${16 * k}u`, false, 'KP')};`)
      .join('\n');
    const mine = phases === 1 ? `{` : `if (sg * 16u >= ${p * RPP}u && sg * 16u < ${(p + 1) * RPP}u) {`;
    return `  {
    workgroupBarrier();
${stageLoop(Math.min(RPP, BQ - p * RPP), body)}    workgroupBarrier();
    ${mine}
${loads}
    }
  }`;
  });

  const kvStage = `        let r = e / DH;
        let c = e % DH;
        let kj = k0 + r;
        let gi = (bh * P.Skv + min(kj, kvEnd - 1u)) * DH + c;  // kvEnd >= 1 inside the key loop
        let wk = select(0u, K[gi], kj < kvEnd);
        let wv = select(0u, V[gi], kj < kvEnd);
        let hk = bitcast<vec2<f16>>(wk);
        let hv = bitcast<vec2<f16>>(wv);
        kv[r * KP + 2u * c] = hk.x;
        kv[r * KP + 2u * c + 1u] = hk.y;
        kv[VB + r * KP + 2u * c] = hv.x;
        kv[VB + r * KP + 2u * c + 1u] = hv.y;`;

  const scores = range(NF)
    .map((n) => {
      const mmas = range(DF)
        .map((k) => `      acc = ${mma(`qf${k}`, load(RIGHT, 'kv', `${16 * n}u * KP + ${16 * k}u`, true, 'KP'), 'acc')};`)
        .join('\n');
      return `    {
      var acc = ${zero(RESULT)};
${mmas}
      ${store('sc', `sg * 16u * SP + ${16 * n}u`, 'acc', 'SP')};
    }`;
    })
    .join('\n');

  // Row max and sum combine the TPR partial values of a row through workgroup memory (not subgroup shuffles:
  // fewer features mixed with the matrix builtins; the barriers are needed around the P stores anyway).
  const rowBase = `(lid - part)`;
  const combine = (arr: string, op: (a: string, b: string) => string, init: string) =>
    range(TPR).reduce((acc, t) => op(acc, `${arr}[${rowBase} + ${t}u]`), init);

  // Rescale O through the score scratch, NF fragments per pass.
  const rescalePasses = range(Math.ceil(DF / NF))
    .map((pass) => {
      const frags = range(NF).map((i) => pass * NF + i).filter((j) => j < DF);
      const stores = frags.map((j, i) => `      ${store('sc', `sg * 16u * SP + ${16 * i}u`, `o${j}`, 'SP')};`).join('\n');
      const loads = frags.map((j, i) => `      o${j} = ${load(RESULT, 'sc', `sg * 16u * SP + ${16 * i}u`, false, 'SP')};`).join('\n');
      return `${stores}
      workgroupBarrier();
      for (var i = 0u; i < CPT; i++) {
        let col = part * CPT + i;
        ${frags.length === NF ? '' : `if (col < ${16 * frags.length}u) `}{ sc[row * SP + col] *= a; }
      }
      workgroupBarrier();
${loads}
      workgroupBarrier();`;
    })
    .join('\n');

  const pv = range(NF)
    .map((kk) => {
      const mmas = range(DF)
        .map((j) => `      o${j} = ${mma('pf', load(RIGHT, 'kv', `VB + ${16 * kk}u * KP + ${16 * j}u`, false, 'KP'), `o${j}`)};`)
        .join('\n');
      return `    {
      let pf = ${load(LEFT, 'pm', `sg * 16u * PP + ${16 * kk}u`, false, 'PP')};
${mmas}
    }`;
    })
    .join('\n');

  // Rows past Sq (last query tile only) copy row Sq-1's values to row Sq-1's address: every store stays in
  // bounds without a divergent branch, and the duplicate writers store identical values.
  const epiloguePasses = range(Math.ceil(DF / NF))
    .map((pass) => {
      const frags = range(NF).map((i) => pass * NF + i).filter((j) => j < DF);
      const stores = frags.map((j, i) => `  ${store('sc', `sg * 16u * SP + ${16 * i}u`, `o${j}`, 'SP')};`).join('\n');
      return `${stores}
  workgroupBarrier();
  for (var i = 0u; i < CPT; i++) {
    let col = part * CPT + i;
    ${frags.length === NF ? '' : `if (col < ${16 * frags.length}u) `}{ OUT[obase + ${pass * NF * 16}u + col] = f16(sc[srcRow * SP + col] * invS[srcRow]); }
  }
  workgroupBarrier();`;
    })
    .join('\n');

  const header = sim
    ? `enable f16;\n`
    : `enable f16;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
`;
  return /* wgsl */ `${header}${PARAMS_STRUCT}
${SOFTMAX_CONSTS}
const BQ: u32 = ${BQ}u;
const BKV: u32 = ${BKV}u;
const WG: u32 = ${WG}u;
const SG: u32 = ${SG}u;
const DH: u32 = ${DH}u;
const KP: u32 = ${KP}u;
const SP: u32 = ${SP}u;
const PP: u32 = ${PP}u;
const VB: u32 = ${BKV * KP}u;  // V rows start here in kv
const TPR: u32 = ${TPR}u;
const CPT: u32 = ${CPT}u;
const TAU: f32 = ${LAZY_RESCALE_TAU}.0;

${bindingsWgsl(v, { q: 'u32', kv: 'u32', out: 'f16' })}
var<workgroup> kv: array<f16, ${2 * BKV * KP}>;   // K block then V block; Q tile before the loop
var<workgroup> sc: array<f32, ${BQ * SP}>;        // scores; O fragments when rescaling / writing out
var<workgroup> pm: array<f16, ${BQ * PP}>;        // probabilities
${legacy ? `var<workgroup> rescaleFlags: array<u32, 2>;
var<workgroup> redMax: array<f32, WG>;
var<workgroup> redSum: array<f32, WG>;
var<workgroup> invS: array<f32, BQ>;
var<workgroup> kvEndShared: u32;` : `var<workgroup> redMax: array<f32, WG>;
var<workgroup> redSum: array<f32, WG>;
var<workgroup> invS: array<f32, BQ>;
// [0]: some row must rescale; [1]: sink for the other rows' writes; [2]: kvEnd. Every workgroup variable's
// size is a multiple of 16 bytes, so wherever the driver places them, the matrix tiles stay 16-byte aligned.
var<workgroup> flags: array<u32, 4>;`}
${sim ? emulationWgsl(NSG) : ''}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.y;
  let b = wid.z;
  let q0 = wid.x * BQ;
  let bh = b * P.H + h;
  let sg = lid / SG;
  let lane = lid % SG;
  let row = sg * 16u + lane / TPR;  // score row handled by this invocation (inside its own subgroup's rows)
  let part = lane % TPR;
  let qi = q0 + row;
${v.hasKvLength ? `  ${KVEND} = min(P.Skv, KVLEN[b]);  // every invocation stores the same value (no divergent branch)
  let kvEnd = workgroupUniformLoad(&${KVEND});` : `  let kvEnd = P.Skv;`}
${sim ? `  N8 = select(8u, 9u, P.B == 0xffffffffu);  // a run-time 8
  simLane = lane;
  simSg = sg;` : ''}
${range(DF).map((k) => `  var qf${k} = ${zero(LEFT)};`).join('\n')}
${qPhases.join('\n')}
${range(DF).map((j) => `  var o${j} = ${zero(RESULT)};`).join('\n')}
  var m = EMPTY;
  var l = 0.0;
  let nBlocks = ${blockCountWgsl(v, 'BQ', 'BKV')};
  for (var kb = 0u; kb < nBlocks; kb++) {
    let k0 = kb * BKV;
    workgroupBarrier();  // the previous block's K/V/P/scores are no longer read
    ${RF}[0] = 0u;  // all invocations, same value; set again only after the next barrier
${stageLoop(BKV, kvStage)}    workgroupBarrier();
${scores}
    workgroupBarrier();
    var sv: array<f32, ${CPT}>;
    var bm = MASKED;
    for (var i = 0u; i < CPT; i++) {
      let kj = k0 + part * CPT + i;
${scoreWgsl(v, 's', `sc[row * SP + part * CPT + i]`, 'qi', 'kj', true)}
      sv[i] = s;
      bm = max(bm, s);
    }
    redMax[lid] = bm;
    workgroupBarrier();
    bm = ${combine('redMax', (a, b) => `max(${a}, ${b})`, 'MASKED')};
    let mc = max(m, bm);
    // Branch-free (selects): the matrix builtins below want converged subgroups.
    let firstKeys = m == EMPTY;  // O and l are still 0: move m without rescaling
    let bump = !firstKeys && mc > m + TAU;
    let alpha = select(1.0, exp2(m - mc), bump);
    m = select(m, mc, firstKeys || bump);
    ${RF}[select(1u, 0u, bump)] = 1u;
    var psum = 0.0;
    for (var i = 0u; i < CPT; i++) {
      let p = f16(exp2(sv[i] - m));
      pm[row * PP + part * CPT + i] = p;
      psum += f32(p);  // sum what the MMA will use
    }
    redSum[lid] = psum;
    workgroupBarrier();  // P, redSum and the flag are visible from here on
    psum = ${combine('redSum', (a, b) => `${a} + ${b}`, '0.0')};
    l = l * alpha + psum;
    if (workgroupUniformLoad(&${RF}[0]) != 0u) {
      let a = alpha;  // the row's partner invocations computed the same value
${rescalePasses}
    }
${pv}
  }
  invS[row] = select(0.0, 1.0 / l, l > 0.0);  // the row's TPR invocations store the same value
  workgroupBarrier();
  let srcRow = min(row, P.Sq - 1u - q0);
  let obase = ((b * P.Sq + q0 + srcRow) * P.H + h) * ${D}u;
${epiloguePasses}
${v.hasLse ? `  if (part == 0u && qi < P.Sq) {  // after the last matrix operation: divergence is harmless here
    LSE[bh * P.Sq + qi] = select(bitcast<f32>(P.negInfBits), (m + log2(l)) * LN2, l > 0.0);
  }` : ''}
}
`;
}
