// The per-device tile table's lookup (no GPU needed): which entry matches an adapter, which measured shape a GEMM
// takes its tiling from, what is refused (limits, split-K for single-dispatch callers), the environment override,
// and the generator's tiling checks / workgroup-memory arithmetic the tuner relies on.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GpuCaps } from '../../src/gpu/context.js';
import { activeTileTable, defaultSgTiling, tableTiling, tileTableEntry, TILE_TABLE_ENV, type TileTable } from '../../src/kernels-wgsl/matmul.js';
import { F16_LINEAR_SPEC } from '../../src/kernels-wgsl/matmul-epilogue.wgsl.js';
import { sgTilingProblem, sgWorkgroupBytes, subgroupMatrixMatmulWgsl, type SgTiling } from '../../src/kernels-wgsl/matmul-subgroup-matrix.wgsl.js';
import { TILE_TABLE } from '../../src/kernels-wgsl/matmul-tile-table.js';

function caps(over: Partial<GpuCaps> = {}): GpuCaps {
  return {
    adapterName: 'NVIDIA H200', vendor: 'nvidia', architecture: 'hopper', subgroupMinSize: 32, subgroupMaxSize: 32,
    limits: { maxComputeWorkgroupStorageSize: 49152, maxComputeInvocationsPerWorkgroup: 1024 },
    ...over,
  } as unknown as GpuCaps;
}

const T = (over: Partial<Omit<SgTiling, 'subgroupSize'>> = {}) =>
  ({ sgM: 2, sgN: 4, fragM: 4, fragN: 2, bk: 64, staging: 'staged' as const, stages: 1 as const, groupM: 8, ...over });

const table: TileTable = {
  version: 1,
  entries: [
    { device: { vendor: 'nvidia' }, subgroupSize: 32, default: T({ bk: 32 }), shapes: [] },
    {
      device: { vendor: 'NVIDIA', architecture: 'hopper', description: 'H200' }, subgroupSize: 32, default: T({ groupM: 16 }),
      shapes: [
        { M: 4608, N: 3072, K: 3072, tiling: T({ staging: 'stageA', stages: 2 }) },
        { M: 4608, N: 12288, K: 3072, tiling: T({ sgM: 4, sgN: 4, fragM: 2, bk: 32 }) },
        { M: 1536, N: 3072, K: 3072, tiling: T({ sgM: 2, sgN: 2, fragM: 2 }), split: { tiling: T({ bk: 32, stages: 2, splitK: 2 }) } },
      ],
    },
    { device: { vendor: 'amd' }, subgroupSize: 64, default: T({ groupM: 2 }), shapes: [] },
  ],
};

describe('matmul tile table lookup', () => {
  afterEach(() => {
    delete process.env[TILE_TABLE_ENV];
  });

  it('picks the most specific matching entry; vendor and subgroup size must match', () => {
    expect(tileTableEntry(caps(), table)?.default?.groupM).toBe(16);
    // Another NVIDIA card: only the vendor-wide entry matches.
    expect(tileTableEntry(caps({ adapterName: 'NVIDIA H100 80GB HBM3' }), table)?.default?.bk).toBe(32);
    expect(tileTableEntry(caps({ architecture: 'ampere' }), table)?.default?.bk).toBe(32);
    expect(tileTableEntry(caps({ vendor: 'intel' }), table)).toBeNull();
    expect(tileTableEntry(caps({ vendor: 'amd', subgroupMaxSize: 32 }), table)).toBeNull();
    expect(tileTableEntry(caps(), null)).toBeNull();
  });

  it('nearest measured shape within the radius, else the entry default; subgroup size filled in', () => {
    const c = caps();
    expect(tableTiling(c, 4608, 3072, 3072, false, table)).toMatchObject({ staging: 'stageA', stages: 2, subgroupSize: 32 });
    expect(tableTiling(c, 4608, 9216, 3072, false, table)).toMatchObject({ sgM: 4, sgN: 4 }); // N 9216 nearer 12288
    expect(tableTiling(c, 4096, 3072, 3072, false, table)).toMatchObject({ staging: 'stageA' });
    expect(tableTiling(c, 1536, 3072, 3072, false, table)).toMatchObject({ sgN: 2, fragM: 2 });
    // Far from every shape (K = 64, M = 64): the entry's default.
    expect(tableTiling(c, 64, 3072, 64, false, table)).toMatchObject({ groupM: 16, subgroupSize: 32 });
  });

  it('split-K winners only for callers that can run two dispatches', () => {
    expect(tableTiling(caps(), 1536, 3072, 3072, true, table)).toMatchObject({ splitK: 2, bk: 32 });
    expect(tableTiling(caps(), 1536, 3072, 3072, false, table)?.splitK).toBeUndefined();
  });

  it('refuses tilings over the adapter limits (then the built-in default applies)', () => {
    const small = caps({ limits: { maxComputeWorkgroupStorageSize: 32768, maxComputeInvocationsPerWorkgroup: 1024 } } as Partial<GpuCaps>);
    expect(tableTiling(small, 4608, 3072, 3072, false, table)).toBeNull(); // 36 KiB A + 8 KiB scratch > 32 KiB
    const few = caps({ limits: { maxComputeWorkgroupStorageSize: 49152, maxComputeInvocationsPerWorkgroup: 256 } } as Partial<GpuCaps>);
    expect(tableTiling(few, 4608, 12288, 3072, false, table)).toBeNull(); // 16 subgroups = 512 invocations
  });

  it('DIT_MATMUL_TILE_TABLE replaces the committed table; off disables it; a bad file names the variable', () => {
    expect(activeTileTable()).toBe(TILE_TABLE);
    const dir = mkdtempSync(join(tmpdir(), 'tile-table-'));
    const file = join(dir, 't.json');
    writeFileSync(file, JSON.stringify(table));
    process.env[TILE_TABLE_ENV] = file;
    expect(activeTileTable()?.entries.length).toBe(3);
    expect(tableTiling(caps(), 4608, 3072, 3072)).toMatchObject({ staging: 'stageA' });
    process.env[TILE_TABLE_ENV] = 'off';
    expect(activeTileTable()).toBeNull();
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"entries": 3}');
    process.env[TILE_TABLE_ENV] = bad;
    expect(() => activeTileTable()).toThrow(/DIT_MATMUL_TILE_TABLE=.*not a tile table/);
    process.env[TILE_TABLE_ENV] = join(dir, 'missing.json');
    expect(() => activeTileTable()).toThrow(/DIT_MATMUL_TILE_TABLE=.*cannot read/);
  });
});

