// The per-device attention tuning table (attention-table.ts) and how attention() applies it: adapter matching,
// length classes with nearest-class fallback, the DIT_ATTENTION_TABLE override, and the adaptation of a table row
// to calls it cannot serve as measured (kvLength or short sequences -> staged loads, one dispatch -> no split,
// rows that do not fit -> built-in defaults). Host logic only: a fake H200-like context, no kernel runs.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context.js';
import type { TensorView } from '../../src/gpu/kernel.js';
import { type AttentionArgs, attentionTilesFor } from '../../src/kernels-wgsl/attention.js';
import { type SubgroupMatrixTiles, subgroupMatrixSmemBytes } from '../../src/kernels-wgsl/attention-subgroup-matrix.wgsl.js';
import {
  ATTENTION_TABLE_ENV, type AttentionTable, activeAttentionTable, attentionTableEntry, lengthClass, tableAttentionTiles,
} from '../../src/kernels-wgsl/attention-table.js';

const H200 = {
  adapterName: 'NVIDIA H200', vendor: 'nvidia', architecture: 'hopper', subgroupMaxSize: 32, subgroupMinSize: 32, tensorCores: true, subgroups: true,
  subgroupMatrixConfigs: [{ componentType: 'f16', resultComponentType: 'f32', M: 16, N: 16, K: 16 }],
  limits: { maxComputeWorkgroupStorageSize: 49152, maxComputeInvocationsPerWorkgroup: 1024, maxStorageBufferBindingSize: 2 ** 31 - 4, maxComputeWorkgroupsPerDimension: 65535, minStorageBufferOffsetAlignment: 256 },
};
const ctx = { caps: H200 } as unknown as GpuContext;

const TABLE: AttentionTable = {
  version: 1,
  entries: [
    { device: { vendor: 'nvidia' }, subgroupSize: 32, rows: [{ D: 128, lengthClass: 'medium', tiles: { NSG: 2, BKV: 16 } }] },
    {
      device: { vendor: 'NVIDIA', architecture: 'hopper', description: 'h200' }, subgroupSize: 32,
      rows: [
        { D: 128, lengthClass: 'short', tiles: { NSG: 4, BKV: 64, kvLoad: 'direct', reduce: 'shuffle', splits: 3 } },
        { D: 128, lengthClass: 'long', tiles: { NSG: 8, BKV: 32, kvLoad: 'direct', reduce: 'shuffle', splits: 1 } },
        { D: 64, lengthClass: 'medium', tiles: { NSG: 8, BKV: 128, kvLoad: 'direct', reduce: 'smem', splits: 1 } }, // does not fit 48 KiB
      ],
    },
    { device: { vendor: 'amd' }, subgroupSize: 32, rows: [{ D: 128, lengthClass: 'short', tiles: { NSG: 1, BKV: 16 } }] },
  ],
};

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'attn-table-'));
  await writeFile(join(dir, 'table.json'), JSON.stringify(TABLE));
  await writeFile(join(dir, 'bad.json'), JSON.stringify({ version: 1, rows: [] }));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterEach(() => {
  delete process.env[ATTENTION_TABLE_ENV];
});

const view = (shape: number[], dtype: TensorView['dtype'] = 'f16'): TensorView => ({ buffer: {} as GPUBuffer, offset: 0, shape, dtype });
const args = (Sq: number, D: number, extra: Partial<AttentionArgs> = {}): AttentionArgs => ({
  q: view([1, 24, Sq, D]), k: view([1, 24, Sq, D]), v: view([1, 24, Sq, D]), out: view([1, Sq, 24 * D]), ...extra,
});

