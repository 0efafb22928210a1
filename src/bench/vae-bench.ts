// `dit bench vae`: VAE decode at full size. Without --checkpoint, FLUX.1's VAE architecture with random weights
// generated on the GPU; with one (e.g. the random-weight folder bench/reference/vae_fullsize.py writes), its
// weights, and with --golden also the parity of our decode against PyTorch's float32 decode (relL2), untiled and
// tiled. Reports per resolution: the decoder plan's GPU time (median of replays), the whole runtime decode
// (upload, plan, readback, layout changes on the host), activation and weight memory, where the time goes, and
// PyTorch's float32 / bf16 decode times from the same run when --reference gives vae_fullsize.py's JSON.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { GpuContext } from '../gpu/context.js';
import { allocTensor, encodeCalls } from '../gpu/kernel.js';
import { median } from '../gpu/timer.js';
import { compile } from '../graph/executor.js';
import { formatProfile } from '../graph/profile-report.js';
import { WeightStore } from '../graph/weights.js';
import { packConv2dWeightForGemm } from '../kernels-wgsl/conv2d-gemm.js';
import { randomFill } from '../kernels-wgsl/random-fill.js';
import { SafetensorsFile } from '../loading/safetensors.js';
import { FLUX_SCALING_FACTOR, FLUX_SHIFT_FACTOR, type VaeConfig } from '../models/vae/config.js';
import { vaeGraphWeightShape, vaeWeightSources } from '../models/vae/family.js';
import { buildVaeDecoder } from '../models/vae/graph.js';
import { loadVae, type LoadedVae } from '../models/vae/load.js';
import { VaeRuntime } from '../models/vae/runtime.js';
import { relativeError } from '../models/parity.js';

/** FLUX.1's vae/config.json architecture (also SD3's, with its own factors). */
export const FLUX_VAE_CONFIG: VaeConfig = {
  family: 'autoencoder-kl', layout: 'diffusers', inChannels: 3, outChannels: 3, latentChannels: 16,
  blockOutChannels: [128, 256, 512, 512], layersPerBlock: 2, normGroups: 32, quantConv: false, postQuantConv: false,
  midAttention: true, hasEncoder: false, scalingFactor: FLUX_SCALING_FACTOR, shiftFactor: FLUX_SHIFT_FACTOR, factorsFrom: 'config.json',
};

/** Decoder weights with random values, in the graph's (packed) shapes, generated on the GPU. */
export async function randomVaeDecoder(ctx: GpuContext, cfg: VaeConfig, seed = 1): Promise<LoadedVae> {
  const store = new WeightStore();
  const buffers: GPUBuffer[] = [];
  let gpuBytes = 0;
  let i = 0;
  const gemmWeights = ctx.caps.tensorCores; // as loadVae: the tensor-core conv path's layout, made once
  const enc = ctx.device.createCommandEncoder({ label: 'vae-random-weights' });
  for (const s of vaeWeightSources({ ...cfg, hasEncoder: false })) {
    const shape = vaeGraphWeightShape(s, s.role);
    const t = allocTensor(ctx, shape, 'f16', s.name);
    const fanIn = s.role === 'vector' ? 1 : s.shape.slice(1).reduce((a, b) => a * b, 1);
    const isNorm = s.role === 'vector' && /norm[^.]*\.weight$/.test(s.name);
    const std = s.role === 'vector' ? (isNorm ? 0.2 : 0.1) : 1.2 / Math.sqrt(fanIn);
    encodeCalls(enc, [await randomFill(ctx, { out: t, seed: seed * 100_003 + i++, mean: isNorm ? 1 : 0, std })]);
    store.set(s.name, t);
    buffers.push(t.buffer);
    gpuBytes += t.buffer.size;
    if (gemmWeights && s.role === 'conv') {
      const [k, , cin, cout] = shape;
      const gemm = allocTensor(ctx, [cout, k * k * cin], 'f16', `${s.name} (gemm)`);
      encodeCalls(enc, [await packConv2dWeightForGemm(ctx, { src: t, dst: gemm })]);
      store.set(`${s.name}.gemm`, gemm);
      buffers.push(gemm.buffer);
      gpuBytes += gemm.buffer.size;
    }
  }
  ctx.device.queue.submit([enc.finish()]);
  await ctx.sync();
  return {
    config: { ...cfg, hasEncoder: false }, part: 'decoder', gemmWeights, store, description: 'random weights', gpuBytes, seconds: 0, warnings: [],
    destroy: () => {
      for (const b of buffers) b.destroy();
      store.destroy();
    },
  };
}

