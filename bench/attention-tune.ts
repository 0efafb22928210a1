// Autotunes the tensor-core attention kernel (src/kernels-wgsl/attention-subgroup-matrix.wgsl.ts) on this device:
// times a grid of variants (subgroups per workgroup, key block, K/V staged or loaded directly, row reductions
// through workgroup memory or shuffles, split-KV, vec4 staging/scratch, K/V prefetch) at the FLUX shapes (B=1, H=24,
// D=128; 512² / 1024² / 2048² = 1536 / 4608 / 16896 tokens) and SD3's (D=64, 4429 tokens), checks every variant's
// output on sampled rows against a float64 CPU reference, validates each winner on small odd shapes (bias, causal,
// lse, rising maxima), and writes the best tiles per (D, length class) as a per-device table (attention-table.json +
// attention-table.ts) that src/kernels-wgsl/attention.ts loads (commit the .ts over
// src/kernels-wgsl/attention-table.ts, or try the JSON with DIT_ATTENTION_TABLE=path). Results are written after
// every shape, so a run cut short still leaves data.
//
// Search: stage 1 times the whole grid at the medium shape of each head dim (4608 / 4429); stage 2 times the
// stage-1 leaders at 16896 and 1536, plus split-KV variants of them at 1536 (few workgroups there).
// ATTN_TUNE_BUDGET_S (default 120, or $ATTENTION_TUNE_S - 12 under scripts/gpu-speed.sh; --quick: 900, lavapipe's
// JIT takes ~30 s per emulated variant) bounds the wall time:
// variants not started in time are listed as skipped.
//
// Build and run (repo root):
//   npx tsc --outDir .bench-build --rootDir . --module nodenext --moduleResolution nodenext --target es2022 \
//     --types node,@webgpu/types --skipLibCheck bench/attention-tune.ts
//   node .bench-build/bench/attention-tune.js --out DIR [--quick] [--robustness]
// --quick: tiny shapes and a few variants with emulated matrix builtins (a dry run of the harness on lavapipe).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { GpuContext } from '../src/gpu/context.js';
import { allocTensor, runCalls, type KernelCall, type TensorView } from '../src/gpu/kernel.js';
import { type AttentionArgs, attentionFused, attentionTilesFor } from '../src/kernels-wgsl/attention.js';
import type { SubgroupMatrixTuning } from '../src/kernels-wgsl/attention-subgroup-matrix.wgsl.js';
import {
  ATTENTION_TABLE, ATTENTION_TABLE_ENV, type AttentionTable, type AttentionTableEntry, type AttentionTableRow, lengthClass,
} from '../src/kernels-wgsl/attention-table.js';
import { randomFill } from '../src/kernels-wgsl/random-fill.js';
import { fromF16Array, toF16Array } from '../src/util/f16.js';
import { attentionRowReference, timeAttention } from './lib/attention-bench.js';

const argv = process.argv.slice(2);
const outDir = argv.includes('--out') ? argv[argv.indexOf('--out') + 1] : 'results/tmp/attention-tune';
const quick = argv.includes('--quick');
const robustness = argv.includes('--robustness');
// scripts/gpu-speed.sh runs this under `timeout $ATTENTION_TUNE_S`: without an explicit budget, finish inside it.
const budgetS = Number(process.env.ATTN_TUNE_BUDGET_S ?? (process.env.ATTENTION_TUNE_S ? Number(process.env.ATTENTION_TUNE_S) - 12 : quick ? 900 : 120));
if (!(budgetS > 0)) throw new Error(`ATTN_TUNE_BUDGET_S=${process.env.ATTN_TUNE_BUDGET_S}: must be a positive number of seconds`);
mkdirSync(outDir, { recursive: true });
const t0 = performance.now();
/** Seconds of the budget kept for validating the winners and the defaults on small shapes (compiles). */
const VALIDATE_RESERVE_S = quick ? 0 : Math.min(30, budgetS / 4);
const elapsedS = () => (performance.now() - t0) / 1000;

interface Shape { S: number; D: number; H: number; B: number }
const H = quick ? 2 : 24;
// Stage-1 shape per head dim first, then the stage-2 shapes.
const PRIMARY: Shape[] = quick ? [{ S: 40, D: 64, H, B: 1 }] : [{ S: 4608, D: 128, H, B: 1 }, { S: 4429, D: 64, H, B: 1 }];
const SECONDARY: Shape[] = quick ? [{ S: 21, D: 64, H, B: 1 }] : [{ S: 16896, D: 128, H, B: 1 }, { S: 1536, D: 128, H, B: 1 }];

