// WGSL generator for the NHWC implicit-GEMM convolution (see docs/vae-kernels.md for the design).
//
//   out[m, n] = sum_k A[m, k] * Wp[k, n] (+ bias[n]) (+ residual[m, n])
//   m = (b, oy, ox) output pixel, n = output channel, k = (ky, kx, ci) with ci innermost,
//   A[m, k] = x[b, oy*S - padTop + ky, ox*S - padLeft + kx, ci] (zero outside the image),
//   Wp = the packed weight [kh, kw, Cin, Cout] (packConv2dWeight), i.e. a row-major [K, Cout] matrix.
//
// The K loop walks taps (ky, kx) and, inside each tap, chunks of BK input channels. Within one chunk every
// A element of a row comes from the same input pixel, so the per-thread pixel decode (b, oy, ox) happens once
// before the loop and the chunk's channels are contiguous in memory (coalesced loads along ci). Channels past
// Cin (Cin not a multiple of BK, e.g. Cin = 3) and pixels in the padding are loaded as zeros.
import type { DType } from '../gpu/kernel.js';

/** Workgroup tile: BM output pixels x BN output channels, each thread TM x TN outputs, BK channels per step. */
export interface ConvTile {
  name: string;
  BM: number;
  BN: number;
  BK: number;
  TM: number;
  TN: number;
}

export const CONV_TILES = {
  // The main tile: 256 threads, 8x8 outputs per thread (64 f32 accumulators), 16 KiB of workgroup memory.
  large: { name: 'large', BM: 128, BN: 128, BK: 16, TM: 8, TN: 8 },
  // A smaller tile for mid-sized problems (more workgroups in flight).
  small: { name: 'small', BM: 64, BN: 64, BK: 16, TM: 4, TN: 4 },
  // Few output channels (conv_out: Cout = 3; encoder conv_out: 2*16): a wide-N tile would waste most of its work.
  narrow: { name: 'narrow', BM: 128, BN: 16, BK: 16, TM: 4, TN: 4 },
} as const satisfies Record<string, ConvTile>;

export type ConvTileName = keyof typeof CONV_TILES;

/**
 * What selects a compiled pipeline. Kernel size, stride, padding and the fused input upsample are uniforms,
 * not compile-time constants: they only enter per-tile index arithmetic, and fewer variants means fewer
 * pipelines to compile (a cold lavapipe compile of this shader costs seconds of CPU).
 */
export interface ConvVariant {
  tile: ConvTile;
  outDtype: DType;
  /**
   * Unroll the BK-long inner product loop at compile time. Off by default: the unrolled loop makes a cold
   * lavapipe compile ~3x slower (3.5 s -> 1.1 s CPU per pipeline measured), and with a uniform trip count the
   * accumulators are still indexed by constants only, so nothing spills. Benchmarks can compare both on a GPU.
   */
  unrollK?: boolean;
  /** Storage types of bias / residual. Both are always bound (a dummy buffer when absent) and switched on by
   * uniforms, so with and without them share one pipeline: one compile instead of four. */
  biasDtype: DType;
  residualDtype: DType;
}

export function convVariantKey(v: ConvVariant): string {
  return `conv2d:${v.tile.name}${v.unrollK ? ':unroll' : ''}:out-${v.outDtype}:bias-${v.biasDtype}:res-${v.residualDtype}`;
}

/** Uniform fields, in order (launch code fills them with paramsBuffer). */
export const CONV_PARAM_FIELDS = [
  'H', 'W', 'Cin', 'Ho', 'Wo', 'Cout', 'M', 'nChunks', 'mTiles',
  'kernel', // kernel width = height (1 or 3)
  'stride', 'padTop', 'padLeft',
  'bk', // = BK; a uniform so the inner loop is not unrolled (see ConvVariant.unrollK)
  'inputShift', // 1 when the input is read through a fused nearest 2x upsample (logical input = 2H x 2W), else 0
  'hasBias', 'hasResidual',
  'epiIters', // = 16 (a slice holds 16 values per thread); a uniform so the write-out loop is not unrolled
] as const;

/** Fields declared i32 in the WGSL struct (the rest are u32). */
export const CONV_SIGNED_FIELDS: ReadonlySet<string> = new Set(['stride', 'padTop', 'padLeft', 'kernel', 'inputShift']);

