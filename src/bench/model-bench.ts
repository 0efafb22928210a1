// `dit bench model`: one denoising step of a full-size model (random weights, real shapes; FLUX.1-dev and
// SD3-medium by default, whatever family's `bench` preset) per resolution: median step time, achieved TFLOP/s, GPU
// memory, CPU encode time, and where the GPU time goes.
import type { GpuContext } from '../gpu/context.js';
import { groupOpTimings, type OpTiming, type Plan } from '../graph/executor.js';
import { keepBusy, median } from '../gpu/timer.js';
import type { BenchCachedStep, FamilyConfig, ModelFamily } from '../models/family.js';
import type { WeightStore } from '../graph/weights.js';
import { analyzeLiveness } from '../graph/liveness.js';
import { MemoryPlanError, planMemory } from '../graph/memory-planner.js';
import { relativeError } from '../models/parity.js';
import { randomWeightStore } from '../models/random-weights.js';
import { makeProfile, type LatencyProfile } from '../scheduler/profile.js';

export interface ModelBenchRow {
  model: string;
  resolution: number;
  imageTokens: number;
  textTokens: number;
  /** Images per step (`--batch`); medianMs is the whole batched step. Absent in files written before batching: 1. */
  batch: number;
  medianMs: number;
  samplesMs: number[];
  /** Time for run() to encode and submit (CPU side). */
  encodeMs: number;
  /**
   * GPU time per step from timestamps at the step's compute-pass boundaries (first pass start to last pass end),
   * median and samples: the analogue of CUDA-event timing; the wall time above adds the CPU encode before the GPU
   * starts and the wait for completion. Absent without timestamp queries (and in files written before).
   */
  gpuMedianMs?: number;
  gpuSamplesMs?: number[];
  tflops: number;
  stepTflop: number;
  weightBytes: number;
  activationBytes: number;
  dispatches: number;
  finite: boolean;
  /** GPU time by op kind from a timestamped run (each op in its own pass: slightly slower than the real step). */
  breakdown: { kind: string; ms: number; fraction: number; tflops: number; gbps: number; count: number }[];
  /**
   * The same timestamped run by role: ops grouped by label with the block index replaced by N and the op number
   * dropped (`double_blocks.N/img_qkv`, `single_blocks.N/linear2`), largest first: which GEMM shapes the time goes to.
   */
  byRole?: { role: string; kind: string; ms: number; count: number; tflops: number }[];
  profiledGpuMs: number;
  /** W8A8 rows (`--int8`): relative L2 distance of this step's velocity from the f16 step's, same weights and inputs. */
  velocityRelL2VsF16?: number;
  /**
   * First-block-cache rows (`--first-block-cache`): which path every timed step took, and (computed path) the
   * velocity's relative L2 distance from the plain step's (same weights and inputs; the split graphs' rounding).
   */
  firstBlockCache?: { path: 'compute' | 'reuse'; velocityRelL2VsStep?: number };
}

/**
 * Warm-up: at least 2 steps and at least `warmupMs` of them, because the step's compile leaves the GPU idle long
 * enough to drop its clocks, and two short steps do not always bring them back (src/gpu/timer.ts; the same 512²
 * step measured 144-162 ms across H200 calls with 2 warm-up steps, 2026-11-30).
 */
