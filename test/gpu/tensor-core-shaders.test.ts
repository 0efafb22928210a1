// Every tensor-core shader the generators emit compiles with no Tint message at all (issue 7: "the GPU
// machine's doctor, parity and bench model print no compiler warnings"; before, each printed ~30 "use of
// deprecated builtin"). Dawn's Null backend offers 'chromium-experimental-subgroup-matrix' without hardware and
// runs the same WGSL front end as the GPU, so this runs on any machine, lavapipe CI included. Compile only (the
// Null device runs nothing); the GPU suites check the results.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { splitCombineWgsl, subgroupMatrixAttentionWgsl, subgroupMatrixTiles } from '../../src/kernels-wgsl/attention-subgroup-matrix.wgsl.js';
import { F16_LINEAR_SPEC } from '../../src/kernels-wgsl/matmul-epilogue.wgsl.js';
import { subgroupMatrixMatmulWgsl, type SgTiling } from '../../src/kernels-wgsl/matmul-subgroup-matrix.wgsl.js';
import { defaultI8Tiling, defaultSgTiling } from '../../src/kernels-wgsl/matmul.js';
import { compilerMessages, openNullSubgroupMatrixDevice, type NullDevice } from '../helpers/null-device.js';

let nul: NullDevice;
beforeAll(async () => {
  nul = await openNullSubgroupMatrixDevice();
});
afterAll(() => nul?.device.destroy());

/** Every message (error, warning, info) Tint gives for the shader, with its line. */
async function messages(code: string): Promise<string[]> {
  return [...(await compilerMessages(nul.device, code))].map((m) => `${m.type} at line ${m.lineNum}: ${m.message} | ${code.split('\n')[m.lineNum - 1]?.trim()}`);
}

const GEMM = F16_LINEAR_SPEC;

describe('matmul (subgroup-matrix generator)', () => {
  const d = defaultSgTiling(32);
  const cases: [string, Parameters<typeof subgroupMatrixMatmulWgsl>[0], SgTiling][] = [
    ['default tiling, B [N, K]', GEMM, d],
    ['B [K, N]', { ...GEMM, bLayout: 'kn' }, d],
    ['K step 32, two stages', GEMM, { ...d, bk: 32, stages: 2 }],
    ['stageA (B fragments from storage)', { ...GEMM, vecB: false }, { ...d, staging: 'stageA' }],
    ['direct loads', { ...GEMM, vecA: false, vecB: false }, { ...d, staging: 'direct' }],
    ['split-K, f32 partials', { ...GEMM, outType: 'f32' }, { ...d, splitK: 2 }],
    ['subgroup size 64', GEMM, defaultSgTiling(64)],
    ['vec4<u32> staging arrays', GEMM, { ...d, vecSmem: true }],
    ['vec4<u32> staging arrays, B [K, N], two stages', { ...GEMM, bLayout: 'kn' }, { ...d, bk: 32, stages: 2, vecSmem: true }],
    ['vec4<u32> staging arrays, stageA', { ...GEMM, vecB: false }, { ...d, staging: 'stageA', vecSmem: true }],
    ['vec4<u32> staging arrays, K step 80', GEMM, { ...d, bk: 80, vecSmem: true }],
    ['vec4<u32> staging arrays, 128x256 tile, K step 48', GEMM, { ...d, fragN: 4, bk: 48, vecSmem: true }],
    ['rolled K sub-steps', GEMM, { ...d, vecSmem: true, rollK: true }],
    ['rolled K sub-steps without register prefetch', GEMM, { ...d, vecSmem: true, stages: 1, rollK: true, prefetch: false }],
    ['no register prefetch, stageA', { ...GEMM, vecB: false }, { ...d, staging: 'stageA', vecSmem: true, stages: 1, prefetch: false }],
    ['register prefetch two K steps ahead', GEMM, { ...d, vecSmem: true, stages: 1, prefetchDepth: 2 }],
    ['straight-line K loop (branchFree)', GEMM, { ...d, vecSmem: true, stages: 1, branchFree: true }],
    ['straight-line K loop, two sub-steps per rolled iteration', GEMM, { ...d, vecSmem: true, stages: 1, branchFree: true, rollK: true, rollKStep: 2 }],
    ['straight-line K loop, B [K, N], two stages', { ...GEMM, bLayout: 'kn' }, { ...d, bk: 32, stages: 2, vecSmem: true, branchFree: true }],
    ['straight-line K loop, 16 subgroups (a last chunk past the end)', GEMM, { ...d, sgM: 4, sgN: 4, bk: 48, stages: 1, vecSmem: true, branchFree: true }],
    ['register prefetch two K steps ahead, f16 arrays, stageA', { ...GEMM, vecB: false }, { ...d, staging: 'stageA', stages: 1, prefetchDepth: 2 }],
  ];
  for (const [name, spec, t] of cases) {
    it(`${name}: no compiler message`, async () => {
      expect(await messages(subgroupMatrixMatmulWgsl(spec, t))).toEqual([]);
    });
  }
});