type Tiles = SubgroupMatrixTuning & { emulate?: boolean };
const name = (t: Tiles) => `nsg${t.NSG} bkv${t.BKV} ${t.kvLoad ?? 'staged'} ${t.reduce ?? 'smem'}${(t.splits ?? 1) > 1 ? ` split${t.splits}` : ''}${t.vecKv ? ' veckv' : ''}${t.vecScratch ? ' vecsc' : ''}${t.prefetch ? ' prefetch' : ''}${t.interleave ? ' interleave' : ''}${t.vecOut ? ' vecout' : ''}${t.pairRows ? ` pair${t.pairRows}` : ''}`;
const v = (NSG: number, BKV: number, kvLoad: 'staged' | 'direct' | 'direct-k', reduce: 'smem' | 'shuffle', splits = 1, vecKv = false, vecScratch = false): Tiles =>
  ({ NSG, BKV, kvLoad, reduce, splits, ...(vecKv ? { vecKv } : {}), ...(vecScratch ? { vecScratch } : {}), ...(quick ? { emulate: true } : {}) });
/** The same tiles with K/V software pipelining (prefetch: staged + vecKv only). */
const pf = (t: Tiles): Tiles => ({ ...t, prefetch: true });
/** The same tiles with the score MMAs in BKV/16 independent chains (interleave). */
const il = (t: Tiles): Tiles => ({ ...t, interleave: true });
/** The same tiles with 16-byte output stores (vecOut). */
const vo = (t: Tiles): Tiles => ({ ...t, vecOut: true });
/** The same tiles with subgroups paired over 32 query rows (pairRows: V, or K and V, fragments feed two MMAs). */
const pr = (t: Tiles, pairRows: 'v' | 'kv'): Tiles => ({ ...t, pairRows });

