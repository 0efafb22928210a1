// `dit simulate`: run the paper's experiments (or one quick run) in the discrete-event simulator and write
// Markdown tables and PNG charts, or benchmark the scheduler's per-round decision time.
// User runs write to ./dit-out/sim (git-ignored); the committed results/sim/ is rewritten only with
// --update-results. Everything heavy (simulator, chart renderer) loads only when the command runs, so other
// commands never depend on it.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { CostModel } from '../scheduler/cost-model.js';
import { parseProfile, provenanceCounts, type LatencyProfile } from '../scheduler/profile.js';
import type { ExperimentConfig } from '../sim/experiments.js';
import type { TraceRow } from '../sim/trace.js';
import type { ArrivalProcess, Mix } from '../sim/workloads.js';

export const EXPERIMENTS = ['slo-scale', 'rate', 'resolution', 'degree', 'ablation', 'round-length', 'arrivals'] as const;
/**
 * Run only when named (not part of "all"): "variants" (SLO sweep of every baseline, TetriServe+, TetriServe+reserve
 * and, with a batched profile, TetriServe+batch) and "batching" (rate sweep 0.5-1.5x --rate, uniform mix, every
 * baseline against TetriServe+ and TetriServe+batch).
 */
export const EXTRA_EXPERIMENTS = ['variants', 'batching'] as const;
/** The profile fitted to published figures; the default until a measured multi-GPU profile exists. */
export const PUBLISHED_PROFILE = 'profiles/flux1-dev-h100.json';
export const RESULTS_DIR = 'results/sim';
export const USER_OUT = 'dit-out/sim';
const DEFAULT_SEEDS = Array.from({ length: 20 }, (_, i) => i + 1).join(',');

export interface SimulateOpts {
  profile?: string;
  out?: string;
  updateResults?: boolean;
  gpus: string;
  requests: string;
  seeds: string;
  rate?: string;
  sloScale: string;
  steps: string;
  experiments: string;
  overhead?: boolean;
  policy?: string;
  mix: string;
  arrivals: string;
  trace?: string;
  writeTrace?: string;
  admission?: boolean;
  baseSlo?: string;
  roundSteps?: string;
  debug?: boolean;
}

export function registerSimulate(program: Command): void {
  program
    .command('simulate')
    .description("run TetriServe and the baselines in the discrete-event simulator (the paper's experiments)")
    .option('--profile <path>', `latency profile JSON (default: a measured multi-GPU profile in profiles/ if one exists, else ${PUBLISHED_PROFILE})`)
    .option('--out <dir>', `where tables and charts go (default ${USER_OUT}; git-ignored)`)
    .option('--update-results', `regenerate the committed ${RESULTS_DIR}/ (or --out) on purpose`)
    .option('--gpus <n>', 'GPUs in the cluster', '8')
    .option('--requests <n>', 'requests per run', '300')
    .option('--seeds <list>', 'comma-separated workload seeds (results are mean ± 95% CI over them)', DEFAULT_SEEDS)
    .option('--rate <perMin>', 'mean arrival rate in requests/min (experiments that do not sweep it), or "auto": the paper setting\'s load (12/min on 8 GPUs with the published profile) for this profile, steps and cluster; default 12, auto for a measured profile')
    .option('--arrivals <kind>', 'arrival process: poisson or bursty (experiments that do not compare them)', 'poisson')
    .option('--slo-scale <x>', 'SLO scale for experiments that do not sweep it', '1.2')
    .option('--steps <n>', 'denoising steps per request', '50')
    .option('--experiments <list>', `comma-separated subset of ${EXPERIMENTS.join(',')} or "all" (all of those); also ${EXTRA_EXPERIMENTS.join(', ')} (only when named)`, 'all')
    .option('--trace <file.csv>', 'replay this request trace (arrival_s,resolution,slo_s[,steps]) instead of generated workloads')
    .option('--write-trace <file.csv>', 'write the generated workload (first seed, --mix, --arrivals, --slo-scale) as a trace and stop')
    .option('--overhead', 'benchmark the per-round decision time (8/32/128 GPUs x 100/1000 queued) instead')
    .option('--policy <name>', 'quick run of one policy per seed, with the average: tetriserve, tetriserve+, xdit:K, edf:K, rssp (+triage, +backfill)')
    .option('--base-slo <list>', 'base SLO per resolution in seconds, e.g. 256:1.5,512:2,1024:3,2048:5 (the default), or "auto": the paper\'s SLO-to-latency ratios applied to this profile and step count (the default for a measured profile); sets the resolutions too')
    .option('--round-steps <n>', 'TetriServe round length in steps of the reference (largest profiled resolution at its fastest degree); default 5, as in the paper')
    .option('--admission', 'with --policy: admission control at arrival (refused requests count as misses)')
    .option('--mix <mix>', 'workload mix for --policy and --write-trace: uniform or skewed', 'uniform')
    .option('--debug', 'print every seed of a --policy run')
    .action(async (opts: SimulateOpts) => {
      const { runSimulate } = await import('./simulate-run.js');
      await runSimulate(opts);
    });
}