describe('matmul ablations (timing only): every one keeps the 7 bindings of a GEMM', () => {
  // Without global loads A and B dropped out of the automatic layout and the bind group could not be made: the first
  // H200 runs of 'no-global' aborted the process on it. Small tiling: the Null device allows 16 KiB of workgroup memory.
  const t: SgTiling = { sgM: 2, sgN: 2, fragM: 1, fragN: 1, bk: 16, staging: 'staged', stages: 1, groupM: 8, subgroupSize: 32, vecSmem: true };
  for (const ablate of ['no-global', 'no-stage', 'no-barrier', 'mma-only'] as const) {
    it(`${ablate}: pipeline and a bind group of bindings 0-6`, async () => {
      const device = nul.device;
      device.pushErrorScope('validation');
      const module = device.createShaderModule({ code: subgroupMatrixMatmulWgsl(GEMM, t, { ablate }) });
      const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
      const buf = (usage: number) => device.createBuffer({ size: 256, usage });
      const [UNIFORM, STORAGE] = [0x40, 0x80]; // GPUBufferUsage (the Null-device helper sets no WebGPU globals)
      device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: [buf(UNIFORM), ...Array.from({ length: 6 }, () => buf(STORAGE))].map((buffer, binding) => ({ binding, resource: { buffer } })),
      });
      expect((await device.popErrorScope())?.message ?? null).toBeNull();
    });
  }
});

describe('int8 matmul (W8A8, subgroup-matrix generator)', () => {
  const I8 = { ...GEMM, aType: 'u32', bType: 'u32' } as const;
  const small: SgTiling = { sgM: 2, sgN: 2, fragM: 1, fragN: 1, bk: 32, staging: 'staged', stages: 1, groupM: 8, subgroupSize: 32, vecSmem: true, pad: 16 };
  it('default int8 tiling: no compiler message', async () => {
    expect(await messages(subgroupMatrixMatmulWgsl(I8, defaultI8Tiling(32), { int8: true }))).toEqual([]);
  });
  it('small tiling, 2x2 fragments, f32 out: no message; pipeline and a bind group of bindings 0-8', async () => {
    for (const t of [small, { ...small, fragM: 2, fragN: 2, bk: 64 }, { ...small, rollK: true, prefetch: false }, { ...small, prefetchDepth: 2 as const }, { ...small, branchFree: true }]) expect(await messages(subgroupMatrixMatmulWgsl({ ...I8, outType: 'f32' }, t, { int8: true }))).toEqual([]);
    const device = nul.device;
    device.pushErrorScope('validation');
    const module = device.createShaderModule({ code: subgroupMatrixMatmulWgsl(I8, small, { int8: true }) });
    const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    const buf = (usage: number) => device.createBuffer({ size: 256, usage });
    device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [buf(0x40), ...Array.from({ length: 8 }, () => buf(0x80))].map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
    expect((await device.popErrorScope())?.message ?? null).toBeNull();
  });
  it('refuses what the int8 kernel cannot do', () => {
    expect(() => subgroupMatrixMatmulWgsl(I8, { ...small, bk: 48 }, { int8: true })).toThrow(/multiple of 32/);
    expect(() => subgroupMatrixMatmulWgsl(I8, { ...small, vecSmem: false }, { int8: true })).toThrow(/vecSmem/);
    expect(() => subgroupMatrixMatmulWgsl({ ...I8, bLayout: 'kn' }, small, { int8: true })).toThrow(/\[N, K\]/);
  });
});

