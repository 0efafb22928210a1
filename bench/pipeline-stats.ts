// What the driver says about our kernels: registers per invocation, shared memory and whatever else it reports through
// VK_KHR_pipeline_executable_properties, for the attention and GEMM variants the tables choose and their neighbours.
// Run under the diagnostics layer (native/vk-pipeline-stats), which writes one JSON line per compute pipeline to
// $TETRISERVE_PIPELINE_STATS; this script compiles each variant alone, writing a marker line before it, then joins
// markers and pipelines into a table (pipeline-stats.md / .json in --out).
//
// Usage (GPU machine): bash native/vk-pipeline-stats/build.sh && VK_LAYER_PATH=$PWD/native/vk-pipeline-stats/build
//   VK_INSTANCE_LAYERS=VK_LAYER_TETRISERVE_pipeline_stats TETRISERVE_PIPELINE_STATS=$OUT/stats.jsonl
//   node .bench-build/bench/pipeline-stats.js --out DIR
import { mkdirSync, writeFileSync } from 'node:fs';
import { GpuContext } from '../src/gpu/context.js';
import { allocTensor, type TensorView } from '../src/gpu/kernel.js';
import { attentionFused } from '../src/kernels-wgsl/attention.js';
import type { SubgroupMatrixTuning } from '../src/kernels-wgsl/attention-subgroup-matrix.wgsl.js';
import { linearCalls, linearI8Calls, type SgTiling } from '../src/kernels-wgsl/matmul.js';
import { int8RowWords } from '../src/kernels-wgsl/quantize-i8.js';
import { driverStatsEnabled, markVariant as mark, readDriverStats } from './lib/driver-stats.js';

const argv = process.argv.slice(2);
const outDir = argv.includes('--out') ? argv[argv.indexOf('--out') + 1] : 'results/tmp/pipeline-stats';
if (!driverStatsEnabled()) throw new Error('pipeline-stats: run under the diagnostics layer with TETRISERVE_PIPELINE_STATS set (see the header)');
mkdirSync(outDir, { recursive: true });

const ctx = await GpuContext.open({ robustness: false });
const sg = ctx.caps.subgroupMaxSize;

const A128 = { BKV: 32, kvLoad: 'staged', reduce: 'shuffle', splits: 1, vecKv: true, prefetch: true, interleave: true, vecOut: true } as const;
const attention: [string, number, SubgroupMatrixTuning][] = [
  ['attention D128 nsg8 bkv32 prefetch interleave vecOut (table)', 128, { NSG: 8, ...A128 }],
  ['attention D128 nsg8 bkv32 prefetch interleave', 128, { NSG: 8, ...A128, vecOut: false }],
  ['attention D128 nsg8 bkv32 prefetch', 128, { NSG: 8, ...A128, interleave: false, vecOut: false }],
  ['attention D128 nsg8 bkv32 (no prefetch, no interleave)', 128, { NSG: 8, ...A128, prefetch: false, interleave: false, vecOut: false }],
  ['attention D128 nsg4 bkv32 prefetch interleave vecOut', 128, { NSG: 4, ...A128 }],
  ['attention D64 nsg4 bkv32 prefetch vecOut (table)', 64, { NSG: 4, ...A128, interleave: false }],
  ['attention D64 nsg8 bkv32 prefetch vecOut', 64, { NSG: 8, ...A128, interleave: false }],
];
const f16Base: SgTiling = { sgM: 2, sgN: 4, fragM: 4, fragN: 2, bk: 64, staging: 'staged', stages: 1, groupM: 8, subgroupSize: sg, vecSmem: true };
const gemms: [string, 'f16' | 'int8', SgTiling][] = [
  ['f16 GEMM 128x128 2x4sg 4x2fr bk64, 16-byte stores (table)', 'f16', f16Base],
  ['f16 GEMM 128x128 2x4sg 4x2fr bk64, scalar stores', 'f16', { ...f16Base, vecOut: false }],
  ['f16 GEMM 256x128 4x2sg 4x4fr bk48, scalar stores (the previous table)', 'f16', { ...f16Base, sgM: 4, sgN: 2, fragM: 4, fragN: 4, bk: 48 }],
  ['f16 GEMM 256x128 4x2sg 4x4fr bk48, 16-byte stores', 'f16', { ...f16Base, sgM: 4, sgN: 2, fragM: 4, fragN: 4, bk: 48, vecOut: true }],
  ['int8 GEMM 128x128 2x4sg 4x2fr bk128, 16-byte stores (table)', 'int8', { ...f16Base, bk: 128, pad: 16 }],
  ['int8 GEMM 256x128 4x4sg 4x2fr bk96, 16-byte stores (table, wide N)', 'int8', { ...f16Base, sgM: 4, sgN: 4, bk: 96, pad: 16 }],
  ['int8 GEMM 256x128 4x2sg 4x4fr bk96, scalar stores (built-in rule, wide N)', 'int8', { ...f16Base, sgM: 4, sgN: 2, fragM: 4, fragN: 4, bk: 96, pad: 16 }],
];

try {
  for (const [name, D, tiles] of attention) {
    const [B, H, S] = [1, 2, 256];
    const t = (shape: number[]) => allocTensor(ctx, shape, 'f16');
    mark(name);
    await attentionFused(ctx, { q: t([B, H, S, D]), k: t([B, H, S, D]), v: t([B, H, S, D]), out: t([B, S, H * D]), path: 'subgroup-matrix', tiles, label: name });
  }
  const [M, K, N] = [512, 512, 512];
  const bias = allocTensor(ctx, [N], 'f16');
  for (const [name, kind, tiling] of gemms) {
    const out = allocTensor(ctx, [M, N], 'f16');
    mark(name);
    if (kind === 'f16') {
      await linearCalls(ctx, { x: allocTensor(ctx, [M, K], 'f16'), w: allocTensor(ctx, [N, K], 'f16'), out, bias, activation: 'gelu_tanh', label: name }, { tiling });
    } else {
      const Kw = int8RowWords(K);
      const u = (shape: number[]): TensorView => allocTensor(ctx, shape, 'u32');
      await linearI8Calls(ctx, { xq: u([M, Kw]), xScale: allocTensor(ctx, [M], 'f32'), wq: u([N, Kw]), wScale: allocTensor(ctx, [N], 'f32'), out, bias, activation: 'gelu_tanh', label: name }, { tiling });
    }
  }
  await ctx.sync();
} finally {
  ctx.destroy();
}

const rows = readDriverStats();
const keys = [...new Set(rows.flatMap((r) => Object.keys(r.statistics)))];
const md = [
  `# Pipeline statistics (${ctx.caps.adapterName}, ${new Date().toISOString()}, VK_KHR_pipeline_executable_properties)`, '',
  `| variant | workgroup | ${keys.join(' | ')} |`, `|---|---|${keys.map(() => '---:').join('|')}|`,
  ...rows.map((r) => `| ${r.variant} | ${r.workgroupSize?.join('x') ?? ''} | ${keys.map((k) => String(r.statistics[k] ?? '')).join(' | ')} |`),
  '', 'Internal representations offered: ' + ([...new Set(rows.flatMap((r) => r.representations.map((x) => x.replace(/ \(.*$/, ''))))].join(', ') || 'none'),
];
writeFileSync(`${outDir}/pipeline-stats.md`, md.join('\n') + '\n');
writeFileSync(`${outDir}/pipeline-stats.json`, JSON.stringify({ adapter: ctx.caps.adapterName, rows }, null, 1));
console.log(md.join('\n'));
