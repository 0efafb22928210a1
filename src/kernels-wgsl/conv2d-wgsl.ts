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
import type { DType } from './kernel.js';

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
  biasDtype: DType | null;
  residualDtype: DType | null;
}

export function convVariantKey(v: ConvVariant): string {
  return `conv2d:${v.tile.name}:out-${v.outDtype}:bias-${v.biasDtype ?? 'none'}:res-${v.residualDtype ?? 'none'}`;
}

/** Uniform fields, in order (launch code fills them with paramsBuffer). */
export const CONV_PARAM_FIELDS = [
  'H', 'W', 'Cin', 'Ho', 'Wo', 'Cout', 'M', 'nChunks', 'mTiles',
  'kernel', // kernel width = height (1 or 3)
  'stride', 'padTop', 'padLeft',
  'inputShift', // 1 when the input is read through a fused nearest 2x upsample (logical input = 2H x 2W), else 0
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
  const A_PER = (BM * BK) / NT; // A-tile rows each thread loads per K step
  const A_ROWSTEP = NT / BK;
  const B_PER = (BK * BN) / NT;
  const GM = TM / 4; // vec4 row groups per thread
  const GN = TN / 4; // vec4 column groups per thread
  let bindingNo = 4;
  const biasBinding = v.biasDtype ? bindingNo++ : -1;
  const resBinding = v.residualDtype ? bindingNo++ : -1;

  const epilogueAdds = [
    v.biasDtype ? '      val += f32(bias[n]);' : '',
    v.residualDtype ? '      val += f32(residual[m * p.Cout + n]);' : '',
  ].filter(Boolean).join('\n');

  return `enable f16;
alias OutT = ${v.outDtype};
${v.biasDtype ? `alias BiasT = ${v.biasDtype};` : ''}
${v.residualDtype ? `alias ResT = ${v.residualDtype};` : ''}
struct Params { ${CONV_PARAM_FIELDS.map((f) => `${f}: ${CONV_SIGNED_FIELDS.has(f) ? 'i32' : 'u32'}`).join(', ')} }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f16>;
@group(0) @binding(2) var<storage, read> w: array<f16>;
@group(0) @binding(3) var<storage, read_write> out: array<OutT>;
${v.biasDtype ? `@group(0) @binding(${biasBinding}) var<storage, read> bias: array<BiasT>;` : ''}
${v.residualDtype ? `@group(0) @binding(${resBinding}) var<storage, read> residual: array<ResT>;` : ''}

const BM = ${BM}u;
const BN = ${BN}u;
const BK = ${BK}u;
const TX = ${TX}u;
const TY = ${TY}u;
const NT = ${NT}u;
const A_PER = ${A_PER}u;
const A_ROWSTEP = ${A_ROWSTEP}u;
const B_PER = ${B_PER}u;
const GM = ${GM}u;
const GN = ${GN}u;

// Tiles transposed to [k][m] and [k][n] so the inner loop reads 4 consecutive rows / columns as one vec4.
var<workgroup> As: array<vec4<f32>, ${(BK * BM) / 4}>;
var<workgroup> Bs: array<vec4<f32>, ${(BK * BN) / 4}>;

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

  // Decode, once, the output pixels of the A rows this thread loads.
  let aK = lid % BK;
  let aRow0 = lid / BK;
  var pixBase: array<u32, A_PER>;
  var baseY: array<i32, A_PER>;
  var baseX: array<i32, A_PER>;
  for (var j = 0u; j < A_PER; j++) {
    let m = m0 + aRow0 + j * A_ROWSTEP;
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
    for (var j = 0u; j < A_PER; j++) {
      let iy = baseY[j] + ky;
      let ix = baseX[j] + kx;
      var v = 0.0;
      if (ci < p.Cin && iy >= 0i && iy < HL && ix >= 0i && ix < WL) {
        let pix = pixBase[j] + u32(iy >> u32(p.inputShift)) * p.W + u32(ix >> u32(p.inputShift));
        v = f32(x[pix * p.Cin + ci]);
      }
      let row = aRow0 + j * A_ROWSTEP;
      As[(aK * BM + row) / 4u][row % 4u] = v;
    }
    // B tile: BK rows of the packed weight x BN output channels (contiguous along Cout).
    for (var j = 0u; j < B_PER; j++) {
      let e = lid + j * NT;
      let nn = e % BN;
      let kk = e / BN;
      let k = c0 + kk;
      let n = n0 + nn;
      var v = 0.0;
      if (k < p.Cin && n < p.Cout) {
        v = f32(w[(tap * p.Cin + k) * p.Cout + n]);
      }
      Bs[(kk * BN + nn) / 4u][nn % 4u] = v;
    }
    workgroupBarrier();

    for (var k = 0u; k < BK; k++) {
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

  // Epilogue: thread rows are (g*TY + ty)*4 + r, columns (h*TX + tx)*4 + c.
  for (var g = 0u; g < GM; g++) {
    for (var r = 0u; r < 4u; r++) {
      let m = m0 + (g * TY + ty) * 4u + r;
      if (m >= p.M) { continue; }
      for (var h = 0u; h < GN; h++) {
        let accv = acc[(g * 4u + r) * GN + h];
        for (var c = 0u; c < 4u; c++) {
          let n = n0 + (h * TX + tx) * 4u + c;
          if (n >= p.Cout) { continue; }
          var val = accv[c];
${epilogueAdds}
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