/** Stage-1 grid per head dim; the first entry is the built-in default for the primary shape. */
function grid(D: number): Tiles[] {
  if (quick) return [v(2, 16, 'staged', 'smem'), pf(v(2, 16, 'staged', 'smem', 1, true)), il(pf(v(2, 32, 'staged', 'smem', 1, true)))]; // each emulated variant costs minutes of lavapipe JIT
  if (D === 128) {
    return [
      v(8, 32, 'staged', 'smem'), // default for Sq >= 3072
      vo(il(pf(v(8, 32, 'staged', 'shuffle', 1, true, true)))), // the H200 table's row (2026-12-01, eighth session)
      // Paired subgroups (tenth session): the table row with V, or K and V, fragments shared by two row fragments.
      pr(vo(il(pf(v(8, 32, 'staged', 'shuffle', 1, true, true)))), 'v'), pr(vo(il(pf(v(8, 32, 'staged', 'shuffle', 1, true, true)))), 'kv'),
      pr(vo(il(pf(v(4, 32, 'staged', 'shuffle', 1, true, true)))), 'v'), pr(vo(il(pf(v(4, 32, 'staged', 'shuffle', 1, true, true)))), 'kv'),
      // With the output epilogue's fixed cost gone, more (smaller) workgroups may pay: 4 subgroups, smaller key blocks.
      vo(il(pf(v(4, 32, 'staged', 'shuffle', 1, true, true)))), vo(il(pf(v(4, 64, 'staged', 'shuffle', 1, true)))),
      vo(il(pf(v(8, 32, 'staged', 'smem', 1, true, true)))), vo(il(pf(v(8, 32, 'staged', 'shuffle', 1, true)))), vo(il(pf(v(8, 16, 'staged', 'shuffle', 1, true, true)))),
      vo(il(v(8, 32, 'staged', 'shuffle', 1, true, true))), vo(pf(v(8, 32, 'staged', 'shuffle', 1, true, true))),
      pf(v(8, 32, 'staged', 'shuffle', 1, true, true)), // the sixth session's row
      // Score MMAs in independent chains (interleave) on the prefetch tiles, then on smaller / larger key blocks.
      il(pf(v(8, 32, 'staged', 'shuffle', 1, true, true))), il(pf(v(8, 32, 'staged', 'smem', 1, true, true))), il(pf(v(8, 32, 'staged', 'shuffle', 1, true))),
      il(pf(v(4, 32, 'staged', 'shuffle', 1, true, true))), il(pf(v(8, 16, 'staged', 'shuffle', 1, true, true))), il(v(8, 32, 'staged', 'shuffle', 1, true, true)),
      il(v(4, 64, 'staged', 'shuffle', 1, true, true)), il(pf(v(4, 64, 'staged', 'shuffle', 1, true))),
      v(8, 32, 'staged', 'shuffle', 1, true, true), // the fourth session's row
      // K/V prefetch (2 syncs per block, same workgroup memory): the table's tiles first, then smaller tiles, then
      // the same smaller tiles without prefetch (the A/B of prefetch alone).
      pf(v(8, 32, 'staged', 'smem', 1, true, true)), pf(v(8, 32, 'staged', 'shuffle', 1, true)),
      pf(v(4, 32, 'staged', 'shuffle', 1, true, true)), pf(v(4, 32, 'staged', 'smem', 1, true, true)),
      pf(v(8, 16, 'staged', 'shuffle', 1, true, true)), pf(v(8, 16, 'staged', 'smem', 1, true)),
      v(4, 32, 'staged', 'shuffle', 1, true, true), v(4, 32, 'staged', 'smem', 1, true, true),
      v(8, 16, 'staged', 'shuffle', 1, true, true), v(8, 16, 'staged', 'smem', 1, true),
      // 16-byte score reads / probability writes (vecScratch) with vec4 K/V staging, then vec4 staging alone
      v(8, 32, 'staged', 'smem', 1, true, true),
      v(8, 64, 'staged', 'smem', 1, true, true),
      v(8, 32, 'staged', 'shuffle', 1, true), v(8, 32, 'staged', 'smem', 1, true), v(4, 32, 'staged', 'shuffle', 1, true), v(8, 16, 'staged', 'shuffle', 1, true),
      v(8, 32, 'direct', 'shuffle'), v(8, 32, 'direct-k', 'shuffle'), v(4, 64, 'direct', 'shuffle'), v(4, 64, 'direct-k', 'shuffle'),
      v(8, 32, 'staged', 'shuffle'), v(4, 32, 'direct', 'shuffle'), v(4, 32, 'direct-k', 'shuffle'), v(2, 128, 'direct', 'shuffle'),
      v(8, 16, 'direct', 'shuffle'), v(4, 32, 'staged', 'smem'), v(8, 16, 'staged', 'smem'), v(8, 32, 'direct', 'smem'),
      v(4, 32, 'staged', 'shuffle'), v(8, 16, 'direct-k', 'shuffle'), v(4, 16, 'direct', 'shuffle'), v(4, 16, 'staged', 'smem'),
    ];
  }
  return [
    v(4, 64, 'staged', 'smem'), // default
    vo(pf(v(8, 32, 'staged', 'shuffle', 1, true))), // the H200 table's row (2026-12-01, eighth session)
    // Paired subgroups (tenth session) on the ninth session's row (4 subgroups) and on 8 subgroups.
    pr(vo(pf(v(4, 32, 'staged', 'shuffle', 1, true))), 'v'), pr(vo(pf(v(4, 32, 'staged', 'shuffle', 1, true))), 'kv'),
    pr(vo(pf(v(8, 32, 'staged', 'shuffle', 1, true))), 'kv'), pr(vo(pf(v(4, 64, 'staged', 'shuffle', 1, true))), 'kv'),
    vo(il(pf(v(8, 32, 'staged', 'shuffle', 1, true)))), vo(il(pf(v(4, 64, 'staged', 'shuffle', 1, true)))),
    vo(pf(v(4, 64, 'staged', 'shuffle', 1, true))), vo(pf(v(4, 32, 'staged', 'shuffle', 1, true))), vo(pf(v(8, 32, 'staged', 'smem', 1, true))),
    pf(v(8, 32, 'staged', 'shuffle', 1, true)), // the sixth session's row
    // Score MMAs in independent chains (interleave); at BKV 64, four chains.
    il(pf(v(8, 32, 'staged', 'shuffle', 1, true))), il(pf(v(4, 64, 'staged', 'shuffle', 1, true))), il(pf(v(8, 32, 'staged', 'shuffle', 1, true, true))),
    il(pf(v(4, 64, 'staged', 'smem', 1, true))), il(v(8, 64, 'staged', 'shuffle', 1, true)),
    v(8, 32, 'staged', 'smem', 1, true), // the fourth session's row
    // K/V prefetch, then the shuffle twin without it (the smem twin is the row above).
    pf(v(8, 32, 'staged', 'smem', 1, true)), pf(v(4, 64, 'staged', 'smem', 1, true)),
    pf(v(4, 64, 'staged', 'shuffle', 1, true)), pf(v(8, 32, 'staged', 'shuffle', 1, true, true)), v(8, 32, 'staged', 'shuffle', 1, true),
    v(8, 32, 'staged', 'smem', 1, true, true), v(8, 32, 'staged', 'shuffle', 1, true, true), v(8, 64, 'staged', 'smem', 1, true, true),
    v(4, 64, 'staged', 'smem', 1, true, true),
    v(4, 64, 'staged', 'shuffle', 1, true), v(8, 64, 'staged', 'shuffle', 1, true),
    v(4, 64, 'direct', 'shuffle'), v(4, 64, 'direct-k', 'shuffle'), v(8, 32, 'direct', 'shuffle'), v(8, 32, 'direct-k', 'shuffle'),
    v(4, 64, 'staged', 'shuffle'), v(2, 128, 'direct', 'shuffle'), v(4, 32, 'direct', 'shuffle'), v(8, 32, 'staged', 'shuffle'),
    v(4, 64, 'direct', 'smem'), v(8, 32, 'staged', 'smem'), v(4, 32, 'staged', 'smem'), v(8, 16, 'direct', 'shuffle'),
  ];
}
/** The built-in default (what attention() uses without a table) at a shape: for the 'defaultTflops' column. */
const builtinDefault = (s: Shape): Tiles =>
  quick ? v(2, 16, 'staged', 'smem') : s.D === 128 ? v(s.S >= 3072 ? 8 : 4, 32, 'staged', 'smem') : v(4, 64, 'staged', 'smem');

