// Quantized-weight benchmark (issue 16), one GPU: (1) dequant kernel throughput per format on a FLUX-size weight;
// (2) full-size FLUX.1-dev checkpoints of random quantized data (scaled fp8 safetensors, GGUF Q8_0, GGUF Q4_K,
// city96's layout: 1-D tensors and embedders in F32) written to disk, each loaded through the real loader in both
// weights modes (load seconds, GPU weight bytes, packed weights), and a 1024² step timed on the loaded weights
// beside the same step on f16 random weights:
//   expand:   weights expanded to f16 at load: the step runs the f16 kernels, so it must equal the f16 step;
//   resident: weights kept quantized, each expanded to a transient f16 tensor before its matmul: the step pays
//             the dequant dispatches (one profiled run reports their GPU ms) and the arena grows by one layer's
//             f16 weight; the issue's bound is 1.2x the f16 step.
// The values are random (valid blocks with sane scales): step time does not depend on them. quant.json is rewritten
// after every measurement, so a run cut by the script's timeout keeps what it measured.
// Run: `dit bench quant` (scripts/gpu-quant.sh). --dry: tiny FLUX and small shapes (lavapipe).
import { randomFillSync } from 'node:crypto';
import type { Command } from 'commander';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GpuContext } from '../gpu/context.js';
import { allocTensor, encodeCalls } from '../gpu/kernel.js';
import { keepBusy } from '../gpu/timer.js';
import { WeightStore } from '../graph/weights.js';
import { DEQUANT_BLOCKS, dequant, type DequantFormat } from '../kernels-wgsl/dequant.js';
import { linearPacked } from '../kernels-wgsl/matmul-packed.js';
import { defaultSgTiling, linearWithTiling } from '../kernels-wgsl/matmul.js';
import { GgufWriter, ggufTensorBytes, type GgufTensorSpec } from '../loading/gguf-writer.js';
import { SafetensorsWriter } from '../loading/safetensors-writer.js';
import { flux, flux1DevConfig, tinyFluxConfig, type FluxConfig } from '../models/flux/index.js';
import { randomWeightStore } from '../models/random-weights.js';
import { WEIGHTS_MODES, type WeightsMode } from '../loading/upload.js';
import { loadModel } from '../models/registry.js';
import { FlagError } from '../util/errors.js';
import { choiceListFlag, intFlag } from '../util/flags.js';

const MiB = 2 ** 20;

/** A buffer of `bytes` random valid blocks of `format` (finite, weight-sized values). */
export function randomBlocks(format: DequantFormat, bytes: number): Uint8Array {
  const blk = DEQUANT_BLOCKS[format];
  const b = new Uint8Array(Math.floor(bytes / blk.bytes) * blk.bytes);
  for (let o = 0; o < b.byteLength; o += 1 << 16) randomFillSync(b, o, Math.min(1 << 16, b.byteLength - o));
  const dv = new DataView(b.buffer);
  const setHalf = (o: number, v: number) => dv.setUint16(o, v, true);
  if (format === 'F8_E4M3') for (let i = 0; i < b.length; i++) b[i] = (b[i] & 0x87) | ((4 + (b[i] % 6)) << 3); // |x| in [2^-3, 2^3)
  else if (format === 'F8_E5M2') for (let i = 0; i < b.length; i++) b[i] = (b[i] & 0x83) | ((10 + (b[i] % 8)) << 2);
  else {
    for (let o = 0; o < b.byteLength; o += blk.bytes) {
      if (format === 'Q6_K') setHalf(o + 208, 0x1a00); // d ~ 0.0039
      else {
        setHalf(o, format === 'Q8_0' ? 0x0d00 : 0x1a00); // d ~ 2.4e-4 (Q8_0) / 0.0039
        if (format === 'Q4_1' || format === 'Q5_1' || format === 'Q4_K' || format === 'Q5_K') setHalf(o + 2, 0x1800);
      }
    }
  }
  return b;
}

