// The int8 tile table's lookup (no GPU needed): int8Tiling takes the W8A8 linears' tensor-core tiling from the
// int8 table entry matching the adapter (measured shape, else the nearest one, else the entry default; split-K
// entries included), checks it against the int8 kernel and the adapter's limits, and falls back to the built-in
// rule without an entry; DIT_MATMUL_I8_TILE_TABLE replaces the committed table ('off': built-in rule).
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GpuCaps } from '../../src/gpu/context.js';
import {
  activeI8TileTable, builtinI8Tiling, defaultI8Tiling, I8_TILE_TABLE_ENV, int8Tiling, TILE_TABLE_ENV, type SgTiling, type TileTable,
} from '../../src/kernels-wgsl/matmul.js';
import { sgWorkgroupBytes } from '../../src/kernels-wgsl/matmul-subgroup-matrix.wgsl.js';
import { I8_TILE_TABLE } from '../../src/kernels-wgsl/matmul-i8-tile-table.js';

function caps(over: Partial<GpuCaps> = {}): GpuCaps {
  return {
    adapterName: 'NVIDIA H200', vendor: 'nvidia', architecture: 'hopper', subgroupMinSize: 32, subgroupMaxSize: 32,
    limits: { maxComputeWorkgroupStorageSize: 49152, maxComputeInvocationsPerWorkgroup: 1024 },
    ...over,
  } as unknown as GpuCaps;
}

/** An int8 tiling as the sweep writes it (no subgroup size): the built-in default's with changes. */
const T = (over: Partial<Omit<SgTiling, 'subgroupSize'>> = {}) => {
  const { subgroupSize: _sg, ...base } = defaultI8Tiling(32);
  return { ...base, ...over };
};

// A fake NVIDIA entry: 128x128 bk160 (45056 bytes as int8; 90112 if counted as f16) at the 1024² MLP up,
// 64x128 at the 512-row proj, a split-K winner at the 512² MLP down; default groupM 16.
const table: TileTable = {
  version: 1,
  entries: [
    {
      device: { vendor: 'nvidia' }, subgroupSize: 32, default: T({ groupM: 16 }),
      shapes: [
        { M: 4608, N: 12288, K: 3072, tiling: T({ bk: 160 }), tflops: 380, defaultTflops: 348 },
        { M: 512, N: 3072, K: 3072, tiling: T({ fragM: 2, fragN: 2, bk: 96 }) },
        { M: 1536, N: 3072, K: 12288, tiling: T({ bk: 64, stages: 2 }), split: { tiling: T({ splitK: 2 }) } },
      ],
    },
    { device: { vendor: 'amd' }, subgroupSize: 64, default: T({ groupM: 4 }), shapes: [] },
  ],
};