interface Row {
  S: number; D: number; H: number; variant: string; tiles: Tiles; stage: number;
  ms?: number; tflops?: number; method?: string; compileS?: number; maxAbsErr?: number; ok?: boolean; error?: string;
}
const rows: Row[] = [];


async function readF16(ctx: GpuContext, t: TensorView, elemOffset: number, n: number): Promise<Float32Array> {
  return fromF16Array(new Uint16Array(await ctx.readback(t.buffer, n * 2, t.offset + elemOffset * 2)));
}

interface Bufs { q: TensorView; k: TensorView; v: TensorView; out: TensorView; heads: Map<number, { q: Float32Array; k: Float32Array; v: Float32Array }> }

async function makeBufs(ctx: GpuContext, s: Shape): Promise<Bufs> {
  const shape = [s.B, s.H, s.S, s.D];
  const q = allocTensor(ctx, shape, 'f16', 'q');
  const k = allocTensor(ctx, shape, 'f16', 'k');
  const vv = allocTensor(ctx, shape, 'f16', 'v');
  const out = allocTensor(ctx, [s.B, s.S, s.H * s.D], 'f16', 'out');
  await runCalls(ctx, [await randomFill(ctx, { out: q, seed: 11 + s.S }), await randomFill(ctx, { out: k, seed: 12 + s.S }), await randomFill(ctx, { out: vv, seed: 13 + s.S })]);
  const heads = new Map<number, { q: Float32Array; k: Float32Array; v: Float32Array }>();
  for (const h of new Set(SAMPLES(s).map(([hh]) => hh))) {
    const n = s.S * s.D;
    heads.set(h, { q: await readF16(ctx, q, h * n, n), k: await readF16(ctx, k, h * n, n), v: await readF16(ctx, vv, h * n, n) });
  }
  return { q, k, v: vv, out, heads };
}

/** Sampled (head, query row) pairs: first/last rows (shifted windows, partial tiles), a middle one, other heads. */
const SAMPLES = (s: Shape): [number, number][] =>
  [[0, 0], [0, s.S - 1], [Math.min(7, s.H - 1), 1], [Math.min(13, s.H - 1), s.S >> 1], [s.H - 1, s.S - 2], [s.H - 1, 777 % s.S]];

async function checkSampled(ctx: GpuContext, s: Shape, b: Bufs): Promise<number> {
  let worst = 0;
  for (const [h, i] of SAMPLES(s)) {
    const hd = b.heads.get(h)!;
    const want = attentionRowReference(hd.q, hd.k, hd.v, s.S, s.D, i);
    const got = await readF16(ctx, b.out, (i * s.H + h) * s.D, s.D);
    for (let e = 0; e < s.D; e++) worst = Math.max(worst, Number.isFinite(got[e]) ? Math.abs(got[e] - want[e]) : Infinity);
  }
  return worst;
}