interface KernelRow { format: DequantFormat; values: number; ms: number; inGBps: number; outGBps: number }

async function kernelThroughput(ctx: GpuContext, rows: number, cols: number, log: (s: string) => void): Promise<KernelRow[]> {
  const out: KernelRow[] = [];
  const n = rows * cols;
  const dst = allocTensor(ctx, [n], 'f16');
  const counts = ctx.createBuffer(8);
  ctx.fill(counts, 0, 8);
  try {
    for (const format of Object.keys(DEQUANT_BLOCKS) as DequantFormat[]) {
      const blk = DEQUANT_BLOCKS[format];
      const bytes = (n / blk.elems) * blk.bytes;
      const raw = randomBlocks(format, bytes);
      const src = allocTensor(ctx, [Math.ceil(bytes / 4)], 'u32');
      const padded = new Uint8Array(Math.ceil(bytes / 4) * 4);
      padded.set(raw);
      ctx.write(src.buffer, padded);
      const call = await dequant(ctx, { format, src, n, dst, dstBase: 0, counts, slot: 0, scale: format.startsWith('F8') ? 0.01 : undefined });
      const samples: number[] = [];
      for (let r = 0; r < 12; r++) {
        await ctx.sync();
        const t0 = performance.now();
        const enc = ctx.device.createCommandEncoder();
        encodeCalls(enc, [call]);
        ctx.device.queue.submit([enc.finish()]);
        await ctx.sync();
        if (r >= 2) samples.push(performance.now() - t0);
      }
      src.buffer.destroy();
      const ms = samples.sort((a, b) => a - b)[samples.length >> 1];
      const row = { format, values: n, ms, inGBps: bytes / ms / 1e6, outGBps: (n * 2) / ms / 1e6 };
      log(`dequant ${format} [${rows}, ${cols}]: ${ms.toFixed(3)} ms, reads ${row.inGBps.toFixed(0)} GB/s, writes ${row.outGBps.toFixed(0)} GB/s (f16)`);
      out.push(row);
    }
  } finally {
    dst.buffer.destroy();
    counts.destroy();
  }
  return out;
}

interface FusedRow { format: DequantFormat; M: number; N: number; K: number; dequantMs: number; linearMs: number; fusedMs: number; fusedVsSeparate: number }

/** Median ms of `reps` submissions of `calls` (after 2 warm-ups). */
async function timeCalls(ctx: GpuContext, calls: Parameters<typeof encodeCalls>[1], reps: number): Promise<number> {
  const samples: number[] = [];
  // Keep the GPU busy ~200 ms first: after idle time its clocks are low and the first samples run several times slow
  // (2026-11-30: the same linear timed 11.2 ms and 2.4 ms in one process).
  await keepBusy(200, async () => {
    const enc = ctx.device.createCommandEncoder();
    encodeCalls(enc, calls);
    ctx.device.queue.submit([enc.finish()]);
    await ctx.sync();
  });
  for (let r = 0; r < reps + 2; r++) {
    await ctx.sync();
    const t0 = performance.now();
    const enc = ctx.device.createCommandEncoder();
    encodeCalls(enc, calls);
    ctx.device.queue.submit([enc.finish()]);
    await ctx.sync();
    if (r >= 2) samples.push(performance.now() - t0);
  }
  return samples.sort((a, b) => a - b)[samples.length >> 1];
}

/**
 * Dequantizing in the matmul's B-tile load (kernels-wgsl/matmul-packed.ts) vs resident mode's dequant + linear, at
 * FLUX.1-dev's MLP-in shape, on tensor-core adapters only (the emulation elsewhere is far too slow to time).
 */
