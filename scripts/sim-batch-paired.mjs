// TetriServe+batch minus TetriServe+ in SLO-attainment points, paired per seed (same 20 workloads), and the share
// of assignments that are batches; the numbers in docs/scheduler.md "Measured batch costs". Uniform mix, SLO x1.5,
// 28 steps, seeds 1-20, as `dit simulate --experiments batching`. Needs `npm run build`.
//   node scripts/sim-batch-paired.mjs <profile.json> <gpus> <rate/min> <base-slo, e.g. 256:1.5,512:2>
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';

const dist = (p) => pathToFileURL(resolve('dist', p)).href;
const { parseSimulateOptions } = await import(dist('cli/simulate.js'));
const E = await import(dist('sim/experiments.js'));
const { estimate, paired } = await import(dist('sim/stats.js'));
const [profile, gpus, rate, baseSlo] = process.argv.slice(2);
if (!baseSlo) throw new Error('usage: node scripts/sim-batch-paired.mjs <profile.json> <gpus> <rate/min> <base-slo>');
const seeds = Array.from({ length: 20 }, (_, i) => i + 1).join(',');
const { cfg } = parseSimulateOptions({ profile, gpus, requests: '300', seeds, rate, arrivals: 'poisson', sloScale: '1.5', steps: '28', experiments: 'batching', baseSlo, mix: 'uniform' });
const plus = [], batch = [], share = [];
for (const seed of cfg.seeds) {
  const pt = { mix: 'uniform', sloScale: 1.5, rate: cfg.rate, seed };
  const a = E.runOne(cfg, E.TETRISERVE_PLUS_SPEC, pt);
  const b = E.runOne(cfg, E.TETRISERVE_PLUS_BATCH_SPEC, pt);
  plus.push(100 * E.statsOf(cfg, a).sar);
  batch.push(100 * E.statsOf(cfg, b).sar);
  share.push((100 * b.assignments.filter((x) => x.batch?.length).length) / b.assignments.length);
}
const f = (e) => `${e.mean >= 0 ? '+' : ''}${e.mean.toFixed(1)} ± ${e.ci.toFixed(1)}`;
console.log(`${profile}, ${gpus} GPUs, ${rate}/min: TetriServe+batch - TetriServe+ = ${f(estimate(paired(batch, plus)))} points (paired, 20 seeds, 95% CI); ` +
  `batched assignments ${estimate(share).mean.toFixed(1)}% ± ${estimate(share).ci.toFixed(1)}`);