describe('int8 tile table lookup (int8Tiling)', () => {
  afterEach(() => {
    delete process.env[I8_TILE_TABLE_ENV];
    delete process.env[TILE_TABLE_ENV];
  });

  it('a measured shape takes its measured tiling (int8 workgroup bytes: 45 KiB fits), with the subgroup size filled in', () => {
    const t = int8Tiling(caps(), 4608, 12288, 3072, table);
    expect(t).toEqual({ ...T({ bk: 160 }), subgroupSize: 32 });
    expect(sgWorkgroupBytes(t, 'nk', 1)).toBe(2 * 128 * (160 + 16));
  });

  it('other shapes take the nearest measured one within the radius, else the entry default', () => {
    expect(int8Tiling(caps(), 4608, 9216, 3072, table)).toMatchObject({ bk: 160 }); // N 9216 nearest 12288
    expect(int8Tiling(caps(), 1024, 3072, 3072, table)).toMatchObject({ fragM: 2, fragN: 2, bk: 96 }); // M 1024 vs 512: 1 octave
    expect(int8Tiling(caps(), 300, 64, 3072, table)).toMatchObject({ groupM: 16, bk: 128, fragM: 4 }); // far from all: default
  });

  it('split-K entries are used (linearI8Calls may return two dispatches)', () => {
    expect(int8Tiling(caps(), 1536, 3072, 12288, table)).toMatchObject({ splitK: 2 });
    expect(int8Tiling(caps(), 1536, 3072, 15360, table)).toMatchObject({ splitK: 2 }); // nearest: the 512² MLP down
  });

  it('no matching entry: the built-in rule (128x128 bk128; 256x128 4x4 fragments bk96 at M >= 4096, N >= 9216)', () => {
    const base = defaultI8Tiling(32);
    for (const c of [caps({ vendor: 'intel' }), caps({ subgroupMinSize: 64, subgroupMaxSize: 64 })]) {
      expect(int8Tiling(c, 1536, 3072, 3072, table)).toEqual(c.subgroupMaxSize === 64 ? defaultI8Tiling(64) : base);
    }
    expect(int8Tiling(caps(), 1536, 3072, 3072, null)).toEqual(base);
    expect(int8Tiling(caps(), 1536, 3072, 3072, { version: 1, entries: [] })).toEqual(base);
    expect(int8Tiling(caps(), 4608, 12288, 3072, null)).toEqual({ ...base, sgM: 4, sgN: 2, fragM: 4, fragN: 4, bk: 96 });
    expect(int8Tiling(caps(), 4608, 12288, 3072, null)).toEqual(builtinI8Tiling(32, 4608, 12288));
  });

  it("an entry tiling the int8 kernel or the adapter cannot take: the built-in rule", () => {
    const one = (tiling: ReturnType<typeof T>): TileTable => ({ version: 1, entries: [{ device: { vendor: 'nvidia' }, subgroupSize: 32, shapes: [{ M: 1536, N: 3072, K: 3072, tiling }] }] });
    const base = defaultI8Tiling(32);
    expect(int8Tiling(caps(), 1536, 3072, 3072, one(T({ bk: 192 })))).toEqual(base); // 53248 bytes > 48 KiB
    expect(int8Tiling(caps(), 1536, 3072, 3072, one(T({ bk: 48 })))).toEqual(base); // not a multiple of the i8 fragment's K
    expect(int8Tiling(caps(), 1536, 3072, 3072, one(T({ staging: 'stageA' })))).toEqual(base); // int8 is staged only
    expect(int8Tiling(caps(), 1536, 3072, 3072, one(T({ vecSmem: false })))).toEqual(base);
    const small = caps({ limits: { maxComputeWorkgroupStorageSize: 32768, maxComputeInvocationsPerWorkgroup: 1024 } } as Partial<GpuCaps>);
    expect(int8Tiling(small, 1536, 3072, 3072, one(T()))).toEqual(base); // 36 KiB > 32 KiB
  });

  it('DIT_MATMUL_I8_TILE_TABLE replaces the committed table; off gives the built-in rule; the f16 variable does not touch it', () => {
    expect(activeI8TileTable()).toBe(I8_TILE_TABLE);
    const dir = mkdtempSync(join(tmpdir(), 'i8-tile-table-'));
    const file = join(dir, 'int8-tile-table.json');
    writeFileSync(file, JSON.stringify(table));
    process.env[I8_TILE_TABLE_ENV] = file;
    expect(activeI8TileTable()?.entries.length).toBe(2);
    expect(int8Tiling(caps(), 4608, 12288, 3072)).toMatchObject({ bk: 160 });
    process.env[TILE_TABLE_ENV] = 'off'; // the f16 table's switch
    expect(int8Tiling(caps(), 4608, 12288, 3072)).toMatchObject({ bk: 160 });
    process.env[I8_TILE_TABLE_ENV] = 'off';
    expect(activeI8TileTable()).toBeNull();
    expect(int8Tiling(caps(), 4608, 12288, 3072)).toEqual(builtinI8Tiling(32, 4608, 12288));
    expect(int8Tiling(caps(), 1536, 3072, 12288)).toEqual(defaultI8Tiling(32));
  });

  it('a malformed DIT_MATMUL_I8_TILE_TABLE file: an error naming the variable, the file and the fix', () => {
    const dir = mkdtempSync(join(tmpdir(), 'i8-tile-table-'));
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"entries": 3}');
    process.env[I8_TILE_TABLE_ENV] = bad;
    const fix = /int8-tile-table\.json written by bench\/int8-gemm\.ts --sweep \(or 'off'/;
    expect(() => int8Tiling(caps(), 1536, 3072, 3072)).toThrow(/^DIT_MATMUL_I8_TILE_TABLE=.*bad\.json: not a tile table/);
    expect(() => int8Tiling(caps(), 1536, 3072, 3072)).toThrow(fix);
    const badEntry = join(dir, 'bad-entry.json');
    writeFileSync(badEntry, JSON.stringify({ version: 1, entries: [{ device: 'nvidia', shapes: [] }] }));
    process.env[I8_TILE_TABLE_ENV] = badEntry;
    expect(() => activeI8TileTable()).toThrow(/DIT_MATMUL_I8_TILE_TABLE=.*entry 0 is not a tile-table entry/);
    process.env[I8_TILE_TABLE_ENV] = join(dir, 'missing.json');
    expect(() => activeI8TileTable()).toThrow(/DIT_MATMUL_I8_TILE_TABLE=.*cannot read an int8 tile table/);
    expect(() => activeI8TileTable()).toThrow(fix);
    writeFileSync(join(dir, 'not-json.json'), '{ version: 1');
    process.env[I8_TILE_TABLE_ENV] = join(dir, 'not-json.json');
    expect(() => activeI8TileTable()).toThrow(/DIT_MATMUL_I8_TILE_TABLE=.*cannot read/);
  });
});
