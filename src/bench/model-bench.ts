// `dit bench model`: one denoising step of full-size FLUX.1-dev / SD3-medium (random weights, real shapes) per
// resolution: median step time, achieved TFLOP/s, GPU memory, CPU encode time, and where the GPU time goes.
import type { GpuContext } from '../gpu/context.js';
import { median } from '../gpu/timer.js';
import { FluxTransformer } from '../models/flux.js';
import { Sd3Transformer } from '../models/sd3.js';
import { flux1DevConfig, sd3MediumConfig, type FluxConfig, type ModelConfig, type Sd3Config } from '../weights/model-config.js';
import type { WeightStore } from '../graph/weights.js';
import { makeProfile, type LatencyProfile } from '../scheduler/profile.js';
import { randomWeightStore } from './random-weights.js';

export interface ModelBenchRow {
  model: string;
  resolution: number;
  imageTokens: number;
  textTokens: number;
  medianMs: number;
  samplesMs: number[];
  /** Time for run() to encode and submit (CPU side). */
  encodeMs: number;
  tflops: number;
  stepTflop: number;
  weightBytes: number;
  activationBytes: number;
  dispatches: number;
  finite: boolean;
  /** GPU time by op kind from a timestamped run (each op in its own pass: slightly slower than the real step). */
  breakdown: { kind: string; ms: number; fraction: number; tflops: number; gbps: number; count: number }[];
  profiledGpuMs: number;
}

function randomArray(n: number, seed: number, std = 1): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = ((s / 4294967296) * 2 - 1) * std * 1.7320508;
  }
  return a;
}

async function timeSteps(ctx: GpuContext, run: () => Promise<void>, reps: number): Promise<{ samples: number[]; encodeMs: number[] }> {
  const samples: number[] = [];
  const encodeMs: number[] = [];
  for (let r = 0; r < reps + 2; r++) {
    await ctx.sync();
    const t0 = performance.now();
    await run();
    const t1 = performance.now();
    await ctx.sync();
    if (r >= 2) {
      samples.push(performance.now() - t0);
      encodeMs.push(t1 - t0);
    }
  }
  return { samples, encodeMs };
}

/** A compiled model step the benchmark can drive: its plan, and how to fill its inputs with random data. */
interface SteppableModel {
  plan: { run(): Promise<void>; readOutput(name: string): Promise<Float32Array>; profile(): Promise<{ gpuMs: number; byKind: ModelBenchRow['breakdown'] }>; stats: { flops: number; activationBytes: number; dispatches: number } };
  destroy(): void;
}

async function benchModel(
  ctx: GpuContext,
  name: string,
  cfg: ModelConfig,
  resolutions: number[],
  textTokens: number,
  build: (store: WeightStore, grid: number) => Promise<SteppableModel>,
  opts: { reps?: number; log?: (s: string) => void },
): Promise<ModelBenchRow[]> {
  const log = opts.log ?? (() => {});
  const { store, bytes } = await randomWeightStore(ctx, cfg, cfg.family === 'flux' ? 1 : 2);
  log(`${name} random weights on GPU: ${(bytes / 2 ** 30).toFixed(2)} GiB`);
  const rows: ModelBenchRow[] = [];
  try {
    for (const res of resolutions) {
      const grid = res / 16;
      const model = await build(store, grid);
      try {
        const { samples, encodeMs } = await timeSteps(ctx, () => model.plan.run(), opts.reps ?? 5);
        const v = await model.plan.readOutput('velocity');
        const prof = await model.plan.profile();
        const row = makeRow(name, res, grid * grid, textTokens, samples, encodeMs, model.plan.stats, bytes, v, prof);
        rows.push(row);
        log(`${name} ${res}²: ${row.medianMs.toFixed(1)} ms/step, ${row.tflops.toFixed(0)} TFLOP/s, encode ${row.encodeMs.toFixed(2)} ms, activations ${(row.activationBytes / 2 ** 30).toFixed(2)} GiB, finite=${row.finite}`);
      } finally {
        model.destroy();
      }
    }
  } finally {
    store.destroy();
  }
  return rows;
}

export function benchFlux(ctx: GpuContext, resolutions: number[], opts: { reps?: number; txtTokens?: number; log?: (s: string) => void; config?: FluxConfig } = {}): Promise<ModelBenchRow[]> {
  const cfg = opts.config ?? flux1DevConfig('bfl', true);
  const Lt = opts.txtTokens ?? 512;
  return benchModel(ctx, opts.config ? 'FLUX (custom config)' : 'FLUX.1-dev', cfg, resolutions, Lt, async (store, grid) => {
    const model = await FluxTransformer.create(ctx, store, cfg, { batch: 1, txtTokens: Lt, gridH: grid, gridW: grid });
    model.setInputs({
      img: randomArray(grid * grid * cfg.inChannels, 1), txt: randomArray(Lt * cfg.contextInDim, 2, 0.3),
      pooled: randomArray(cfg.pooledDim, 3, 0.3), timesteps: [0.6], guidance: [3.5],
    });
    return model;
  }, opts);
}