async function fusedVsSeparate(ctx: GpuContext, log: (s: string) => void): Promise<FusedRow[]> {
  const rows: FusedRow[] = [];
  const [M, N, K] = [4608, 12288, 3072];
  const tuning = { tiling: defaultSgTiling(ctx.caps.subgroupMaxSize, ctx.caps.limits.maxComputeWorkgroupStorageSize) };
  const x = allocTensor(ctx, [M, K], 'f16');
  const out = allocTensor(ctx, [M, N], 'f16');
  const w16 = allocTensor(ctx, [N, K], 'f16');
  const counts = ctx.createBuffer(8);
  ctx.fill(x.buffer, 0x2c002c00); // 0.0625: finite activations
  ctx.fill(counts, 0, 8);
  try {
    for (const format of ['Q8_0', 'Q4_K', 'F8_E4M3'] as DequantFormat[]) {
      const blk = DEQUANT_BLOCKS[format];
      const bytes = ((N * K) / blk.elems) * blk.bytes;
      // At byte 0 of a buffer of the f16 weight's size: matmul.ts binds B at that size (matmul-packed.ts).
      const packed = allocTensor(ctx, [N, K], 'f16');
      const raw = randomBlocks(format, bytes);
      const padded = new Uint8Array(Math.ceil(bytes / 4) * 4);
      padded.set(raw);
      ctx.write(packed.buffer, padded);
      const scale = format.startsWith('F8') ? 0.01 : undefined;
      const deq = await dequant(ctx, { format, src: { buffer: packed.buffer, offset: 0, shape: [padded.byteLength / 4], dtype: 'u32' }, n: N * K, dst: w16, dstBase: 0, scale, counts, slot: 0 });
      const lin = await linearWithTiling(ctx, { x, w: w16, out }, tuning);
      const { call: fused, params } = await linearPacked(ctx, { x, out }, { format, w: packed, scale }, tuning);
      const dequantMs = await timeCalls(ctx, [deq], 10);
      const linearMs = await timeCalls(ctx, [lin], 10);
      const fusedMs = await timeCalls(ctx, [fused], 10);
      const row = { format, M, N, K, dequantMs, linearMs, fusedMs, fusedVsSeparate: fusedMs / (dequantMs + linearMs) };
      rows.push(row);
      log(`fused ${format} [${M}x${K}]x[${N}x${K}]^T: dequant ${dequantMs.toFixed(3)} + linear ${linearMs.toFixed(3)} ms vs fused ${fusedMs.toFixed(3)} ms (${row.fusedVsSeparate.toFixed(3)}x)`);
      packed.buffer.destroy();
      params.destroy();
    }
  } finally {
    for (const b of [x.buffer, out.buffer, w16.buffer, counts]) b.destroy();
  }
  return rows;
}

type FileKind = 'fp8-scaled' | 'gguf-Q8_0' | 'gguf-Q4_K';
const KEEP_F32 = ['time_in.', 'txt_in.', 'vector_in.', 'img_in.', 'guidance_in.', 'final_layer.'];

