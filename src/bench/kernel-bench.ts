// Runs the kernel benchmark cases on one device and measures the chip's copy ceiling in the same process.
import type { GpuContext } from '../gpu/context.js';
import { median, timeCalls } from '../gpu/timer.js';
import { kernelPaths } from '../gpu/variants.js';
import type { KernelCase, KernelCaseSpec } from './kernel-cases.js';

export interface KernelResult extends KernelCaseSpec {
  medianMs: number;
  minMs: number;
  method: 'timestamp' | 'wall';
  tflops: number | null;
  gbs: number;
  error?: string;
}

export interface KernelBenchReport {
  device: string;
  date: string;
  robustness: boolean;
  kernelPaths: Record<string, string>;
  /** Measured device-to-device copy bandwidth, counting bytes read plus bytes written. */
  copyGBs: number;
  results: KernelResult[];
}

/** Bandwidth of copyBufferToBuffer over `bytes`, counting read + write (as the bytes columns do). */
export async function measureCopyBandwidth(ctx: GpuContext, bytes = 256 * 2 ** 20, reps = 10): Promise<number> {
  const size = Math.min(bytes, ctx.caps.limits.maxBufferSize / 2);
  return ctx.withBufferScope(async () => {
    const a = ctx.createBuffer(size, 'copy-src');
    const b = ctx.createBuffer(size, 'copy-dst');
    const samples: number[] = [];
    for (let r = 0; r < reps + 2; r++) {
      const enc = ctx.device.createCommandEncoder();
      const inner = 8;
      for (let i = 0; i < inner; i++) enc.copyBufferToBuffer(a, 0, b, 0, size);
      const t0 = performance.now();
      ctx.device.queue.submit([enc.finish()]);
      await ctx.device.queue.onSubmittedWorkDone();
      if (r >= 2) samples.push((performance.now() - t0) / inner);
    }
    return (2 * size) / (median(samples) / 1e3) / 1e9;
  });
}

export async function runKernelBench(
  ctx: GpuContext,
  cases: KernelCase[],
  opts: { reps?: number; log?: (line: string) => void } = {},
): Promise<KernelBenchReport> {
  const log = opts.log ?? (() => {});
  const copyGBs = await measureCopyBandwidth(ctx, ctx.caps.isCpu ? 16 * 2 ** 20 : 512 * 2 ** 20);
  log(`copy bandwidth ${copyGBs.toFixed(0)} GB/s (read + write)`);
  const results: KernelResult[] = [];
  for (const c of cases) {
    const spec: KernelCaseSpec = { id: c.id, model: c.model, op: c.op, shape: c.shape, flops: c.flops, bytes: c.bytes };
    try {
      const r = await ctx.withBufferScope(async () => {
        const calls = await c.build(ctx);
        // Aim for >= ~5 ms per sample so timer granularity and submit overhead stay small.
        // busyMs: the build above may have left the GPU idle long enough to drop its clocks (src/gpu/timer.ts).
        const probe = await timeCalls(ctx, calls, { warmup: 1, reps: 1, busyMs: 200 });
        const inner = Math.max(1, Math.min(50, Math.ceil(5 / Math.max(probe.medianMs, 1e-3))));
        return timeCalls(ctx, calls, { warmup: 2, reps: opts.reps ?? 10, inner });
      });
      const s = r.medianMs / 1e3;
      const row: KernelResult = {
        ...spec,
        medianMs: r.medianMs,
        minMs: r.minMs,
        method: r.method,
        tflops: c.flops > 0 ? c.flops / s / 1e12 : null,
        gbs: c.bytes / s / 1e9,
      };
      results.push(row);
      // Toy shapes (the quick suite) only check the harness: their throughput would read as 0.0 TFLOP/s.
      const rate = c.model === 'quick' ? '(toy shape)' : row.tflops !== null ? `${row.tflops.toFixed(1)} TFLOP/s` : `${row.gbs.toFixed(0)} GB/s`;
      log(`${c.id.padEnd(40)} ${r.medianMs.toFixed(3).padStart(9)} ms  ${rate}`);
    } catch (e) {
      const msg = (e as Error).message.split('\n')[0];
      results.push({ ...spec, medianMs: NaN, minMs: NaN, method: 'wall', tflops: null, gbs: NaN, error: msg });
      log(`${c.id.padEnd(40)} FAILED: ${msg}`);
    }
  }
  return {
    device: ctx.caps.adapterName,
    date: new Date().toISOString(),
    robustness: ctx.caps.robustness,
    kernelPaths: kernelPaths(ctx.caps),
    copyGBs,
    results,
  };
}
