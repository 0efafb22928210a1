// Quality of the optional W8A8 linears on trained weights (issue 13 asks for it measured two ways): the shipped
// small FLUX-style model (weights/small-flux) on the 24 held-out prompts of bench/train-small/heldout.json, each
// with SEEDS seeds, generated twice through the real pipeline (f16 linears, then `int8`), same seeds:
//   - velocity: relative L2 distance between the int8 and the f16 transformer's velocity at sigma 0.9 / 0.6 / 0.3,
//     on points of the f16 trajectory's flow (x_sigma = (1 - sigma) x_final + sigma noise), real text conditioning;
//   - image: mean absolute difference (0..255) and PSNR between the int8 and f16 images after the full generation;
//   - meaning: the held-out detector's accuracy (named colour at the named position) for both.
// Runs on any adapter: on GPUs with int8 tensor cores the int8 path is the 16x16x32 kernel, elsewhere the portable
// dot4I8Packed kernel (the same integer arithmetic).
//
// Build and run:
//   node node_modules/typescript/bin/tsc --outDir results/tmp/bench-build --rootDir . --module nodenext \
//     --moduleResolution nodenext --target es2022 --lib es2023 --types node,@webgpu/types --skipLibCheck bench/int8-quality.ts
//   node results/tmp/bench-build/bench/int8-quality.js --out DIR [--seeds 2]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GpuContext } from '../src/gpu/context.js';
import { toRgb8 } from '../src/pipeline/image-io.js';
import { TextToImagePipeline } from '../src/pipeline/pipeline.js';
import type { FluxConfig } from '../src/models/flux/config.js';
import { relativeError } from '../src/models/parity.js';
import { gaussianNoise } from '../src/models/vae/runtime.js';
import { follows, loadHeldout } from '../test/helpers/shape-detector.js';
import { imageDiff } from './lib/image-diff.js';

const argv = process.argv.slice(2);
const flag = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const outDir = flag('--out') ?? 'results/tmp/int8-quality';
const SEEDS = Number(flag('--seeds') ?? 2);
const MODEL = flag('--model') ?? 'weights/small-flux';
const SIGMAS = [0.9, 0.6, 0.3];
const gen = { width: 128, height: 128, steps: 10, guidance: 3.5, maxSequenceLength: 32 };

async function main() {
  mkdirSync(outDir, { recursive: true });
  const ctx = await GpuContext.open({ robustness: false });
  const heldout = loadHeldout('bench/train-small/heldout.json'); // from the repository root
  const f16 = await TextToImagePipeline.load(ctx, MODEL);
  const int8 = await TextToImagePipeline.load(ctx, MODEL, { int8: true });
  const cfg = f16.config as FluxConfig;
  const shape = f16.latentShape(gen.width, gen.height);
  const rows: { prompt: string; seed: number; velocity: number[]; mae255: number; psnr: number; maxAbs255: number; meaningF16: boolean; meaningInt8: boolean }[] = [];
  const t0 = performance.now();
  for (const [i, p] of heldout.prompts.entries()) {
    const cond = await f16.text!.encode(p.prompt, { maxSequenceLength: gen.maxSequenceLength, allowTruncation: false });
    for (let s = 0; s < SEEDS; s++) {
      const seed = 1000 + i + 100 * s;
      const a = await f16.generate({ prompt: p.prompt, ...gen, seed, cond });
      const b = await int8.generate({ prompt: p.prompt, ...gen, seed, cond });
      const ra = toRgb8(a.image);
      const rb = toRgb8(b.image);
      const diff = imageDiff(ra, rb);
      const noise = gaussianNoise(seed, a.latents.length);
      const velocity: number[] = [];
      for (const sigma of SIGMAS) {
        const x = a.latents.map((v, k) => (1 - sigma) * v + sigma * noise[k]);
        const q = { family: 'flux' as const, latentShape: shape, latents: x, sigma, distilledGuidance: cfg.guidanceEmbed ? gen.guidance : null, conds: [cond] };
        const [vf] = await f16.executor.velocity(q);
        const [vq] = await int8.executor.velocity(q);
        velocity.push(relativeError(vq, vf).relL2);
      }
      const img = (d: Uint8Array) => ({ data: d, width: gen.width, height: gen.height, channels: 3 });
      rows.push({
        prompt: p.prompt, seed, velocity, ...diff,
        meaningF16: follows(img(ra), p.colour, p.position, heldout).ok, meaningInt8: follows(img(rb), p.colour, p.position, heldout).ok,
      });
      const r = rows[rows.length - 1];
      console.log(`${p.prompt.padEnd(56)} seed ${seed}: velocity relL2 ${velocity.map((v) => v.toExponential(2)).join(' / ')}, image MAE ${r.mae255.toFixed(2)}/255, PSNR ${r.psnr.toFixed(1)} dB, meaning f16 ${r.meaningF16} int8 ${r.meaningInt8}`);
    }
  }
  const mean = (xs: number[]) => xs.reduce((x, y) => x + y, 0) / xs.length;
  const sorted = (xs: number[]) => [...xs].sort((x, y) => x - y);
  const pct = (xs: number[], q: number) => sorted(xs)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
  const summary = {
    adapter: ctx.caps.adapterName, int8Kernel: ctx.caps.subgroupMatrixConfigs.some((c) => c.componentType === 'i8') ? 'tensor cores (16x16x32)' : 'portable dot4I8Packed',
    date: new Date().toISOString(), model: MODEL, images: rows.length, settings: gen,
    velocityRelL2: Object.fromEntries(SIGMAS.map((s, j) => [`sigma${s}`, { mean: mean(rows.map((r) => r.velocity[j])), p95: pct(rows.map((r) => r.velocity[j]), 0.95) }])),
    imageMae255: { mean: mean(rows.map((r) => r.mae255)), p95: pct(rows.map((r) => r.mae255), 0.95), max: Math.max(...rows.map((r) => r.mae255)) },
    psnrDb: { mean: mean(rows.map((r) => r.psnr)), min: Math.min(...rows.map((r) => r.psnr)) },
    meaning: { f16: rows.filter((r) => r.meaningF16).length, int8: rows.filter((r) => r.meaningInt8).length, of: rows.length },
    wallS: (performance.now() - t0) / 1000,
  };
  console.log(JSON.stringify(summary, null, 1));
  writeFileSync(join(outDir, 'int8-quality.json'), JSON.stringify({ summary, rows }, null, 1));
  f16.destroy();
  int8.destroy();
  ctx.destroy();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
