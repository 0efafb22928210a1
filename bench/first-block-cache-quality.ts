// Quality and speed of the optional first-block cache on trained weights (issue 13 asks for its quality measured
// as the int8 path's was): the shipped small FLUX-style model (weights/small-flux) on the 24 held-out prompts of
// bench/train-small/heldout.json, SEEDS seeds each, generated without the cache and then with each threshold, same
// seeds and text conditioning:
//   - reuse: how many steps skipped the remaining blocks;
//   - velocity: on every reused step, the relative L2 distance between the velocity the cache used and the one the
//     whole transformer gives at the same latents and sigma (the error the cache introduces, step by step);
//   - image: mean absolute difference (0..255), max and PSNR against the uncached image after the full generation;
//   - meaning: the held-out detector's accuracy (named colour at the named position) with and without the cache;
//   - time: denoising wall time per image (this adapter; on a GPU the small model is launch-bound, so the FLUX.1-dev
//     per-path step times of `dit bench model --first-block-cache` are the speed numbers that transfer).
// The denoising loop is the pipeline's (createRequestState + runStep) with a probing executor around the cached one,
// so velocity and image come from the same run.
//
// Build and run:
//   node node_modules/typescript/bin/tsc --outDir results/tmp/bench-build --rootDir . --module nodenext \
//     --moduleResolution nodenext --target es2022 --lib es2023 --types node,@webgpu/types --skipLibCheck bench/first-block-cache-quality.ts
//   node results/tmp/bench-build/bench/first-block-cache-quality.js --out DIR [--seeds 2] [--steps 10,28] [--thresholds 0.05,0.1,0.2]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GpuContext } from '../src/gpu/context.js';
import type { FluxConfig } from '../src/models/flux/config.js';
import { relativeError } from '../src/models/parity.js';
import { runStep, type DenoiseExecutor } from '../src/pipeline/denoise-step.js';
import { denormalize, toRgb8 } from '../src/pipeline/image-io.js';
import { TextToImagePipeline } from '../src/pipeline/pipeline.js';
import { createRequestState, isDone, type Conditioning } from '../src/pipeline/request-state.js';
import { follows, loadHeldout } from '../test/helpers/shape-detector.js';
import { imageDiff } from './lib/image-diff.js';

const argv = process.argv.slice(2);
const flag = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const outDir = flag('--out') ?? 'results/tmp/first-block-cache-quality';
const SEEDS = Number(flag('--seeds') ?? 2);
const MODEL = flag('--model') ?? 'weights/small-flux';
const STEPS = (flag('--steps') ?? '10').split(',').map(Number);
const THRESHOLDS = (flag('--thresholds') ?? '0.05,0.1,0.2').split(',').map(Number);
/** Use only the first N held-out prompts (dry runs). */
const PROMPTS = flag('--prompts') ? Number(flag('--prompts')) : Infinity;
const gen = { width: 128, height: 128, guidance: 3.5, maxSequenceLength: 32 };

interface Run {
  rgb: Uint8Array;
  ms: number;
  reused: number;
  /** Velocity relL2 (cached vs whole transformer) on each reused step. */
  reusedErr: number[];
}