async function timeSteps(ctx: GpuContext, plan: Plan, reps: number, warmupMs: number, idleWaitFraction = 0): Promise<{ samples: number[]; encodeMs: number[]; gpuMs: number[] }> {
  const samples: number[] = [];
  const encodeMs: number[] = [];
  const gpuMs: number[] = [];
  await keepBusy(warmupMs, async () => {
    await plan.run();
    await ctx.sync();
  }, 2);
  // Diagnostics of the wall-time spread (docs/int8.md): DIT_BENCH_STEP_LOG=1 prints each timed step's start (ms since
  // the process started, comparable with node --trace-gc's times), wall, GPU and encode time. With node --expose-gc,
  // DIT_BENCH_GC=each collects garbage before each timed step (outside the timed span), DIT_BENCH_GC=wait collects it
  // while the GPU runs the step (a timer 1 ms after the submit, inside a sleep of half the step's GPU time).
  const stepLog = process.env.DIT_BENCH_STEP_LOG === '1';
  const gcMode = process.env.DIT_BENCH_GC;
  const gc = gcMode ? (globalThis as { gc?: () => void }).gc : undefined;
  if (gcMode && !gc) throw new Error('DIT_BENCH_GC needs node --expose-gc');
  if (gcMode === 'wait' && idleWaitFraction === 0) idleWaitFraction = 0.5;
  // The idle wait's estimate: the step's GPU time (wall time where there are no timestamps).
  let estimate = 0;
  if (idleWaitFraction > 0) {
    const t = performance.now();
    estimate = (await plan.runTimed()) ?? performance.now() - t;
    await ctx.sync();
  }
  for (let r = 0; r < reps; r++) {
    if (gcMode === 'each') gc!();
    await ctx.sync();
    const t0 = performance.now();
    if (gcMode === 'wait') setTimeout(gc!, 1); // fires once the synchronous encode + submit are done
    // Wall time: encode + submit + until the GPU is done (runTimed then maps 16 bytes per pass of timestamps).
    const gpu = await plan.runTimed({ waitMs: idleWaitFraction * estimate });
    await ctx.sync();
    samples.push(performance.now() - t0);
    encodeMs.push(plan.lastRun?.encodeMs ?? 0);
    if (gpu !== null) gpuMs.push(gpu);
    if (stepLog) console.log(`step ${r}: start ${t0.toFixed(1)} ms, wall ${samples[r].toFixed(1)}, gpu ${gpu?.toFixed(1) ?? '-'}, encode ${encodeMs[r].toFixed(2)}`);
  }
  return { samples, encodeMs, gpuMs };
}

export interface ModelBenchOptions<C extends FamilyConfig> {
  reps?: number;
  /** Text tokens (default: the family preset's). */
  txtTokens?: number;
  /** A config other than the family's full-size preset (tests: tiny configs); rows are named '<family> (custom config)'. */
  config?: C;
  /** Batch sizes to time at each resolution (default [1]); the family's bench.maxBatch bounds them. */
  batches?: number[];
  log?: (s: string) => void;
  /** Minimum wall time of warm-up steps before timing (default 1000 ms; at least 2 steps either way). */
  warmupMs?: number;
  /** Also time each step with W8A8 linears (families whose bench has `int8`), as rows named '<model> W8A8'. */
  int8?: boolean;
  /**
   * Sleep this fraction of the step's GPU time after submitting each timed step before asking Dawn for the result
   * (the serving engines' idle wait; default 0: ask at once).
   */
  idleWaitFraction?: number;
  /**
   * Also time each batch-1 step through the first-block cache (families whose bench has `firstBlockCache`), once
   * down each path: every block ('computed') and head + final layer ('reused'), as rows '<model> FBCache ...'.
   */
  firstBlockCache?: boolean;
}

/**
 * Whether one step at `resolution` fits the adapter's buffer limits, from the graph's memory plan alone (nothing
 * is allocated): null when it fits, else why not.
 */
export function stepDoesNotFit<C extends FamilyConfig>(ctx: GpuContext, family: ModelFamily<C>, cfg: C, resolution: number, textTokens: number, batch = 1): string | null {
  const graph = family.bench?.graph?.(cfg, resolution, textTokens, batch);
  if (!graph) return null;
  const limits = ctx.caps.limits;
  const live = analyzeLiveness(graph);
  try {
    planMemory(live.requests, {
      alignment: limits.minStorageBufferOffsetAlignment, maxBindingBytes: limits.maxStorageBufferBindingSize,
      maxArenaBytes: limits.maxBufferSize, conflicts: live.conflicts,
    });
    return null;
  } catch (e) {
    if (e instanceof MemoryPlanError) return e.message;
    throw e;
  }
}

