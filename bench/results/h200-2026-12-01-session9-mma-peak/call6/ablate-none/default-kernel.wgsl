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
var<workgroup> AB: array<vec4<u32>, 2304>;  // A stages, B stages; f32 bits in the epilogue


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
      if (c < 1024u) { AB[st * 1152u + (c / 8u) * 9u + c % 8u] = ra0; }
    }
    {
      let c = li + 256u;
      if (c < 1024u) { AB[st * 1152u + (c / 8u) * 9u + c % 8u] = ra1; }
    }
    {
      let c = li + 512u;
      if (c < 1024u) { AB[st * 1152u + (c / 8u) * 9u + c % 8u] = ra2; }
    }
    {
      let c = li + 768u;
      if (c < 1024u) { AB[st * 1152u + (c / 8u) * 9u + c % 8u] = ra3; }
    }
    {
      let c = li + 0u;
      if (c < 1024u) { AB[1152u + st * 1152u + (c / 8u) * 9u + c % 8u] = rb0; }
    }
    {
      let c = li + 256u;
      if (c < 1024u) { AB[1152u + st * 1152u + (c / 8u) * 9u + c % 8u] = rb1; }
    }
    {
      let c = li + 512u;
      if (c < 1024u) { AB[1152u + st * 1152u + (c / 8u) * 9u + c % 8u] = rb2; }
    }
    {
      let c = li + 768u;
      if (c < 1024u) { AB[1152u + st * 1152u + (c / 8u) * 9u + c % 8u] = rb3; }
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
    let aOff = cur * 1152u + sgm * 576u;
    let bOff = 1152u + cur * 1152u + sgn * 288u;
    {
      var fa0 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>, row_major>(&AB, aOff + 0u, 9u);
      var fa1 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>, row_major>(&AB, aOff + 144u, 9u);
      var fa2 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>, row_major>(&AB, aOff + 288u, 9u);
      var fa3 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>, row_major>(&AB, aOff + 432u, 9u);
      var fb0 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>, col_major>(&AB, bOff + 0u, 9u);
      var fb1 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>, col_major>(&AB, bOff + 144u, 9u);
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
      var fa0 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>, row_major>(&AB, aOff + 2u, 9u);
      var fa1 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>, row_major>(&AB, aOff + 146u, 9u);
      var fa2 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>, row_major>(&AB, aOff + 290u, 9u);
      var fa3 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>, row_major>(&AB, aOff + 434u, 9u);
      var fb0 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>, col_major>(&AB, bOff + 2u, 9u);
      var fb1 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>, col_major>(&AB, bOff + 146u, 9u);
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
      var fa0 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>, row_major>(&AB, aOff + 4u, 9u);
      var fa1 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>, row_major>(&AB, aOff + 148u, 9u);
      var fa2 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>, row_major>(&AB, aOff + 292u, 9u);
      var fa3 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>, row_major>(&AB, aOff + 436u, 9u);
      var fb0 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>, col_major>(&AB, bOff + 4u, 9u);
      var fb1 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>, col_major>(&AB, bOff + 148u, 9u);
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
      var fa0 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>, row_major>(&AB, aOff + 6u, 9u);
      var fa1 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>, row_major>(&AB, aOff + 150u, 9u);
      var fa2 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>, row_major>(&AB, aOff + 294u, 9u);
      var fa3 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>, row_major>(&AB, aOff + 438u, 9u);
      var fb0 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>, col_major>(&AB, bOff + 6u, 9u);
      var fb1 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>, col_major>(&AB, bOff + 150u, 9u);
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
        if (c < 1024u) { AB[st * 1152u + (c / 8u) * 9u + c % 8u] = ra0; }
      }
      {
        let c = li + 256u;
        if (c < 1024u) { AB[st * 1152u + (c / 8u) * 9u + c % 8u] = ra1; }
      }
      {
        let c = li + 512u;
        if (c < 1024u) { AB[st * 1152u + (c / 8u) * 9u + c % 8u] = ra2; }
      }
      {
        let c = li + 768u;
        if (c < 1024u) { AB[st * 1152u + (c / 8u) * 9u + c % 8u] = ra3; }
      }
      {
        let c = li + 0u;
        if (c < 1024u) { AB[1152u + st * 1152u + (c / 8u) * 9u + c % 8u] = rb0; }
      }
      {
        let c = li + 256u;
        if (c < 1024u) { AB[1152u + st * 1152u + (c / 8u) * 9u + c % 8u] = rb1; }
      }
      {
        let c = li + 512u;
        if (c < 1024u) { AB[1152u + st * 1152u + (c / 8u) * 9u + c % 8u] = rb2; }
      }
      {
        let c = li + 768u;
        if (c < 1024u) { AB[1152u + st * 1152u + (c / 8u) * 9u + c % 8u] = rb3; }
      }
    }
    workgroupBarrier();
  }
  subgroupMatrixStore<row_major>(&AB, cBase + 0u, acc0_0, 4u);
  subgroupMatrixStore<row_major>(&AB, cBase + 64u, acc0_1, 4u);
  subgroupMatrixStore<row_major>(&AB, cBase + 128u, acc1_0, 4u);
  subgroupMatrixStore<row_major>(&AB, cBase + 192u, acc1_1, 4u);
  workgroupBarrier();
  for (var e = lane; e < 256u; e += 32u) {
    let row = rowBase + 0u + e / 16u;
    let col = colBase + 0u + e % 16u;
    if (row < P.M && col < P.N) { store_out(batch, row, col, bitcast<f32>(AB[cBase + 0u + e / 4u][e % 4u])); }
  }
  for (var e = lane; e < 256u; e += 32u) {
    let row = rowBase + 0u + e / 16u;
    let col = colBase + 16u + e % 16u;
    if (row < P.M && col < P.N) { store_out(batch, row, col, bitcast<f32>(AB[cBase + 64u + e / 4u][e % 4u])); }
  }
  for (var e = lane; e < 256u; e += 32u) {
    let row = rowBase + 16u + e / 16u;
    let col = colBase + 0u + e % 16u;
    if (row < P.M && col < P.N) { store_out(batch, row, col, bitcast<f32>(AB[cBase + 128u + e / 4u][e % 4u])); }
  }
  for (var e = lane; e < 256u; e += 32u) {
    let row = rowBase + 16u + e / 16u;
    let col = colBase + 16u + e % 16u;
    if (row < P.M && col < P.N) { store_out(batch, row, col, bitcast<f32>(AB[cBase + 192u + e / 4u][e % 4u])); }
  }
  workgroupBarrier(); // every lane has read the previous pass
  subgroupMatrixStore<row_major>(&AB, cBase + 0u, acc2_0, 4u);
  subgroupMatrixStore<row_major>(&AB, cBase + 64u, acc2_1, 4u);
  subgroupMatrixStore<row_major>(&AB, cBase + 128u, acc3_0, 4u);
  subgroupMatrixStore<row_major>(&AB, cBase + 192u, acc3_1, 4u);
  workgroupBarrier();
  for (var e = lane; e < 256u; e += 32u) {
    let row = rowBase + 32u + e / 16u;
    let col = colBase + 0u + e % 16u;
    if (row < P.M && col < P.N) { store_out(batch, row, col, bitcast<f32>(AB[cBase + 0u + e / 4u][e % 4u])); }
  }
  for (var e = lane; e < 256u; e += 32u) {
    let row = rowBase + 32u + e / 16u;
    let col = colBase + 16u + e % 16u;
    if (row < P.M && col < P.N) { store_out(batch, row, col, bitcast<f32>(AB[cBase + 64u + e / 4u][e % 4u])); }
  }
  for (var e = lane; e < 256u; e += 32u) {
    let row = rowBase + 48u + e / 16u;
    let col = colBase + 0u + e % 16u;
    if (row < P.M && col < P.N) { store_out(batch, row, col, bitcast<f32>(AB[cBase + 128u + e / 4u][e % 4u])); }
  }
  for (var e = lane; e < 256u; e += 32u) {
    let row = rowBase + 48u + e / 16u;
    let col = colBase + 16u + e % 16u;
    if (row < P.M && col < P.N) { store_out(batch, row, col, bitcast<f32>(AB[cBase + 192u + e / 4u][e % 4u])); }
  }
}