describe('attention (subgroup-matrix generator)', () => {
  const v = { D: 128, hasBias: false, causal: false, hasKvLength: false, hasLse: false };
  const cases: [string, typeof v, Parameters<typeof subgroupMatrixTiles>[3]][] = [
    ['D 128, staged', v, {}],
    ['D 64, staged', { ...v, D: 64 }, {}],
    ['direct K/V loads', v, { kvLoad: 'direct' }],
    ['shuffle reduce', v, { reduce: 'shuffle' }],
    ['split-KV', { ...v, hasLse: true }, { splits: 4 }],
    ['vec4<u32> staged Q/K/V', v, { vecKv: true, reduce: 'shuffle' }],
    ['vec4<u32> staged V (direct-k)', v, { vecKv: true, kvLoad: 'direct-k' }],
    ['vec4<u32> staged Q/K/V, D 64', { ...v, D: 64 }, { vecKv: true, NSG: 8, BKV: 32 }],
    ['vec4 score/probability scratch', v, { vecKv: true, vecScratch: true, NSG: 8, BKV: 32 }],
    ['vec4 scratch, causal + bias + kvLength + lse, BKV 64', { ...v, causal: true, hasBias: true, hasKvLength: true, hasLse: true }, { vecScratch: true, BKV: 64 }],
    ['K/V prefetch, shuffle + vec4 scratch', v, { vecKv: true, vecScratch: true, prefetch: true, reduce: 'shuffle' }],
    ['K/V prefetch, D 64, 8 subgroups, causal + bias + kvLength + lse', { ...v, D: 64, causal: true, hasBias: true, hasKvLength: true, hasLse: true }, { vecKv: true, prefetch: true, NSG: 8, BKV: 32 }],
    ['K/V prefetch, split-KV, 8 subgroups of BKV 16 (4-phase Q staging)', { ...v, hasLse: true }, { vecKv: true, prefetch: true, NSG: 8, BKV: 16, splits: 3 }],
    ['paired subgroups (V shared), the D 128 table row', v, { NSG: 8, BKV: 32, reduce: 'shuffle', vecKv: true, vecScratch: true, prefetch: true, interleave: true, vecOut: true, pairRows: 'v' }],
    ['paired subgroups (K and V shared), the D 128 table row', v, { NSG: 8, BKV: 32, reduce: 'shuffle', vecKv: true, vecScratch: true, prefetch: true, interleave: true, vecOut: true, pairRows: 'kv' }],
    ['paired subgroups (K and V shared), D 64 BKV 64, causal + bias + kvLength + lse, scalar scratch', { ...v, D: 64, causal: true, hasBias: true, hasKvLength: true, hasLse: true }, { NSG: 4, BKV: 64, pairRows: 'kv' }],
    ['paired subgroups (V shared), split-KV, f16 staging', { ...v, hasLse: true }, { NSG: 4, BKV: 32, splits: 3, pairRows: 'v' }],
  ];
  for (const [name, variant, tiles] of cases) {
    it(`${name}: no compiler message`, async () => {
      const t = subgroupMatrixTiles(variant.D, 32, 65536, tiles);
      expect(await messages(subgroupMatrixAttentionWgsl(variant, t))).toEqual([]);
    });
  }
  it('split combine: no compiler message', async () => {
    expect(await messages(splitCombineWgsl(128, 4, true))).toEqual([]);
  });
});
