// Portable fused attention (any adapter with shader-f16; no subgroup operations): one workgroup of 128
// invocations owns BQ query rows of one (batch, head) and streams the keys in blocks of BKV through
// workgroup memory, keeping an online softmax (running max m, running sum l) per row and the output rows in
// f32 registers. The BQ x BKV score block is the only score storage (the full matrix is never built).
//
// Per key block: (1) stage K and V rows into workgroup memory, zero-filled past the visible keys;
// (2) every invocation computes a few scores (full-length dot products from workgroup memory);
// (3) one invocation per row updates m and l and turns its scores into probabilities in place;
// (4) every invocation rescales its slice of the output row and accumulates P x V for it.
import {
  type AttentionVariant,
  PARAMS_STRUCT,
  SOFTMAX_CONSTS,
  bindingsWgsl,
  blockCountWgsl,
  kvEndWgsl,
  optionLetsWgsl,
  scoreWgsl,
} from './attention-common.wgsl.js';

export const TILED_WORKGROUP = 128;

export interface TiledTiles {
  /** Query rows per workgroup (power of two dividing 128). */
  BQ: number;
  /** Keys per block. */
  BKV: number;
}

/**
 * Tile sizes for head dim D within `smemBytes` of workgroup memory: BQ keeps each invocation's output slice at
 * <= 32 floats (BQ * D / 128), BKV takes what the Q tile leaves.
 */
export function tiledTiles(D: number, smemBytes: number): TiledTiles {
  let BQ = 64;
  while (BQ > 1 && BQ * D > 32 * TILED_WORKGROUP) BQ /= 2;
  const budget = Math.min(smemBytes, 32768) - 64 * 4 - 16; // row stats + kvEnd
  const perKey = 2 * D * 2 + BQ * 4; // K row + V row (f16) + one score column (f32)
  let BKV = Math.floor((budget - BQ * D * 2) / perKey);
  BKV = Math.min(64, BKV >= 8 ? BKV - (BKV % 4) : BKV);
  if (BKV < 1) throw new Error(`attention(tiled): head dim ${D} does not fit in ${smemBytes} bytes of workgroup memory`);
  return { BQ, BKV };
}