/** Writes a random-data FLUX checkpoint of `kind` with BFL names (the city96 / ComfyUI layouts). */
async function writeQuantFlux(path: string, cfg: FluxConfig, kind: FileKind): Promise<number> {
  const tensors = flux.expectedTensors(cfg);
  const quantOf = (name: string, shape: number[]): DequantFormat | null => {
    if (shape.length !== 2 || KEEP_F32.some((k) => name.startsWith(k))) return null;
    const f: DequantFormat = kind === 'fp8-scaled' ? 'F8_E4M3' : kind === 'gguf-Q8_0' ? 'Q8_0' : 'Q4_K';
    return shape[1] % DEQUANT_BLOCKS[f].elems === 0 ? f : null;
  };
  const pattern = new Map<string, Uint8Array>();
  const patternOf = (f: DequantFormat | 'F32') => {
    if (!pattern.has(f)) {
      if (f === 'F32') {
        const x = new Float32Array(16 * MiB / 4);
        for (let i = 0; i < x.length; i++) x[i] = (Math.random() - 0.5) * 0.04;
        pattern.set(f, new Uint8Array(x.buffer));
      } else pattern.set(f, randomBlocks(f, 16 * MiB));
    }
    return pattern.get(f)!;
  };
  const stream = async (write: (b: Uint8Array) => Promise<void>, bytes: number, p: Uint8Array) => {
    for (let o = 0; o < bytes; o += p.byteLength) await write(p.subarray(0, Math.min(p.byteLength, bytes - o)));
  };
  if (kind === 'fp8-scaled') {
    const specs = tensors.flatMap((t) => {
      const q = quantOf(t.name, t.shape);
      return q ? [{ name: t.name, dtype: 'F8_E4M3' as const, shape: t.shape }, { name: t.name.replace(/\.weight$/, '.scale_weight'), dtype: 'F32' as const, shape: [] as number[] }] : [{ name: t.name, dtype: 'F32' as const, shape: t.shape }];
    });
    const w = await SafetensorsWriter.create(path, [{ name: 'scaled_fp8', dtype: 'F8_E4M3', shape: [2] }, ...specs]);
    await w.write(new Uint8Array(2));
    for (const s of specs) {
      const n = s.shape.reduce((a, b) => a * b, 1);
      if (s.dtype === 'F8_E4M3') await stream((b) => w.write(b), n, patternOf('F8_E4M3'));
      else if (s.shape.length === 0) await w.write(new Uint8Array(new Float32Array([0.005]).buffer));
      else await stream((b) => w.write(b), n * 4, patternOf('F32'));
    }
    await w.close();
  } else {
    const specs: GgufTensorSpec[] = tensors.map((t) => ({ name: t.name, dtype: quantOf(t.name, t.shape) ?? 'F32', shape: t.shape }));
    const w = await GgufWriter.create(path, specs, { 'general.architecture': 'flux' });
    for (const s of specs) await stream((b) => w.write(b), ggufTensorBytes(s), patternOf(s.dtype as DequantFormat | 'F32'));
    await w.close();
  }
  return (await stat(path)).size;
}

interface ModelRow {
  kind: FileKind | 'f16-random';
  mode: WeightsMode | 'f16';
  fileBytes: number;
  writeSeconds: number;
  loadSeconds: number;
  gpuWeightBytes: number;
  /** Weights kept quantized (resident mode). */
  packedWeights: number;
  /** The step plan's activation arenas (resident mode: + the per-layer f16 transients). */
  activationBytes: number;
  stepMs: number[];
  medianStepMs: number;
  /** medianStepMs / the f16-random step's. */
  vsF16: number;
  /** From one profiled run (GPU timestamps): total op time and the dequant ops' share (resident mode). */
  profileGpuMs: number;
  dequantGpuMs: number;
  dequantDispatches: number;
  finite: boolean;
  saturated: number;
}

interface StepResult { samples: number[]; median: number; finite: boolean; activationBytes: number; dispatches: number; profileGpuMs: number; dequantGpuMs: number; dequantDispatches: number }

async function timeStep(ctx: GpuContext, store: WeightStore, cfg: FluxConfig, res: number, tokens: number, reps: number, profile: boolean): Promise<StepResult> {
  const step = await flux.bench!.step(ctx, store, cfg, res, tokens);
  try {
    const samples: number[] = [];
    for (let r = 0; r < reps + 2; r++) {
      await ctx.sync();
      const t0 = performance.now();
      await step.plan.run();
      await ctx.sync();
      if (r >= 2) samples.push(performance.now() - t0);
    }
    const v = await step.plan.readOutput('velocity');
    let profileGpuMs = 0, dequantGpuMs = 0, dequantDispatches = 0;
    if (profile) {
      const p = await step.plan.profile();
      profileGpuMs = p.gpuMs;
      const d = p.byKind.find((k) => k.kind === 'dequant');
      dequantGpuMs = d?.ms ?? 0;
      dequantDispatches = d?.count ?? 0;
    }
    const median = [...samples].sort((a, b) => a - b)[samples.length >> 1];
    return { samples, median, finite: v.every(Number.isFinite), activationBytes: step.plan.stats.activationBytes, dispatches: step.plan.stats.dispatches, profileGpuMs, dequantGpuMs, dequantDispatches };
  } finally {
    step.destroy();
  }
}

