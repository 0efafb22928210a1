// Entry for scripts/gpu-serve-experiment.sh (and a quick CPU run): parameters from the environment, results as
// JSON + Markdown under $OUT (both rewritten after every run). Needs dist/ (npm run build).
import { mkdirSync, readFileSync } from 'node:fs';
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
  policies: list(env('POLICIES', 'tetriserve,tetriserve+,rssp,xdit:1,xdit:2')),
  seed: Number(env('SEED', '1')),
  txtTokens: Number(env('TXT_TOKENS', '512')),
  robustness: env('ROBUSTNESS', '0') === '1',
  // ENGINE_THREAD=0: engines on the HTTP thread (before the engine thread existed), for the status-latency A/B.
  engineThread: env('ENGINE_THREAD', '1') !== '0',
  maxDegree: Number(env('MAX_DEGREE', '2')),
  // Seconds of this process's life the experiment may use (runs that would not fit are skipped and reported).
  budgetSeconds: process.env.BUDGET_SECONDS ? Number(process.env.BUDGET_SECONDS) : undefined,
  tailLimitSeconds: Number(env('TAIL_LIMIT_SECONDS', '20')),
  pollMs: Number(env('POLL_MS', '100')),
  out,
  log: (s) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${s}`),
};
for (const [k, v] of Object.entries(o)) if (typeof v === 'number' && !Number.isFinite(v)) throw new Error(`${k}: not a number (check the environment variable)`);
await runServeExperiment(o);
console.log(readFileSync(join(out, 'serve-experiment.md'), 'utf8'));
process.exit(0);
