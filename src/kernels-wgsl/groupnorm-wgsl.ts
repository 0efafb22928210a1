// WGSL generators for the three GroupNorm passes over NHWC activations (docs/vae-kernels.md):
//   1. stats:    one workgroup per (batch, chunk of pixels, block of channels) reads a contiguous slab
//                [pixels x channels] and writes per-channel (mean, M2) of the chunk (Welford per thread,
//                Chan's merge across the workgroup's rows). Reading whole pixel rows keeps loads contiguous,
//                which a per-group workgroup could not do in channels-last layout.
//   2. finalize: one workgroup per (batch, group) merges the chunks x channels-per-group partials with Chan's
//                formula into the group's mean and variance, and folds them with the affine weight into a
//                per-(batch, channel) scale and shift.
//   3. apply:    elementwise y = x * scale + shift (+ SiLU), vectorised by 4 channels where C % 4 == 0.
// Welford + Chan merging keeps the variance centred: no E[x^2] - E[x]^2 cancellation even when |mean| >> std.
import type { DType } from '../gpu/kernel.js';

export const GN_WG = 256;

// Chan et al.'s pairwise merge of (count, mean, M2) summaries; safe when either side is empty.
const CHAN_MERGE = (vt: string) => `
struct Stat { n: f32, mean: ${vt}, m2: ${vt} }
fn merge(a: Stat, b: Stat) -> Stat {
  let n = a.n + b.n;
  if (b.n == 0.0) { return a; }
  if (a.n == 0.0) { return b; }
  let d = b.mean - a.mean;
  let fb = b.n / n;
  return Stat(n, a.mean + d * fb, a.m2 + b.m2 + d * d * (a.n * fb));
}
`;

/** Pass 1. VEC channels per thread column (4 when C % 4 == 0, else 1). */
export function gnStatsSource(xDtype: DType, vec: 1 | 4): string {
  const vt = vec === 4 ? 'vec4<f32>' : 'f32';
  const xt = vec === 4 ? 'vec4<XT>' : 'XT';
  return `enable f16;
alias XT = ${xDtype};
struct Params { HW: u32, C: u32, Q: u32, QT: u32, R: u32, rowsPerThread: u32, P: u32, chunks: u32, colBlocks: u32, rPow2: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<${xt}>;
@group(0) @binding(2) var<storage, read_write> partials: array<vec2<f32>>; // [B, chunks, C] (mean, M2)
${CHAN_MERGE(vt)}
var<workgroup> sN: array<f32, ${GN_WG}>;
var<workgroup> sMean: array<${vt}, ${GN_WG}>;
var<workgroup> sM2: array<${vt}, ${GN_WG}>;

@compute @workgroup_size(${GN_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) t: u32) {
  let chunk = wid.x;
  let b = wid.y / p.colBlocks;
  let cb = wid.y % p.colBlocks;
  // Threads form R rows x QT columns; column q reads channels [q*VEC, q*VEC + VEC) of every R-th pixel.
  let r = t / p.QT;
  let q = cb * p.QT + t % p.QT;
  let inRange = r < p.R && q < p.Q;
  var s = Stat(0.0, ${vt}(0.0), ${vt}(0.0));
  if (inRange) {
    let pix0 = chunk * p.P;
    let pixEnd = min(pix0 + p.P, p.HW);
    var pix = pix0 + r;
    for (var i = 0u; i < p.rowsPerThread; i++) {
      if (pix >= pixEnd) { break; }
      let v = ${vt}(x[(b * p.HW + pix) * p.Q + q]);
      s.n += 1.0;
      let d = v - s.mean;
      s.mean += d / s.n;
      s.m2 += d * (v - s.mean);
      pix += p.R;
    }
  }
  sN[t] = s.n;
  sMean[t] = s.mean;
  sM2[t] = s.m2;
  workgroupBarrier();
  // Tree over rows (R need not be a power of two): row r absorbs row r + step while it exists.
  for (var step = p.rPow2 / 2u; step > 0u; step = step / 2u) {
    if (inRange && r < step && r + step < p.R) {
      let o = t + step * p.QT;
      let m = merge(Stat(sN[t], sMean[t], sM2[t]), Stat(sN[o], sMean[o], sM2[o]));
      sN[t] = m.n;
      sMean[t] = m.mean;
      sM2[t] = m.m2;
    }
    workgroupBarrier();
  }
  if (inRange && r == 0u) {
    let base = (b * p.chunks + chunk) * p.C + q * ${vec}u;
${vec === 4
    ? `    for (var c = 0u; c < 4u; c++) { partials[base + c] = vec2<f32>(sMean[t][c], sM2[t][c]); }`
    : `    partials[base] = vec2<f32>(sMean[t], sM2[t]);`}
  }
}
`;
}