describe('attention tuning table', () => {
  it('length classes and adapter matching (most specific entry wins, vendor and subgroup size must match)', () => {
    expect([1536, 3071, 3072, 4608, 10239, 10240, 16896].map(lengthClass)).toEqual(['short', 'short', 'medium', 'medium', 'medium', 'long', 'long']);
    expect(attentionTableEntry(H200, TABLE)?.device.description).toBe('h200');
    expect(attentionTableEntry({ ...H200, adapterName: 'NVIDIA H100' }, TABLE)?.device.description).toBeUndefined();
    expect(attentionTableEntry({ ...H200, subgroupMaxSize: 64 }, TABLE)).toBeNull();
    expect(attentionTableEntry({ ...H200, vendor: 'intel' }, TABLE)).toBeNull();
  });

  it('row of the length class, else the nearest measured class of the same head dim, else none', () => {
    expect(tableAttentionTiles(H200, 128, 1536, TABLE)).toMatchObject({ NSG: 4, BKV: 64, splits: 3 });
    expect(tableAttentionTiles(H200, 128, 16896, TABLE)).toMatchObject({ NSG: 8, BKV: 32 });
    expect(tableAttentionTiles(H200, 128, 4608, TABLE)).toMatchObject({ NSG: 4, BKV: 64 }); // medium missing: tie -> first nearest (short)
    expect(tableAttentionTiles(H200, 64, 16896, TABLE)).toMatchObject({ BKV: 128 });
    expect(tableAttentionTiles(H200, 96, 1536, TABLE)).toBeNull();
  });

  it('DIT_ATTENTION_TABLE replaces the committed table; off disables it; bad files are named with the fix', () => {
    process.env[ATTENTION_TABLE_ENV] = join(dir, 'table.json');
    expect(activeAttentionTable()?.entries).toHaveLength(3);
    process.env[ATTENTION_TABLE_ENV] = 'off';
    expect(activeAttentionTable()).toBeNull();
    process.env[ATTENTION_TABLE_ENV] = join(dir, 'bad.json');
    expect(() => activeAttentionTable()).toThrow(/bad\.json: not an attention table .*bench\/attention-tune\.ts/);
    process.env[ATTENTION_TABLE_ENV] = join(dir, 'missing.json');
    expect(() => activeAttentionTable()).toThrow(/missing\.json: cannot read an attention table there/);
  });

  it('attention() applies a row and adapts it to calls it cannot serve as measured', () => {
    process.env[ATTENTION_TABLE_ENV] = join(dir, 'table.json');
    // Short FLUX shape: the table's split-KV direct row (2 dispatches allowed) ...
    expect(attentionTilesFor(ctx, args(1536, 128))).toMatchObject({ NSG: 4, BKV: 64, kvLoad: 'direct', reduce: 'shuffle', splits: 3, source: 'table' });
    // ... one dispatch only: no split; kvLength: staged loads (which no longer fit BKV 64 next to 4 subgroups: defaults).
    expect(attentionTilesFor(ctx, args(1536, 128), false)).toMatchObject({ kvLoad: 'direct', splits: 1, source: 'table' });
    const kvLength = view([1], 'u32');
    expect(attentionTilesFor(ctx, args(1536, 128, { kvLength }))).toMatchObject({ NSG: 4, BKV: 32, kvLoad: 'staged', reduce: 'smem', splits: 1, source: 'default' });
    // Too few keys for a 64-key direct block: staged.
    expect(attentionTilesFor(ctx, { ...args(20, 128), k: view([1, 24, 40, 128]), v: view([1, 24, 40, 128]) })).toMatchObject({ source: 'default', kvLoad: 'staged' });
    // Splits are capped by the key blocks: 100 keys / 64 = 2 blocks.
    expect(attentionTilesFor(ctx, args(100, 128))).toMatchObject({ splits: 2, source: 'table' });
    // A row needing more workgroup memory than the adapter has: built-in defaults.
    expect(attentionTilesFor(ctx, args(4429, 64))).toMatchObject({ NSG: 4, BKV: 64, kvLoad: 'staged', source: 'default' });
    // Explicit tiles win over the table and are not adapted: invalid ones are errors naming the fix.
    expect(attentionTilesFor(ctx, args(1536, 128, { tiles: { NSG: 2, BKV: 16 } }))).toMatchObject({ NSG: 2, BKV: 16, source: 'explicit' });
    expect(() => attentionTilesFor(ctx, args(1536, 128, { kvLength, tiles: { kvLoad: 'direct' } }))).toThrow(/kvLoad 'direct' cannot run this call \(kvLength is given\); use 'staged'/);
    expect(() => attentionTilesFor(ctx, args(1536, 128, { tiles: { splits: 2 } }), false)).toThrow(/split-KV .* needs two dispatches: call attentionFused\(\) or attentionCalls\(\)/);
    // Without a table entry: the built-in defaults.
    process.env[ATTENTION_TABLE_ENV] = 'off';
    expect(attentionTilesFor(ctx, args(16896, 128))).toMatchObject({ NSG: 8, BKV: 32, kvLoad: 'staged', reduce: 'smem', splits: 1, source: 'default' });
  });

  it('prefetch rows: kept where the call stages vec4 K/V, dropped where it cannot, refused when explicit and invalid', async () => {
    const rows: AttentionTable['entries'][number]['rows'] = [
      { D: 128, lengthClass: 'medium', tiles: { NSG: 4, BKV: 32, kvLoad: 'staged', reduce: 'shuffle', splits: 1, vecKv: true, vecScratch: true, prefetch: true } },
      // Not a valid combination (a hand-edited row): 'direct' with prefetch. Adapted calls drop prefetch.
      { D: 128, lengthClass: 'short', tiles: { NSG: 4, BKV: 32, kvLoad: 'direct', reduce: 'shuffle', splits: 1, vecKv: true, prefetch: true } },
      // No vecKv: prefetch has no vec4 registers to stage from, so it is dropped.
      { D: 64, lengthClass: 'medium', tiles: { NSG: 8, BKV: 32, kvLoad: 'staged', reduce: 'smem', splits: 1, prefetch: true } },
    ];
    const file = join(dir, 'prefetch.json');
    await writeFile(file, JSON.stringify({ version: 1, entries: [{ device: { vendor: 'nvidia' }, subgroupSize: 32, rows }] }));
    process.env[ATTENTION_TABLE_ENV] = file;
    const kvLength = view([1], 'u32');
    // Measured shape (4608 tokens): the row as stored (40720 bytes of workgroup memory: fits the 48 KiB).
    expect(attentionTilesFor(ctx, args(4608, 128))).toMatchObject({ NSG: 4, BKV: 32, kvLoad: 'staged', vecKv: true, vecScratch: true, prefetch: true, source: 'table' });
    expect(attentionTilesFor(ctx, args(4608, 128, { kvLength }))).toMatchObject({ prefetch: true, source: 'table' }); // staged anyway
    // The 'direct' row: where direct runs, prefetch is dropped (it pipelines staged loads only) ...
    const direct = attentionTilesFor(ctx, args(1536, 128));
    expect(direct).toMatchObject({ kvLoad: 'direct', source: 'table' });
    expect(direct?.prefetch).toBeUndefined();
    // ... while a call that falls back to staged loads (kvLength) can use it: staged + vecKv + prefetch.
    expect(attentionTilesFor(ctx, args(1536, 128, { kvLength }))).toMatchObject({ NSG: 4, BKV: 32, kvLoad: 'staged', vecKv: true, prefetch: true, source: 'table' });
    // Without vecKv: dropped.
    const noVec = attentionTilesFor(ctx, args(4429, 64));
    expect(noVec).toMatchObject({ NSG: 8, BKV: 32, kvLoad: 'staged', source: 'table' });
    expect(noVec?.prefetch).toBeUndefined();
    // Explicit tiles are not adapted: invalid prefetch combinations are errors that name the fix.
    expect(() => attentionTilesFor(ctx, args(4608, 128, { tiles: { NSG: 4, BKV: 32, prefetch: true } }))).toThrow(/prefetch .* set vecKv: true or drop prefetch/);
    expect(() => attentionTilesFor(ctx, args(4608, 128, { tiles: { NSG: 4, BKV: 32, kvLoad: 'direct', vecKv: true, prefetch: true } }))).toThrow(/prefetch .* use kvLoad 'staged' \(not 'direct'\) or drop prefetch/);
    // 8 subgroups at BKV 32 with prefetch fit (the K and V tiles are reused, not doubled): 46608 bytes.
    expect(attentionTilesFor(ctx, args(4608, 128, { tiles: { NSG: 8, BKV: 32, reduce: 'shuffle', vecKv: true, vecScratch: true, prefetch: true } })))
      .toMatchObject({ NSG: 8, BKV: 32, prefetch: true, source: 'explicit' });
    expect(() => attentionTilesFor(ctx, args(4608, 128, { tiles: { NSG: 8, BKV: 64, vecKv: true, prefetch: true } }))).toThrow(/need \d+ bytes of workgroup memory, the adapter has 49152/);
    expect(attentionTilesFor(ctx, args(4608, 128, { tiles: { NSG: 8, BKV: 16, vecKv: true, prefetch: true } }))).toMatchObject({ prefetch: true, source: 'explicit' });
    // Paired subgroups: the tiles they need are named in the error.
    expect(attentionTilesFor(ctx, args(4608, 128, { tiles: { NSG: 8, BKV: 32, pairRows: 'kv' } }))).toMatchObject({ pairRows: 'kv', source: 'explicit' });
    expect(() => attentionTilesFor(ctx, args(4608, 128, { tiles: { NSG: 8, BKV: 16, pairRows: 'v' } }))).toThrow(/pairRows 'v' needs BKV a multiple of 32 that divides D \(BKV 16, D 128\)/);
    expect(() => attentionTilesFor(ctx, args(4608, 64, { tiles: { NSG: 4, BKV: 128, pairRows: 'v' } }))).toThrow(/pairRows 'v' needs BKV a multiple of 32 that divides D \(BKV 128, D 64\)/);
    expect(() => attentionTilesFor(ctx, args(4608, 128, { tiles: { NSG: 1, BKV: 32, pairRows: 'kv' } }))).toThrow(/pairRows 'kv' needs an even number of subgroups \(NSG 1\)/);
    expect(() => attentionTilesFor(ctx, args(4608, 128, { tiles: { NSG: 4, BKV: 32, kvLoad: 'direct', pairRows: 'kv' } }))).toThrow(/pairRows 'kv' needs kvLoad 'staged' \(not 'direct'\)/);
    expect(() => attentionTilesFor(ctx, args(4608, 128, { tiles: { NSG: 4, BKV: 32, pairRows: 'q' as 'v' } }))).toThrow(/pairRows 'q' must be 'v' or 'kv'/);
  });
});

describe('subgroupMatrixSmemBytes with prefetch (the same K and V tiles as plain staging)', () => {
  it('the sweep\'s prefetch tiles and what fits 48 KiB', () => {
    const bytes = (D: number, t: Partial<SubgroupMatrixTiles>) => subgroupMatrixSmemBytes(D, { NSG: 4, BKV: 32, SG: 32, kvLoad: 'staged', vecKv: true, prefetch: true, ...t });
    expect(bytes(128, { NSG: 8, reduce: 'shuffle', vecScratch: true })).toBe(46608); // the H200 table's D = 128 tiles
    expect(bytes(128, { reduce: 'shuffle' })).toBe(32016);
    expect(bytes(128, { NSG: 8, BKV: 16, reduce: 'shuffle' })).toBe(25616);
    expect(bytes(64, { NSG: 8, reduce: 'smem' })).toBe(40464);
    expect(bytes(64, { BKV: 64, reduce: 'smem' })).toBe(46352);
    for (const t of [{ NSG: 8, reduce: 'shuffle' as const }, { NSG: 4, BKV: 64 }, { NSG: 8, BKV: 16 }]) {
      expect(bytes(128, t)).toBe(bytes(128, { ...t, prefetch: false }));
    }
  });
});
