// Shared by the attention benches (attention-tune.ts, attention-waves.ts): the float64 reference for one query row,
// and the timing recipe (a busy period first, then enough back-to-back dispatches per sample to last ~25 ms).
import type { GpuContext } from '../../src/gpu/context.js';
import type { KernelCall } from '../../src/gpu/kernel.js';
import { timeCalls } from '../../src/gpu/timer.js';

/**
 * float64 attention for query row i of one head, out = softmax(q k^T / sqrt(D)) v, from f32 copies of the f16 data:
 * q holds the head's query rows ([*, D]), k and v its Skv key/value rows.
 */
export function attentionRowReference(q: Float32Array, k: Float32Array, v: Float32Array, Skv: number, D: number, i: number): Float64Array {
  const scale = 1 / Math.sqrt(D);
  const s = new Float64Array(Skv);
  let max = -Infinity;
  for (let j = 0; j < Skv; j++) {
    let d = 0;
    for (let e = 0; e < D; e++) d += q[i * D + e] * k[j * D + e];
    s[j] = d * scale;
    if (s[j] > max) max = s[j];
  }
  const o = new Float64Array(D);
  let sum = 0;
  for (let j = 0; j < Skv; j++) {
    const p = Math.exp(s[j] - max);
    sum += p;
    for (let e = 0; e < D; e++) o[e] += p * v[j * D + e];
  }
  for (let e = 0; e < D; e++) o[e] /= sum;
  return o;
}

/**
 * Median time of `calls`. Clocks: a compile or a float64 check leaves the GPU idle for seconds, and without a busy
 * period the samples ran at a low clock (4-5x slow on the H200, 2026-11-30); then >= ~25 ms of work per sample.
 */
export async function timeAttention(ctx: GpuContext, calls: KernelCall[]): Promise<Awaited<ReturnType<typeof timeCalls>>> {
  const probe = await timeCalls(ctx, calls, { warmup: 0, reps: 1, busyMs: 300 });
  const inner = Math.max(1, Math.min(400, Math.ceil(25 / Math.max(probe.medianMs, 1e-3))));
  return timeCalls(ctx, calls, { warmup: 2, reps: 7, inner });
}