export function tiledAttentionWgsl(v: AttentionVariant, t: TiledTiles): string {
  const { D } = v;
  const { BQ, BKV } = t;
  const D4 = D / 4;
  const WG = TILED_WORKGROUP;
  const TPR = WG / BQ; // invocations sharing one output row
  const C4PT = Math.ceil(D4 / TPR); // vec4 output chunks per invocation

  const scoreGuard = (BQ * BKV) % WG === 0 ? '' : `if (e < ${BQ * BKV}u) `;
  const chunkGuard = D4 % TPR === 0 ? '' : `if (c < D4) `;
  return /* wgsl */ `enable f16;
${PARAMS_STRUCT}
${SOFTMAX_CONSTS}
const D4: u32 = ${D4}u;
const BQ: u32 = ${BQ}u;
const BKV: u32 = ${BKV}u;
const WG: u32 = ${WG}u;
const TPR: u32 = ${TPR}u;

${bindingsWgsl(v, { q: 'vec4<f16>', kv: 'vec4<f16>', out: 'vec4<f16>' })}
var<workgroup> qs: array<vec4<f16>, ${BQ * D4}>;
var<workgroup> ks: array<vec4<f16>, ${BKV * D4}>;
var<workgroup> vs: array<vec4<f16>, ${BKV * D4}>;
var<workgroup> ss: array<f32, ${BQ * BKV}>;
var<workgroup> rowAlpha: array<f32, ${BQ}>;
var<workgroup> rowL: array<f32, ${BQ}>;
var<workgroup> kvEndShared: u32;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.y;
  let b = wid.z;
  let q0 = wid.x * BQ;
  let bh = b * P.H + h;
  // Long inner loops run to these run-time bounds (equal to D4 and BKV): constant bounds make lavapipe's
  // compiler unroll them fully, which costs seconds of JIT per variant and buys nothing on the portable path.
  let nD4 = P.loopD4;
  let nBKV = P.loopBKV;
  let nSPT = (BQ * nBKV + WG - 1u) / WG;
${optionLetsWgsl(v)}${kvEndWgsl(v)}
  // Q tile, zero rows past Sq (their scores stay finite; their outputs are never written).
  for (var e = lid; e < BQ * nD4; e += WG) {
    let qi = q0 + e / D4;
    var val = vec4<f16>(0.0h);
    if (qi < P.Sq) { val = Q[(bh * P.Sq + qi) * D4 + e % D4]; }
    qs[e] = val;
  }
  let nBlocks = ${blockCountWgsl(v, 'BQ', 'BKV')};
  let orow = lid / TPR;   // output row owned (with TPR - 1 neighbours)
  let ot = lid % TPR;     // this invocation's chunks: ot, ot + TPR, ...
  var acc: array<vec4<f32>, ${C4PT}>;
  for (var i = 0u; i < ${C4PT}u; i++) { acc[i] = vec4<f32>(0.0); }
  var m = EMPTY;  // row stats, meaningful in invocations lid < BQ (row lid)
  var l = 0.0;
  for (var kb = 0u; kb < nBlocks; kb++) {
    let k0 = kb * BKV;
    workgroupBarrier();  // the previous block's K/V/P are no longer read
    for (var e = lid; e < nBKV * nD4; e += WG) {
      let kj = k0 + e / D4;
      var kv4 = vec4<f16>(0.0h);
      var vv4 = vec4<f16>(0.0h);
      if (kj < kvEnd) {
        let gi = (bh * P.Skv + kj) * D4 + e % D4;
        kv4 = K[gi];
        vv4 = V[gi];
      }
      ks[e] = kv4;
      vs[e] = vv4;
    }
    workgroupBarrier();
    for (var i = 0u; i < nSPT; i++) {
      let e = lid + i * WG;
      ${scoreGuard}{
        let r = e / BKV;
        let j = e % BKV;
        var d = 0.0;
        for (var c = 0u; c < nD4; c++) {
          d += dot(vec4<f32>(qs[r * D4 + c]), vec4<f32>(ks[j * D4 + c]));
        }
        let qi = q0 + r;
        let kj = k0 + j;
${scoreWgsl(v, 's', 'd', 'qi', 'kj')}
        ss[e] = s;
      }
    }
    workgroupBarrier();
    if (lid < BQ) {
      var bm = MASKED;
      for (var j = 0u; j < nBKV; j++) { bm = max(bm, ss[lid * BKV + j]); }
      let mNew = max(m, bm);
      let alpha = exp2(m - mNew);  // 0 when m was EMPTY (acc and l are 0 then), 1 when unchanged
      var sum = 0.0;
      for (var j = 0u; j < nBKV; j++) {
        let p = exp2(ss[lid * BKV + j] - mNew);
        ss[lid * BKV + j] = p;
        sum += p;
      }
      l = l * alpha + sum;
      m = mNew;
      rowAlpha[lid] = alpha;
    }
    workgroupBarrier();
    let alpha = rowAlpha[orow];
    for (var i = 0u; i < ${C4PT}u; i++) { acc[i] *= alpha; }
    for (var j = 0u; j < nBKV; j++) {
      let p = ss[orow * BKV + j];
      for (var i = 0u; i < ${C4PT}u; i++) {
        let c = ot + i * TPR;
        ${chunkGuard}{ acc[i] += p * vec4<f32>(vs[j * D4 + c]); }
      }
    }
  }
  if (lid < BQ) {
    rowL[lid] = l;
${v.hasLse || v.runtimeFlags ? `    if (${v.runtimeFlags ? 'HAS_LSE && ' : ''}q0 + lid < P.Sq) {
      LSE[bh * P.Sq + q0 + lid] = select(bitcast<f32>(P.negInfBits), (m + log2(l)) * LN2, l > 0.0);
    }` : ''}
  }
  workgroupBarrier();
  let qi = q0 + orow;
  if (qi < P.Sq) {
    let lr = rowL[orow];
    let inv = select(0.0, 1.0 / lr, lr > 0.0);
    let base = ((b * P.Sq + qi) * P.H + h) * D4;
    for (var i = 0u; i < ${C4PT}u; i++) {
      let c = ot + i * TPR;
      ${chunkGuard}{ OUT[base + c] = vec4<f16>(acc[i] * inv); }
    }
  }
}
`;
}