async function runVariant(ctx: GpuContext, s: Shape, b: Bufs, tiles: Tiles, stage: number, deadlineS: number): Promise<Row> {
  const row: Row = { S: s.S, D: s.D, H: s.H, variant: name(tiles), tiles, stage };
  rows.push(row);
  if (elapsedS() > deadlineS) {
    row.error = `skipped: this shape's share of ATTN_TUNE_BUDGET_S (${deadlineS.toFixed(0)} s) is used`;
    return row;
  }
  try {
    const args: AttentionArgs = { q: b.q, k: b.k, v: b.v, out: b.out, path: 'subgroup-matrix', tiles, label: row.variant };
    const c0 = performance.now();
    const calls: KernelCall[] = await attentionFused(ctx, args);
    row.compileS = +((performance.now() - c0) / 1000).toFixed(2);
    ctx.fill(b.out.buffer, 0x7e007e00); // NaN poison: every output element must be written
    await runCalls(ctx, calls);
    row.maxAbsErr = await checkSampled(ctx, s, b);
    row.ok = row.maxAbsErr <= 1e-2;
    const tm = await timeAttention(ctx, calls); // busy period first: the compile and the check left the GPU idle
    row.ms = tm.medianMs;
    row.method = tm.method;
    row.tflops = calls[0].flops / (tm.medianMs / 1000) / 1e12;
  } catch (e) {
    row.error = String((e as Error).message).split('\n').slice(0, 3).join(' ').slice(0, 600);
  }
  console.log(`[${elapsedS().toFixed(0).padStart(3)} s] S=${String(s.S).padEnd(5)} D=${s.D} ${row.variant.padEnd(34)} ` +
    (row.error ? row.error : `${row.ms!.toFixed(3)} ms ${row.tflops!.toFixed(1).padStart(6)} TFLOP/s err ${row.maxAbsErr!.toExponential(1)}${row.ok ? '' : ' WRONG'} (build ${row.compileS} s)`));
  return row;
}

// ---- winners' validation on small odd shapes (bias, causal, lse, rising maxima) against float64 ----

interface SmallCase { B: number; H: number; Sq: number; Skv: number; bias?: boolean; ramp?: number; causal?: boolean; scale?: number; kvLength?: number[] }
const SMALL: SmallCase[] = [
  { B: 2, H: 3, Sq: 37, Skv: 129 },
  { B: 2, H: 2, Sq: 29, Skv: 70, kvLength: [70, 31] }, // text encoders' padding ('direct' rows fall back to staged here)
  { B: 1, H: 2, Sq: 77, Skv: 77, bias: true, causal: true },
  { B: 1, H: 1, Sq: 33, Skv: 150, bias: true, ramp: 0.6, scale: 0.05 },
];

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}

async function validateSmall(ctx: GpuContext, D: number, tiles: Tiles): Promise<string | null> {
  for (const c of quick ? SMALL.slice(0, 1) : SMALL) { // quick: one case (each flag combination is one more lavapipe JIT)
    const r = lcg(c.Sq * 31 + c.Skv);
    const f16 = (n: number) => Float32Array.from({ length: n }, () => r() * 1.7);
    const q = f16(c.B * c.H * c.Sq * D);
    const k = f16(c.B * c.H * c.Skv * D);
    const vv = f16(c.B * c.H * c.Skv * D);
    const bias = c.bias ? Float32Array.from({ length: c.H * c.Sq * c.Skv }, (_, i) => r() * 2 + (c.ramp ?? 0) * (i % c.Skv)) : null;
    const up = (a: Float32Array, shape: number[]) => {
      const t = allocTensor(ctx, shape, 'f16');
      const bits = toF16Array(a); // round to nearest even, as the GPU's f32 -> f16 conversion
      a.set(fromF16Array(bits)); // the reference uses the rounded values
      ctx.write(t.buffer, bits);
      return t;
    };
    const qt = up(q, [c.B, c.H, c.Sq, D]);
    const kt = up(k, [c.B, c.H, c.Skv, D]);
    const vt = up(vv, [c.B, c.H, c.Skv, D]);
    let bt: TensorView | undefined;
    if (bias) {
      bt = allocTensor(ctx, [c.H, c.Sq, c.Skv], 'f32');
      ctx.write(bt.buffer, bias);
    }
    let kvl: TensorView | undefined;
    if (c.kvLength) {
      kvl = allocTensor(ctx, [c.B], 'u32');
      ctx.write(kvl.buffer, Uint32Array.from(c.kvLength));
    }
    const out = allocTensor(ctx, [c.B, c.Sq, c.H * D], 'f16');
    const lse = allocTensor(ctx, [c.B, c.H, c.Sq], 'f32');
    ctx.fill(out.buffer, 0x7e007e00);
    ctx.fill(lse.buffer, 0x7fc00000);
    await runCalls(ctx, await attentionFused(ctx, { q: qt, k: kt, v: vt, out, lse, bias: bt, causal: c.causal, kvLength: kvl, scale: c.scale, path: 'subgroup-matrix', tiles: tableLike(c, tiles) }));
    const got = fromF16Array(new Uint16Array(await ctx.readback(out.buffer, c.B * c.Sq * c.H * D * 2)));
    const gotLse = new Float32Array(await ctx.readback(lse.buffer, c.B * c.H * c.Sq * 4));
    const scale = c.scale ?? 1 / Math.sqrt(D);
    let num = 0;
    let den = 0;
    let lseErr = 0;
    for (let b = 0; b < c.B; b++) {
      for (let h = 0; h < c.H; h++) {
        const bh = b * c.H + h;
        for (let i = 0; i < c.Sq; i++) {
          const s = new Float64Array(c.Skv).fill(-Infinity);
          let max = -Infinity;
          const kvEnd = c.kvLength ? c.kvLength[b] : c.Skv;
          for (let j = 0; j < kvEnd; j++) {
            if (c.causal && j > i) continue;
            let d = 0;
            for (let e = 0; e < D; e++) d += q[(bh * c.Sq + i) * D + e] * k[(bh * c.Skv + j) * D + e];
            s[j] = d * scale + (bias ? bias[(h * c.Sq + i) * c.Skv + j] : 0);
            max = Math.max(max, s[j]);
          }
          let sum = 0;
          const o = new Float64Array(D);
          for (let j = 0; j < c.Skv; j++) {
            if (s[j] === -Infinity) continue;
            const p = Math.exp(s[j] - max);
            sum += p;
            for (let e = 0; e < D; e++) o[e] += p * vv[(bh * c.Skv + j) * D + e];
          }
          for (let e = 0; e < D; e++) {
            const want = o[e] / sum;
            const g = got[(b * c.Sq + i) * c.H * D + h * D + e];
            num += Number.isFinite(g) ? (g - want) ** 2 : Infinity;
            den += want * want;
          }
          const wl = max + Math.log(sum);
          lseErr = Math.max(lseErr, Math.abs(gotLse[bh * c.Sq + i] - wl) / Math.max(1, Math.abs(wl)));
        }
      }
    }
    const rel = Math.sqrt(num / den);
    for (const t of [qt, kt, vt, out, lse, bt, kvl]) t?.buffer.destroy();
    if (!(rel <= 3e-3) || !(lseErr <= 2e-3)) return `small case ${JSON.stringify(c)}: relL2 ${rel.toExponential(2)}, lse err ${lseErr.toExponential(2)}`;
  }
  return null;
}

