// Entry for scripts/gpu-serve-experiment.sh (and a quick CPU run): parameters from the environment, results as
// JSON + Markdown under $OUT. Needs dist/ (npm run build).
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
const { runServeExperiment } = await import('../dist/serve/experiment.js');
const env = (k, d) => process.env[k] ?? d;
const list = (s) => s.split(',').map((x) => x.trim()).filter(Boolean);
const out = env('OUT', 'dit-out/serve-experiment');
mkdirSync(out, { recursive: true });
const o = {
  model: env('MODEL', 'random:flux1-dev'),
  gpus: Number(env('GPUS', '2')),
  sharedAdapter: env('SHARED_ADAPTER', '0') === '1',
  resolutions: list(env('RESOLUTIONS', '256,512,1024')).map(Number),
  steps: Number(env('STEPS', '8')),
  seconds: Number(env('SECONDS_PER_RUN', '25')),
  ratePerMin: Number(env('RATE_PER_MIN', '36')),
  sloFactor: Number(env('SLO_FACTOR', '1.5')),
  sloScale: Number(env('SLO_SCALE', '1.2')),
  mixes: list(env('MIXES', 'uniform,skewed')),
  policies: list(env('POLICIES', 'tetriserve,xdit:2,rssp,xdit:1')),
  seed: Number(env('SEED', '1')),
  txtTokens: Number(env('TXT_TOKENS', '512')),
  robustness: env('ROBUSTNESS', '0') === '1',
  maxDegree: Number(env('MAX_DEGREE', '2')),
  out,
  log: (s) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${s}`),
};
const r = await runServeExperiment(o);
const lines = ['| mix | policy | live SLO attainment | simulated (start-up profile) | simulated (service profile) | gap (points) | steps by degree | event-loop delay p99 ms | wall s |', '|---|---|---:|---:|---:|---:|---|---:|---:|'];
for (const m of r.mixes) for (const x of m.runs) lines.push(`| ${m.mix} | ${x.policy} | ${(100 * x.live).toFixed(1)}% | ${(100 * x.simulatedStartupProfile).toFixed(1)}% | ${(100 * x.simulatedServiceProfile).toFixed(1)}% | ${x.gapPoints.toFixed(1)} | ${JSON.stringify(x.stepsByDegree)} | ${x.eventLoopDelayMs.p99.toFixed(1)} | ${x.wallSeconds.toFixed(0)} |`);
writeFileSync(join(out, 'serve-experiment.md'), `${lines.join('\n')}\n`);
console.log(lines.join('\n'));
process.exit(0);