function int(name: string, v: string, min = 1): number {
  const s = v.trim();
  const n = Number(s);
  if (s === '' || !/^-?\d+$/.test(s) || !Number.isSafeInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min} (got "${v}")`);
  return n;
}

function num(name: string, v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number (got "${v}")`);
  return n;
}

/** Comma-separated seeds; an empty list or an empty item is an error naming the flag. */
export function parseSeeds(v: string): number[] {
  const parts = v.split(',');
  if (v.trim() === '' || parts.some((p) => p.trim() === '')) throw new Error(`--seeds must be a comma-separated list of integers >= 0 such as 1,2,3 (got "${v}")`);
  const seeds = parts.map((p) => int('seeds', p, 0));
  if (new Set(seeds).size !== seeds.length) throw new Error(`--seeds lists a seed twice (got "${v}"): each seed is one independent sample`);
  return seeds;
}

/** "256:1.5,512:2" -> {256: 1.5, 512: 2}; every error names --base-slo. */
export function parseBaseSlo(v: string): Record<number, number> {
  const out: Record<number, number> = {};
  for (const part of v.split(',')) {
    const m = /^\s*(\d+)\s*:\s*([0-9.]+)\s*$/.exec(part);
    const res = m ? Number(m[1]) : NaN;
    const slo = m ? Number(m[2]) : NaN;
    if (!m || res % 16 !== 0 || res <= 0 || !(slo > 0)) throw new Error(`--base-slo must look like 256:1.5,512:2 (resolution, a multiple of 16, then seconds > 0); got "${part}"`);
    out[res] = slo;
  }
  return out;
}

/**
 * The paper's base SLOs relative to the best achievable 50-step latency in the published-point profile
 * (1.5 s / 1.07 s, 2 s / 1.24 s, 3 s / 1.98 s, 5 s / 5.82 s): how tight each resolution's deadline is.
 */
export const PAPER_SLO_RATIO: Readonly<Record<number, number>> = { 256: 1.5 / (50 * 0.02148), 512: 2 / (50 * 0.02487), 1024: 3 / (50 * 0.03962), 2048: 5 / (50 * 0.11633) };

/**
 * Base SLOs with the paper's tightness for any profile: ratio x steps x the fastest step this cluster can run.
 * With the published-point profile at 50 steps this gives the paper's 1.5 / 2 / 3 / 5 s (to rounding).
 */
export function autoBaseSlo(profile: LatencyProfile, steps: number, gpus: number): Record<number, number> {
  const model = new CostModel(profile, gpus);
  const out: Record<number, number> = {};
  for (const [r, ratio] of Object.entries(PAPER_SLO_RATIO)) out[Number(r)] = +(ratio * steps * model.fastestStep(model.slot(Number(r)))).toFixed(3);
  return out;
}

/** Mean GPU-seconds of a uniform-mix request at its cheapest degree: the work one request brings. */
function meanRequestGpuSeconds(profile: LatencyProfile, steps: number, gpus: number): number {
  const model = new CostModel(profile, gpus);
  const res = Object.keys(PAPER_SLO_RATIO).map(Number);
  let sum = 0;
  for (const r of res) {
    const slot = model.slot(r);
    let best = Infinity;
    for (let d = 0; d < model.degreeCount; d++) best = Math.min(best, model.degrees[d] * model.step(slot, d));
    sum += steps * best;
  }
  return sum / res.length;
}

/**
 * Arrival rate (requests/min) giving this profile, step count and cluster the offered load of the paper setting:
 * 12 req/min on 8 GPUs with the published-point profile at 50 steps (about 29% of the cluster's GPU-seconds at
 * each request's cheapest degree).
 */
export function autoRate(profile: LatencyProfile, steps: number, gpus: number): number {
  const PAPER_LOAD = (12 / 60) * 11.5 / 8; // requests/s x mean GPU-seconds (published profile, 50 steps) / GPUs
  return +((PAPER_LOAD * gpus * 60) / meanRequestGpuSeconds(profile, steps, gpus)).toFixed(3);
}