/** Times one step per resolution of a family's model (its bench preset unless a config is given). */
export async function benchModel<C extends FamilyConfig>(ctx: GpuContext, family: ModelFamily<C>, resolutions: number[], opts: ModelBenchOptions<C> = {}): Promise<ModelBenchRow[]> {
  const bench = family.bench;
  if (!bench) throw new Error(`model family '${family.id}' has no benchmark preset`);
  const log = opts.log ?? (() => {});
  const cfg = opts.config ?? bench.config;
  const name = opts.config ? `${family.id.toUpperCase()} (custom config)` : bench.name;
  const textTokens = opts.txtTokens ?? bench.textTokens;
  const batches = opts.batches ?? [1];
  for (const b of batches) {
    if (!Number.isInteger(b) || b < 1 || b > (bench.maxBatch ?? 1)) {
      throw new Error(`${name}: batch ${b} is not supported (this family's graph takes batch 1..${bench.maxBatch ?? 1}); drop it from --batch or skip this family`);
    }
  }
  if (opts.int8 && !bench.int8) log(`${name}: this family has no int8 path; no W8A8 rows`);
  log(`${name}: generating random weights on the GPU…`);
  const { store, bytes } = await randomWeightStore(ctx, cfg, bench.seed);
  log(`${name} random weights on GPU: ${(bytes / 2 ** 30).toFixed(2)} GiB`);
  const rows: ModelBenchRow[] = [];
  try {
    for (const res of resolutions) {
      for (const batch of batches) {
        const tag = `${name} ${res}²${batch > 1 ? ` batch ${batch}` : ''}`;
        log(`${tag}: building and compiling the step…`);
        const step = await bench.step(ctx, store, cfg, res, textTokens, batch);
        try {
          log(`${tag}: timing ${opts.reps ?? 5} steps after ≥ 2 warm-up steps and ≥ ${opts.warmupMs ?? 1000} ms…`);
          const { samples, encodeMs, gpuMs } = await timeSteps(ctx, step.plan, opts.reps ?? 5, opts.warmupMs ?? 1000, opts.idleWaitFraction);
          const v = await step.plan.readOutput('velocity');
          const prof = await step.plan.profile();
          const row = makeRow(name, res, step.imageTokens, textTokens, batch, samples, encodeMs, step.plan.stats, bytes, v, prof, gpuMs);
          rows.push(row);
          log(`${tag}: ${row.medianMs.toFixed(1)} ms/step${row.gpuMedianMs !== undefined ? ` (GPU ${row.gpuMedianMs.toFixed(1)})` : ''}${batch > 1 ? ` (${(row.medianMs / batch).toFixed(1)} ms per image)` : ''}, ${row.tflops.toFixed(0)} TFLOP/s, encode ${row.encodeMs.toFixed(2)} ms, activations ${(row.activationBytes / 2 ** 30).toFixed(2)} GiB, finite=${row.finite}`);
          if (opts.int8 && bench.int8) {
            // Same weights, same seeded inputs: the W8A8 step, timed the same way, and its velocity against the f16 one.
            step.destroy();
            log(`${tag} W8A8: quantizing weights (first time), building and compiling the step…`);
            const q = await bench.step(ctx, store, cfg, res, textTokens, batch, { int8: true });
            try {
              const t = await timeSteps(ctx, q.plan, opts.reps ?? 5, opts.warmupMs ?? 1000, opts.idleWaitFraction);
              const vq = await q.plan.readOutput('velocity');
              const qrow = makeRow(`${name} W8A8`, res, q.imageTokens, textTokens, batch, t.samples, t.encodeMs, q.plan.stats, bytes, vq, await q.plan.profile(), t.gpuMs);
              qrow.velocityRelL2VsF16 = relativeError(vq, v).relL2;
              rows.push(qrow);
              log(`${tag} W8A8: ${qrow.medianMs.toFixed(1)} ms/step${qrow.gpuMedianMs !== undefined ? ` (GPU ${qrow.gpuMedianMs.toFixed(1)})` : ''}, ${qrow.tflops.toFixed(0)} TFLOP/s, velocity relL2 vs f16 ${qrow.velocityRelL2VsF16.toExponential(2)}, finite=${qrow.finite}`);
            } finally {
              q.destroy();
            }
          }
          if (opts.firstBlockCache && bench.firstBlockCache && batch === 1) {
            step.destroy();
            rows.push(...(await benchCachedPaths(ctx, bench.firstBlockCache.bind(bench), store, cfg, name, tag, res, textTokens, bytes, v, opts, log)));
          }
        } finally {
          step.destroy();
        }
      }
    }
  } finally {
    store.destroy();
  }
  return rows;
}

