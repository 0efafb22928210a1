// The denoising step as `dit generate` sees it: TransformerExecutor.velocity() on full-size FLUX.1-dev (random
// weights), i.e. patchify + input upload + the step + velocity readback + unpatchify, timed per call over a
// flow-match schedule, in four modes: with / without the idle wait (sleep 85% of the step before asking Dawn) and
// with / without encoding the next step ahead (Plan.prepareRun while the GPU runs this one). Wall time only (the GPU
// time of the step itself is `dit bench model`'s GPU column).
//
// Build and run (GPU machine):
//   node node_modules/typescript/bin/tsc --outDir results/tmp/bench-build --rootDir . --module nodenext \
//     --moduleResolution nodenext --target es2022 --lib es2023 --types node,@webgpu/types --skipLibCheck bench/executor-steps.ts
//   node results/tmp/bench-build/bench/executor-steps.js [--res 512,1024] [--steps 28] [--out DIR] [--tiny]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GpuContext } from '../src/gpu/context.js';
import { median } from '../src/gpu/timer.js';
import { flux1DevConfig, tinyFluxConfig } from '../src/models/flux/config.js';
import { randomWeightStore } from '../src/models/random-weights.js';
import { TransformerExecutor } from '../src/pipeline/transformer-executor.js';
import { uniformArray } from '../src/util/random.js';

const argv = process.argv.slice(2);
const flag = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const RES = (flag('--res') ?? '512,1024').split(',').map(Number);
const STEPS = Number(flag('--steps') ?? 28);
const outDir = flag('--out') ?? 'results/tmp/executor-steps';
const MODES = [
  { name: 'plain', idleWaitFraction: 0, encodeAhead: false },
  { name: 'idle wait', idleWaitFraction: 0.85, encodeAhead: false },
  { name: 'encode ahead', idleWaitFraction: 0, encodeAhead: true },
  { name: 'idle wait + encode ahead (dit generate)', idleWaitFraction: 0.85, encodeAhead: true },
];

async function main() {
  mkdirSync(outDir, { recursive: true });
  const ctx = await GpuContext.open({ robustness: false });
  const cfg = argv.includes('--tiny') ? tinyFluxConfig() : flux1DevConfig('bfl', true); // --tiny: a smoke test of this script
  const { store } = await randomWeightStore(ctx, cfg, 1);
  const rows: { res: number; mode: string; medianMs: number; samplesMs: number[] }[] = [];
  for (const res of RES) {
    const latentShape = { channels: cfg.inChannels / 4, height: res / 8, width: res / 8 };
    const tokens = argv.includes('--tiny') ? 8 : 512;
    const cond = { context: uniformArray(tokens * cfg.contextInDim, 2, 0.3), tokens, pooled: uniformArray(cfg.pooledDim, 3, 0.3) };
    const latents = uniformArray(latentShape.channels * latentShape.height * latentShape.width, 1);
    // Two rounds of the four modes, so a drift of the machine shows as a difference between rounds.
    for (let round = 0; round < 2; round++) {
      for (const m of MODES) {
        const exec = new TransformerExecutor(ctx, store, cfg, { idleWaitFraction: m.idleWaitFraction, encodeAhead: m.encodeAhead });
        const samples: number[] = [];
        for (let k = 0; k < STEPS + 3; k++) {
          const sigma = 1 - k / (STEPS + 3);
          const t0 = performance.now();
          await exec.velocity({ family: 'flux', latentShape, latents, sigma, distilledGuidance: 3.5, conds: [cond] });
          if (k >= 3) samples.push(performance.now() - t0); // the first calls compile and warm up
        }
        exec.destroy();
        const row = { res, mode: `${m.name} (round ${round + 1})`, medianMs: median(samples), samplesMs: samples.map((v) => Math.round(v * 100) / 100) };
        rows.push(row);
        console.log(`${res}² ${row.mode}: median ${row.medianMs.toFixed(1)} ms per executor step (${STEPS} steps; min ${Math.min(...samples).toFixed(1)}, max ${Math.max(...samples).toFixed(1)})`);
      }
    }
  }
  writeFileSync(join(outDir, 'executor-steps.json'), JSON.stringify({ adapter: ctx.caps.adapterName, date: new Date().toISOString(), steps: STEPS, rows }, null, 1));
  store.destroy();
  ctx.destroy();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
