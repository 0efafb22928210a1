// GPU-side timing for benchmarks and profiles. Timestamp queries (where the adapter has them) measure the
// GPU's own time for a compute pass; the fallback measures wall time around onSubmittedWorkDone, amortised over
// many repetitions so submission overhead does not dominate.
import type { GpuContext } from './context.js';
import { encodeCalls, type KernelCall } from './kernel.js';

export interface TimingResult {
  /** Median over repetitions, milliseconds for ONE execution of the calls. */
  medianMs: number;
  minMs: number;
  samplesMs: number[];
  method: 'timestamp' | 'wall';
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Runs `once` (which should wait for its GPU work) again and again until `ms` of wall time have passed, and at least
 * `minRuns` times: the busy period before timing. A GPU left idle for seconds drops its clocks, and a few short
 * warm-up runs do not bring them back (on the H200 such samples ran 4-5x slow).
 */
export async function keepBusy(ms: number, once: () => Promise<void>, minRuns = 0): Promise<void> {
  const start = performance.now();
  for (let n = 0; n < minRuns || performance.now() - start < ms; n++) await once();
}

/**
 * Times `calls` (one execution = all calls in order). Each sample runs `inner` executions back to back in one
 * pass; samples are taken `reps` times after `warmup` samples. `busyMs`: first keep the GPU running the calls for
 * that long (wall time), because a GPU left idle for seconds (a sweep's shader compiles, a CPU reference) drops its
 * clocks and a few short warm-up samples do not bring them back: on the H200 such samples ran 4-5x slow
 * (docs/attention.md, "Two harnesses, two answers").
 */
export async function timeCalls(
  ctx: GpuContext,
  calls: readonly KernelCall[],
  opts: { warmup?: number; reps?: number; inner?: number; busyMs?: number } = {},
): Promise<TimingResult> {
  const warmup = opts.warmup ?? 2;
  const reps = opts.reps ?? 10;
  const inner = opts.inner ?? 1;
  const repeated: KernelCall[] = [];
  for (let i = 0; i < inner; i++) repeated.push(...calls);
  const device = ctx.device;
  await keepBusy(opts.busyMs ?? 0, async () => {
    const enc = device.createCommandEncoder();
    encodeCalls(enc, repeated);
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
  });
  if (ctx.caps.timestampQuery) {
    const querySet = device.createQuerySet({ type: 'timestamp', count: 2 });
    const resolve = device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    const read = device.createBuffer({ size: 16, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ });
    const samples: number[] = [];
    try {
      for (let r = 0; r < warmup + reps; r++) {
        const enc = device.createCommandEncoder();
        encodeCalls(enc, repeated, { querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 });
        enc.resolveQuerySet(querySet, 0, 2, resolve, 0);
        enc.copyBufferToBuffer(resolve, 0, read, 0, 16);
        device.queue.submit([enc.finish()]);
        await read.mapAsync(GPUMapMode.READ);
        const t = new BigUint64Array(read.getMappedRange().slice(0));
        read.unmap();
        if (r >= warmup) samples.push(Number(t[1] - t[0]) / 1e6 / inner);
      }
    } finally {
      querySet.destroy();
      resolve.destroy();
      read.destroy();
    }
    // Some drivers return zeros for timestamps (quantised or disabled): fall back to wall time then.
    if (samples.every((s) => s > 0)) {
      return { medianMs: median(samples), minMs: Math.min(...samples), samplesMs: samples, method: 'timestamp' };
    }
  }
  const samples: number[] = [];
  for (let r = 0; r < warmup + reps; r++) {
    const enc = device.createCommandEncoder();
    encodeCalls(enc, repeated);
    const t0 = performance.now();
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    const dt = performance.now() - t0;
    if (r >= warmup) samples.push(dt / inner);
  }
  return { medianMs: median(samples), minMs: Math.min(...samples), samplesMs: samples, method: 'wall' };
}