/**
 * The tiles attention() would use for this small call if `tiles` were the table's row: 'direct' falls back to
 * 'staged' where it cannot run (kvLength, few keys), as planSubgroupMatrix does for table rows.
 */
function tableLike(c: SmallCase, tiles: Tiles): Tiles {
  if (tiles.kvLoad !== undefined && tiles.kvLoad !== 'staged' && (c.kvLength || c.Sq < 16 || c.Skv < tiles.BKV)) return { ...tiles, kvLoad: 'staged' };
  return tiles;
}

// ---- output ----

function writeResults(info: Record<string, unknown>, table?: AttentionTable, notes: string[] = []): void {
  writeFileSync(`${outDir}/attention-tune.json`, JSON.stringify({ ...info, budgetS, elapsedS: +elapsedS().toFixed(1), rows, table }, null, 1));
  const md = [
    `# Attention autotune (${info.adapter}, ${info.date}, robustness ${robustness ? 'on' : 'off'})`, '',
    'B=1, H=24 (quick: 2), flops = 4·B·H·S²·D, median GPU time; err = max abs error on 6 sampled rows vs float64.', '',
    '| S | D | variant | stage | ms | TFLOP/s | err | build s |', '|---:|---:|---|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    md.push(`| ${r.S} | ${r.D} | ${r.variant} | ${r.stage} | ${r.ms?.toFixed(3) ?? '–'} | ${r.tflops?.toFixed(1) ?? (r.error ? r.error.slice(0, 60) : '–')} | ` +
      `${r.maxAbsErr?.toExponential(1) ?? '–'}${r.ok === false ? ' WRONG' : ''} | ${r.compileS ?? '–'} |`);
  }
  if (notes.length) md.push('', ...notes.map((n) => `- ${n}`));
  writeFileSync(`${outDir}/attention-tune.md`, md.join('\n') + '\n');
}

/** The attention-table.ts module text: the committed file with its table literal replaced. */
function tableModule(table: AttentionTable): string {
  const src = readFileSync('src/kernels-wgsl/attention-table.ts', 'utf8');
  const start = src.indexOf('export const ATTENTION_TABLE: AttentionTable = ');
  const end = src.indexOf('};\n', start);
  if (start < 0 || end < 0) throw new Error('src/kernels-wgsl/attention-table.ts: cannot find the ATTENTION_TABLE literal to replace');
  return src.slice(0, start) + `export const ATTENTION_TABLE: AttentionTable = ${JSON.stringify(table, null, 2)};\n` + src.slice(end + 3);
}

