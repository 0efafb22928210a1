// Checkpoint load benchmark (host side): writes a full-size FLUX.1-dev-shaped checkpoint of random bf16 values
// (real names and shapes, ~23.8 GB, streamed), then reads it all back through the same path the GPU upload
// uses (Checkpoint -> config inference + validation -> canonical weight plans -> chunked streamPlan), with a
// host-side pass over every chunk, and reports throughput and the process's peak RSS (VmHWM). The write and
// read phases run in separate processes so each phase's peak RSS is its own.
//
//   node dist/bench/bench-load.js all  /tmp/flux1-dev-random.safetensors [--keep] [--chunk-mib 64]
//   node dist/bench/bench-load.js write <path> [--layout bfl|diffusers] [--shards N] [--schnell] [--model flux|sd3|sd3.5]
//   node dist/bench/bench-load.js read  <path> [--chunk-mib 64] [--process checksum|none|f16] [--single-buffer]
//   node dist/bench/bench-load.js gpu   <path> [--chunk-mib 64] [--no-robustness]   (real loadModel on the GPU)
import { spawnSync } from 'node:child_process';
import { rm, statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { bf16BitsToF32, f32ToF16Bits } from '../util/f16.js';
import { peakRssBytes } from '../util/memory.js';
import { flux1DevConfig, tinyFluxConfig } from '../models/flux/index.js';
import { identify, openCheckpoint } from '../models/registry.js';
import { sd3MediumConfig } from '../models/sd3/index.js';
import { writeSyntheticCheckpoint } from './synthetic.js';
import { planWeight, streamPlan } from '../loading/upload.js';

const MiB = 1024 * 1024;
const GB = 1e9;

export { peakRssBytes };

function arg(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
}

async function writePhase(path: string, args: string[]): Promise<Record<string, unknown>> {
  const layout = arg(args, '--layout', 'bfl') as 'bfl' | 'diffusers';
  if (layout === 'bfl' && !path.endsWith('.safetensors')) throw new Error(`--layout bfl writes one file: give a path ending in .safetensors (got ${path})`);
  // --tiny: the same real names at test size (smoke test of the benchmark itself).
  // --model sd3|sd3.5: the SD3-medium / SD3.5-medium diffusers structure (4.2 / 4.9 GB: fits the page cache).
  const model = arg(args, '--model', 'flux');
  const cfg = args.includes('--tiny') ? tinyFluxConfig(layout, !args.includes('--schnell'))
    : model === 'sd3' || model === 'sd3.5' ? sd3MediumConfig(model === 'sd3' ? '3' : '3.5')
    : flux1DevConfig(layout, !args.includes('--schnell'));
  const fs = await statfs(dirname(path));
  const free = fs.bavail * fs.bsize;
  const t0 = performance.now();
  const r = await writeSyntheticCheckpoint(path, cfg, { dtype: 'BF16', fast: true, shards: Number(arg(args, '--shards', '1')), chunkBytes: Number(arg(args, '--chunk-mib', '64')) * MiB });
  const s = (performance.now() - t0) / 1000;
  return { phase: 'write', path, files: r.files.length, tensors: r.tensors, bytes: r.bytes, seconds: s, gbPerSec: r.bytes / GB / s, peakRssMB: peakRssBytes() / MiB, freeDiskGBBefore: free / GB };
}

/** XOR-fold of the chunk's 32-bit words: touches every byte so the read cannot be optimised away. */
function checksum(bytes: Uint8Array, acc: number): number {
  const words = Math.floor(bytes.byteLength / 4);
  const u = new Uint32Array(bytes.buffer, bytes.byteOffset, words);
  let x = acc;
  for (let i = 0; i < words; i++) x = (x ^ u[i]) >>> 0;
  for (let i = words * 4; i < bytes.byteLength; i++) x = (x ^ (bytes[i] << ((i & 3) * 8))) >>> 0;
  return x;
}

async function readPhase(path: string, args: string[]): Promise<Record<string, unknown>> {
  const chunkBytes = Number(arg(args, '--chunk-mib', '64')) * MiB;
  const mode = arg(args, '--process', 'checksum');
  const t0 = performance.now();
  const ck = await openCheckpoint(path);
  const { family, config: cfg } = identify(ck);
  const tHeader = (performance.now() - t0) / 1000;
  const plans = family.weightSources(cfg).filter((s) => !s.optional || s.parts.every((p) => ck.has(p.tensor))).map((s) => planWeight(ck, s));
  const chunkElems = Math.max(128, Math.floor(chunkBytes / 4 / 128) * 128);
  // Two host chunk buffers (read-ahead, as the GPU upload does; --single-buffer for one), plus an f16 output buffer in f16 mode.
  const host = args.includes('--single-buffer') ? [new Uint8Array(chunkElems * 4)] : [new Uint8Array(chunkElems * 4), new Uint8Array(chunkElems * 4)];
  const out = mode === 'f16' ? new Uint16Array(chunkElems) : null;
  let bytes = 0;
  let acc = 0;
  const t1 = performance.now();
  for (const p of plans) {
    await streamPlan(ck, p, chunkElems, host, (_e0, k, chunk) => {
      bytes += chunk.byteLength;
      if (mode === 'checksum') acc = checksum(chunk, acc);
      else if (mode === 'f16' && p.format === 'bf16') {
        const u = new Uint16Array(chunk.buffer, chunk.byteOffset, k);
        for (let i = 0; i < k; i++) out![i] = f32ToF16Bits(bf16BitsToF32(u[i]));
      }
    });
  }
  const s = (performance.now() - t1) / 1000;
  await ck.close();
  return {
    phase: 'read', path, config: family.describe(cfg), weights: plans.length, bytes, headerAndValidateSeconds: tHeader,
    seconds: s, gbPerSec: bytes / GB / s, process: mode, checksum: acc.toString(16), chunkMiB: chunkBytes / MiB, peakRssMB: peakRssBytes() / MiB,
  };
}

/** The real GPU load (loadModel: read, convert on the GPU, one buffer per weight) of an existing checkpoint. */
async function gpuPhase(path: string, args: string[]): Promise<Record<string, unknown>> {
  const { GpuContext } = await import('../gpu/context.js');
  const { loadModel } = await import('../models/registry.js');
  const ctx = await GpuContext.open({ robustness: !args.includes('--no-robustness') });
  const chunkBytes = Number(arg(args, '--chunk-mib', '64')) * MiB;
  const m = await loadModel(ctx, path, { chunkBytes });
  const out = {
    phase: 'gpu', path, adapter: ctx.caps.adapterName, config: m.family.describe(m.config), weights: m.weights.views.size,
    bytes: m.weights.bytesRead, gpuBytes: m.weights.gpuBytes, seconds: m.seconds, gbPerSec: m.weights.bytesRead / GB / m.seconds,
    saturated: m.weights.saturated, chunkMiB: chunkBytes / MiB, peakRssMB: peakRssBytes() / MiB,
    // On a CPU adapter (lavapipe) "GPU" buffers live in host memory: the loader's own overhead is RSS minus them.
    peakRssMinusGpuBytesMB: ctx.caps.isCpu ? (peakRssBytes() - m.weights.gpuBytes) / MiB : undefined,
  };
  m.weights.destroy();
  ctx.destroy();
  return out;
}

function runChild(phase: string, path: string, args: string[]): Record<string, unknown> {
  const self = fileURLToPath(import.meta.url);
  const r = spawnSync(process.execPath, [self, phase, path, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`${phase} phase failed (exit ${r.status})`);
  const line = r.stdout.trim().split('\n').pop() ?? '{}';
  return JSON.parse(line) as Record<string, unknown>;
}

async function main(): Promise<void> {
  const [phase, path, ...args] = process.argv.slice(2);
  if (!phase || !path || !['all', 'write', 'read', 'gpu'].includes(phase)) {
    console.error('usage: node dist/bench/bench-load.js all|write|read|gpu <path> [--keep] [--chunk-mib 64] [--layout bfl|diffusers] [--shards N] [--process checksum|none|f16]');
    process.exit(2);
  }
  if (phase === 'write') {
    console.log(JSON.stringify(await writePhase(path, args)));
    return;
  }
  if (phase === 'gpu') {
    console.log(JSON.stringify(await gpuPhase(path, args)));
    process.exit(0); // Dawn keeps the event loop alive
  }
  if (phase === 'read') {
    console.log(JSON.stringify(await readPhase(path, args)));
    return;
  }
  const machine = `${cpus().length} CPU (${cpus()[0]?.model ?? '?'}), ${(totalmem() / GB).toFixed(1)} GB RAM, Node ${process.version}`;
  console.error(`machine: ${machine}`);
  const w = runChild('write', path, args);
  console.error(`write: ${JSON.stringify(w)}`);
  const r = runChild('read', path, args);
  console.error(`read:  ${JSON.stringify(r)}`);
  if (!args.includes('--keep')) await rm(path, { recursive: true, force: true });
  console.log(JSON.stringify({ date: new Date().toISOString(), machine, checkpointBytes: w.bytes, write: w, read: r }));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
