enable f16;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
struct Params {
  M: u32, N: u32, K: u32, batchA: u32,
  batchB: u32, batchOut: u32, rowsPerBatch: u32, gateStride: u32,
  gateOffset: u32, tilesM: u32, tilesN: u32, alpha: f32,
  flags: u32, loopK: u32, epiStride: u32, kSplit: u32,
  splits: u32,
}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> A: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> B: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read_write> OUT: array<f16>;
@group(0) @binding(4) var<storage, read> BIAS: array<f16>;
@group(0) @binding(5) var<storage, read> GATE: array<f16>;
@group(0) @binding(6) var<storage, read> RES: array<f16>;
var<workgroup> As: array<f16, 9216>;
var<workgroup> Bs: array<f16, 9216>;
var<workgroup> Cs: array<f32, 2048>;

fn act_gelu_tanh(y: f32) -> f32 {
  // tanh is clamped: some drivers evaluate tanh via exp and return NaN for large |u| (inf/inf).
  // |u| >= 10 gives tanh = +-1 to f32 precision, so the clamp changes nothing else.
  let u = 0.7978845608028654 * (y + 0.044715 * y * y * y);
  return 0.5 * y * (1.0 + tanh(clamp(u, -10.0, 10.0)));
}
fn act_silu(y: f32) -> f32 {
  // exp(-y) overflows to +inf for y < -88: y / inf = -0, the right limit, so no clamp is needed.
  return y / (1.0 + exp(-y));
}
fn store_out(batch: u32, row: u32, col: u32, acc: f32) {
  let flags = P.flags;
  var y = acc * P.alpha;
  if ((flags & 1u) != 0u) { y = y + f32(BIAS[col]); }
  let act = (flags >> 1u) & 3u;
  if (act == 1u) { y = act_gelu_tanh(y); } else if (act == 2u) { y = act_silu(y); }
  if ((flags & 8u) != 0u) { y = y * f32(GATE[(row / P.rowsPerBatch) * P.gateStride + P.gateOffset + col]); }
  let idx = batch * P.batchOut + row * P.N + col;
  let res = (flags >> 4u) & 3u;
  if (res == 1u) { y = f32(RES[idx]) + y; } else if (res == 2u) { y = f32(OUT[idx]) + y; }
  OUT[idx] = f16(y);
}

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  // Linear tile id, swizzled: groups of 8 tile rows sweep all tile columns so B stays hot in L2.
  let pid = wid.x + wid.y * nwg.x;
  if (pid >= P.tilesM * P.tilesN) { return; }
  let groupSize = 8u * P.tilesN;
  let firstM = (pid / groupSize) * 8u;
  let rowsInGroup = min(P.tilesM - firstM, 8u);
  let tm = firstM + (pid % groupSize) % rowsInGroup;
  let tn = (pid % groupSize) / rowsInGroup;
  let m0 = tm * 128u;
  let n0 = tn * 128u;
  let batch = wid.z;
  let aBase = batch * P.batchA;
  let bBase = batch * P.batchB;
  let kBegin = 0u;
  let kEnd = max(kBegin, min(P.K, kBegin + P.kSplit));
  let sg = li / 32u;
  let lane = li % 32u;
  let sgm = sg / 4u;
  let sgn = sg % 4u;
  let rowBase = m0 + sgm * 64u;
  let colBase = n0 + sgn * 32u;
  let cBase = sg * 256u;
  var acc0_0 = subgroup_matrix_result<f32, 16, 16>();
  var acc0_1 = subgroup_matrix_result<f32, 16, 16>();
  var acc1_0 = subgroup_matrix_result<f32, 16, 16>();
  var acc1_1 = subgroup_matrix_result<f32, 16, 16>();
  var acc2_0 = subgroup_matrix_result<f32, 16, 16>();
  var acc2_1 = subgroup_matrix_result<f32, 16, 16>();
  var acc3_0 = subgroup_matrix_result<f32, 16, 16>();
  var acc3_1 = subgroup_matrix_result<f32, 16, 16>();
  var ra0: vec4<u32>;
  var ra1: vec4<u32>;
  var ra2: vec4<u32>;
  var ra3: vec4<u32>;
  var rb0: vec4<u32>;
  var rb1: vec4<u32>;
  var rb2: vec4<u32>;
  var rb3: vec4<u32>;
  let nk = (kEnd - kBegin + 63u) / 64u;
  {
    let k0 = kBegin;
    {
      let c = li + 0u;
      let gr = m0 + c / 8u;
      let gk = k0 + (c % 8u) * 8u;
      ra0 = vec4<u32>(0u);
      if (c < 1024u) {
        if (gr < P.M && gk < kEnd) { ra0 = A[(aBase + gr * P.K + gk) / 8u]; }
      }
    }
    {
      let c = li + 256u;
      let gr = m0 + c / 8u;
      let gk = k0 + (c % 8u) * 8u;
      ra1 = vec4<u32>(0u);
      if (c < 1024u) {
        if (gr < P.M && gk < kEnd) { ra1 = A[(aBase + gr * P.K + gk) / 8u]; }
      }
    }
    {
      let c = li + 512u;
      let gr = m0 + c / 8u;
      let gk = k0 + (c % 8u) * 8u;
      ra2 = vec4<u32>(0u);
      if (c < 1024u) {
        if (gr < P.M && gk < kEnd) { ra2 = A[(aBase + gr * P.K + gk) / 8u]; }
      }
    }
    {
      let c = li + 768u;
      let gr = m0 + c / 8u;
      let gk = k0 + (c % 8u) * 8u;
      ra3 = vec4<u32>(0u);
      if (c < 1024u) {
        if (gr < P.M && gk < kEnd) { ra3 = A[(aBase + gr * P.K + gk) / 8u]; }
      }
    }
    {
      let c = li + 0u;
      let gn = n0 + c / 8u;
      let gk = k0 + (c % 8u) * 8u;
      rb0 = vec4<u32>(0u);
      if (c < 1024u) {
        if (gn < P.N && gk < kEnd) { rb0 = B[(bBase + gn * P.K + gk) / 8u]; }
      }
    }
    {
      let c = li + 256u;
      let gn = n0 + c / 8u;
      let gk = k0 + (c % 8u) * 8u;
      rb1 = vec4<u32>(0u);
      if (c < 1024u) {
        if (gn < P.N && gk < kEnd) { rb1 = B[(bBase + gn * P.K + gk) / 8u]; }
      }
    }
    {
      let c = li + 512u;
      let gn = n0 + c / 8u;
      let gk = k0 + (c % 8u) * 8u;
      rb2 = vec4<u32>(0u);
      if (c < 1024u) {
        if (gn < P.N && gk < kEnd) { rb2 = B[(bBase + gn * P.K + gk) / 8u]; }
      }
    }
    {
      let c = li + 768u;
      let gn = n0 + c / 8u;
      let gk = k0 + (c % 8u) * 8u;
      rb3 = vec4<u32>(0u);
      if (c < 1024u) {
        if (gn < P.N && gk < kEnd) { rb3 = B[(bBase + gn * P.K + gk) / 8u]; }
      }
    }
    let st = 0u;
    {
      let c = li + 0u;
      if (c < 1024u) {
        let o = st * 9216u + (c / 8u) * 72u + (c % 8u) * 8u;
        let p0 = bitcast<vec2<f16>>(ra0.x); let p1 = bitcast<vec2<f16>>(ra0.y);
        let p2 = bitcast<vec2<f16>>(ra0.z); let p3 = bitcast<vec2<f16>>(ra0.w);
        As[o] = p0.x; As[o + 1u] = p0.y; As[o + 2u] = p1.x; As[o + 3u] = p1.y;
        As[o + 4u] = p2.x; As[o + 5u] = p2.y; As[o + 6u] = p3.x; As[o + 7u] = p3.y;
      }
    }
    {
      let c = li + 256u;
      if (c < 1024u) {
        let o = st * 9216u + (c / 8u) * 72u + (c % 8u) * 8u;
        let p0 = bitcast<vec2<f16>>(ra1.x); let p1 = bitcast<vec2<f16>>(ra1.y);
        let p2 = bitcast<vec2<f16>>(ra1.z); let p3 = bitcast<vec2<f16>>(ra1.w);
        As[o] = p0.x; As[o + 1u] = p0.y; As[o + 2u] = p1.x; As[o + 3u] = p1.y;
        As[o + 4u] = p2.x; As[o + 5u] = p2.y; As[o + 6u] = p3.x; As[o + 7u] = p3.y;
      }
    }
    {
      let c = li + 512u;
      if (c < 1024u) {
        let o = st * 9216u + (c / 8u) * 72u + (c % 8u) * 8u;
        let p0 = bitcast<vec2<f16>>(ra2.x); let p1 = bitcast<vec2<f16>>(ra2.y);
        let p2 = bitcast<vec2<f16>>(ra2.z); let p3 = bitcast<vec2<f16>>(ra2.w);
        As[o] = p0.x; As[o + 1u] = p0.y; As[o + 2u] = p1.x; As[o + 3u] = p1.y;
        As[o + 4u] = p2.x; As[o + 5u] = p2.y; As[o + 6u] = p3.x; As[o + 7u] = p3.y;
      }
    }
    {
      let c = li + 768u;
      if (c < 1024u) {
        let o = st * 9216u + (c / 8u) * 72u + (c % 8u) * 8u;
        let p0 = bitcast<vec2<f16>>(ra3.x); let p1 = bitcast<vec2<f16>>(ra3.y);
        let p2 = bitcast<vec2<f16>>(ra3.z); let p3 = bitcast<vec2<f16>>(ra3.w);
        As[o] = p0.x; As[o + 1u] = p0.y; As[o + 2u] = p1.x; As[o + 3u] = p1.y;
        As[o + 4u] = p2.x; As[o + 5u] = p2.y; As[o + 6u] = p3.x; As[o + 7u] = p3.y;
      }
    }
    {
      let c = li + 0u;
      if (c < 1024u) {
        let o = st * 9216u + (c / 8u) * 72u + (c % 8u) * 8u;
        let p0 = bitcast<vec2<f16>>(rb0.x); let p1 = bitcast<vec2<f16>>(rb0.y);
        let p2 = bitcast<vec2<f16>>(rb0.z); let p3 = bitcast<vec2<f16>>(rb0.w);
        Bs[o] = p0.x; Bs[o + 1u] = p0.y; Bs[o + 2u] = p1.x; Bs[o + 3u] = p1.y;
        Bs[o + 4u] = p2.x; Bs[o + 5u] = p2.y; Bs[o + 6u] = p3.x; Bs[o + 7u] = p3.y;
      }
    }
    {
      let c = li + 256u;
      if (c < 1024u) {
        let o = st * 9216u + (c / 8u) * 72u + (c % 8u) * 8u;
        let p0 = bitcast<vec2<f16>>(rb1.x); let p1 = bitcast<vec2<f16>>(rb1.y);
        let p2 = bitcast<vec2<f16>>(rb1.z); let p3 = bitcast<vec2<f16>>(rb1.w);
        Bs[o] = p0.x; Bs[o + 1u] = p0.y; Bs[o + 2u] = p1.x; Bs[o + 3u] = p1.y;
        Bs[o + 4u] = p2.x; Bs[o + 5u] = p2.y; Bs[o + 6u] = p3.x; Bs[o + 7u] = p3.y;
      }
    }
    {
      let c = li + 512u;
      if (c < 1024u) {
        let o = st * 9216u + (c / 8u) * 72u + (c % 8u) * 8u;
        let p0 = bitcast<vec2<f16>>(rb2.x); let p1 = bitcast<vec2<f16>>(rb2.y);
        let p2 = bitcast<vec2<f16>>(rb2.z); let p3 = bitcast<vec2<f16>>(rb2.w);
        Bs[o] = p0.x; Bs[o + 1u] = p0.y; Bs[o + 2u] = p1.x; Bs[o + 3u] = p1.y;
        Bs[o + 4u] = p2.x; Bs[o + 5u] = p2.y; Bs[o + 6u] = p3.x; Bs[o + 7u] = p3.y;
      }
    }
    {
      let c = li + 768u;
      if (c < 1024u) {
        let o = st * 9216u + (c / 8u) * 72u + (c % 8u) * 8u;
        let p0 = bitcast<vec2<f16>>(rb3.x); let p1 = bitcast<vec2<f16>>(rb3.y);
        let p2 = bitcast<vec2<f16>>(rb3.z); let p3 = bitcast<vec2<f16>>(rb3.w);
        Bs[o] = p0.x; Bs[o + 1u] = p0.y; Bs[o + 2u] = p1.x; Bs[o + 3u] = p1.y;
        Bs[o + 4u] = p2.x; Bs[o + 5u] = p2.y; Bs[o + 6u] = p3.x; Bs[o + 7u] = p3.y;
      }
    }
  }
  workgroupBarrier();
  for (var kt = 0u; kt < nk; kt++) {
    let cur = 0u;
    let hasNext = kt + 1u < nk;
    let kc = kBegin + kt * 64u;
    if (hasNext) {
      // Issue the next tile's global loads now; they complete while this tile is multiplied.
      let k0 = kc + 64u;
      {
        let c = li + 0u;
        let gr = m0 + c / 8u;
        let gk = k0 + (c % 8u) * 8u;
        ra0 = vec4<u32>(0u);
        if (c < 1024u) {
          if (gr < P.M && gk < kEnd) { ra0 = A[(aBase + gr * P.K + gk) / 8u]; }
        }
      }
      {
        let c = li + 256u;
        let gr = m0 + c / 8u;
        let gk = k0 + (c % 8u) * 8u;
        ra1 = vec4<u32>(0u);
        if (c < 1024u) {
          if (gr < P.M && gk < kEnd) { ra1 = A[(aBase + gr * P.K + gk) / 8u]; }
        }
      }
      {
        let c = li + 512u;
        let gr = m0 + c / 8u;
        let gk = k0 + (c % 8u) * 8u;
        ra2 = vec4<u32>(0u);
        if (c < 1024u) {
          if (gr < P.M && gk < kEnd) { ra2 = A[(aBase + gr * P.K + gk) / 8u]; }
        }
      }
      {
        let c = li + 768u;
        let gr = m0 + c / 8u;
        let gk = k0 + (c % 8u) * 8u;
        ra3 = vec4<u32>(0u);
        if (c < 1024u) {
          if (gr < P.M && gk < kEnd) { ra3 = A[(aBase + gr * P.K + gk) / 8u]; }
        }
      }
      {
        let c = li + 0u;
        let gn = n0 + c / 8u;
        let gk = k0 + (c % 8u) * 8u;
        rb0 = vec4<u32>(0u);
        if (c < 1024u) {
          if (gn < P.N && gk < kEnd) { rb0 = B[(bBase + gn * P.K + gk) / 8u]; }
        }
      }
      {
        let c = li + 256u;
        let gn = n0 + c / 8u;
        let gk = k0 + (c % 8u) * 8u;
        rb1 = vec4<u32>(0u);
        if (c < 1024u) {
          if (gn < P.N && gk < kEnd) { rb1 = B[(bBase + gn * P.K + gk) / 8u]; }
        }
      }
      {
        let c = li + 512u;
        let gn = n0 + c / 8u;
        let gk = k0 + (c % 8u) * 8u;
        rb2 = vec4<u32>(0u);
        if (c < 1024u) {
          if (gn < P.N && gk < kEnd) { rb2 = B[(bBase + gn * P.K + gk) / 8u]; }
        }
      }
      {
        let c = li + 768u;
        let gn = n0 + c / 8u;
        let gk = k0 + (c % 8u) * 8u;
        rb3 = vec4<u32>(0u);
        if (c < 1024u) {
          if (gn < P.N && gk < kEnd) { rb3 = B[(bBase + gn * P.K + gk) / 8u]; }
        }
      }
    }
    let aOff = cur * 9216u + sgm * 4608u;
    let bOff = cur * 9216u + sgn * 2304u;
    {
      var fa0 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>, row_major>(&As, aOff + 0u, 72u);
      var fa1 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>, row_major>(&As, aOff + 1152u, 72u);
      var fa2 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>, row_major>(&As, aOff + 2304u, 72u);
      var fa3 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>, row_major>(&As, aOff + 3456u, 72u);
      var fb0 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>, col_major>(&Bs, bOff + 0u, 72u);
      var fb1 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>, col_major>(&Bs, bOff + 1152u, 72u);
      acc0_0 = subgroupMatrixMultiplyAccumulate(fa0, fb0, acc0_0);
      acc0_1 = subgroupMatrixMultiplyAccumulate(fa0, fb1, acc0_1);
      acc1_0 = subgroupMatrixMultiplyAccumulate(fa1, fb0, acc1_0);
      acc1_1 = subgroupMatrixMultiplyAccumulate(fa1, fb1, acc1_1);
      acc2_0 = subgroupMatrixMultiplyAccumulate(fa2, fb0, acc2_0);
      acc2_1 = subgroupMatrixMultiplyAccumulate(fa2, fb1, acc2_1);
      acc3_0 = subgroupMatrixMultiplyAccumulate(fa3, fb0, acc3_0);
      acc3_1 = subgroupMatrixMultiplyAccumulate(fa3, fb1, acc3_1);
    }
    {
      var fa0 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>, row_major>(&As, aOff + 16u, 72u);
      var fa1 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>, row_major>(&As, aOff + 1168u, 72u);
      var fa2 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>, row_major>(&As, aOff + 2320u, 72u);
      var fa3 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>, row_major>(&As, aOff + 3472u, 72u);
      var fb0 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>, col_major>(&Bs, bOff + 16u, 72u);
      var fb1 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>, col_major>(&Bs, bOff + 1168u, 72u);
      acc0_0 = subgroupMatrixMultiplyAccumulate(fa0, fb0, acc0_0);
      acc0_1 = subgroupMatrixMultiplyAccumulate(fa0, fb1, acc0_1);
      acc1_0 = subgroupMatrixMultiplyAccumulate(fa1, fb0, acc1_0);
      acc1_1 = subgroupMatrixMultiplyAccumulate(fa1, fb1, acc1_1);
      acc2_0 = subgroupMatrixMultiplyAccumulate(fa2, fb0, acc2_0);
      acc2_1 = subgroupMatrixMultiplyAccumulate(fa2, fb1, acc2_1);
      acc3_0 = subgroupMatrixMultiplyAccumulate(fa3, fb0, acc3_0);
      acc3_1 = subgroupMatrixMultiplyAccumulate(fa3, fb1, acc3_1);
    }
    {
      var fa0 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>, row_major>(&As, aOff + 32u, 72u);
      var fa1 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>, row_major>(&As, aOff + 1184u, 72u);
      var fa2 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>, row_major>(&As, aOff + 2336u, 72u);
      var fa3 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>, row_major>(&As, aOff + 3488u, 72u);
      var fb0 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>, col_major>(&Bs, bOff + 32u, 72u);
      var fb1 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>, col_major>(&Bs, bOff + 1184u, 72u);
      acc0_0 = subgroupMatrixMultiplyAccumulate(fa0, fb0, acc0_0);
      acc0_1 = subgroupMatrixMultiplyAccumulate(fa0, fb1, acc0_1);
      acc1_0 = subgroupMatrixMultiplyAccumulate(fa1, fb0, acc1_0);
      acc1_1 = subgroupMatrixMultiplyAccumulate(fa1, fb1, acc1_1);
      acc2_0 = subgroupMatrixMultiplyAccumulate(fa2, fb0, acc2_0);
      acc2_1 = subgroupMatrixMultiplyAccumulate(fa2, fb1, acc2_1);
      acc3_0 = subgroupMatrixMultiplyAccumulate(fa3, fb0, acc3_0);
      acc3_1 = subgroupMatrixMultiplyAccumulate(fa3, fb1, acc3_1);
    }
    {
      var fa0 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>, row_major>(&As, aOff + 48u, 72u);
      var fa1 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>, row_major>(&As, aOff + 1200u, 72u);
      var fa2 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>, row_major>(&As, aOff + 2352u, 72u);
      var fa3 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>, row_major>(&As, aOff + 3504u, 72u);
      var fb0 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>, col_major>(&Bs, bOff + 48u, 72u);
      var fb1 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>, col_major>(&Bs, bOff + 1200u, 72u);
      acc0_0 = subgroupMatrixMultiplyAccumulate(fa0, fb0, acc0_0);
      acc0_1 = subgroupMatrixMultiplyAccumulate(fa0, fb1, acc0_1);
      acc1_0 = subgroupMatrixMultiplyAccumulate(fa1, fb0, acc1_0);
      acc1_1 = subgroupMatrixMultiplyAccumulate(fa1, fb1, acc1_1);
      acc2_0 = subgroupMatrixMultiplyAccumulate(fa2, fb0, acc2_0);
      acc2_1 = subgroupMatrixMultiplyAccumulate(fa2, fb1, acc2_1);
      acc3_0 = subgroupMatrixMultiplyAccumulate(fa3, fb0, acc3_0);
      acc3_1 = subgroupMatrixMultiplyAccumulate(fa3, fb1, acc3_1);
    }
    workgroupBarrier(); // single stage: everyone has finished reading it before it is overwritten
    if (hasNext) {
      // Two stages: the other one was last read in iteration kt-1, finished by every thread before the last barrier.
      let st = 0u;
      {
        let c = li + 0u;
        if (c < 1024u) {
          let o = st * 9216u + (c / 8u) * 72u + (c % 8u) * 8u;
          let p0 = bitcast<vec2<f16>>(ra0.x); let p1 = bitcast<vec2<f16>>(ra0.y);
          let p2 = bitcast<vec2<f16>>(ra0.z); let p3 = bitcast<vec2<f16>>(ra0.w);
          As[o] = p0.x; As[o + 1u] = p0.y; As[o + 2u] = p1.x; As[o + 3u] = p1.y;
          As[o + 4u] = p2.x; As[o + 5u] = p2.y; As[o + 6u] = p3.x; As[o + 7u] = p3.y;
        }
      }
      {
        let c = li + 256u;
        if (c < 1024u) {
          let o = st * 9216u + (c / 8u) * 72u + (c % 8u) * 8u;
          let p0 = bitcast<vec2<f16>>(ra1.x); let p1 = bitcast<vec2<f16>>(ra1.y);
          let p2 = bitcast<vec2<f16>>(ra1.z); let p3 = bitcast<vec2<f16>>(ra1.w);
          As[o] = p0.x; As[o + 1u] = p0.y; As[o + 2u] = p1.x; As[o + 3u] = p1.y;
          As[o + 4u] = p2.x; As[o + 5u] = p2.y; As[o + 6u] = p3.x; As[o + 7u] = p3.y;
        }
      }
      {
        let c = li + 512u;
        if (c < 1024u) {
          let o = st * 9216u + (c / 8u) * 72u + (c % 8u) * 8u;
          let p0 = bitcast<vec2<f16>>(ra2.x); let p1 = bitcast<vec2<f16>>(ra2.y);
          let p2 = bitcast<vec2<f16>>(ra2.z); let p3 = bitcast<vec2<f16>>(ra2.w);
          As[o] = p0.x; As[o + 1u] = p0.y; As[o + 2u] = p1.x; As[o + 3u] = p1.y;
          As[o + 4u] = p2.x; As[o + 5u] = p2.y; As[o + 6u] = p3.x; As[o + 7u] = p3.y;
        }
      }
      {
        let c = li + 768u;
        if (c < 1024u) {
          let o = st * 9216u + (c / 8u) * 72u + (c % 8u) * 8u;
          let p0 = bitcast<vec2<f16>>(ra3.x); let p1 = bitcast<vec2<f16>>(ra3.y);
          let p2 = bitcast<vec2<f16>>(ra3.z); let p3 = bitcast<vec2<f16>>(ra3.w);
          As[o] = p0.x; As[o + 1u] = p0.y; As[o + 2u] = p1.x; As[o + 3u] = p1.y;
          As[o + 4u] = p2.x; As[o + 5u] = p2.y; As[o + 6u] = p3.x; As[o + 7u] = p3.y;
        }
      }
      {
        let c = li + 0u;
        if (c < 1024u) {
          let o = st * 9216u + (c / 8u) * 72u + (c % 8u) * 8u;
          let p0 = bitcast<vec2<f16>>(rb0.x); let p1 = bitcast<vec2<f16>>(rb0.y);
          let p2 = bitcast<vec2<f16>>(rb0.z); let p3 = bitcast<vec2<f16>>(rb0.w);
          Bs[o] = p0.x; Bs[o + 1u] = p0.y; Bs[o + 2u] = p1.x; Bs[o + 3u] = p1.y;
          Bs[o + 4u] = p2.x; Bs[o + 5u] = p2.y; Bs[o + 6u] = p3.x; Bs[o + 7u] = p3.y;
        }
      }
      {
        let c = li + 256u;
        if (c < 1024u) {
          let o = st * 9216u + (c / 8u) * 72u + (c % 8u) * 8u;
          let p0 = bitcast<vec2<f16>>(rb1.x); let p1 = bitcast<vec2<f16>>(rb1.y);
          let p2 = bitcast<vec2<f16>>(rb1.z); let p3 = bitcast<vec2<f16>>(rb1.w);
          Bs[o] = p0.x; Bs[o + 1u] = p0.y; Bs[o + 2u] = p1.x; Bs[o + 3u] = p1.y;
          Bs[o + 4u] = p2.x; Bs[o + 5u] = p2.y; Bs[o + 6u] = p3.x; Bs[o + 7u] = p3.y;
        }
      }
      {
        let c = li + 512u;
        if (c < 1024u) {
          let o = st * 9216u + (c / 8u) * 72u + (c % 8u) * 8u;
          let p0 = bitcast<vec2<f16>>(rb2.x); let p1 = bitcast<vec2<f16>>(rb2.y);
          let p2 = bitcast<vec2<f16>>(rb2.z); let p3 = bitcast<vec2<f16>>(rb2.w);
          Bs[o] = p0.x; Bs[o + 1u] = p0.y; Bs[o + 2u] = p1.x; Bs[o + 3u] = p1.y;
          Bs[o + 4u] = p2.x; Bs[o + 5u] = p2.y; Bs[o + 6u] = p3.x; Bs[o + 7u] = p3.y;
        }
      }
      {
        let c = li + 768u;
        if (c < 1024u) {
          let o = st * 9216u + (c / 8u) * 72u + (c % 8u) * 8u;
          let p0 = bitcast<vec2<f16>>(rb3.x); let p1 = bitcast<vec2<f16>>(rb3.y);
          let p2 = bitcast<vec2<f16>>(rb3.z); let p3 = bitcast<vec2<f16>>(rb3.w);
          Bs[o] = p0.x; Bs[o + 1u] = p0.y; Bs[o + 2u] = p1.x; Bs[o + 3u] = p1.y;
          Bs[o + 4u] = p2.x; Bs[o + 5u] = p2.y; Bs[o + 6u] = p3.x; Bs[o + 7u] = p3.y;
        }
      }
    }
    workgroupBarrier();
  }
  subgroupMatrixStore<row_major>(&Cs, cBase, acc0_0, 16u);
  workgroupBarrier();
  for (var e = lane; e < 256u; e += 32u) {
    let row = rowBase + 0u + e / 16u;
    let col = colBase + 0u + e % 16u;
    if (row < P.M && col < P.N) { store_out(batch, row, col, Cs[cBase + e]); }
  }
  workgroupBarrier();
  subgroupMatrixStore<row_major>(&Cs, cBase, acc0_1, 16u);
  workgroupBarrier();
  for (var e = lane; e < 256u; e += 32u) {
    let row = rowBase + 0u + e / 16u;
    let col = colBase + 16u + e % 16u;
    if (row < P.M && col < P.N) { store_out(batch, row, col, Cs[cBase + e]); }
  }
  workgroupBarrier();
  subgroupMatrixStore<row_major>(&Cs, cBase, acc1_0, 16u);
  workgroupBarrier();
  for (var e = lane; e < 256u; e += 32u) {
    let row = rowBase + 16u + e / 16u;
    let col = colBase + 0u + e % 16u;
    if (row < P.M && col < P.N) { store_out(batch, row, col, Cs[cBase + e]); }
  }
  workgroupBarrier();
  subgroupMatrixStore<row_major>(&Cs, cBase, acc1_1, 16u);
  workgroupBarrier();
  for (var e = lane; e < 256u; e += 32u) {
    let row = rowBase + 16u + e / 16u;
    let col = colBase + 16u + e % 16u;
    if (row < P.M && col < P.N) { store_out(batch, row, col, Cs[cBase + e]); }
  }
  workgroupBarrier();
  subgroupMatrixStore<row_major>(&Cs, cBase, acc2_0, 16u);
  workgroupBarrier();
  for (var e = lane; e < 256u; e += 32u) {
    let row = rowBase + 32u + e / 16u;
    let col = colBase + 0u + e % 16u;
    if (row < P.M && col < P.N) { store_out(batch, row, col, Cs[cBase + e]); }
  }
  workgroupBarrier();
  subgroupMatrixStore<row_major>(&Cs, cBase, acc2_1, 16u);
  workgroupBarrier();
  for (var e = lane; e < 256u; e += 32u) {
    let row = rowBase + 32u + e / 16u;
    let col = colBase + 16u + e % 16u;
    if (row < P.M && col < P.N) { store_out(batch, row, col, Cs[cBase + e]); }
  }
  workgroupBarrier();
  subgroupMatrixStore<row_major>(&Cs, cBase, acc3_0, 16u);
  workgroupBarrier();
  for (var e = lane; e < 256u; e += 32u) {
    let row = rowBase + 48u + e / 16u;
    let col = colBase + 0u + e % 16u;
    if (row < P.M && col < P.N) { store_out(batch, row, col, Cs[cBase + e]); }
  }
  workgroupBarrier();
  subgroupMatrixStore<row_major>(&Cs, cBase, acc3_1, 16u);
  workgroupBarrier();
  for (var e = lane; e < 256u; e += 32u) {
    let row = rowBase + 48u + e / 16u;
    let col = colBase + 16u + e % 16u;
    if (row < P.M && col < P.N) { store_out(batch, row, col, Cs[cBase + e]); }
  }
  workgroupBarrier();
}