function allMeasured(p: LatencyProfile): boolean {
  const c = provenanceCounts(p);
  return c.measured > 0 && c.measured === p.entries.length * p.degrees.length;
}

/** Directory holding the shipped profiles: ./profiles when run from the repository, else the one next to dist/. */
function profilesDir(): string {
  if (existsSync('profiles')) return 'profiles';
  return fileURLToPath(new URL('../../profiles', import.meta.url));
}

/**
 * The default profile: a measured profile of our own engine with more than one parallel degree (the
 * sequence-parallelism work writes one to profiles/) when one exists, else the published-figure fit. Profiles
 * that mix in derived numbers never become the default.
 */
export function defaultProfilePath(dir = profilesDir()): string {
  if (existsSync(dir)) {
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.json')).sort()) {
      try {
        const p = parseProfile(JSON.parse(readFileSync(join(dir, f), 'utf8')), f);
        if (p.degrees.length > 1 && allMeasured(p)) return join(dir, f);
      } catch {
        // not a profile (or a broken one): it can still be passed explicitly and will then say what is wrong
      }
    }
  }
  return join(dir, PUBLISHED_PROFILE.slice('profiles/'.length));
}

export function loadProfileFile(path: string): LatencyProfile {
  const p = resolve(path);
  if (!existsSync(p)) throw new Error(`latency profile not found: ${path} (pass --profile <file>; the shipped one is ${PUBLISHED_PROFILE})`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(p, 'utf8'));
  } catch (e) {
    throw new Error(`latency profile ${path} is not valid JSON: ${(e as Error).message}`);
  }
  return parseProfile(raw, path);
}

export interface ParsedSimulate {
  cfg: ExperimentConfig;
  profilePath: string;
  out: string;
  mix: Mix;
  experiments: string[];
}

/** Validates every flag (each error names it) and builds the experiment configuration. */
export function parseSimulateOptions(opts: SimulateOpts, readTrace: (path: string) => TraceRow[] = () => []): ParsedSimulate {
  const profilePath = opts.profile ?? defaultProfilePath();
  const profile = loadProfileFile(profilePath);
  if (opts.mix !== 'uniform' && opts.mix !== 'skewed') throw new Error(`--mix must be uniform or skewed (got "${opts.mix}")`);
  if (opts.arrivals !== 'poisson' && opts.arrivals !== 'bursty') throw new Error(`--arrivals must be poisson or bursty (got "${opts.arrivals}")`);
  const experiments = opts.experiments.trim() === 'all' ? [...EXPERIMENTS] : opts.experiments.split(',').map((s) => s.trim());
  for (const w of experiments) {
    if (![...EXPERIMENTS, ...EXTRA_EXPERIMENTS].includes(w as never)) throw new Error(`--experiments: unknown experiment "${w}": use ${[...EXPERIMENTS, ...EXTRA_EXPERIMENTS].join(', ')} or all`);
  }
  const cfg: ExperimentConfig = {
    profile,
    profileName: profilePath.replace(/^.*profiles\//, 'profiles/'),
    gpus: int('gpus', opts.gpus),
    requests: int('requests', opts.requests),
    seeds: parseSeeds(opts.seeds),
    rate: 12,
    steps: int('steps', opts.steps),
    sloScale: num('slo-scale', opts.sloScale),
    arrivals: opts.arrivals as ArrivalProcess,
    trace: opts.trace ? readTrace(opts.trace) : undefined,
  };
  if (opts.roundSteps !== undefined) cfg.roundSteps = int('round-steps', opts.roundSteps);
  const rate = opts.rate ?? (allMeasured(profile) ? 'auto' : '12');
  cfg.rate = rate.trim() === 'auto' ? autoRate(profile, cfg.steps, cfg.gpus) : num('rate', rate);
  // A measured profile of our engine is far slower than the published fit: the paper's absolute SLOs would make
  // every request late, so it gets the paper's relative tightness unless --base-slo says otherwise.
  const baseSlo = opts.baseSlo ?? (allMeasured(profile) ? 'auto' : undefined);
  if (baseSlo !== undefined) {
    cfg.baseSlo = baseSlo.trim() === 'auto' ? autoBaseSlo(profile, cfg.steps, cfg.gpus) : parseBaseSlo(baseSlo);
    cfg.resolutions = Object.keys(cfg.baseSlo).map(Number).sort((a, b) => a - b);
  }
  const out = opts.out ?? (opts.updateResults ? RESULTS_DIR : USER_OUT);
  return { cfg, profilePath, out, mix: opts.mix as Mix, experiments };
}
