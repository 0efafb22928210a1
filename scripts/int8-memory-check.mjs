// Weight memory of FLUX.1-dev in int8 mode, measured (random full-size weights): the store before and after the first
// int8 graph is compiled with WeightStore.releaseInt8Sources (what `dit generate --int8` and `dit serve --int8` do),
// the bytes that graph binds, and its step time. Usage (GPU machine): node scripts/int8-memory-check.mjs [resolution]
import { GpuContext } from '../dist/gpu/context.js';
import { FluxTransformer, flux1DevConfig } from '../dist/models/flux/index.js';
import { randomWeightStore } from '../dist/models/random-weights.js';

const res = Number(process.argv[2] ?? 1024);
const GiB = (b) => (b / 2 ** 30).toFixed(2);
const ctx = await GpuContext.open({ robustness: false });
const cfg = flux1DevConfig('bfl', true);
const { store } = await randomWeightStore(ctx, cfg, 1);
store.releaseInt8Sources = true;
const before = store.totalBytes;
const grid = res / 16;
const t0 = performance.now();
const m = await FluxTransformer.create(ctx, store, cfg, { batch: 1, txtTokens: 512, gridH: grid, gridW: grid }, { int8: true });
const compileS = (performance.now() - t0) / 1000;
const f = (n, s) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) * s);
m.setInputs({ img: f(grid * grid * cfg.inChannels, 1), txt: f(512 * cfg.contextInDim, 0.3), pooled: f(cfg.pooledDim, 0.3), timesteps: [0.6], guidance: [3.5] });
const gpu = [];
for (let i = 0; i < 8; i++) { const g = await m.plan.runTimed(); await ctx.sync(); if (i >= 3) gpu.push(g); }
const v = await m.plan.readOutput('velocity');
gpu.sort((a, b) => a - b);
console.log(JSON.stringify({
  adapter: ctx.caps.adapterName, resolution: res, storeBeforeGiB: GiB(before), storeAfterGiB: GiB(store.totalBytes),
  planWeightGiB: GiB(m.plan.stats.weightBytes), compileAndQuantizeS: +compileS.toFixed(1), gpuMsMedian: +gpu[2].toFixed(1),
  finite: v.every(Number.isFinite), date: new Date().toISOString(),
}));
m.destroy();
store.destroy();
ctx.destroy();
