// CPU-adapter stand-in for the subgroup-matrix builtins, so the tensor-core matmul generator's WGSL can be run
// (and checked against a float64 reference) on lavapipe, which has no subgroup matrices. Used by
// test/kernels/matmul.test.ts (MATMUL_EMULATE) and by bench/matmul-tune.ts --quick (dry run of the sweep).
// Not for GPUs with real subgroup matrices: NVIDIA's driver refuses the emulated shader (VK_ERROR_UNKNOWN, H200).
/**
 * Runs the subgroup-matrix kernel's WGSL on any adapter: each invocation holds whole 16x16 fragments in private
 * arrays and performs every load/multiply/store itself (the lanes of a "subgroup" compute the same values
 * redundantly). Slow, but it checks everything the generator computes - staging offsets, padding, strides,
 * col-major B loads, zero-filled edges, the epilogue's lane loop - on CPU CI, where no subgroup matrix exists.
 * It cannot check the real builtins' semantics; the GPU run of the suite above does.
 */
export function emulateSubgroupMatrix(wgsl: string): string {
  const arrays = new Set<string>();
  let src = wgsl
    .replace('enable chromium_experimental_subgroup_matrix;', '')
    .replace('diagnostic(off, chromium.subgroup_matrix_uniformity);', '')
    // Both spellings (src/gpu/subgroup-matrix-syntax.ts): the deprecated one passes col_major as a bool argument
    // (kept by smLoad_X / smStore_Cs); the current one names it in the template, which picks a wrapper.
    .replace(/subgroupMatrixLoad<subgroup_matrix_(?:left|right)<f16, 16, 16>>\(&(\w+), /g, (_m, arr: string) => {
      arrays.add(arr);
      return `smLoad_${arr}(`;
    })
    .replace(/subgroupMatrixLoad<subgroup_matrix_(?:left|right)<f16, 16, 16>, (row|col)_major>\(&(\w+), /g, (_m, major: string, arr: string) => {
      arrays.add(arr);
      return `smLoad${major === 'col' ? 'C' : 'R'}_${arr}(`;
    })
    .replace(/subgroupMatrixStore\(&Cs, /g, 'smStore_Cs(')
    .replace(/subgroupMatrixStore<(row|col)_major>\(&Cs, /g, (_m, major: string) => `smStore${major === 'col' ? 'C' : 'R'}_Cs(`)
    // vecSmem: f32 results stored as bits into the vec4<u32> staging array (offset/stride count vec4 elements).
    .replace(/subgroupMatrixStore<row_major>\(&AB, /g, 'smStoreR_AB(')
    .replace(/subgroupMatrixMultiplyAccumulate\(/g, 'smMma(')
    .replace(/subgroup_matrix_result<f32, 16, 16>\(\)/g, 'smAcc()');
  if (/subgroup_?[mM]atrix/.test(src)) throw new Error('emulateSubgroupMatrix: a subgroup-matrix construct was left unreplaced (the generator emits a form the emulation does not know)');
  // A fragment value is a slot index into a per-invocation pool (by-value 256-element arrays make lavapipe's
  // compile take minutes). Accumulators get slots 0..15, loaded fragments cycle through slots 16..31.
  // Loop bounds are the uniform P.loopK (= 16) so LLVM does not unroll 16x16x16 loops.
  // Element (r, c) of a fragment lives at off + r*stride + c (row-major) or off + c*stride + r (col-major).
  // An array of vec4<u32> (vecSmem staging) holds 8 halves per element; offset and stride count elements.
  const loads = [...arrays].map((a) => {
    const vec = new RegExp(`var<workgroup> ${a}: array<vec4<u32>,`).test(src);
    const read = vec
      ? `let e = select(off * 8u + r * stride * 8u + c, off * 8u + c * stride * 8u + r, colMajor);
    smPool[s * 256u + r * 16u + c] = f32(bitcast<vec2<f16>>(${a}[e / 8u][(e % 8u) / 2u])[e % 2u]);`
      : `smPool[s * 256u + r * 16u + c] = f32(${a}[select(off + r * stride + c, off + c * stride + r, colMajor)]);`;
    return `fn smLoad_${a}(off: u32, colMajor: bool, stride: u32) -> u32 {
  let s = 16u + smNextTmp; smNextTmp = (smNextTmp + 1u) % 16u;
  let n = P.loopK;
  for (var r = 0u; r < n; r++) { for (var c = 0u; c < n; c++) {
    ${read}
  } }
  return s;
}
fn smLoadR_${a}(off: u32, stride: u32) -> u32 { return smLoad_${a}(off, false, stride); }
fn smLoadC_${a}(off: u32, stride: u32) -> u32 { return smLoad_${a}(off, true, stride); }`;
  });
  src += `
var<private> smPool: array<f32, ${32 * 256}>;
var<private> smNextTmp: u32 = 0u;
var<private> smNextAcc: u32 = 0u;
fn smAcc() -> u32 {
  let s = smNextAcc; smNextAcc += 1u;
  for (var e = 0u; e < 256u; e++) { smPool[s * 256u + e] = 0.0; }
  return s;
}
${loads.join('\n')}
${/var<workgroup> Cs: /.test(src) ? `fn smStore_Cs(off: u32, m: u32, colMajor: bool, stride: u32) {
  let n = P.loopK;
  for (var r = 0u; r < n; r++) { for (var c = 0u; c < n; c++) {
    Cs[select(off + r * stride + c, off + c * stride + r, colMajor)] = smPool[m * 256u + r * 16u + c];
  } }
}
fn smStoreR_Cs(off: u32, m: u32, stride: u32) { smStore_Cs(off, m, false, stride); }
fn smStoreC_Cs(off: u32, m: u32, stride: u32) { smStore_Cs(off, m, true, stride); }` : ''}
${/var<workgroup> AB: array<vec4<u32>,/.test(src) ? `fn smStoreR_AB(off: u32, m: u32, stride: u32) {
  let n = P.loopK;
  for (var r = 0u; r < n; r++) { for (var c = 0u; c < n; c++) {
    let e = off * 4u + r * stride * 4u + c;
    AB[e / 4u][e % 4u] = bitcast<u32>(smPool[m * 256u + r * 16u + c]);
  } }
}` : ''}
fn smMma(a: u32, b: u32, acc: u32) -> u32 {
  let n = P.loopK;
  for (var r = 0u; r < n; r++) { for (var c = 0u; c < n; c++) {
    var s = smPool[acc * 256u + r * 16u + c];
    for (var k = 0u; k < n; k++) { s = fma(smPool[a * 256u + r * 16u + k], smPool[b * 256u + k * 16u + c], s); }
    smPool[acc * 256u + r * 16u + c] = s;
  } }
  return acc;
}
`;
  return src;
}


/**
 * emulateSubgroupMatrix for the int8 (W8A8) kernel: 16x32 i8 left and 32x16 i8 right fragments loaded from the
 * vec4<u32> staging array AB (16 int8 per element; offset and stride count elements), 16x16 i32 results stored
 * back into AB as bits. Values are held as f32 in the pool: exact while |sum| < 2^24, i.e. K <= 1024 at full-scale
 * int8 (tests stay below that).
 */
export function emulateSubgroupMatrixI8(wgsl: string): string {
  let src = wgsl
    .replace('enable chromium_experimental_subgroup_matrix;', '')
    .replace('diagnostic(off, chromium.subgroup_matrix_uniformity);', '')
    .replace(/subgroupMatrixLoad<subgroup_matrix_left<i8, 32, 16>, row_major>\(&AB, /g, 'smLoadL(')
    .replace(/subgroupMatrixLoad<subgroup_matrix_right<i8, 16, 32>, col_major>\(&AB, /g, 'smLoadR(')
    .replace(/subgroupMatrixStore<row_major>\(&AB, /g, 'smStoreR_AB(')
    .replace(/subgroupMatrixMultiplyAccumulate\(/g, 'smMma(')
    .replace(/subgroup_matrix_result<i32, 16, 16>\(\)/g, 'smAcc()');
  if (/subgroup_?[mM]atrix/.test(src)) throw new Error('emulateSubgroupMatrixI8: a subgroup-matrix construct was left unreplaced');
  // Slots of 512 values: accumulators 0..15 (256 used), fragments 16..31 (16x32 left row-major, right stored k-major).
  src += `
var<private> smPool: array<f32, ${32 * 512}>;
var<private> smNextTmp: u32 = 0u;
var<private> smNextAcc: u32 = 0u;
fn smByte(e: u32) -> f32 {
  let w = AB[e / 16u][(e % 16u) / 4u];
  return f32(i32(w << (24u - 8u * (e % 4u))) >> 24u);
}
fn smAcc() -> u32 {
  let s = smNextAcc; smNextAcc += 1u;
  for (var e = 0u; e < 512u; e++) { smPool[s * 512u + e] = 0.0; }
  return s;
}
// left: element (r, k) at byte off*16 + r*stride*16 + k; pool [r][k].
fn smLoadL(off: u32, stride: u32) -> u32 {
  let s = 16u + smNextTmp; smNextTmp = (smNextTmp + 1u) % 16u;
  let n = P.loopK;
  for (var r = 0u; r < n; r++) { for (var k = 0u; k < 2u * n; k++) {
    smPool[s * 512u + r * 32u + k] = smByte(off * 16u + r * stride * 16u + k);
  } }
  return s;
}
// right (col-major): element (k, c) at byte off*16 + c*stride*16 + k; pool [c][k].
fn smLoadR(off: u32, stride: u32) -> u32 {
  let s = 16u + smNextTmp; smNextTmp = (smNextTmp + 1u) % 16u;
  let n = P.loopK;
  for (var c = 0u; c < n; c++) { for (var k = 0u; k < 2u * n; k++) {
    smPool[s * 512u + c * 32u + k] = smByte(off * 16u + c * stride * 16u + k);
  } }
  return s;
}
fn smStoreR_AB(off: u32, m: u32, stride: u32) {
  let n = P.loopK;
  for (var r = 0u; r < n; r++) { for (var c = 0u; c < n; c++) {
    let e = off * 4u + r * stride * 4u + c;
    AB[e / 4u][e % 4u] = bitcast<u32>(i32(smPool[m * 512u + r * 16u + c]));
  } }
}
fn smMma(a: u32, b: u32, acc: u32) -> u32 {
  let n = P.loopK;
  for (var r = 0u; r < n; r++) { for (var c = 0u; c < n; c++) {
    var s = smPool[acc * 512u + r * 16u + c];
    for (var k = 0u; k < 2u * n; k++) { s += smPool[a * 512u + r * 32u + k] * smPool[b * 512u + c * 32u + k]; }
    smPool[acc * 512u + r * 16u + c] = s;
  } }
  return acc;
}
`;
  return src;
}