export function convSource(v: ConvVariant): string {
  const { BM, BN, BK, TM, TN } = v.tile;
  const TX = BN / TN;
  const TY = BM / TM;
  const NT = TX * TY;
  if (TM % 4 || TN % 4 || NT % BK || (BM * BK) % NT || (BK * BN) % NT || BM % 4 || BN % 4) {
    throw new Error(`conv2d: inconsistent tile ${JSON.stringify(v.tile)}`);
  }
  const A_PER = (BM * BK) / NT; // A-tile rows each thread loads per K step (in quads of 4 consecutive rows)
  const A_QSTEP = NT / BK; // row quads covered by the whole workgroup in one pass
  const B_QUADS = (BK * BN) / 4;
  const B_QPER = Math.ceil(B_QUADS / NT);
  if (A_PER % 4) throw new Error(`conv2d: tile ${v.tile.name} gives ${A_PER} A rows per thread, not a multiple of 4`);
  const GM = TM / 4; // vec4 row groups per thread
  const GN = TN / 4; // vec4 column groups per thread

  return `enable f16;
alias OutT = ${v.outDtype};
alias BiasT = ${v.biasDtype};
alias ResT = ${v.residualDtype};
struct Params { ${CONV_PARAM_FIELDS.map((f) => `${f}: ${CONV_SIGNED_FIELDS.has(f) ? 'i32' : 'u32'}`).join(', ')} }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f16>;
@group(0) @binding(2) var<storage, read> w: array<f16>;
@group(0) @binding(3) var<storage, read_write> out: array<OutT>;
@group(0) @binding(4) var<storage, read> bias: array<BiasT>;
@group(0) @binding(5) var<storage, read> residual: array<ResT>;

const BM = ${BM}u;
const BN = ${BN}u;
const BK = ${BK}u;
const TX = ${TX}u;
const TY = ${TY}u;
const NT = ${NT}u;
const A_PER = ${A_PER}u;
const A_QSTEP = ${A_QSTEP}u;
const B_QUADS = ${B_QUADS}u;
const B_QPER = ${B_QPER}u;
const GM = ${GM}u;
const GN = ${GN}u;

// Tiles transposed to [k][m] and [k][n] so the inner loop reads 4 consecutive rows / columns as one vec4.
var<workgroup> As: array<vec4<f32>, ${(BK * BM) / 4}>;
var<workgroup> Bs: array<vec4<f32>, ${(BK * BN) / 4}>;
// Epilogue staging: one [TY*4 x TX*4] slice of the output tile (4 values per thread per row r).
var<workgroup> Es: array<vec4<f32>, ${NT * 4}>;

@compute @workgroup_size(${NT})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let mTile = wid.x + wid.y * nwg.x;
  if (mTile >= p.mTiles) { return; } // uniform per workgroup: no barrier is skipped by part of it
  let m0 = mTile * BM;
  let n0 = wid.z * BN;
  let tx = lid % TX;
  let ty = lid / TX;

  // Logical input size (2x the stored size when reading through the fused nearest upsample).
  let HL = i32(p.H) << u32(p.inputShift);
  let WL = i32(p.W) << u32(p.inputShift);
  let KW = u32(p.kernel);
  let HoWo = p.Ho * p.Wo;

  // Decode, once, the output pixels of the A rows this thread loads: channel aK of rows
  // (aQuad + (j / 4) * A_QSTEP) * 4 + j % 4, so each thread stores whole vec4s into As.
  let aK = lid % BK;
  let aQuad = lid / BK;
  var pixBase: array<u32, A_PER>;
  var baseY: array<i32, A_PER>;
  var baseX: array<i32, A_PER>;
  for (var j = 0u; j < A_PER; j++) {
    let m = m0 + (aQuad + (j / 4u) * A_QSTEP) * 4u + j % 4u;
    if (m < p.M) {
      let b = m / HoWo;
      let r = m - b * HoWo;
      let oy = r / p.Wo;
      let ox = r - oy * p.Wo;
      pixBase[j] = b * p.H * p.W;
      baseY[j] = i32(oy) * p.stride - p.padTop;
      baseX[j] = i32(ox) * p.stride - p.padLeft;
    } else {
      pixBase[j] = 0u;
      baseY[j] = -0x40000000i; // never inside the image: the row loads zeros
      baseX[j] = 0i;
    }
  }

  var acc: array<vec4<f32>, ${GM * 4 * GN}>;
  for (var i = 0u; i < ${GM * 4 * GN}u; i++) { acc[i] = vec4<f32>(0.0); }

  let nIter = KW * KW * p.nChunks;
  for (var it = 0u; it < nIter; it++) {
    let tap = it / p.nChunks;
    let c0 = (it - tap * p.nChunks) * BK;
    let ky = i32(tap / KW);
    let kx = i32(tap % KW);

    // A tile: BM pixels x BK channels of tap (ky, kx); 16 neighbouring threads read 16 neighbouring channels.
    let ci = c0 + aK;
    for (var jq = 0u; jq < A_PER / 4u; jq++) {
      var v = vec4<f32>(0.0);
      for (var i = 0u; i < 4u; i++) {
        let j = jq * 4u + i;
        let iy = baseY[j] + ky;
        let ix = baseX[j] + kx;
        if (ci < p.Cin && iy >= 0i && iy < HL && ix >= 0i && ix < WL) {
          let pix = pixBase[j] + u32(iy >> u32(p.inputShift)) * p.W + u32(ix >> u32(p.inputShift));
          v[i] = f32(x[pix * p.Cin + ci]);
        }
      }
      As[aK * (BM / 4u) + aQuad + jq * A_QSTEP] = v;
    }
    // B tile: BK rows of the packed weight x BN output channels; each thread loads 4 consecutive channels.
    for (var j = 0u; j < B_QPER; j++) {
      let e = lid + j * NT;
      if (B_QUADS % NT == 0u || e < B_QUADS) {
        let kk = e / (BN / 4u);
        let nq = e % (BN / 4u);
        let k = c0 + kk;
        let n = n0 + nq * 4u;
        var v = vec4<f32>(0.0);
        if (k < p.Cin) {
          let rowBase = (tap * p.Cin + k) * p.Cout;
          for (var i = 0u; i < 4u; i++) {
            if (n + i < p.Cout) { v[i] = f32(w[rowBase + n + i]); }
          }
        }
        Bs[e] = v;
      }
    }
    workgroupBarrier();

    for (var k = 0u; k < ${v.unrollK ? 'BK' : 'p.bk'}; k++) {
      var a: array<vec4<f32>, GM>;
      var bv: array<vec4<f32>, GN>;
      for (var g = 0u; g < GM; g++) { a[g] = As[k * (BM / 4u) + g * TY + ty]; }
      for (var g = 0u; g < GN; g++) { bv[g] = Bs[k * (BN / 4u) + g * TX + tx]; }
      for (var g = 0u; g < GM; g++) {
        for (var r = 0u; r < 4u; r++) {
          for (var h = 0u; h < GN; h++) {
            let idx = (g * 4u + r) * GN + h;
            acc[idx] = fma(vec4<f32>(a[g][r]), bv[h], acc[idx]);
          }
        }
      }
    }
    workgroupBarrier();
  }

  // Epilogue, staged through workgroup memory one (g, h) slice at a time: a slice is a contiguous
  // [TY*4 x TX*4] sub-tile. The write-out loop has a uniform trip count (not unrolled), so bias/residual loads and
  // the bounds checks are compiled once instead of TM*TN times (lavapipe compile time), and consecutive threads
  // store consecutive output channels (coalesced on GPUs).
  for (var g = 0u; g < GM; g++) {
    for (var h = 0u; h < GN; h++) {
      workgroupBarrier();
      for (var r = 0u; r < 4u; r++) {
        Es[(ty * 4u + r) * TX + tx] = acc[(g * 4u + r) * GN + h];
      }
      workgroupBarrier();
      for (var i = 0u; i < p.epiIters; i++) {
        let e = lid + i * NT;
        let rowL = e / (TX * 4u);
        let colL = e % (TX * 4u);
        let m = m0 + g * TY * 4u + rowL;
        let n = n0 + h * TX * 4u + colL;
        if (m < p.M && n < p.Cout) {
          var val = Es[e / 4u][e % 4u];
          if (p.hasBias != 0u) { val += f32(bias[n]); }
          if (p.hasResidual != 0u) { val += f32(residual[m * p.Cout + n]); }
          out[m * p.Cout + n] = OutT(val);
        }
      }
    }
  }
}
`;
}

/** Re-layout [Cout, Cin, kh, kw] (PyTorch) -> [kh, kw, Cin, Cout] (the implicit GEMM's [K, Cout] matrix). */
export function packWeightSource(srcDtype: DType, dstDtype: DType): string {
  return `enable f16;
alias SrcT = ${srcDtype};
alias DstT = ${dstDtype};
struct Params { Cout: u32, Cin: u32, KH: u32, KW: u32, n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<SrcT>;
@group(0) @binding(2) var<storage, read_write> dst: array<DstT>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u; // dst index: ((ky * KW + kx) * Cin + ci) * Cout + co
  if (i >= p.n) { return; }
  let co = i % p.Cout;
  var t = i / p.Cout;
  let ci = t % p.Cin;
  t = t / p.Cin;
  let kx = t % p.KW;
  let ky = t / p.KW;
  dst[i] = DstT(src[((co * p.Cin + ci) * p.KH + ky) * p.KW + kx]);
}
`;
}