/** The first-block-cached step, forced down each path in turn, timed like the plain step (rows for benchModel). */
async function benchCachedPaths<C extends FamilyConfig>(
  ctx: GpuContext, make: (ctx: GpuContext, store: WeightStore, cfg: C, res: number, textTokens: number) => Promise<BenchCachedStep>, store: WeightStore,
  cfg: C, name: string, tag: string, res: number, textTokens: number, weightBytes: number, plainVelocity: Float32Array,
  opts: ModelBenchOptions<C>, log: (s: string) => void,
): Promise<ModelBenchRow[]> {
  log(`${tag} first-block cache: building and compiling its three parts…`);
  const c = await make(ctx, store, cfg, res, textTokens);
  const rows: ModelBenchRow[] = [];
  try {
    for (const path of ['compute', 'reuse'] as const) {
      // Warm-up: the first step of 'reuse' has no reference yet and computes; every later one reuses.
      await keepBusy(opts.warmupMs ?? 1000, async () => {
        await c.run(path);
      }, 2);
      const samples: number[] = [];
      const gpuMs: number[] = [];
      for (let r = 0; r < (opts.reps ?? 5); r++) {
        await ctx.sync();
        const t0 = performance.now();
        const g = await c.run(path);
        await ctx.sync();
        samples.push(performance.now() - t0);
        if (g !== null) gpuMs.push(g);
      }
      const vc = await c.velocity();
      const stats = c.stats(path);
      const label = path === 'compute' ? 'computed' : 'reused';
      // No per-op profile of the three chained parts: the breakdown stays empty, the profiled GPU time is the median.
      const row = makeRow(`${name} FBCache ${label}`, res, (res / 16) ** 2, textTokens, 1, samples, [0], stats, weightBytes, vc,
        { gpuMs: gpuMs.length ? median(gpuMs) : 0, byKind: [] }, gpuMs);
      row.firstBlockCache = { path, ...(path === 'compute' ? { velocityRelL2VsStep: relativeError(vc, plainVelocity).relL2 } : {}) };
      rows.push(row);
      log(`${tag} FBCache ${label}: ${row.medianMs.toFixed(1)} ms/step${row.gpuMedianMs !== undefined ? ` (GPU ${row.gpuMedianMs.toFixed(1)})` : ''}${row.firstBlockCache!.velocityRelL2VsStep !== undefined ? `, velocity relL2 vs the plain step ${row.firstBlockCache!.velocityRelL2VsStep.toExponential(2)}` : ''}, finite=${row.finite}`);
    }
  } finally {
    c.destroy();
  }
  return rows;
}