export function benchSd3(ctx: GpuContext, resolutions: number[], opts: { reps?: number; txtTokens?: number; log?: (s: string) => void; config?: Sd3Config } = {}): Promise<ModelBenchRow[]> {
  const cfg = opts.config ?? sd3MediumConfig('3');
  const Lc = opts.txtTokens ?? 333;
  return benchModel(ctx, opts.config ? 'SD3 (custom config)' : 'SD3-medium', cfg, resolutions, Lc, async (store, grid) => {
    const model = await Sd3Transformer.create(ctx, store, cfg, { batch: 1, txtTokens: Lc, gridH: grid, gridW: grid });
    model.plan.setInput('latents', randomArray(grid * grid * cfg.inChannels * cfg.patchSize ** 2, 4));
    model.plan.setInput('context', randomArray(Lc * cfg.jointAttentionDim, 5, 0.3));
    model.plan.setInput('pooled', randomArray(cfg.pooledDim, 6, 0.3));
    model.setTimestep([0.6]);
    return model;
  }, opts);
}

function makeRow(
  model: string, res: number, imageTokens: number, textTokens: number, samples: number[], encodeMs: number[],
  stats: { flops: number; activationBytes: number; dispatches: number }, weightBytes: number, v: Float32Array,
  prof: { gpuMs: number; byKind: ModelBenchRow['breakdown'] },
): ModelBenchRow {
  const ms = median(samples);
  return {
    model, resolution: res, imageTokens, textTokens, medianMs: ms, samplesMs: samples, encodeMs: median(encodeMs),
    tflops: stats.flops / (ms / 1e3) / 1e12, stepTflop: stats.flops / 1e12, weightBytes, activationBytes: stats.activationBytes,
    dispatches: stats.dispatches, finite: v.every(Number.isFinite),
    breakdown: prof.byKind.map(({ kind, ms: kms, fraction, tflops, gbps, count }) => ({ kind, ms: kms, fraction, tflops, gbps, count })),
    profiledGpuMs: prof.gpuMs,
  };
}

/** PyTorch's step times from bench/reference/step_time.py (same GPU, same run). */
export interface TorchStepTimes {
  device: string;
  results: { model: string; resolution: number; ms: number; peak_mem_gib?: number }[];
}

export function modelMarkdown(device: string, rows: ModelBenchRow[], torch?: { device: string; lookup: (model: string, res: number) => { ms: number; mem?: number } | undefined }): string {
  const out: string[] = [];
  out.push(`# Model step benchmarks`, '', `- Device: ${device}; date ${new Date().toISOString().slice(0, 10)}; random weights, real shapes, batch 1, median of 5 steps after 2 warm-ups.`);
  if (torch) out.push(`- PyTorch reference: bench/reference/step_time.py (bf16, SDPA, eager) on ${torch.device} in the same run.`);
  out.push('', '| model | res | tokens (img+txt) | ms/step (WGSL) | TFLOP/s | ms/step (PyTorch) | WGSL / PyTorch time | weights GiB | activations GiB | CPU encode ms | dispatches | finite |', '|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const r of rows) {
    const t = torch?.lookup(r.model, r.resolution);
    out.push(`| ${r.model} | ${r.resolution}² | ${r.imageTokens}+${r.textTokens} | ${r.medianMs.toFixed(1)} | ${r.tflops.toFixed(0)} | ${t ? t.ms.toFixed(1) : '–'} | ${t ? (r.medianMs / t.ms).toFixed(2) + '×' : '–'} | ${(r.weightBytes / 2 ** 30).toFixed(2)} | ${(r.activationBytes / 2 ** 30).toFixed(2)} | ${r.encodeMs.toFixed(2)} | ${r.dispatches} | ${r.finite ? 'yes' : 'NO'} |`);
  }
  for (const r of rows) {
    out.push('', `## Where the time goes: ${r.model} ${r.resolution}² (timestamped run, ${r.profiledGpuMs.toFixed(1)} ms of GPU time)`, '', '| op kind | ms | share | count | TFLOP/s | GB/s |', '|---|---:|---:|---:|---:|---:|');
    for (const k of r.breakdown) out.push(`| ${k.kind} | ${k.ms.toFixed(2)} | ${(k.fraction * 100).toFixed(1)}% | ${k.count} | ${k.tflops.toFixed(1)} | ${k.gbps.toFixed(0)} |`);
  }
  return out.join('\n') + '\n';
}

/**
 * The measured steps as a scheduler latency profile (src/scheduler/profile.ts format), degree 1 only: sequence
 * parallelism across GPUs is a later issue, so larger degrees are not claimed. groupChangeSeconds is 0 with one GPU.
 */
export function rowsToProfile(rows: ModelBenchRow[], model: string, device: string): LatencyProfile {
  const mine = rows.filter((r) => r.model === model).sort((a, b) => a.resolution - b.resolution);
  if (mine.length === 0) throw new Error(`no benchmark rows for ${model}`);
  return makeProfile({
    model: `${model} (tetriserve-ts WGSL engine, batch 1, ${mine[0].textTokens} text tokens)`,
    device,
    degrees: [1],
    entries: mine.map((r) => ({
      resolution: r.resolution,
      stepSeconds: { '1': r.medianMs / 1e3 },
      groupChangeSeconds: 0,
      provenance: { '1': `measured: dit bench model, median of ${r.samplesMs.length} steps`, groupChange: 'one GPU: no group change' },
    })),
    notes: `written by dit bench model on ${new Date().toISOString().slice(0, 10)}`,
  });
}
