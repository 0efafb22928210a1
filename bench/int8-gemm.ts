// The W8A8 linear (issue 13's optional int8 path) beside the f16 linear at the FLUX shapes, same process, same
// inputs: f16 linear() (the tile table's choice), the activation quantizer alone, the int8 GEMM alone (default
// int8 tiling and a few others), and quantizer + GEMM (what a graph's int8 linear costs). Also the int8 kernel with
// only its MMAs left ('mma-only' ablation: the ceiling of 16x16x32 i8 cooperative matrices, as docs/matmul.md
// measured 400 TFLOP/s for f16). Every non-ablated output is checked on 12x12 sampled elements against a float64
// dot product of the unquantized f16 inputs (the int8 error is quantization, ~1%; a wrong offset is ~100%).
// Writes int8-gemm.json and torch-int8-spec.json for bench/reference/int8_gemm_ref.py (torch._int_mm and F.linear).
//
// Build and run (GPU machine, after `source .gpu/env.sh`):
//   node node_modules/typescript/bin/tsc --outDir results/tmp/bench-build --rootDir . --module nodenext \
//     --moduleResolution nodenext --target es2022 --lib es2023 --types node,@webgpu/types --skipLibCheck bench/int8-gemm.ts
//   node results/tmp/bench-build/bench/int8-gemm.js --out DIR [--shapes mlp_up_1024,...]
import { mkdirSync, writeFileSync } from 'node:fs';
import { GpuContext } from '../src/gpu/context.js';
import { allocTensor, runCalls, type KernelCall } from '../src/gpu/kernel.js';
import { timeCalls } from '../src/gpu/timer.js';
import { int8MatmulUnavailable } from '../src/gpu/variants.js';
import { defaultI8Tiling, defaultSgTiling, int8Tiling, linearCalls, linearI8Calls, type SgAblation, type SgTiling } from '../src/kernels-wgsl/matmul.js';
import { int8RowWords, quantizeRowsI8 } from '../src/kernels-wgsl/quantize-i8.js';
import { randomFill } from '../src/kernels-wgsl/random-fill.js';
import { SampledLinearCheck } from './lib/sampled-linear-check.js';

const argv = process.argv.slice(2);
const flag = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const outDir = flag('--out') ?? 'results/tmp/int8-gemm';
mkdirSync(outDir, { recursive: true });

interface Shape { name: string; M: number; K: number; N: number }
const PAIRS: [string, number, number][] = [['proj', 3072, 3072], ['qkv', 3072, 9216], ['mlp_up', 3072, 12288], ['mlp_down', 12288, 3072], ['single_out', 15360, 3072]];
const ALL: Shape[] = [4608, 1536].flatMap((M) => PAIRS.map(([n, K, N]) => ({ name: `${n}_${M === 4608 ? 1024 : 512}`, M, K, N })));
// --small-m: the double blocks' per-stream GEMMs (img 1024 rows at 512², txt 512 rows at both sizes), where 128-row
// tiles leave the GPU under-filled: f16 and int8 with split-K and 64-row tiles.
const SMALL_M: Shape[] = [1024, 512].flatMap((M) => PAIRS.slice(0, 4).map(([n, K, N]) => ({ name: `${n}_m${M}`, M, K, N })));
const smallM = argv.includes('--small-m');
const only = flag('--shapes')?.split(',');
const SHAPES = smallM ? SMALL_M : only ? ALL.filter((s) => only.includes(s.name)) : ALL;

interface Row { shape: string; M: number; K: number; N: number; what: string; ms?: number; tflops?: number; relErr?: number; error?: string }