export interface VaeBenchRow {
  resolution: number;
  latent: number;
  /** Decoder plan replay (GPU work only, latents already on the GPU). */
  planMs: number;
  planSamplesMs: number[];
  /** VaeRuntime.decode end to end: host latents in, host image out. */
  decodeMs: number;
  tiles: number;
  tflops: number;
  activationBytes: number;
  weightBytes: number;
  dispatches: number;
  finite: boolean;
  breakdown: { kind: string; ms: number; fraction: number; tflops: number; gbps: number; count: number }[];
  profileMarkdown: string;
}

export interface VaeParity {
  resolution: number;
  relL2: number;
  maxAbs: number;
  nonFinite: number;
  /** Tiled decode with whole-image GroupNorm statistics (2 passes, the default). */
  tiledRelL2?: number;
  /** Tiled decode with each tile's own statistics (1 pass, as diffusers' tiled_decode). */
  tiledOwnStatsRelL2?: number;
  tiles?: number;
}

async function readF32(path: string, name: string): Promise<{ shape: number[]; data: Float32Array }> {
  const f = await SafetensorsFile.open(path);
  try {
    const info = f.info(name);
    if (info.dtype !== 'F32') throw new Error(`${path}: '${name}' is ${info.dtype}, expected F32`);
    const b = await f.read(name);
    return { shape: info.shape, data: new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)) };
  } finally {
    await f.close();
  }
}

export interface VaeBenchOptions {
  checkpoint?: string;
  /** Architecture for random weights (default FLUX.1's; tests pass toy widths). Ignored with a checkpoint. */
  config?: VaeConfig;
  golden?: string;
  reps?: number;
  /** Latent tile for the tiled parity check (default 64). */
  tile?: number;
  log?: (s: string) => void;
}

