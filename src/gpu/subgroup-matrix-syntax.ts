// How this device's WGSL compiler wants the subgroup-matrix load/store builtins spelled. The one place the
// spelling lives: generators call sgLoad/sgStore with the device's `caps.subgroupMatrixSyntax`.
//
// Tint changed the builtins (Dawn commits d2749d8 "Relaxed subgroupMatrixLoad/Store array requirements",
// 2026-08-11, and c7028f0 "[wgsl] Mark deprecated builtins", 2026-08-19; src/tint/lang/wgsl/wgsl.def, section
// "subgroup matrix"): the majorness moved from a `col_major: bool` argument into a template parameter.
//   deprecated ('bool-argument'):       subgroupMatrixLoad<T>(p, offset, col_major_bool, stride)
//                                        subgroupMatrixStore(p, offset, value, col_major_bool, stride)
//   current    ('majorness-template'):  subgroupMatrixLoad<T, col_major|row_major>(p, offset, stride)
//                                        subgroupMatrixStore<col_major|row_major>(p, offset, value, stride)
// The Dawn in webgpu 0.6.2 accepts both but warns "use of deprecated builtin" for every call of the old form
// (~30 per tensor-core shader on the H200). An older Dawn knows only the old form, so GpuContext.open asks the
// device (probeSubgroupMatrixSyntax) instead of assuming; the answer is cached in its caps.
import { quietDawnStdout } from './native-output.js';

export type SubgroupMatrixSyntax = 'majorness-template' | 'bool-argument';

/** What the pinned Dawn (webgpu 0.6.2) wants; used where no device was asked (generators called on their own). */
export const DEFAULT_SUBGROUP_MATRIX_SYNTAX: SubgroupMatrixSyntax = 'majorness-template';

/**
 * WGSL for a subgroup-matrix load: `type` is the matrix type (e.g. `subgroup_matrix_left<f16, 16, 16>`), `ptr`
 * the pointer expression (e.g. `&As`), `offset` and `stride` WGSL expressions in array elements, `colMajor`
 * whether element (r, c) is at offset + c*stride + r (else offset + r*stride + c).
 */
export function sgLoad(type: string, ptr: string, offset: string, colMajor: boolean, stride: string, syntax: SubgroupMatrixSyntax = DEFAULT_SUBGROUP_MATRIX_SYNTAX): string {
  return syntax === 'majorness-template'
    ? `subgroupMatrixLoad<${type}, ${colMajor ? 'col_major' : 'row_major'}>(${ptr}, ${offset}, ${stride})`
    : `subgroupMatrixLoad<${type}>(${ptr}, ${offset}, ${colMajor}, ${stride})`;
}

/** WGSL for a subgroup-matrix store of `value` (same conventions as sgLoad). */
export function sgStore(ptr: string, offset: string, value: string, colMajor: boolean, stride: string, syntax: SubgroupMatrixSyntax = DEFAULT_SUBGROUP_MATRIX_SYNTAX): string {
  return syntax === 'majorness-template'
    ? `subgroupMatrixStore<${colMajor ? 'col_major' : 'row_major'}>(${ptr}, ${offset}, ${value}, ${stride})`
    : `subgroupMatrixStore(${ptr}, ${offset}, ${value}, ${colMajor}, ${stride})`;
}

/** A minimal shader using one load of each kind and a store, in the given spelling. */
export function syntaxProbeWgsl(syntax: SubgroupMatrixSyntax): string {
  const L = 'subgroup_matrix_left<f16, 16, 16>';
  const R = 'subgroup_matrix_right<f16, 16, 16>';
  return `enable f16;
enable chromium_experimental_subgroup_matrix;
@group(0) @binding(0) var<storage, read> src: array<f16>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
var<workgroup> tile: array<f16, 256>;
@compute @workgroup_size(128)
fn main() {
  let a = ${sgLoad(L, '&src', '0u', false, '16u', syntax)};
  let b = ${sgLoad(R, '&tile', '0u', true, '16u', syntax)};
  let c = subgroupMatrixMultiplyAccumulate(a, b, subgroup_matrix_result<f32, 16, 16>());
  ${sgStore('&dst', '0u', 'c', false, '16u', syntax)};
}
`;
}

/** Errors and warnings Tint reports for `code` on this device (compiled only; no pipeline is made). */
async function compileMessages(device: GPUDevice, label: string, code: string): Promise<GPUCompilationMessage[]> {
  device.pushErrorScope('validation');
  const module = quietDawnStdout(() => device.createShaderModule({ label, code }));
  const info = await module.getCompilationInfo();
  await device.popErrorScope();
  return [...info.messages].filter((m) => m.type === 'error' || m.type === 'warning');
}

/**
 * Which spelling this device's compiler takes without a message: the current one when it compiles cleanly, else
 * the deprecated one when that compiles, else the current one (whatever breaks then reports its own error).
 * Needs a device created with 'chromium-experimental-subgroup-matrix'. Messages go to --debug.
 */
export async function probeSubgroupMatrixSyntax(device: GPUDevice): Promise<SubgroupMatrixSyntax> {
  const debug = process.env.DIT_DEBUG === '1';
  for (const syntax of ['majorness-template', 'bool-argument'] as const) {
    const msgs = await compileMessages(device, `subgroup-matrix-syntax-probe-${syntax}`, syntaxProbeWgsl(syntax));
    if (debug && msgs.length) {
      console.error(`[gpu] subgroup-matrix spelling '${syntax}': ${msgs.map((m) => `${m.type}: ${m.message}`).join('; ')}`);
    }
    if (!msgs.length) return syntax;
  }
  return DEFAULT_SUBGROUP_MATRIX_SYNTAX;
}
