// What a GEMM tile costs besides its K loop: linear() (f16) and the W8A8 kernel at FLUX's M = 4608 against K, with
// and without the bias + GELU epilogue. time(K) = fixed + K · per-K; the fixed part (prologue, epilogue, launch, the
// last partly idle wave) is what a K = 3072 linear pays on top of a K = 15360 one per unit of work.
//
// Usage (GPU machine; compile with the bench tsc line of docs/attention.md): node .bench-build/bench/matmul-fixed.js
//   [--out dir] [--N 12288] [--K 256,512,...]
// The largest K of each series is checked first (NaN-poisoned output, sampled rows against float64; int8 within the
// quantization error), then every K is timed.
import { mkdirSync, writeFileSync } from 'node:fs';
import { GpuContext } from '../src/gpu/context.js';
import { allocTensor, runCalls, type KernelCall } from '../src/gpu/kernel.js';
import { timeCalls } from '../src/gpu/timer.js';
import { linearCalls, linearI8Calls } from '../src/kernels-wgsl/matmul.js';
import { randomFill } from '../src/kernels-wgsl/random-fill.js';
import { freeLinearOperands, linearOperands, linearOperandsI8, type LinearOperands } from './lib/linear-operands.js';

const argv = process.argv.slice(2);
const arg = (k: string, d: string) => (argv.includes(k) ? argv[argv.indexOf(k) + 1] : d);
const outDir = arg('--out', 'results/tmp/matmul-fixed');
const M = 4608;
const N = Number(arg('--N', '12288'));
const Ks = arg('--K', '256,512,1024,2048,3072,6144').split(',').map(Number);
mkdirSync(outDir, { recursive: true });

interface Point { path: 'f16' | 'int8'; epilogue: 'none' | 'bias+gelu'; M: number; N: number; K: number; ms: number; tflops: number; relErr?: number }
const points: Point[] = [];
const ctx = await GpuContext.open({ robustness: false });
try {
  const Kmax = Math.max(...Ks);
  const bias = allocTensor(ctx, [N], 'f16', 'bias');
  await runCalls(ctx, [await randomFill(ctx, { out: bias, seed: 3, std: 0.1 })]);
  for (const path of ['f16', 'int8'] as const) {
    for (const epilogue of ['none', 'bias+gelu'] as const) {
      for (const K of [...Ks].sort((a, b) => b - a)) {
        // Fresh [M, K] and [N, K] operands per K (the real layout: rows K long).
        const ep = epilogue === 'none' ? {} : { bias, activation: 'gelu_tanh' as const };
        let o: LinearOperands;
        let calls: KernelCall[];
        if (path === 'f16') {
          o = await linearOperands(ctx, M, K, N);
          calls = await linearCalls(ctx, { x: o.x, w: o.w, out: o.out, ...ep });
        } else {
          const q = await linearOperandsI8(ctx, M, K, N);
          o = q;
          calls = await linearI8Calls(ctx, { xq: q.xq, xScale: q.xs, wq: q.wq, wScale: q.ws, out: q.out, ...ep });
        }
        let relErr: number | undefined;
        if (K === Kmax && epilogue === 'none') {
          ctx.fill(o.out.buffer, 0x7e007e00);
          await runCalls(ctx, calls);
          relErr = await o.check.relErr(o.out);
          if (!(relErr < (path === 'int8' ? 0.05 : 5e-3))) throw new Error(`${path} K=${K}: sampled rel. error ${relErr}`);
        }
        const tm = await timeCalls(ctx, calls, { warmup: 3, reps: 9, inner: 2, busyMs: 150 });
        const p: Point = { path, epilogue, M, N, K, ms: tm.medianMs, tflops: (2 * M * N * K) / (tm.medianMs / 1e3) / 1e12, ...(relErr !== undefined ? { relErr } : {}) };
        points.push(p);
        console.log(`${path.padEnd(4)} ${epilogue.padEnd(9)} M=${M} N=${N} K=${String(K).padStart(5)} ${p.ms.toFixed(4)} ms ${p.tflops.toFixed(1).padStart(6)} TFLOP/s${relErr !== undefined ? ` err ${relErr.toExponential(2)}` : ''}`);
        freeLinearOperands(o);
      }
    }
  }
  writeFileSync(`${outDir}/matmul-fixed.json`, JSON.stringify({ date: new Date().toISOString(), adapter: ctx.caps.adapterName, points }, null, 1));
} finally {
  ctx.destroy();
}
