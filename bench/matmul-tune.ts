// Times matmul variants at the FLUX.1 linear shapes (M = 4608 tokens at 1024^2 incl. 512 text tokens) and checks
// every variant's output on sampled elements against a float64 CPU dot product. Writes JSON + Markdown and a
// spec for bench/reference/kernels_ref.py (PyTorch, same shapes, same run) into --out.
//
// Build and run (GPU machine):
//   npx tsc --outDir .bench-build --rootDir . --module nodenext --moduleResolution nodenext --target es2022 \
//     --types node,@webgpu/types --skipLibCheck bench/matmul-tune.ts
//   node .bench-build/bench/matmul-tune.js --out DIR [--quick] [--robustness]
import { mkdirSync, writeFileSync } from 'node:fs';
import { GpuContext } from '../src/gpu/context.js';
import { timeCalls } from '../src/gpu/timer.js';
import { allocTensor, runCalls, type KernelCall, type TensorView } from '../src/gpu/kernel.js';
import { defaultSgTiling, linear, linearWithTiling, type LinearArgs, type SgTiling } from '../src/kernels-wgsl/matmul.js';
import { subgroupMatrixMatmulWgsl } from '../src/kernels-wgsl/matmul-subgroup-matrix.wgsl.js';
import { randomFill } from '../src/kernels-wgsl/random-fill.js';
import { fromF16Array } from '../src/util/f16.js';

const argv = process.argv.slice(2);
const outDir = argv.includes('--out') ? argv[argv.indexOf('--out') + 1] : 'results/tmp/matmul-tune';
const quick = argv.includes('--quick'); // small shapes, for a dry run on lavapipe
const robustness = argv.includes('--robustness');
const budgetS = Number(process.env.MATMUL_TUNE_BUDGET_S ?? 300);
mkdirSync(outDir, { recursive: true });

const SHAPES: { name: string; M: number; K: number; N: number }[] = quick
  ? [{ name: 'quick', M: 200, K: 136, N: 264 }]
  : [
      { name: 'qkv/proj K3072 N3072', M: 4608, K: 3072, N: 3072 },
      { name: 'qkv fused K3072 N9216', M: 4608, K: 3072, N: 9216 },
      { name: 'mlp up K3072 N12288', M: 4608, K: 3072, N: 12288 },
      { name: 'mlp down K12288 N3072', M: 4608, K: 12288, N: 3072 },
      { name: 'single proj_out K15360 N3072', M: 4608, K: 15360, N: 3072 },
    ];

interface Variant {
  name: string;
  tiling?: SgTiling; // undefined = portable tiled path
  epilogue?: 'bias+gelu' | 'gate+residual';
}

function variants(ctx: GpuContext): Variant[] {
  const v: Variant[] = [{ name: 'tiled (portable)' }];
  if (!ctx.caps.tensorCores) return v;
  const sg = ctx.caps.subgroupMaxSize;
  // Variants are spelled out relative to the double-buffered K-step-32 tiling (the default before run 2).
  const prev: SgTiling = { sgM: 2, sgN: 4, fragM: 4, fragN: 2, bk: 32, staging: 'staged', stages: 2, groupM: 8, subgroupSize: sg };
  const t = (over: Partial<SgTiling>): SgTiling => ({ ...prev, ...over });
  // Run 1 (docs/matmul.md) also timed 2x2sg 4x4fr (88-96 TFLOP/s), 4x2sg 2x4fr (= default) and direct loads
  // (33-59); those are left out here to save GPU time.
  const one = (over: Partial<SgTiling>): SgTiling => t({ stages: 1, ...over });
  v.push(
    { name: 'sgm 2st 128x128 2x4sg 4x2fr bk32 (default before run 2)', tiling: prev },
    { name: 'sgm 1st 128x128 2x4sg 4x2fr bk32', tiling: one({}) },
    { name: 'sgm 1st 128x128 2x4sg 4x2fr bk64 (default now)', tiling: one({ bk: 64 }) },
    { name: 'sgm 2st 256x128 4x2sg 4x4fr bk16', tiling: t({ sgM: 4, sgN: 2, fragM: 4, fragN: 4, bk: 16 }) },
    { name: 'sgm 1st 256x128 4x2sg 4x4fr bk32', tiling: one({ sgM: 4, sgN: 2, fragM: 4, fragN: 4 }) },
    { name: 'sgm 1st 128x256 2x4sg 4x4fr bk32', tiling: one({ sgM: 2, sgN: 4, fragM: 4, fragN: 4 }) },
    { name: 'sgm 1st 192x128 3x4sg 4x2fr bk32 (12 warps)', tiling: one({ sgM: 3, sgN: 4 }) },
    { name: '2st bk32, groupM 16', tiling: t({ groupM: 16 }) },
    { name: '2st bk32, groupM 1 (no swizzle)', tiling: t({ groupM: 1 }) },
    { name: 'default + bias+gelu epilogue', tiling: defaultSgTiling(sg), epilogue: 'bias+gelu' },
    { name: 'default + gate+residual(in place)', tiling: defaultSgTiling(sg), epilogue: 'gate+residual' },
  );
  return v;
}

async function readRow(ctx: GpuContext, t: TensorView, row: number, len: number): Promise<Float32Array> {
  const raw = await ctx.readback(t.buffer, len * 2, t.offset + row * len * 2);
  return fromF16Array(new Uint16Array(raw));
}

