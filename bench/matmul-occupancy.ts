// Registers against speed for the tensor-core GEMM: the table's tilings beside variants that hold fewer values in
// registers (SgTiling.rollK: one K sub-step's fragments live at a time; prefetch false: no next tile held across the
// MMAs), so that two workgroups may share an SM. Each variant runs at FLUX.1's block shapes, f16 and W8A8, output
// NaN-poisoned and checked on sampled elements against float64, then timed (busy period first, medians).
// Under the diagnostics layer (native/vk-pipeline-stats, see bench/pipeline-stats.ts) each variant's registers,
// spills and workgroup memory are joined from the driver's statistics.
//
// Usage (GPU machine; compile with the bench tsc line of docs/attention.md):
//   node .bench-build/bench/matmul-occupancy.js [--out dir] [--only f16|int8] [--variants '[["name","f16",{..tiling}]]']
import { mkdirSync, writeFileSync } from 'node:fs';
import { GpuContext } from '../src/gpu/context.js';
import { runCalls, type KernelCall } from '../src/gpu/kernel.js';
import { timeCalls } from '../src/gpu/timer.js';
import { linearCalls, linearI8Calls, type SgTiling } from '../src/kernels-wgsl/matmul.js';
import { markVariant, readDriverStats } from './lib/driver-stats.js';
import { linearOperandsI8, type LinearOperandsI8 } from './lib/linear-operands.js';

type Kind = 'f16' | 'int8';
const argv = process.argv.slice(2);
const arg = (k: string) => (argv.includes(k) ? argv[argv.indexOf(k) + 1] : undefined);
const outDir = arg('--out') ?? 'results/tmp/matmul-occupancy';
const only = arg('--only') as Kind | undefined;
mkdirSync(outDir, { recursive: true });

const ctx = await GpuContext.open({ robustness: false });
const subgroupSize = ctx.caps.subgroupMaxSize;
// The committed H200 tables' tilings (f16: 128x128 as 2x4 subgroups of 4x2 fragments, K step 64; int8: the same at K
// step 128, and 256x128 as 16 subgroups for the wide N), then the register-lean forms of each.
const f16: SgTiling = { sgM: 2, sgN: 4, fragM: 4, fragN: 2, bk: 64, staging: 'staged', stages: 1, groupM: 8, subgroupSize, vecSmem: true };
const f16x16: SgTiling = { ...f16, sgM: 4, sgN: 4, bk: 32 };
const i8: SgTiling = { ...f16, bk: 128, pad: 16 };
const i8x16: SgTiling = { ...i8, sgM: 4, sgN: 4, bk: 96 };
const lean = { rollK: true, prefetch: false } as const;
const builtIn: [string, Kind, SgTiling][] = [
  ['f16 128x128 8sg bk64 (table)', 'f16', f16],
  ['f16 128x128 8sg bk64 rollK', 'f16', { ...f16, rollK: true }],
  ['f16 128x128 8sg bk64 no-prefetch', 'f16', { ...f16, prefetch: false }],
  ['f16 128x128 8sg bk64 rollK no-prefetch', 'f16', { ...f16, ...lean }],
  ['f16 128x128 8sg bk32 rollK no-prefetch', 'f16', { ...f16, ...lean, bk: 32 }],
  ['f16 128x64 4sg bk64 rollK no-prefetch', 'f16', { ...f16, ...lean, sgN: 2 }],
  ['f16 256x128 16sg bk32', 'f16', f16x16],
  ['f16 256x128 16sg bk32 rollK', 'f16', { ...f16x16, rollK: true }],
  ['f16 256x128 16sg bk32 rollK no-prefetch', 'f16', { ...f16x16, ...lean }],
  ['int8 128x128 8sg bk128 (table)', 'int8', i8],
  ['int8 128x128 8sg bk128 rollK', 'int8', { ...i8, rollK: true }],
  ['int8 128x128 8sg bk128 rollK no-prefetch', 'int8', { ...i8, ...lean }],
  ['int8 128x128 8sg bk64 rollK no-prefetch', 'int8', { ...i8, ...lean, bk: 64 }],
  ['int8 256x128 16sg bk96 (table, wide N)', 'int8', i8x16],
  ['int8 256x128 16sg bk96 rollK', 'int8', { ...i8x16, rollK: true }],
  ['int8 256x128 16sg bk96 rollK no-prefetch', 'int8', { ...i8x16, ...lean }],
];
const given = arg('--variants');
const variants = (given ? (JSON.parse(given) as [string, Kind, Omit<SgTiling, 'subgroupSize'>][]).map(([n, k, t]) => [n, k, { ...t, subgroupSize }] as [string, Kind, SgTiling]) : builtIn)
  .filter(([, k]) => !only || k === only);