export async function benchVae(ctx: GpuContext, resolutions: number[], opts: VaeBenchOptions = {}): Promise<{ model: string; rows: VaeBenchRow[]; parity?: VaeParity }> {
  const log = opts.log ?? (() => {});
  const loaded = opts.checkpoint ? await loadVae(ctx, opts.checkpoint, { part: 'decoder' }) : await randomVaeDecoder(ctx, opts.config ?? FLUX_VAE_CONFIG);
  const cfg = loaded.config;
  const model = opts.checkpoint ? `AutoencoderKL ${loaded.description}` : opts.config ? 'AutoencoderKL (custom config, random weights)' : 'FLUX.1 VAE (random weights)';
  log(`${model}: decoder weights ${(loaded.gpuBytes / 2 ** 20).toFixed(0)} MiB on GPU`);
  const vae = VaeRuntime.fromLoaded(ctx, loaded, { cachedPlans: 3 });
  const rows: VaeBenchRow[] = [];
  let parity: VaeParity | undefined;
  try {
    const f = vae.scale;
    for (const res of resolutions) {
      if (res % f !== 0) throw new Error(`resolution ${res} is not a multiple of the VAE's factor ${f}`);
      const h = res / f;
      const lat = new Float32Array(cfg.latentChannels * h * h);
      for (let i = 0; i < lat.length; i++) lat[i] = Math.sin(i * 12.9898) * 1.5; // deterministic, O(1), not periodic at tile scale
      // Whole decode through the runtime (compiles the plan the first time; warm twice, then time).
      await vae.decode(lat, h, h);
      const t0 = performance.now();
      const out = await vae.decode(lat, h, h);
      const decodeMs = performance.now() - t0;
      // Plan replays: GPU work only, with its own plan (the runtime's is private).
      const plan = await compile(ctx, buildVaeDecoder(cfg, h, h, { gemmWeights: loaded.gemmWeights }), loaded.store);
      try {
        plan.setInput('z', new Float32Array(h * h * cfg.latentChannels).fill(0.3));
        const samples: number[] = [];
        for (let r = 0; r < (opts.reps ?? 5) + 2; r++) {
          await ctx.sync();
          const s0 = performance.now();
          await plan.run();
          await ctx.sync();
          if (r >= 2) samples.push(performance.now() - s0);
        }
        const prof = await plan.profile();
        const ms = median(samples);
        const row: VaeBenchRow = {
          resolution: res, latent: h, planMs: ms, planSamplesMs: samples, decodeMs, tiles: out.tiles,
          tflops: plan.stats.flops / (ms / 1e3) / 1e12, activationBytes: plan.stats.activationBytes, weightBytes: loaded.gpuBytes,
          dispatches: plan.stats.dispatches, finite: out.image.every(Number.isFinite),
          breakdown: prof.byKind.map(({ kind, ms: kms, fraction, tflops, gbps, count }) => ({ kind, ms: kms, fraction, tflops, gbps, count })),
          profileMarkdown: formatProfile(prof),
        };
        rows.push(row);
        log(`decode ${res}²: plan ${ms.toFixed(1)} ms (${row.tflops.toFixed(1)} TFLOP/s), runtime decode ${decodeMs.toFixed(1)} ms (${out.tiles} tile${out.tiles > 1 ? 's' : ''}), activations ${(row.activationBytes / 2 ** 20).toFixed(0)} MiB, finite=${row.finite}`);
      } finally {
        plan.destroy();
      }
    }
    if (opts.golden) {
      const latents = await readF32(opts.golden, 'input.latents');
      const want = await readF32(opts.golden, 'output.image');
      const [, , h, w] = latents.shape;
      const got = await vae.decode(latents.data, h, w, { tiling: false });
      parity = { resolution: got.height, ...relativeError(got.image, want.data) };
      const tile = opts.tile ?? 64;
      if (h > tile || w > tile) {
        const tiled = await vae.decode(latents.data, h, w, { tiling: { tile, statsPasses: 2 } });
        parity.tiledRelL2 = relativeError(tiled.image, want.data).relL2;
        parity.tiles = tiled.tiles;
        const own = await vae.decode(latents.data, h, w, { tiling: { tile, statsPasses: 1 } });
        parity.tiledOwnStatsRelL2 = relativeError(own.image, want.data).relL2;
      }
      log(`parity vs ${opts.golden}: relL2 ${parity.relL2.toExponential(2)} (max abs ${parity.maxAbs.toExponential(2)}, non-finite ${parity.nonFinite})` +
        (parity.tiledRelL2 !== undefined ? `; tiled (${parity.tiles} tiles of ${tile}) relL2 ${parity.tiledRelL2.toExponential(2)} ` +
          `(per-tile GroupNorm statistics: ${parity.tiledOwnStatsRelL2!.toExponential(2)})` : ''));
    }
  } finally {
    vae.destroy();
  }
  return { model, rows, parity };
}

interface TorchVaeTimes {
  device: string;
  results: { resolution: number; fp32_ms: number; bf16_ms: number; fp32_peak_bytes: number; bf16_peak_bytes: number; bf16_vs_fp32_relL2: number | null }[];
}