async function main() {
  const ctx = await GpuContext.open({ robustness: false });
  const why = int8MatmulUnavailable(ctx.caps);
  console.log(JSON.stringify({ adapter: ctx.caps.adapterName, int8TensorCores: why ?? 'yes', date: new Date().toISOString() }));
  if (why) throw new Error(`int8-gemm: ${why}`);
  const sg = ctx.caps.subgroupMaxSize;
  const base = defaultI8Tiling(sg);
  const tilings: [string, SgTiling][] = [
    ['int8 128x128 bk128 (default)', base],
    ['int8 128x128 bk64', { ...base, bk: 64 }],
    ['int8 256x128 4x4fr bk96', { ...base, fragN: 4, sgN: 2, sgM: 4, bk: 96 }],
    ['int8 128x256 4x4fr bk96', { ...base, fragN: 4, bk: 96 }],
    ['int8 256x128 16sg bk64', { ...base, sgM: 4, sgN: 4, bk: 64 }],
  ];
  const rows: Row[] = [];
  const dump = () => writeFileSync(`${outDir}/int8-gemm.json`, JSON.stringify({ adapter: ctx.caps.adapterName, date: new Date().toISOString(), rows }, null, 1));
  writeFileSync(`${outDir}/torch-int8-spec.json`, JSON.stringify(SHAPES.map((s) => ({ id: s.name, M: s.M, K: s.K, N: s.N }))));

  for (const s of SHAPES) {
    const x = allocTensor(ctx, [s.M, s.K], 'f16', 'x');
    const w = allocTensor(ctx, [s.N, s.K], 'f16', 'w');
    const out = allocTensor(ctx, [s.M, s.N], 'f16', 'out');
    const Kw = int8RowWords(s.K);
    const xq = allocTensor(ctx, [s.M, Kw], 'u32', 'xq');
    const xs = allocTensor(ctx, [s.M], 'f32', 'xs');
    const wq = allocTensor(ctx, [s.N, Kw], 'u32', 'wq');
    const ws = allocTensor(ctx, [s.N], 'f32', 'ws');
    await runCalls(ctx, [
      await randomFill(ctx, { out: x, seed: 1 + s.K, std: 1 }),
      await randomFill(ctx, { out: w, seed: 2 + s.N, std: 1 / Math.sqrt(s.K) }),
    ]);
    const quantX = await quantizeRowsI8(ctx, { x, q: xq, scale: xs });
    await runCalls(ctx, [await quantizeRowsI8(ctx, { x: w, q: wq, scale: ws }), quantX]);
    const sampled = await SampledLinearCheck.create(ctx, x, w, s.M, s.K, s.N);
    const flops = 2 * s.M * s.N * s.K;
    const run = async (what: string, calls: KernelCall[], opts: { check?: boolean; countFlops?: boolean } = {}) => {
      const row: Row = { shape: s.name, M: s.M, K: s.K, N: s.N, what };
      rows.push(row);
      try {
        if (opts.check) {
          ctx.fill(out.buffer, 0x7e007e00);
          await runCalls(ctx, calls);
          row.relErr = await sampled.relErr(out);
          if (!(row.relErr < 0.05)) throw new Error(`wrong output: sampled rel. L2 error ${row.relErr} vs the unquantized float64 product`);
        }
        const tm = await timeCalls(ctx, calls, { warmup: 3, reps: 10, inner: flops > 5e11 ? 2 : 4, busyMs: 150 });
        row.ms = tm.medianMs;
        if (opts.countFlops !== false) row.tflops = flops / (tm.medianMs / 1e3) / 1e12;
      } catch (e) {
        row.error = String((e as Error).message).slice(0, 400);
      }
      console.log(`${s.name.padEnd(16)} ${what.padEnd(40)} ${row.error ? `ERROR ${row.error.slice(0, 200)}` : `${row.ms!.toFixed(3)} ms${row.tflops ? ` ${row.tflops.toFixed(1)} TFLOP/s` : ''}${row.relErr !== undefined ? ` err ${row.relErr.toExponential(2)}` : ''}`}`);
      dump();
    };
    await run('f16 linear (tile table)', await linearCalls(ctx, { x, w, out }), { check: true });
    if (smallM) {
      const f = defaultSgTiling(sg, ctx.caps.limits.maxComputeWorkgroupStorageSize);
      const f16Variants: [string, SgTiling][] = [
        ['f16 default', f], ['f16 split-K 2', { ...f, splitK: 2 }], ['f16 split-K 3', { ...f, splitK: 3 }],
        ['f16 64x128 (2x4 sg of 2x2)', { ...f, fragM: 2, fragN: 2, sgM: 2, sgN: 4 }],
      ];
      for (const [name, t] of f16Variants) await run(name, await linearCalls(ctx, { x, w, out }, { tiling: t }), { check: true });
    }
    await run('quantize activations (int8)', [quantX], { countFlops: false });
    const i8 = (t: SgTiling, ablate?: SgAblation) => linearI8Calls(ctx, { xq, xScale: xs, wq, wScale: ws, out }, { tiling: t, ablate });
    const chosen = int8Tiling(sg, s.M, s.N);
    const perShape: [string, SgTiling][] = smallM
      ? [['int8 default', base], ['int8 split-K 2', { ...base, splitK: 2 }], ['int8 split-K 3', { ...base, splitK: 3 }],
        ['int8 64x128 (2x4 sg of 2x2)', { ...base, fragM: 2, fragN: 2 }], ['int8 64x128 split-K 2', { ...base, fragM: 2, fragN: 2, splitK: 2 }],
        ['int8 chosen (int8Tiling)', chosen]]
      : [...tilings, ['int8 default, split-K 3', { ...base, splitK: 3 }], ['int8 chosen (int8Tiling)', chosen]];
    for (const [name, t] of perShape) {
      try {
        await run(name, await i8(t), { check: true });
      } catch (e) {
        rows.push({ shape: s.name, M: s.M, K: s.K, N: s.N, what: name, error: String((e as Error).message).slice(0, 400) });
        console.log(`${s.name.padEnd(16)} ${name.padEnd(40)} ERROR ${String((e as Error).message).slice(0, 200)}`);
      }
    }
    await run('quantize + int8 GEMM (chosen)', [quantX, ...(await i8(chosen))], { check: true });
    if (s.name === 'mlp_up_1024' && !smallM) {
      for (const ab of ['mma-only', 'no-barrier', 'no-stage'] as const) await run(`int8 default [${ab}]`, await i8(base, ab));
    }
    for (const t of [x, w, out, xq, xs, wq, ws]) t.buffer.destroy();
  }
  dump();
  ctx.destroy();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