function makeRow(
  model: string, res: number, imageTokens: number, textTokens: number, batch: number, samples: number[], encodeMs: number[],
  stats: { flops: number; activationBytes: number; dispatches: number }, weightBytes: number, v: Float32Array,
  prof: { gpuMs: number; byKind: ModelBenchRow['breakdown']; ops?: OpTiming[] }, gpuMs: number[] = [],
): ModelBenchRow {
  const ms = median(samples);
  return {
    model, resolution: res, imageTokens, textTokens, batch, medianMs: ms, samplesMs: samples, encodeMs: median(encodeMs),
    ...(gpuMs.length ? { gpuMedianMs: median(gpuMs), gpuSamplesMs: gpuMs } : {}),
    tflops: stats.flops / (ms / 1e3) / 1e12, stepTflop: stats.flops / 1e12, weightBytes, activationBytes: stats.activationBytes,
    dispatches: stats.dispatches, finite: v.every(Number.isFinite),
    breakdown: prof.byKind.map(({ kind, ms: kms, fraction, tflops, gbps, count }) => ({ kind, ms: kms, fraction, tflops, gbps, count })),
    ...(prof.ops?.length ? { byRole: opsByRole(prof.ops) } : {}),
    profiledGpuMs: prof.gpuMs,
  };
}