// FLUX.1 block linears at 1024² (4608 rows: MLP up, MLP down, attention projection) and 512² (1536 rows).
const shapes: [name: string, M: number, K: number, N: number][] = [
  ['mlp_up 1024²', 4608, 3072, 12288], ['mlp_down 1024²', 4608, 12288, 3072], ['proj 1024²', 4608, 3072, 3072], ['proj 512²', 1536, 3072, 3072],
];

interface Point { variant: string; kind: Kind; shape: string; M: number; K: number; N: number; ms: number; tflops: number; relErr: number }
const points: Point[] = [];
const failures: string[] = [];
try {
  const ops: LinearOperandsI8[] = [];
  for (const [, M, K, N] of shapes) ops.push(await linearOperandsI8(ctx, M, K, N));
  for (const [name, kind, tiling] of variants) {
    markVariant(name);
    for (const [s, [shape, M, K, N]] of shapes.entries()) {
      const o = ops[s];
      try {
        const calls: KernelCall[] = kind === 'f16'
          ? await linearCalls(ctx, { x: o.x, w: o.w, out: o.out, label: name }, { tiling })
          : await linearI8Calls(ctx, { xq: o.xq, xScale: o.xs, wq: o.wq, wScale: o.ws, out: o.out, label: name }, { tiling });
        ctx.fill(o.out.buffer, 0x7e007e00);
        await runCalls(ctx, calls);
        const relErr = await o.check.relErr(o.out);
        // int8: the quantization error of both operands (~1e-2); f16: output rounding (~2e-4).
        if (!(relErr < (kind === 'int8' ? 0.05 : 5e-3))) throw new Error(`sampled relative error ${relErr}`);
        const tm = await timeCalls(ctx, calls, { warmup: 3, reps: 9, inner: 2, busyMs: 150 });
        const p: Point = { variant: name, kind, shape, M, K, N, ms: tm.medianMs, tflops: (2 * M * N * K) / (tm.medianMs / 1e3) / 1e12, relErr };
        points.push(p);
        console.log(`${name.padEnd(44)} ${shape.padEnd(15)} ${p.ms.toFixed(4)} ms ${p.tflops.toFixed(1).padStart(6)} TFLOP/s err ${relErr.toExponential(2)}`);
      } catch (e) {
        failures.push(`${name} @ ${shape}: ${(e as Error).message}`);
        console.log(`${name.padEnd(44)} ${shape.padEnd(15)} FAILED: ${(e as Error).message}`);
      }
    }
  }
} finally {
  const stats = readDriverStats();
  const stat = (v: string, k: string) => stats.find((r) => r.variant === v)?.statistics[k];
  const spill = (v: string) => { const l = stat(v, 'Local Memory Size'); return typeof l === 'number' ? l % 2 ** 36 : ''; };
  const md = [
    `# GEMM registers against speed (${ctx.caps.adapterName}, ${new Date().toISOString()})`, '',
    '`bench/matmul-occupancy.ts`; TFLOP/s = 2MNK / median GPU time (9 samples of 2 calls after a 150 ms busy period); every',
    'point checked on sampled outputs against float64 (f16 ≤ 5e-3, int8 ≤ 5e-2 relative). Registers per invocation, spilled',
    'bytes (Local Memory Size − 2^36) and workgroup memory from the driver (diagnostics layer), where it ran.', '',
    `| variant | registers | spills B | smem B | ${shapes.map(([s]) => s).join(' | ')} |`, `|---|---:|---:|---:|${shapes.map(() => '---:').join('|')}|`,
    ...variants.map(([v]) => `| ${v} | ${stat(v, 'Register Count') ?? ''} | ${spill(v)} | ${stat(v, 'Shared Memory Size') ?? ''} | ${shapes.map(([s]) => points.find((p) => p.variant === v && p.shape === s)?.tflops.toFixed(1) ?? '–').join(' | ')} |`),
    ...(failures.length ? ['', 'Failures:', ...failures.map((f) => `- ${f}`)] : []),
  ];
  writeFileSync(`${outDir}/matmul-occupancy.md`, md.join('\n') + '\n');
  writeFileSync(`${outDir}/matmul-occupancy.json`, JSON.stringify({ date: new Date().toISOString(), adapter: ctx.caps.adapterName, points, failures, stats }, null, 1));
  console.log(md.join('\n'));
  ctx.destroy();
}