describe('subgroup-matrix generator: tiling checks and workgroup memory', () => {
  const spec = F16_LINEAR_SPEC;

  it('the default still fits 48 KiB; stageA halves the staged bytes; padding is counted', () => {
    // vec4<u32> staging (the default): the epilogue reuses the staging array, no separate 8 KiB scratch.
    expect(sgWorkgroupBytes(defaultSgTiling(32), 'nk')).toBe((128 * 72 + 128 * 72) * 2);
    expect(sgWorkgroupBytes({ ...defaultSgTiling(32), bk: 80 }, 'nk')).toBe((128 * 88 + 128 * 88) * 2);
    expect(sgWorkgroupBytes({ ...defaultSgTiling(32), bk: 16, pad: 0, sgM: 4, sgN: 4, fragM: 1, fragN: 1 }, 'nk')).toBe(16 * 1024); // scratch bound
    const d = { ...defaultSgTiling(32), vecSmem: false };
    expect(sgWorkgroupBytes(d, 'nk')).toBe((128 * 72 + 128 * 72) * 2 + 8 * 1024);
    expect(sgWorkgroupBytes({ ...d, staging: 'stageA', stages: 2 }, 'nk')).toBe(2 * 128 * 72 * 2 + 8 * 1024);
    expect(sgWorkgroupBytes({ ...d, pad: 0 }, 'nk')).toBe((128 * 64 + 128 * 64) * 2 + 8 * 1024);
    expect(sgWorkgroupBytes({ ...d, staging: 'direct' }, 'nk')).toBe(8 * 1024);
  });

  it('names a bad parameter', () => {
    const d = defaultSgTiling(32);
    expect(sgTilingProblem(d)).toBeNull();
    expect(sgTilingProblem({ ...d, bk: 24 })).toMatch(/bk=24/);
    expect(sgTilingProblem({ ...d, pad: 4 })).toMatch(/pad=4/);
    expect(sgTilingProblem({ ...d, splitK: 0 })).toMatch(/splitK=0/);
    expect(sgTilingProblem({ ...d, staging: 'async' as never })).toMatch(/staging 'async'/);
    expect(() => subgroupMatrixMatmulWgsl(spec, { ...d, staging: 'stageA' })).toThrow(/stageA.*f16 \(not vec4\)/);
    expect(() => subgroupMatrixMatmulWgsl({ ...spec, vecB: false }, { ...d, staging: 'stageA' }, { bLoader: { name: 'x', decls: '', fn: 'f' } }))
      .toThrow(/B loader.*staged/);
  });

  it('vec4 staging: one array for A, B and the epilogue, 16-byte chunk stores, fragment offsets in 8-half units', () => {
    const w = subgroupMatrixMatmulWgsl(spec, defaultSgTiling(32));
    expect(w).toContain('var<workgroup> AB: array<vec4<u32>, 2304>');
    expect(w).not.toContain('var<workgroup> Cs');
    expect(w).toContain('AB[1152u + st * 1152u + (c / 8u) * 9u + c % 8u] = rb0;'); // B after A's 128 x 72 halves
    expect(w).toContain('subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>, row_major>(&AB, aOff + 2u, 9u)'); // k 16, pitch 72
    expect(w.match(/subgroupMatrixStore<row_major>\(&AB, cBase \+ \d+u, acc\d_\d, 4u\)/g)).toHaveLength(8);
    expect(w.match(/workgroupBarrier\(\);/g)!.length).toBe(1 + 2 + 3); // after the prologue, loop (1 stage: 2), epilogue (2 passes: 3; was 16)
    // 'direct' has no staging arrays: vecSmem is ignored there.
    expect(subgroupMatrixMatmulWgsl({ ...spec, vecA: false, vecB: false }, { ...defaultSgTiling(32), staging: 'direct' })).toContain('var<workgroup> Cs');
  });

  it('stageA declares no B staging array; split-K reads its K range from wid.z', () => {
    const d = { ...defaultSgTiling(32), vecSmem: false };
    const a = subgroupMatrixMatmulWgsl({ ...spec, vecB: false }, { ...d, staging: 'stageA' });
    expect(a).toContain('var<workgroup> As');
    expect(a).not.toContain('var<workgroup> Bs');
    expect(a).toContain('subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>, col_major>(&B,');
    const s = subgroupMatrixMatmulWgsl({ ...spec, outType: 'f32' }, { ...d, splitK: 2 });
    expect(s).toContain('let kBegin = wid.z * P.kSplit;');
    expect(subgroupMatrixMatmulWgsl(spec, d)).toContain('let kBegin = 0u;');
  });
});