async function main() {
  mkdirSync(outDir, { recursive: true });
  const ctx = await GpuContext.open({ robustness: false });
  const heldout = loadHeldout('bench/train-small/heldout.json'); // from the repository root
  const plain = await TextToImagePipeline.load(ctx, MODEL);
  const cached = new Map<number, TextToImagePipeline>();
  for (const t of THRESHOLDS) cached.set(t, await TextToImagePipeline.load(ctx, MODEL, { firstBlockCache: t, textEncoders: false }));
  const cfg = plain.config as FluxConfig;
  const shape = plain.latentShape(gen.width, gen.height);

  // One image through the pipeline's loop; with `probe`, every reused step's velocity is compared with the whole
  // transformer's at the same latents.
  const generate = async (p: TextToImagePipeline, cond: Conditioning, seed: number, steps: number, probe: boolean): Promise<Run> => {
    const state = createRequestState({
      id: `fbc-${seed}`, family: 'flux', latentShape: shape, cond, seed, steps, scheduler: p.scheduler,
      distilledGuidance: cfg.guidanceEmbed ? gen.guidance : null,
    });
    p.executor.resetCache();
    const reusedErr: number[] = [];
    const exec: DenoiseExecutor = probe
      ? {
        velocity: async (q) => {
          const v = await p.executor.velocity(q);
          const st = p.executor.cacheStats!;
          if (st.steps[st.steps.length - 1].reused) {
            const [whole] = await plain.executor.velocity(q);
            reusedErr.push(relativeError(v[0], whole).relL2);
          }
          return v;
        },
      }
      : p.executor;
    await ctx.sync();
    const t0 = performance.now();
    while (!isDone(state)) await runStep(state, exec);
    const ms = performance.now() - t0;
    const dec = await p.vae.decode(state.latents, shape.height, shape.width);
    const rgb = toRgb8({ width: dec.width, height: dec.height, data: denormalize(dec.image) });
    return { rgb, ms, reused: p.executor.cacheStats?.reused ?? 0, reusedErr };
  };

  type Row = { steps: number; threshold: number; prompt: string; seed: number; reused: number; velocityRelL2: number[]; mae255: number; maxAbs255: number; psnr: number; meaningPlain: boolean; meaningCached: boolean; plainMs: number; cachedMs: number };
  const rows: Row[] = [];
  const t0 = performance.now();
  const img = (d: Uint8Array) => ({ data: d, width: gen.width, height: gen.height, channels: 3 });
  for (const steps of STEPS) {
    for (const [i, p] of heldout.prompts.slice(0, PROMPTS).entries()) {
      const cond = await plain.text!.encode(p.prompt, { maxSequenceLength: gen.maxSequenceLength, allowTruncation: false });
      for (let s = 0; s < SEEDS; s++) {
        const seed = 1000 + i + 100 * s;
        const a = await generate(plain, cond, seed, steps, false);
        const meaningPlain = follows(img(a.rgb), p.colour, p.position, heldout).ok;
        for (const [threshold, pipe] of cached) {
          // Untimed probe run (velocity errors), then a timed run without the probe.
          const b = await generate(pipe, cond, seed, steps, true);
          const timed = await generate(pipe, cond, seed, steps, false);
          const r: Row = {
            steps, threshold, prompt: p.prompt, seed, reused: b.reused, velocityRelL2: b.reusedErr, ...imageDiff(a.rgb, b.rgb),
            meaningPlain, meaningCached: follows(img(b.rgb), p.colour, p.position, heldout).ok,
            plainMs: a.ms, cachedMs: timed.ms,
          };
          rows.push(r);
          console.log(`${steps} steps, threshold ${threshold}: ${p.prompt.padEnd(48)} seed ${seed}: reused ${r.reused}/${steps}, velocity relL2 on reused steps ${r.velocityRelL2.map((v) => v.toExponential(1)).join(' ') || '-'}, MAE ${r.mae255.toFixed(2)}/255, PSNR ${r.psnr.toFixed(1)} dB, meaning ${r.meaningPlain}/${r.meaningCached}, ${a.ms.toFixed(0)} -> ${timed.ms.toFixed(0)} ms`);
        }
      }
    }
  }
  const mean = (xs: number[]) => (xs.length ? xs.reduce((x, y) => x + y, 0) / xs.length : NaN);
  const med = (xs: number[]) => { const s = [...xs].sort((x, y) => x - y); return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN; };
  const pct = (xs: number[], q: number) => [...xs].sort((x, y) => x - y)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
  const groups = STEPS.flatMap((steps) => THRESHOLDS.map((threshold) => ({ steps, threshold, rs: rows.filter((r) => r.steps === steps && r.threshold === threshold) })));
  const summary = {
    adapter: ctx.caps.adapterName, date: new Date().toISOString(), model: MODEL, seeds: SEEDS, prompts: Math.min(PROMPTS, heldout.prompts.length), settings: gen,
    results: groups.map(({ steps, threshold, rs }) => {
      const errs = rs.flatMap((r) => r.velocityRelL2);
      return {
        steps, threshold, images: rs.length,
        reusedFraction: mean(rs.map((r) => r.reused / steps)),
        velocityRelL2OnReusedSteps: errs.length ? { mean: mean(errs), p95: pct(errs, 0.95), max: Math.max(...errs), n: errs.length } : null,
        imageMae255: { mean: mean(rs.map((r) => r.mae255)), p95: pct(rs.map((r) => r.mae255), 0.95), max: Math.max(...rs.map((r) => r.mae255)) },
        psnrDb: { mean: mean(rs.map((r) => Math.min(r.psnr, 99))), min: Math.min(...rs.map((r) => r.psnr)) },
        meaning: { plain: rs.filter((r) => r.meaningPlain).length, cached: rs.filter((r) => r.meaningCached).length, of: rs.length },
        denoiseMs: { plainMedian: med(rs.map((r) => r.plainMs)), cachedMedian: med(rs.map((r) => r.cachedMs)) },
      };
    }),
    wallS: (performance.now() - t0) / 1000,
  };
  console.log(JSON.stringify(summary, null, 1));
  writeFileSync(join(outDir, 'first-block-cache-quality.json'), JSON.stringify({ summary, rows }, null, 1));
  plain.destroy();
  for (const p of cached.values()) p.destroy();
  ctx.destroy();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