export interface QuantBenchOptions {
  kinds: FileKind[];
  modes: WeightsMode[];
  /** Square resolution of the timed step (64 with dry). */
  res: number;
  /** Timed steps per configuration (1 with dry). */
  reps: number;
  /** Where the files are written, one at a time. */
  tmp: string;
  /** Where quant.json and quant.log go. */
  out: string;
  /** Tiny FLUX and small shapes (any adapter: a smoke test). */
  dry: boolean;
}

export async function runQuantBench(o: QuantBenchOptions): Promise<void> {
  const { kinds, modes, tmp, out, dry } = o;
  const res = dry ? 64 : o.res;
  const reps = dry ? 1 : o.reps;
  await mkdir(out, { recursive: true });
  await mkdir(tmp, { recursive: true });
  const lines: string[] = [];
  const log = (s: string) => { lines.push(s); console.log(s); };
  const ctx = await GpuContext.open({ robustness: false });
  const cfg = dry ? tinyFluxConfig('bfl', true) : flux1DevConfig('bfl', true);
  const tokens = dry ? 7 : flux.bench!.textTokens;
  const models: ModelRow[] = [];
  const report: Record<string, unknown> = {
    device: `${ctx.caps.adapterName} (${ctx.caps.vendor}, ${ctx.caps.backend})`, dry, resolution: res, textTokens: tokens, reps, date: new Date().toISOString(), models,
  };
  const save = async () => {
    await writeFile(join(out, 'quant.json'), JSON.stringify(report, null, 1));
    await writeFile(join(out, 'quant.log'), lines.join('\n') + '\n');
  };
  const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;
  try {
    report.kernels = await kernelThroughput(ctx, dry ? 256 : 12288, dry ? 512 : 3072, log);
    await save();
    let f16Ms = NaN;
    {
      const { store, bytes } = await randomWeightStore(ctx, cfg, flux.bench!.seed);
      const r = await timeStep(ctx, store, cfg, res, tokens, reps, false);
      store.destroy();
      f16Ms = r.median;
      models.push({ kind: 'f16-random', mode: 'f16', fileBytes: 0, writeSeconds: 0, loadSeconds: 0, gpuWeightBytes: bytes, packedWeights: 0, activationBytes: r.activationBytes,
        stepMs: r.samples, medianStepMs: r.median, vsF16: 1, profileGpuMs: 0, dequantGpuMs: 0, dequantDispatches: 0, finite: r.finite, saturated: 0 });
      log(`f16 random weights: ${gib(bytes)}, step ${r.median.toFixed(1)} ms at ${res}², activations ${gib(r.activationBytes)}, finite=${r.finite}`);
      await save();
    }
    for (const kind of kinds) {
      const path = join(tmp, `flux-${kind}.${kind.startsWith('gguf') ? 'gguf' : 'safetensors'}`);
      const t0 = performance.now();
      const fileBytes = await writeQuantFlux(path, cfg, kind);
      const writeSeconds = (performance.now() - t0) / 1000;
      log(`${kind}: file ${(fileBytes / 1e9).toFixed(2)} GB written in ${writeSeconds.toFixed(1)} s`);
      try {
        for (const mode of modes) {
          const store = new WeightStore();
          const loaded = await loadModel<FluxConfig>(ctx, path, { store, weightsMode: mode });
          try {
            const r = await timeStep(ctx, store, loaded.config, res, tokens, reps, mode === 'resident');
            const row: ModelRow = {
              kind, mode, fileBytes, writeSeconds, loadSeconds: loaded.seconds, gpuWeightBytes: loaded.weights.gpuBytes, packedWeights: loaded.weights.packed.size,
              activationBytes: r.activationBytes, stepMs: r.samples, medianStepMs: r.median, vsF16: r.median / f16Ms, profileGpuMs: r.profileGpuMs,
              dequantGpuMs: r.dequantGpuMs, dequantDispatches: r.dequantDispatches, finite: r.finite, saturated: loaded.weights.saturated,
            };
            models.push(row);
            log(`  ${mode.padEnd(8)} loaded in ${loaded.seconds.toFixed(1)} s (${(fileBytes / 1e9 / loaded.seconds).toFixed(2)} GB/s), GPU weights ${gib(row.gpuWeightBytes)}` +
              `${row.packedWeights ? ` (${row.packedWeights} kept quantized)` : ''}, activations ${gib(row.activationBytes)}, step ${r.median.toFixed(1)} ms = ${row.vsF16.toFixed(3)}x f16` +
              `${mode === 'resident' ? ` (profiled: dequant ${r.dequantGpuMs.toFixed(1)} ms in ${r.dequantDispatches} ops of ${r.profileGpuMs.toFixed(1)} ms GPU)` : ''}, finite=${r.finite}`);
          } finally {
            loaded.weights.destroy();
            store.destroy();
          }
          await save();
        }
      } finally {
        await rm(path, { force: true });
      }
    }
    if (ctx.caps.tensorCores) {
      try {
        report.fused = await fusedVsSeparate(ctx, log);
      } catch (e) {
        log(`fused B-tile dequant: failed: ${(e as Error).message}`);
        report.fused = { error: (e as Error).message };
      }
    } else log('fused B-tile dequant: skipped (no tensor cores on this adapter; its emulation is too slow to time)');
  } finally {
    await save();
    ctx.destroy();
  }
}