/** Op timings grouped by role: the label with block indices replaced (`.12/` -> `.N/`) and the op number (`#345`) dropped. */
export function opsByRole(ops: OpTiming[]): NonNullable<ModelBenchRow['byRole']> {
  const role = (o: OpTiming) => o.label.replace(/#\d+$/, '').replace(/\.\d+(?=\/|\.|$)/g, '.N');
  return groupOpTimings(ops, (o) => `${o.kind} ${role(o)}`).map((g) => ({ role: g.key.slice(g.kind.length + 1), kind: g.kind, ms: g.ms, count: g.count, tflops: g.tflops }));
}

/** PyTorch's step times from bench/reference/step_time.py (same GPU, same run). */
export interface TorchStepTimes {
  device: string;
  results: { model: string; resolution: number; ms: number; peak_mem_gib?: number }[];
}

export function modelMarkdown(device: string, rows: ModelBenchRow[], torch?: { device: string; lookup: (model: string, res: number) => { ms: number; mem?: number } | undefined }): string {
  const out: string[] = [];
  out.push(`# Model step benchmarks`, '', `- Device: ${device}; date ${new Date().toISOString().slice(0, 10)}; random weights, real shapes, median of the timed steps after ≥ 2 warm-up steps and ≥ 1 s of them; batch b > 1: one step of b images (ms/step is the whole batch).`);
  if (torch) out.push(`- PyTorch reference: bench/reference/step_time.py (bf16, SDPA, eager) on ${torch.device} in the same run.`);
  out.push('', '| model | res | batch | tokens (img+txt) | ms/step (WGSL) | GPU ms/step (pass timestamps) | TFLOP/s | ms/step (PyTorch) | WGSL / PyTorch time | weights GiB | activations GiB | CPU encode ms | dispatches | finite |', '|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const r of rows) {
    const t = (r.batch ?? 1) === 1 ? torch?.lookup(r.model, r.resolution) : undefined;
    out.push(`| ${r.model} | ${r.resolution}² | ${r.batch ?? 1} | ${r.imageTokens}+${r.textTokens} | ${r.medianMs.toFixed(1)} | ${r.gpuMedianMs !== undefined ? r.gpuMedianMs.toFixed(1) : '–'} | ${r.tflops.toFixed(0)} | ${t ? t.ms.toFixed(1) : '–'} | ${t ? (r.medianMs / t.ms).toFixed(2) + '×' : '–'} | ${(r.weightBytes / 2 ** 30).toFixed(2)} | ${(r.activationBytes / 2 ** 30).toFixed(2)} | ${r.encodeMs.toFixed(2)} | ${r.dispatches} | ${r.finite ? 'yes' : 'NO'} |`);
  }
  const q = rows.filter((r) => r.velocityRelL2VsF16 !== undefined);
  if (q.length) {
    out.push('', 'W8A8 rows: the optional int8 linears (per-token activation, per-feature weight scales; `--int8`), not the default path; their ratio to PyTorch compares int8 with bf16. Velocity distance from the f16 step (same weights and inputs, relative L2): ' +
      q.map((r) => `${r.resolution}²${(r.batch ?? 1) > 1 ? ` batch ${r.batch}` : ''} ${r.velocityRelL2VsF16!.toExponential(2)}`).join(', ') + '.');
  }
  const f = rows.filter((r) => r.firstBlockCache);
  if (f.length) {
    out.push('', 'FBCache rows: the optional first-block cache (`--first-block-cache`), each step forced down one path: "computed" runs every block through the three chained graphs (head, body, tail; each part awaited before the next, as the cache must read the head\'s change statistic), "reused" runs the head and the final layer only. How many steps of a generation reuse depends on the trained weights and the threshold (docs/first-block-cache.md); random weights say nothing about it. Computed path vs the plain step, velocity relative L2: ' +
      f.filter((r) => r.firstBlockCache!.velocityRelL2VsStep !== undefined).map((r) => `${r.resolution}² ${r.firstBlockCache!.velocityRelL2VsStep!.toExponential(2)}`).join(', ') + '.');
  }
  for (const r of rows.filter((x) => x.breakdown.length)) {
    out.push('', `## Where the time goes: ${r.model} ${r.resolution}²${(r.batch ?? 1) > 1 ? ` batch ${r.batch}` : ''} (timestamped run, ${r.profiledGpuMs.toFixed(1)} ms of GPU time)`, '', '| op kind | ms | share | count | TFLOP/s | GB/s |', '|---|---:|---:|---:|---:|---:|');
    for (const k of r.breakdown) out.push(`| ${k.kind} | ${k.ms.toFixed(2)} | ${(k.fraction * 100).toFixed(1)}% | ${k.count} | ${k.tflops.toFixed(1)} | ${k.gbps.toFixed(0)} |`);
    const roles = (r.byRole ?? []).filter((x) => x.ms >= 0.005 * r.profiledGpuMs);
    if (roles.length) {
      out.push('', 'By role (ops ≥ 0.5% of the step; block index as N, op number dropped from the label):', '', '| role | kind | ms | count | TFLOP/s |', '|---|---|---:|---:|---:|');
      for (const x of roles) out.push(`| ${x.role} | ${x.kind} | ${x.ms.toFixed(2)} | ${x.count} | ${x.tflops ? x.tflops.toFixed(1) : '–'} |`);
    }
  }
  return out.join('\n') + '\n';
}

/**
 * The measured steps as a scheduler latency profile (src/scheduler/profile.ts format), degree 1 only: sequence
 * parallelism across GPUs is a later issue, so larger degrees are not claimed. groupChangeSeconds is 0 with one GPU.
 * Batch > 1 rows become the entry's batchStepSeconds at degree 1 (each marked measured).
 */
export function rowsToProfile(rows: ModelBenchRow[], model: string, device: string): LatencyProfile {
  const all = rows.filter((r) => r.model === model);
  const mine = all.filter((r) => (r.batch ?? 1) === 1).sort((a, b) => a.resolution - b.resolution);
  if (mine.length === 0) throw new Error(`no batch-1 benchmark rows for ${model}`);
  const batched = (res: number) => all.filter((r) => r.resolution === res && (r.batch ?? 1) > 1);
  return makeProfile({
    model: `${model} (tetriserve-ts WGSL engine, batch 1, ${mine[0].textTokens} text tokens)`,
    device,
    degrees: [1],
    entries: mine.map((r) => ({
      resolution: r.resolution,
      stepSeconds: { '1': r.medianMs / 1e3 },
      groupChangeSeconds: 0,
      provenance: {
        '1': `measured: dit bench model, median of ${r.samplesMs.length} steps`, groupChange: 'one GPU: no group change',
        ...Object.fromEntries(batched(r.resolution).map((b) => [`batch${b.batch}`, `measured: dit bench model --batch, median of ${b.samplesMs.length} steps`])),
      },
      ...(batched(r.resolution).length ? { batchStepSeconds: Object.fromEntries(batched(r.resolution).map((b) => [String(b.batch), { '1': b.medianMs / 1e3 }])) } : {}),
    })),
    notes: `written by dit bench model on ${new Date().toISOString().slice(0, 10)}`,
  });
}