/** Checks 12x12 sampled outputs of out = x w^T (+ epilogue-free variants only) against float64 dot products. */
async function checkSampled(ctx: GpuContext, x: TensorView, w: TensorView, out: TensorView, M: number, K: number, N: number): Promise<number> {
  const rows = Array.from({ length: 12 }, (_, i) => (i === 11 ? M - 1 : Math.floor((i * M) / 11)));
  const cols = Array.from({ length: 12 }, (_, i) => (i === 11 ? N - 1 : Math.floor((i * N) / 11 + 7) % N));
  const wRows = await Promise.all(cols.map((n) => readRow(ctx, w, n, K)));
  let num = 0;
  let den = 0;
  for (const m of rows) {
    const xr = await readRow(ctx, x, m, K);
    const or = await readRow(ctx, out, m, N);
    cols.forEach((n, j) => {
      let s = 0;
      for (let k = 0; k < K; k++) s += xr[k] * wRows[j][k];
      const d = or[n] - s;
      num += Number.isFinite(d) ? d * d : Infinity;
      den += s * s;
    });
  }
  return Math.sqrt(num / den);
}

interface Row { shape: string; variant: string; ms?: number; tflops?: number; relErr?: number; error?: string; method?: string }

async function main() {
  const t0 = performance.now();
  const ctx = await GpuContext.open({ robustness });
  const info = { adapter: ctx.caps.adapterName, robustness, tensorCores: ctx.caps.tensorCores, subgroup: ctx.caps.subgroupMaxSize, date: new Date().toISOString() };
  console.log(JSON.stringify(info));
  const rows: Row[] = [];
  const vs = variants(ctx);
  // The default kernel's WGSL, for docs/matmul.md and for reading what the compiler gets.
  if (ctx.caps.tensorCores) {
    writeFileSync(`${outDir}/default-kernel.wgsl`, subgroupMatrixMatmulWgsl({
      aType: 'f16', bType: 'f16', outType: 'f16', bLayout: 'nk', vecA: true, vecB: true, aAccess: 'read', bAccess: 'read',
      biasType: 'f16', gateType: 'f16', biasAccess: 'read', gateAccess: 'read', resAccess: 'read',
    }, defaultSgTiling(ctx.caps.subgroupMaxSize, ctx.caps.limits.maxComputeWorkgroupStorageSize)));
  }
  for (const s of SHAPES) {
    const x = allocTensor(ctx, [s.M, s.K], 'f16', 'x');
    const w = allocTensor(ctx, [s.N, s.K], 'f16', 'w');
    const out = allocTensor(ctx, [s.M, s.N], 'f16', 'out');
    const bias = allocTensor(ctx, [s.N], 'f16', 'bias');
    const gate = allocTensor(ctx, [1, 3 * s.N], 'f16', 'gate');
    await runCalls(ctx, [
      await randomFill(ctx, { out: x, seed: 1, std: 1 }),
      await randomFill(ctx, { out: w, seed: 2, std: 1 / Math.sqrt(s.K) }),
      await randomFill(ctx, { out: bias, seed: 3, std: 0.1 }),
      await randomFill(ctx, { out: gate, seed: 4, std: 0.5 }),
    ]);
    for (const v of vs) {
      const row: Row = { shape: `${s.name} (M${s.M})`, variant: v.name };
      rows.push(row);
      if ((performance.now() - t0) / 1000 > budgetS) {
        row.error = 'skipped: time budget';
        continue;
      }
      try {
        const base: LinearArgs = { x, w, out, path: v.tiling ? 'subgroup-matrix' : 'tiled' };
        if (v.epilogue === 'bias+gelu') Object.assign(base, { bias, activation: 'gelu_tanh' });
        if (v.epilogue === 'gate+residual') Object.assign(base, { gate, gateChunk: 2, rowsPerBatch: s.M, residual: out });
        const call: KernelCall = v.tiling ? await linearWithTiling(ctx, base, { tiling: v.tiling }) : await linear(ctx, base);
        if (!v.epilogue) {
          ctx.fill(out.buffer, 0x7e007e00);
          await runCalls(ctx, [call]);
          row.relErr = await checkSampled(ctx, x, w, out, s.M, s.K, s.N);
        }
        const inner = call.flops > 5e11 ? 3 : 5;
        const tm = await timeCalls(ctx, [call], { warmup: 3, reps: 10, inner });
        row.ms = tm.medianMs;
        row.method = tm.method;
        row.tflops = call.flops / (tm.medianMs / 1000) / 1e12;
      } catch (e) {
        row.error = String((e as Error).message).slice(0, 4000);
      }
      console.log(`${row.shape.padEnd(40)} ${row.variant.padEnd(48)} ` +
        (row.error ? `ERROR ${row.error.split('\n')[0]}` : `${row.ms!.toFixed(3)} ms  ${row.tflops!.toFixed(1)} TFLOP/s  relErr ${row.relErr?.toExponential(2) ?? '-'}`));
    }
    for (const t of [x, w, out, bias, gate]) t.buffer.destroy();
  }
  writeFileSync(`${outDir}/matmul-tune.json`, JSON.stringify({ ...info, rows }, null, 1));
  const md = ['| shape | variant | median ms | TFLOP/s | sampled rel err |', '|---|---|---|---|---|'];
  for (const r of rows) {
    md.push(`| ${r.shape} | ${r.variant} | ${r.ms?.toFixed(3) ?? '-'} | ${r.tflops?.toFixed(1) ?? (r.error ? 'error' : '-')} | ${r.relErr?.toExponential(1) ?? '-'} |`);
  }
  writeFileSync(`${outDir}/matmul-tune.md`, `${JSON.stringify(info)}\n\n${md.join('\n')}\n`);
  // Same shapes for the PyTorch reference (F.linear = x W^T + b, f16).
  writeFileSync(`${outDir}/torch-spec.json`, JSON.stringify(SHAPES.map((s) => ({ id: s.name, op: 'linear', shape: { M: s.M, K: s.K, N: s.N } }))));
  ctx.destroy();
}

await main();