export function vaeMarkdown(device: string, model: string, rows: VaeBenchRow[], parity?: VaeParity, torch?: TorchVaeTimes): string {
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  const lines = [`# VAE decode (${model}) on ${device}`, '', torch ? `PyTorch: ${torch.device}, eager, same run.` : '', '',
    '| resolution | ours: plan (GPU) | ours: decode (host to host) | TFLOP/s | activations | weights | PyTorch fp32 | PyTorch bf16 | ours / bf16 |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|'];
  for (const r of rows) {
    const t = torch?.results.find((x) => x.resolution === r.resolution);
    lines.push(`| ${r.resolution}² | ${r.planMs.toFixed(1)} ms | ${r.decodeMs.toFixed(1)} ms${r.tiles > 1 ? ` (${r.tiles} tiles)` : ''} | ${r.tflops.toFixed(1)} | ${mib(r.activationBytes)} | ${mib(r.weightBytes)} | ` +
      `${t ? `${t.fp32_ms.toFixed(1)} ms (${mib(t.fp32_peak_bytes)})` : '-'} | ${t ? `${t.bf16_ms.toFixed(1)} ms (${mib(t.bf16_peak_bytes)})` : '-'} | ${t ? `${(r.planMs / t.bf16_ms).toFixed(2)}x` : '-'} |`);
  }
  if (parity) {
    const bf = torch?.results.find((x) => x.resolution === parity.resolution)?.bf16_vs_fp32_relL2;
    lines.push('', `Parity at ${parity.resolution}² against PyTorch float32 (TF32 off): relL2 ${parity.relL2.toExponential(2)}, max abs ${parity.maxAbs.toExponential(2)}` +
      (bf != null ? `; PyTorch bf16 vs float32: relL2 ${bf.toExponential(2)}` : '') +
      (parity.tiledRelL2 !== undefined ? `; our tiled decode (${parity.tiles} tiles) vs float32: relL2 ${parity.tiledRelL2.toExponential(2)} with ` +
        `whole-image GroupNorm statistics, ${parity.tiledOwnStatsRelL2!.toExponential(2)} with per-tile statistics` : '') + '.');
  }
  for (const r of rows) lines.push('', `## Where the time goes at ${r.resolution}²`, '', r.profileMarkdown);
  return lines.join('\n') + '\n';
}

/** `dit bench vae` (registered by cli/bench.ts). */
export function registerVaeBench(bench: Command): void {
  bench
    .command('vae')
    .description('VAE decode at full size (FLUX.1 VAE, random weights unless --checkpoint), beside PyTorch with --reference')
    .option('--res <list>', 'image resolutions, comma separated', '512,1024')
    .option('--checkpoint <path>', 'a VAE (diffusers vae/ folder or ae.safetensors) instead of random weights')
    .option('--golden <file>', 'parity against bench/reference/vae_fullsize.py\'s float32 decode (needs its --checkpoint)')
    .option('--reference <file>', 'PyTorch decode times from bench/reference/vae_fullsize.py (same GPU, same run)')
    .option('--out <dir>', 'where to write vae.json and VAE.md', 'bench/results')
    .option('--reps <n>', 'timed plan replays per resolution', '5')
    .option('--robustness', 'keep Dawn robustness checks on (default off for benchmarks)')
    .action(async (opts: { res: string; checkpoint?: string; golden?: string; reference?: string; out: string; reps: string; robustness?: boolean }) => {
      const res = opts.res.split(',').map((s) => s.trim()).filter(Boolean).map((s) => {
        const n = Number(s);
        if (!Number.isInteger(n) || n < 16 || n % 16 !== 0) throw new Error(`--res: '${s}' must be a multiple of 16`);
        return n;
      });
      const reps = Number(opts.reps);
      if (!Number.isInteger(reps) || reps < 1) throw new Error(`--reps must be a positive integer (got '${opts.reps}')`);
      const torch = opts.reference ? (JSON.parse(readFileSync(opts.reference, 'utf8')) as TorchVaeTimes) : undefined;
      const ctx = await GpuContext.open({ robustness: !!opts.robustness });
      try {
        const r = await benchVae(ctx, res, { checkpoint: opts.checkpoint, golden: opts.golden, reps, log: (l) => console.log(l) });
        mkdirSync(opts.out, { recursive: true });
        writeFileSync(join(opts.out, 'vae.json'), JSON.stringify({ device: ctx.caps.adapterName, date: new Date().toISOString(), ...r, torch }, null, 1));
        writeFileSync(join(opts.out, 'VAE.md'), vaeMarkdown(ctx.caps.adapterName, r.model, r.rows, r.parity, torch));
        console.log(`wrote ${join(opts.out, 'vae.json')} and ${join(opts.out, 'VAE.md')}`);
        if (r.rows.some((x) => !x.finite) || (r.parity && r.parity.nonFinite > 0)) process.exitCode = 1;
      } finally {
        ctx.destroy();
      }
    });
}
