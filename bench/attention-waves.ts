// Attention time against the number of heads at fixed sequence lengths (FLUX.1 D = 128): whether the fused kernel's
// speed at 4608 and 1536 tokens is lost to wave quantization (workgroups = ceil(S / BQ) · H over the GPU's resident
// slots), and how many workgroups the device keeps resident. Time per workgroup-wave steps up where H crosses a
// multiple of the slots; a smooth line means no quantization.
//
// Usage (GPU machine, compiled with the bench tsc line in docs/attention.md): node .bench-build/bench/attention-waves.js
//   [--out dir] [--D 128] [--S 4608,1536] [--heads 1,2,...] [--tiles json] [--kv 32,64,...] [--variants json-list]
// --kv: key/value lengths to sweep at each S (query length) and head count instead of Skv = S: one wave of workgroups
// (S / BQ · H = the resident slots) against the number of key blocks separates a workgroup's fixed cost from its
// per-block cost. --variants: a JSON list of tiles, each swept in turn (default: the table's tiles).
// Every point is float64-checked on one sampled row per run before it is timed; NaN-poisoned output first.
import { mkdirSync, writeFileSync } from 'node:fs';
import { GpuContext } from '../src/gpu/context.js';
import { allocTensor, runCalls } from '../src/gpu/kernel.js';
import { attentionFused, attentionTilesFor } from '../src/kernels-wgsl/attention.js';
import type { SubgroupMatrixTuning } from '../src/kernels-wgsl/attention-subgroup-matrix.wgsl.js';
import { randomFill } from '../src/kernels-wgsl/random-fill.js';
import { fromF16Array } from '../src/util/f16.js';
import { attentionRowReference, timeAttention } from './lib/attention-bench.js';
import { markVariant } from './lib/driver-stats.js';

const argv = process.argv.slice(2);
const arg = (k: string, d: string) => (argv.includes(k) ? argv[argv.indexOf(k) + 1] : d);
const outDir = arg('--out', 'results/tmp/attention-waves');
const lengths = arg('--S', '4608,1536').split(',').map(Number);
const headList = arg('--heads', '1,2,4,6,8,10,11,12,14,16,18,20,22,24,26,28,30,32,36,40,44,48').split(',').map(Number);
const tilesArg = argv.includes('--tiles') ? (JSON.parse(arg('--tiles', '{}')) as SubgroupMatrixTuning) : undefined;
const variants: (SubgroupMatrixTuning | undefined)[] = argv.includes('--variants') ? JSON.parse(arg('--variants', '[]')) : [tilesArg];
const kvList = argv.includes('--kv') ? arg('--kv', '').split(',').map(Number) : null;
const D = Number(arg('--D', '128'));
mkdirSync(outDir, { recursive: true });

interface Point { variant: string; S: number; Skv: number; H: number; BQ: number; workgroups: number; ms: number; tflops: number; msPerHead: number; maxAbsErr: number }
const points: Point[] = [];
async function sweepHeads(tilesArg: SubgroupMatrixTuning | undefined, S: number, Skv: number): Promise<void> {
  const Hmax = Math.max(...headList);
  const q = allocTensor(ctx, [1, Hmax, S, D], 'f16', 'q');
  const k = allocTensor(ctx, [1, Hmax, Skv, D], 'f16', 'k');
  const v = allocTensor(ctx, [1, Hmax, Skv, D], 'f16', 'v');
  await runCalls(ctx, [await randomFill(ctx, { out: q, seed: 1 + S }), await randomFill(ctx, { out: k, seed: 2 + Skv }), await randomFill(ctx, { out: v, seed: 3 + Skv })]);
  // [1, H, L, D] views of the first H heads: head h starts at h·L·D.
  const read = async (t: typeof q, h: number, L: number) => fromF16Array(new Uint16Array(await ctx.readback(t.buffer, L * D * 2, t.offset + h * L * D * 2)));
  for (const H of headList) {
    const out = allocTensor(ctx, [1, S, H * D], 'f16', 'out');
    const args = {
      q: { ...q, shape: [1, H, S, D] }, k: { ...k, shape: [1, H, Skv, D] }, v: { ...v, shape: [1, H, Skv, D] }, out,
      path: 'subgroup-matrix' as const, tiles: tilesArg, label: `S${S}kv${Skv}H${H}`,
    };
    const tiles = attentionTilesFor(ctx, args);
    const variant = tilesArg ? JSON.stringify(tilesArg) : 'table';
    // Under the diagnostics layer (bench/lib/driver-stats.ts) the pipeline built next is this variant's.
    markVariant(`${variant} S=${S} kv=${Skv} H=${H}`);
    const calls = await attentionFused(ctx, args);
    ctx.fill(out.buffer, 0x7e007e00);
    await runCalls(ctx, calls);
    const h = H - 1, i = (S * 5) >> 3;
    const want = attentionRowReference(await read(q, h, S), await read(k, h, Skv), await read(v, h, Skv), Skv, D, i);
    const got = fromF16Array(new Uint16Array(await ctx.readback(out.buffer, D * 2, out.offset + (i * H + h) * D * 2)));
    let err = 0;
    for (let e = 0; e < D; e++) err = Math.max(err, Number.isFinite(got[e]) ? Math.abs(got[e] - want[e]) : Infinity);
    const tm = await timeAttention(ctx, calls);
    const BQ = 16 * (tiles?.NSG ?? 4);
    const p: Point = {
      variant, S, Skv, H, BQ, workgroups: Math.ceil(S / BQ) * H * (tiles?.splits ?? 1), ms: tm.medianMs,
      tflops: calls[0].flops / (tm.medianMs / 1000) / 1e12, msPerHead: tm.medianMs / H, maxAbsErr: err,
    };
    points.push(p);
    console.log(`${variant} S=${S} kv=${Skv} H=${String(H).padStart(2)} wg=${String(p.workgroups).padStart(5)} ${p.ms.toFixed(4)} ms ${(p.msPerHead * 1000).toFixed(1)} µs/head ${p.tflops.toFixed(1)} TFLOP/s err ${err.toExponential(1)}${err > 1e-2 ? ' WRONG' : ''}`);
    out.buffer.destroy();
  }
  for (const t of [q, k, v]) t.buffer.destroy();
}

const ctx = await GpuContext.open({ robustness: false });
try {
  for (const variant of variants) {
    for (const S of lengths) {
      for (const Skv of kvList ?? [S]) await sweepHeads(variant, S, Skv);
    }
  }
  writeFileSync(`${outDir}/attention-waves.json`, JSON.stringify({ date: new Date().toISOString(), adapter: ctx.caps.adapterName, tiles: tilesArg ?? 'table', points }, null, 1));
} finally {
  ctx.destroy();
}