/** Pass 2: per (batch, group) statistics -> per (batch, channel) scale and shift. */
export function gnFinalizeSource(wDtype: DType, bDtype: DType): string {
  return `enable f16;
alias WT = ${wDtype};
alias BT = ${bDtype};
struct Params { HW: u32, C: u32, cpg: u32, groups: u32, P: u32, chunks: u32, eps: f32, BC: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> partials: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> weight: array<WT>;
@group(0) @binding(3) var<storage, read> bias: array<BT>;
// [2, B, C]: all scales, then all shifts, so the apply pass reads 4 channels' scales as one vec4.
@group(0) @binding(4) var<storage, read_write> scaleShift: array<f32>;
${CHAN_MERGE('f32')}
var<workgroup> sN: array<f32, ${GN_WG}>;
var<workgroup> sMean: array<f32, ${GN_WG}>;
var<workgroup> sM2: array<f32, ${GN_WG}>;
var<workgroup> result: vec2<f32>; // (mean, rstd)

@compute @workgroup_size(${GN_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) t: u32) {
  let b = wid.x / p.groups;
  let g = wid.x % p.groups;
  let items = p.chunks * p.cpg;
  var s = Stat(0.0, 0.0, 0.0);
  for (var i = t; i < items; i += ${GN_WG}u) {
    let chunk = i / p.cpg;
    let c = g * p.cpg + (i - chunk * p.cpg);
    let pv = partials[(b * p.chunks + chunk) * p.C + c];
    let n = f32(min(p.P, p.HW - chunk * p.P));
    s = merge(s, Stat(n, pv.x, pv.y));
  }
  sN[t] = s.n;
  sMean[t] = s.mean;
  sM2[t] = s.m2;
  workgroupBarrier();
  for (var step = ${GN_WG / 2}u; step > 0u; step = step / 2u) {
    if (t < step) {
      let m = merge(Stat(sN[t], sMean[t], sM2[t]), Stat(sN[t + step], sMean[t + step], sM2[t + step]));
      sN[t] = m.n;
      sMean[t] = m.mean;
      sM2[t] = m.m2;
    }
    workgroupBarrier();
  }
  if (t == 0u) {
    result = vec2<f32>(sMean[0], inverseSqrt(max(sM2[0] / sN[0], 0.0) + p.eps));
  }
  workgroupBarrier();
  let mean = result.x;
  let rstd = result.y;
  for (var j = t; j < p.cpg; j += ${GN_WG}u) {
    let c = g * p.cpg + j;
    let scale = rstd * f32(weight[c]);
    scaleShift[b * p.C + c] = scale;
    scaleShift[p.BC + b * p.C + c] = f32(bias[c]) - mean * scale;
  }
}
`;
}

/** Pass 3: y = x * scale[b, c] + shift[b, c], then optional SiLU. */
/** SiLU is a uniform flag, not a variant: one pipeline fewer to compile, and the branch is uniform. */
export function gnApplySource(xDtype: DType, outDtype: DType, vec: 1 | 4): string {
  const vt = vec === 4 ? 'vec4<f32>' : 'f32';
  return `enable f16;
alias XT = ${xDtype};
alias OT = ${outDtype};
struct Params { n: u32, Q: u32, HWQ: u32, silu: u32, BQ: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<${vec === 4 ? 'vec4<XT>' : 'XT'}>;
@group(0) @binding(2) var<storage, read> scaleShift: array<${vt}>; // [2, B, C / VEC]
@group(0) @binding(3) var<storage, read_write> out: array<${vec === 4 ? 'vec4<OT>' : 'OT'}>;

@compute @workgroup_size(${GN_WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * ${GN_WG}u;
  if (i >= p.n) { return; }
  let b = i / p.HWQ;
  let q = b * p.Q + i % p.Q;
  var y = ${vt}(x[i]) * scaleShift[q] + scaleShift[p.BQ + q];
  if (p.silu != 0u) {
    // SiLU as y * sigmoid(y); exp(-y) -> inf for very negative y gives y / inf = -0, the right limit.
    y = y / (${vt}(1.0) + exp(-y));
  }
  out[i] = ${vec === 4 ? 'vec4<OT>' : 'OT'}(y);
}
`;
}