/** `dit bench quant`: the same run as scripts/gpu-quant.sh's bench phase (flags checked before the GPU opens). */
export function registerQuantBench(bench: Command): void {
  bench
    .command('quant')
    .description('quantized FLUX.1-dev weights (GGUF Q8_0/Q4_K, scaled fp8; random data written to --tmp): load time, weight memory and 1024² step in each --weights-mode vs the f16 step; dequant kernel GB/s')
    .option('--kinds <list>', 'files to write and load: gguf-Q8_0, gguf-Q4_K, fp8-scaled', 'gguf-Q8_0,gguf-Q4_K,fp8-scaled')
    .option('--modes <list>', 'weights modes: expand, resident', 'expand,resident')
    .option('--res <px>', 'square resolution of the timed step', '1024')
    .option('--reps <n>', 'timed steps per configuration', '5')
    .option('--tmp <dir>', 'where the files are written (one at a time, ~13 GB free needed; deleted after use)', '/tmp/quant-bench')
    .option('--out <dir>', 'where to write quant.json and quant.log', 'bench/results/quant')
    .option('--dry', 'tiny FLUX at 64² (any adapter: a smoke test)')
    .action(async (o: { kinds: string; modes: string; res: string; reps: string; tmp: string; out: string; dry?: boolean }) => {
      const kinds = choiceListFlag<FileKind>('--kinds', o.kinds, ['gguf-Q8_0', 'gguf-Q4_K', 'fp8-scaled']);
      const modes = choiceListFlag<WeightsMode>('--modes', o.modes, WEIGHTS_MODES);
      const res = intFlag('--res', o.res, 16);
      if (res % 16) throw new FlagError('--res', `must be a multiple of 16, got '${o.res}'`);
      const reps = intFlag('--reps', o.reps, 1);
      await runQuantBench({ kinds, modes, res, reps, tmp: o.tmp, out: o.out, dry: !!o.dry });
    });
}