/** Share of the sweep budget each shape may use (unused time carries over), in the order the shapes run. */
const SHARE = [0.35, 0.25, 0.15, 0.15];

async function main(): Promise<void> {
  const ctx = await GpuContext.open({ robustness });
  const info = {
    adapter: ctx.caps.adapterName, vendor: ctx.caps.vendor, architecture: ctx.caps.architecture, subgroup: ctx.caps.subgroupMaxSize,
    tensorCores: ctx.caps.tensorCores, subgroups: ctx.caps.subgroups, robustness, quick, budgetS, date: new Date().toISOString(),
  };
  console.log(JSON.stringify(info));
  if (!ctx.caps.tensorCores && !quick) throw new Error(`adapter '${ctx.caps.adapterName}' has no tensor cores: nothing to tune (use --quick for a dry run with emulated matrix builtins)`);
  const notes: string[] = [];
  const defaults = new Map<string, number>(); // `${D}:${class}` -> built-in default's TFLOP/s
  const validated = new Map<string, string | null>(); // variant name + D -> null (passed) or why not
  const entryRows = new Map<string, AttentionTableRow>();
  const byD = new Map<number, Row[]>();
  let table: AttentionTable | undefined;
  const sweepBudget = budgetS - VALIDATE_RESERVE_S;

  /** Small-shape check of one tiles choice (cached); null when it passed. */
  const validate = async (D: number, tiles: Tiles): Promise<string | null> => {
    const key = `${D}:${name(tiles)}`;
    if (!validated.has(key)) {
      let why: string | null;
      try {
        why = elapsedS() > budgetS + 15 ? 'not run: out of time' : await ctx.withBufferScope(() => validateSmall(ctx, D, tiles));
      } catch (e) {
        why = (e as Error).message.split('\n')[0];
      }
      validated.set(key, why);
    }
    return validated.get(key)!;
  };

  /** Writes the table with the rows validated so far (after every shape: a run cut short still leaves one). */
  const writeTable = () => {
    const entry: AttentionTableEntry = {
      device: { vendor: ctx.caps.vendor, architecture: ctx.caps.architecture || undefined, description: ctx.caps.adapterName },
      subgroupSize: ctx.caps.subgroupMaxSize,
      measured: `${info.date} bench/attention-tune.ts${quick ? ' --quick' : ''} robustness ${robustness ? 'on' : 'off'}`,
      rows: [...entryRows.values()].sort((a, b) => a.D - b.D || a.lengthClass.localeCompare(b.lengthClass)),
    };
    const same = (e: AttentionTableEntry) => e.device.vendor === entry.device.vendor && e.device.description === entry.device.description && e.subgroupSize === entry.subgroupSize;
    table = { version: 1, entries: [...ATTENTION_TABLE.entries.filter((e) => !same(e)), entry] };
    writeFileSync(`${outDir}/attention-table.json`, JSON.stringify(table, null, 1));
    writeFileSync(`${outDir}/attention-table.ts`, tableModule(table));
    writeResults(info, table, notes);
  };

  /** After a shape: its best correct variant, validated on small shapes, becomes the table row of (D, class). */
  const settle = async (s: Shape, shapeRows: Row[]) => {
    const key = `${s.D}:${lengthClass(s.S)}`;
    const dflt = shapeRows.find((r) => r.variant === name(builtinDefault(s)) && r.tflops);
    if (dflt) defaults.set(key, dflt.tflops!);
    const ranked = shapeRows.filter((r) => r.ok && r.tflops).sort((a, b) => b.tflops! - a.tflops!);
    for (const r of ranked.slice(0, 3)) { // the best that passes the small-shape check
      const tiles: Tiles = { NSG: r.tiles.NSG, BKV: r.tiles.BKV, kvLoad: r.tiles.kvLoad, reduce: r.tiles.reduce, splits: r.tiles.splits, ...(r.tiles.vecKv ? { vecKv: true } : {}), ...(r.tiles.vecScratch ? { vecScratch: true } : {}), ...(r.tiles.prefetch ? { prefetch: true } : {}), ...(r.tiles.interleave ? { interleave: true } : {}), ...(r.tiles.vecOut ? { vecOut: true } : {}), ...(r.tiles.pairRows ? { pairRows: r.tiles.pairRows } : {}), ...(quick ? { emulate: true } : {}) };
      const why = await validate(s.D, tiles);
      if (why) {
        notes.push(`D=${s.D} S=${s.S}: ${r.variant} REJECTED by the small-shape check: ${why}`);
        console.log(`REJECTED D=${s.D} S=${s.S} ${r.variant}: ${why}`);
        continue;
      }
      const { emulate: _e, ...tuning } = tiles;
      void _e;
      const cur = entryRows.get(key);
      if (!cur || (cur.tflops ?? 0) < r.tflops!) {
        entryRows.set(key, { D: s.D, lengthClass: lengthClass(s.S), tiles: tuning, S: r.S, tflops: +r.tflops!.toFixed(1), defaultTflops: defaults.has(key) ? +defaults.get(key)!.toFixed(1) : undefined });
      }
      notes.push(`D=${s.D} S=${s.S} (${lengthClass(s.S)}): best ${r.variant} ${r.tflops!.toFixed(1)} TFLOP/s (built-in default ${defaults.get(key)?.toFixed(1) ?? '–'}); small-shape check passed`);
      break;
    }
    writeTable();
  };

  // Graceful stop (e.g. `timeout` in a wrapper script): what is on disk is already consistent; say so and exit.
  process.on('SIGTERM', () => {
    notes.push(`stopped by SIGTERM at ${elapsedS().toFixed(0)} s: results and table hold the shapes finished so far`);
    try { writeResults(info, table, notes); } finally { process.exit(143); }
  });

  try {
    const shapes: { s: Shape; stage: number }[] = [...PRIMARY.map((s) => ({ s, stage: 1 })), ...SECONDARY.map((s) => ({ s, stage: 2 }))];
    let allowed = 0;
    for (const [idx, { s, stage }] of shapes.entries()) {
      allowed += sweepBudget * (SHARE[idx] ?? 0.1);
      const deadline = Math.min(allowed, sweepBudget);
      let list: Tiles[];
      if (stage === 1) {
        list = grid(s.D);
      } else {
        // Stage 2: the default and the stage-1 leaders of this head dim; split-KV variants at short lengths.
        const leaders = (byD.get(s.D) ?? []).filter((r) => r.ok && r.tflops).sort((a, b) => b.tflops! - a.tflops!).slice(0, quick ? 2 : 4).map((r) => r.tiles);
        const dflt = builtinDefault(s);
        list = [dflt, ...leaders.filter((t) => name(t) !== name(dflt))];
        if (lengthClass(s.S) === 'short') {
          for (const t of leaders.slice(0, 2)) for (const splits of quick ? [2] : [2, 3]) list.push({ ...t, splits });
          if (!quick) list.push(v(4, 32, 'staged', 'smem', 2));
        }
      }
      const shapeRows = await ctx.withBufferScope(async () => {
        const bufs = await makeBufs(ctx, s);
        const out: Row[] = [];
        for (const t of list) out.push(await runVariant(ctx, s, bufs, t, stage, deadline));
        await ctx.device.queue.onSubmittedWorkDone();
        return out;
      });
      if (stage === 1) byD.set(s.D, shapeRows);
      await settle(s, shapeRows);
    }
    // The built-in defaults changed with this tuner (vec4 staging, flag protocol): check them on small shapes too.
    if (!quick) {
      for (const s of shapes.map((x) => x.s)) {
        const t = builtinDefault(s);
        if (elapsedS() > budgetS + 10) break;
        const why = await validate(s.D, t);
        const note = `built-in default ${name(t)} D=${s.D}: small-shape check ${why ? `FAILED: ${why}` : 'passed'}`;
        if (!notes.includes(note)) notes.push(note);
      }
    }
    // Round trip: attention() must pick the winners through the table file.
    process.env[ATTENTION_TABLE_ENV] = `${outDir}/attention-table.json`;
    for (const { s } of shapes) {
      const dummy = (shape: number[]): TensorView => ({ buffer: ctx.sharedBuffer('attention-tune:dummy'), offset: 0, shape, dtype: 'f16' });
      const a: AttentionArgs = { q: dummy([s.B, s.H, s.S, s.D]), k: dummy([s.B, s.H, s.S, s.D]), v: dummy([s.B, s.H, s.S, s.D]), out: dummy([s.B, s.S, s.H * s.D]) };
      const picked = quick ? null : attentionTilesFor(ctx, a);
      notes.push(`table round trip S=${s.S} D=${s.D}: attention() picks ${picked ? `${name(picked)} (${picked.source})` : '(quick: emulated tiles are not looked up)'}`);
    }
    writeResults(info, table, notes);
    console.log(notes.join('\n'));
    console.log(`wrote ${outDir}/attention-tune.{json,md}, attention-table.{json,ts} in ${elapsedS().toFixed(0)} s`);
  } catch (e) {
    notes.push(`aborted: ${(e as Error).message}`);
    writeResults(info, table, notes);
    throw e;
  } finally {
    ctx.destroy();
  }
}

await main();
