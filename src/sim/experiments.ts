// The paper's experiments over the simulator, with two baseline envelopes and confidence intervals:
// - "as in the paper": the best of xDiT SP=1/2/4/8 and RSSP, each as the paper runs them (strict FCFS
//   head-of-line, hopeless requests keep their place);
// - "strong": the best of every baseline we ship: those, EDF SP=k, and each of them with late-request triage
//   and EASY backfill (fixed-base.ts).
// Every attainment figure is a mean over seeds with its 95% CI; gains are paired per seed against the envelope
// member that is best (by mean) at that point. Every experiment also reports attainment per resolution.
// Each experiment returns Markdown and chart specs; the CLI writes them out.
import { CostModel } from '../scheduler/cost-model.js';
import { createScheduler } from '../scheduler/index.js';
import { provenanceSummary, type LatencyProfile } from '../scheduler/profile.js';
import { TETRISERVE_PLUS, TETRISERVE_PLUS_RESERVE, type TetriServeOptions } from '../scheduler/tetriserve.js';
import type { Request } from '../scheduler/types.js';
import type { BarChartSpec, LineChartSpec } from './charts.js';
import { degreeOverTime, gpuSeconds, groupChanges, mean } from './metrics.js';
import { simulate, type SimResult } from './simulator.js';
import { estimate, paired, type Estimate } from './stats.js';
import { traceRequests, type TraceRow } from './trace.js';
import { generateWorkload, type ArrivalProcess, type Mix } from './workloads.js';

export { TETRISERVE_PLUS };

export interface ExperimentConfig {
  profile: LatencyProfile;
  /** Where the profile came from (for table headers). */
  profileName?: string;
  gpus: number;
  requests: number;
  seeds: readonly number[];
  /** Requests per minute for experiments that do not sweep it. */
  rate: number;
  steps: number;
  /** SLO scale for experiments that do not sweep it. */
  sloScale: number;
  /** Arrival process for experiments that do not compare them (default poisson). */
  arrivals?: ArrivalProcess;
  /** Replay this trace instead of generating workloads (seeds, rate, mix and arrivals are then ignored). */
  trace?: readonly TraceRow[];
  /** Resolutions reported per resolution (default 256, 512, 1024, 2048). */
  resolutions?: readonly number[];
  /** Round length in reference steps for every TetriServe variant that does not set its own (default 5). */
  roundSteps?: number;
  /** Base SLO per resolution in seconds (default BASE_SLO: 1.5 / 2 / 3 / 5 s). */
  baseSlo?: Readonly<Record<number, number>>;
}

/** A scheduler configuration compared in the tables. */
export interface PolicySpec {
  label: string;
  policy: string;
  tetri?: TetriServeOptions;
  /** true for our improvements (drawn dashed, marked in tables). */
  ours?: boolean;
  /** A baseline: member of the strong envelope. */
  baseline?: boolean;
  /** Member of the envelope "as in the paper" (xDiT SP=k and RSSP, unmodified). */
  paperFixed?: boolean;
  /** Admission control at arrival (refused requests count as misses). */
  admission?: boolean;
}

const DEGREES = [1, 2, 4, 8];
const STRONG = '+triage+backfill';
export const PAPER_BASELINES: PolicySpec[] = [
  ...DEGREES.map((k) => ({ label: `xDiT SP=${k}`, policy: `xdit:${k}`, baseline: true, paperFixed: true })),
  { label: 'RSSP', policy: 'rssp', baseline: true, paperFixed: true },
];
export const EDF_BASELINES: PolicySpec[] = DEGREES.map((k) => ({ label: `EDF SP=${k}`, policy: `edf:${k}`, baseline: true }));
export const STRONG_BASELINES: PolicySpec[] = [
  ...DEGREES.map((k) => ({ label: `xDiT SP=${k} +triage+backfill`, policy: `xdit:${k}${STRONG}`, baseline: true })),
  { label: 'RSSP +triage+backfill', policy: `rssp${STRONG}`, baseline: true },
  ...DEGREES.map((k) => ({ label: `EDF SP=${k} +triage+backfill`, policy: `edf:${k}${STRONG}`, baseline: true })),
];
export const BASELINES: PolicySpec[] = [...PAPER_BASELINES, ...EDF_BASELINES, ...STRONG_BASELINES];
export const TETRISERVE: PolicySpec = { label: 'TetriServe (paper algorithm)', policy: 'tetriserve' };
export const TETRISERVE_PLUS_SPEC: PolicySpec = { label: 'ours: TetriServe+', policy: 'tetriserve', tetri: TETRISERVE_PLUS, ours: true };
export const IMPROVEMENTS: PolicySpec[] = [
  { label: 'ours: + idle dispatch', policy: 'tetriserve', tetri: { dispatchOnIdle: true }, ours: true },
  { label: 'ours: + smart late', policy: 'tetriserve', tetri: { smartLate: true }, ours: true },
  { label: 'ours: + queue-aware deferral', policy: 'tetriserve', tetri: { queueAware: true }, ours: true },
  { label: 'ours: + defer margin (1 round)', policy: 'tetriserve', tetri: { deferMarginRounds: 1 }, ours: true },
  { label: 'ours: + demand triage', policy: 'tetriserve', tetri: { demandTriage: true }, ours: true },
  TETRISERVE_PLUS_SPEC,
  { label: 'ours: TetriServe+ with admission control', policy: 'tetriserve', tetri: TETRISERVE_PLUS, ours: true, admission: true },
];
/** TetriServe+ with reservation for large requests (the 2048² starvation). */
export const TETRISERVE_PLUS_RESERVE_SPEC: PolicySpec = { label: 'ours: TetriServe+reserve', policy: 'tetriserve', tetri: TETRISERVE_PLUS_RESERVE, ours: true };
/** TetriServe+ with batching of same-resolution small requests (needs batched step times in the profile). */
export const TETRISERVE_PLUS_BATCH_SPEC: PolicySpec = { label: 'ours: TetriServe+batch', policy: 'tetriserve', tetri: { ...TETRISERVE_PLUS, batching: true }, ours: true };
/**
 * The "variants" experiment: every baseline (so the strong envelope is the headline's), TetriServe+ and its two
 * variants; batching only where the profile has batched step times.
 */
export function variantPolicies(profile: LatencyProfile): PolicySpec[] {
  const batched = profile.entries.some((e) => e.batchStepSeconds && Object.keys(e.batchStepSeconds).length > 0);
  return [...BASELINES, TETRISERVE_PLUS_SPEC, TETRISERVE_PLUS_RESERVE_SPEC, ...(batched ? [TETRISERVE_PLUS_BATCH_SPEC] : [])];
}
/** The headline experiment's policies: every baseline, the paper algorithm and TetriServe+. */
export const MAIN_POLICIES: PolicySpec[] = [...BASELINES, TETRISERVE, TETRISERVE_PLUS_SPEC];
/**
 * Secondary sweeps (rate, arrivals) run a subset: the paper's baselines, and the strong baselines that form the
 * strong envelope in the headline tables (SP=1/2 variants never do at 12 req/min with this profile).
 */
export const SWEEP_POLICIES: PolicySpec[] = [
  ...PAPER_BASELINES,
  ...[4, 8].map((k) => ({ label: `EDF SP=${k}`, policy: `edf:${k}`, baseline: true })),
  ...STRONG_BASELINES.filter((p) => !/SP=[12] /.test(p.label)),
  TETRISERVE,
  TETRISERVE_PLUS_SPEC,
];

/** The batching rate sweep: every baseline, TetriServe+ and TetriServe+batch. */
export const BATCHING_POLICIES: PolicySpec[] = [...BASELINES, TETRISERVE_PLUS_SPEC, TETRISERVE_PLUS_BATCH_SPEC];

/** Drops fixed-degree policies whose degree the cluster cannot form (e.g. SP=8 on 4 GPUs). */
export function usable(cfg: ExperimentConfig, policies: readonly PolicySpec[]): PolicySpec[] {
  return policies.filter((p) => {
    const m = /:(\d+)/.exec(p.policy);
    if (!m) return true;
    const k = Number(m[1]);
    return k <= cfg.gpus && cfg.profile.degrees.includes(k);
  });
}

export interface RunPoint {
  mix: Mix;
  sloScale: number;
  rate: number;
  seed: number;
  arrivals?: ArrivalProcess;
}

/** What one simulation contributes to the tables. */
export interface RunStats {
  sar: number;
  /** Attainment per resolution, aligned with resolutionsOf(cfg); NaN where the run had none. */
  byRes: number[];
  groupChanges: number;
  /** Assignments after a request's first that kept its previous group, as a fraction of those assignments. */
  keptGroups: number;
  rejected: number;
}

export function resolutionsOf(cfg: ExperimentConfig): readonly number[] {
  return cfg.resolutions ?? [256, 512, 1024, 2048];
}

export function workload(cfg: ExperimentConfig, pt: RunPoint): Request[] {
  if (cfg.trace) return traceRequests(cfg.trace, pt.sloScale, cfg.steps);
  return generateWorkload({
    count: cfg.requests,
    ratePerMin: pt.rate,
    mix: pt.mix,
    sloScale: pt.sloScale,
    seed: pt.seed,
    steps: cfg.steps,
    arrivals: pt.arrivals ?? cfg.arrivals,
    baseSlo: cfg.baseSlo,
    resolutions: cfg.resolutions,
  });
}

export function runOne(cfg: ExperimentConfig, spec: PolicySpec, pt: RunPoint, gpus = cfg.gpus): SimResult {
  const model = new CostModel(cfg.profile, gpus);
  const sched = createScheduler(spec.policy, model, { ...(cfg.roundSteps ? { roundSteps: cfg.roundSteps } : {}), ...spec.tetri, name: spec.label }, { batching: true });
  return simulate(sched, model, workload(cfg, pt), { gpus, admission: spec.admission });
}

export function statsOf(cfg: ExperimentConfig, r: SimResult): RunStats {
  const res = resolutionsOf(cfg);
  const tot = res.map(() => 0);
  const met = res.map(() => 0);
  let all = 0;
  let rejected = 0;
  for (const o of r.outcomes) {
    const i = res.indexOf(o.resolution);
    if (i >= 0) tot[i]++;
    if (o.met) {
      all++;
      if (i >= 0) met[i]++;
    }
    if (o.rejected) rejected++;
  }
  const seen = new Set<number>();
  let later = 0;
  let kept = 0;
  for (const a of r.assignments) {
    if (seen.has(a.requestId)) {
      later++;
      if (a.firstStep <= a.start + 1e-12) kept++;
    } else seen.add(a.requestId);
  }
  return {
    sar: r.outcomes.length ? all / r.outcomes.length : 1,
    byRes: tot.map((n, i) => (n ? met[i] / n : NaN)),
    groupChanges: groupChanges(r),
    keptGroups: later ? kept / later : 1,
    rejected,
  };
}

const caches = new WeakMap<ExperimentConfig, Map<string, RunStats>>();

/** Stats of one run, cached per config (experiments share runs, e.g. per-resolution reuses the SLO sweep). */
export function runStats(cfg: ExperimentConfig, spec: PolicySpec, pt: RunPoint): RunStats {
  let cache = caches.get(cfg);
  if (!cache) caches.set(cfg, (cache = new Map()));
  const key = JSON.stringify([spec.policy, spec.tetri ?? null, !!spec.admission, pt.mix, pt.sloScale, pt.rate, pt.seed, pt.arrivals ?? cfg.arrivals ?? 'poisson']);
  let s = cache.get(key);
  if (!s) cache.set(key, (s = statsOf(cfg, runOne(cfg, spec, pt))));
  return s;
}

/** Per-seed stats at one point (a trace replays once: it has no seeds). */
export function samples(cfg: ExperimentConfig, spec: PolicySpec, mix: Mix, sloScale: number, rate = cfg.rate, arrivals?: ArrivalProcess): RunStats[] {
  const seeds = cfg.trace ? [0] : cfg.seeds;
  return seeds.map((seed) => runStats(cfg, spec, { mix, sloScale, rate, seed, arrivals }));
}

/** Mean SAR over the configured seeds. */
export function meanSar(cfg: ExperimentConfig, spec: PolicySpec, mix: Mix, sloScale: number, rate = cfg.rate): number {
  return mean(samples(cfg, spec, mix, sloScale, rate).map((s) => s.sar));
}

export interface ExperimentOutput {
  name: string;
  markdown: string;
  lineCharts: { file: string; spec: LineChartSpec }[];
  barCharts: { file: string; spec: BarChartSpec }[];
  /** Numbers other sections (README, docs) quote. */
  summary: Record<string, number>;
}

// ---------- formatting ----------

const pct = (v: number): string => (Number.isFinite(v) ? `${(100 * v).toFixed(1)}%` : '—');
const pctAxis = (v: number): string => `${Math.round(v * 100)}%`;
/** "79.3 ± 1.2" in percent (points). */
export function fmtEst(e: Estimate): string {
  if (!Number.isFinite(e.mean)) return '—';
  return Number.isFinite(e.ci) ? `${(100 * e.mean).toFixed(1)} ± ${(100 * e.ci).toFixed(1)}` : (100 * e.mean).toFixed(1);
}
const signed = (v: number, digits = 1): string => `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(digits)}`;
/** "+5.1 ± 1.3 pts" */
function fmtPts(e: Estimate): string {
  return Number.isFinite(e.ci) ? `${signed(100 * e.mean)} ± ${(100 * e.ci).toFixed(1)}` : signed(100 * e.mean);
}
/** "+7.2% ± 1.9%" */
function fmtRel(e: Estimate): string {
  return Number.isFinite(e.ci) ? `${signed(100 * e.mean)}% ± ${(100 * e.ci).toFixed(1)}%` : `${signed(100 * e.mean)}%`;
}
/** Compact per-resolution cell: "97 · 95 · 80 · 6" (percent, means). */
function fmtRes(xs: readonly RunStats[], nres: number): string {
  return Array.from({ length: nres }, (_, i) => {
    const e = estimate(xs.map((s) => s.byRes[i]));
    return Number.isFinite(e.mean) ? (100 * e.mean).toFixed(0) : '—';
  }).join(' · ');
}
function maxResCi(cells: readonly (readonly RunStats[])[], nres: number): number {
  let m = 0;
  for (const xs of cells) for (let i = 0; i < nres; i++) {
    const ci = estimate(xs.map((s) => s.byRes[i])).ci;
    if (Number.isFinite(ci)) m = Math.max(m, ci);
  }
  return m;
}

export function mdTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n');
}

function seedNote(cfg: ExperimentConfig): string {
  const prof = `profile ${cfg.profileName ?? cfg.profile.model} (${provenanceSummary(cfg.profile)})`;
  if (cfg.trace) return `${cfg.trace.length}-request trace replayed once, ${cfg.gpus} GPUs, ${cfg.steps} steps by default, ${prof}`;
  const s = cfg.seeds;
  const seeds = s.length > 4 && s.every((x, i) => i === 0 || x === s[i - 1] + 1) ? `${s[0]}–${s[s.length - 1]}` : s.join(', ');
  const round = cfg.roundSteps ? `, TetriServe rounds of ${cfg.roundSteps} reference steps` : '';
  const slo = cfg.baseSlo ? `, base SLOs ${Object.entries(cfg.baseSlo).map(([r, v]) => `${r}²: ${v} s`).join(' / ')}` : '';
  return `${cfg.requests} requests per run, ${cfg.gpus} GPUs, ${cfg.steps} steps, ${cfg.arrivals ?? 'poisson'} arrivals${slo}${round}, ${prof}; mean ± 95% CI over ${s.length} seeds (${seeds})`;
}

function resNote(cfg: ExperimentConfig, maxCi: number): string {
  const res = resolutionsOf(cfg).map((r) => `${r}²`).join(' · ');
  return `Attainment per resolution (${res}, percent, means; their 95% CI half-widths are at most ±${(100 * maxCi).toFixed(1)} points in this table):`;
}

function label(p: PolicySpec): string {
  return p.ours ? `*${p.label}*` : p.label;
}

// ---------- envelopes and gains ----------

export type EnvelopeKind = 'paper' | 'strong';
export const ENVELOPE_LABEL: Record<EnvelopeKind, string> = {
  paper: 'best fixed, as in the paper (xDiT SP=1/2/4/8, RSSP)',
  strong: 'best baseline, strong (every baseline incl. EDF, triage, backfill)',
};

/** Index of the envelope member with the best mean SAR at a point, or -1 when there is none. */
function envelopeMember(policies: readonly PolicySpec[], cells: readonly (readonly RunStats[])[], kind: EnvelopeKind): number {
  let best = -1;
  let bestMean = -Infinity;
  policies.forEach((p, i) => {
    if (!(kind === 'paper' ? p.paperFixed : p.baseline)) return;
    const m = mean(cells[i].map((s) => s.sar));
    if (m > bestMean + 1e-12) {
      bestMean = m;
      best = i;
    }
  });
  return best;
}

interface GainSeries {
  /** Per point: paired difference estimate (points) and relative gain estimate. */
  pts: Estimate[];
  rel: Estimate[];
  /** Average over the points, from per-seed averages. */
  avgPts: Estimate;
  avgRel: Estimate;
}

/**
 * Gains of `mine` over the envelope member at each point. Relative gains divide each seed's paired difference
 * by the member's mean SAR at that point, so their mean is mean(mine)/mean(member) - 1 and the interval comes
 * from the same paired samples.
 */
function gains(mine: readonly (readonly RunStats[])[], member: readonly (readonly RunStats[])[]): GainSeries {
  const J = mine.length;
  const diffs = mine.map((xs, j) => paired(xs.map((s) => s.sar), member[j].map((s) => s.sar)));
  const base = member.map((xs) => mean(xs.map((s) => s.sar)));
  const n = diffs[0].length;
  const relSeed = diffs.map((d, j) => d.map((x) => x / base[j]));
  const avgPtsSeed = Array.from({ length: n }, (_, s) => mean(diffs.map((d) => d[s])));
  const avgRelSeed = Array.from({ length: n }, (_, s) => mean(relSeed.map((d) => d[s])));
  return {
    pts: diffs.map(estimate),
    rel: relSeed.map(estimate),
    avgPts: J ? estimate(avgPtsSeed) : { mean: NaN, ci: NaN, n: 0 },
    avgRel: J ? estimate(avgRelSeed) : { mean: NaN, ci: NaN, n: 0 },
  };
}

/**
 * The common table block of a sweep: SAR ± CI for every policy, the two envelope rows (with the member), gains of
 * the TetriServe variants over both envelopes, and the per-resolution table. Returns Markdown and summary numbers.
 */
function sweepTables(cfg: ExperimentConfig, policies: readonly PolicySpec[], xLabels: readonly string[], grid: RunStats[][][]): { md: string; summary: Record<string, number>; envelopes: Record<EnvelopeKind, number[]>; strongCi: number[] } {
  const rows = policies.map((p, i) => [label(p), ...grid[i].map((xs) => fmtEst(estimate(xs.map((s) => s.sar))))]);
  const members: Record<EnvelopeKind, number[]> = { paper: [], strong: [] };
  for (const kind of ['paper', 'strong'] as const) {
    members[kind] = xLabels.map((_, j) => envelopeMember(policies, grid.map((g) => g[j]), kind));
    if (members[kind].some((m) => m < 0)) continue;
    rows.push([`**${ENVELOPE_LABEL[kind]}**`, ...members[kind].map((m, j) => fmtEst(estimate(grid[m][j].map((s) => s.sar))))]);
    rows.push([`  which`, ...members[kind].map((m) => policies[m].label)]);
  }
  const summary: Record<string, number> = {};
  const gainRows: string[][] = [];
  for (const [i, p] of policies.entries()) {
    if (p.policy !== 'tetriserve' || p.admission) continue;
    for (const kind of ['paper', 'strong'] as const) {
      if (members[kind].some((m) => m < 0)) continue;
      const g = gains(grid[i], members[kind].map((m, j) => grid[m][j]));
      gainRows.push([`${label(p)} vs ${kind} envelope, points`, ...g.pts.map(fmtPts), fmtPts(g.avgPts)]);
      gainRows.push([`${label(p)} vs ${kind} envelope, relative`, ...g.rel.map(fmtRel), fmtRel(g.avgRel)]);
      const key = `${p.label}|${kind}`;
      summary[`${key}|avgRel`] = g.avgRel.mean;
      summary[`${key}|avgRelCi`] = g.avgRel.ci;
      summary[`${key}|avgPts`] = g.avgPts.mean;
      summary[`${key}|avgPtsCi`] = g.avgPts.ci;
      const peak = g.rel.reduce((b, e, j) => (e.mean > g.rel[b].mean ? j : b), 0);
      summary[`${key}|peakRel`] = g.rel[peak].mean;
      summary[`${key}|peakRelCi`] = g.rel[peak].ci;
      const low = g.pts.reduce((b, e, j) => (e.mean < g.pts[b].mean ? j : b), 0);
      summary[`${key}|minPts`] = g.pts[low].mean;
      summary[`${key}|minPtsCi`] = g.pts[low].ci;
      summary[`${key}|minRel`] = Math.min(...g.rel.map((e) => e.mean));
    }
  }
  const nres = resolutionsOf(cfg).length;
  const resRows = policies.map((p, i) => [label(p), ...grid[i].map((xs) => fmtRes(xs, nres))]);
  const md = [
    mdTable(['policy', ...xLabels], rows),
    '',
    'Gain over each envelope (paired per seed against the envelope member at that point; last column: average over the points):',
    '',
    mdTable(['', ...xLabels, 'average'], gainRows),
    '',
    resNote(cfg, maxResCi(grid.flat(), nres)),
    '',
    mdTable(['policy', ...xLabels], resRows),
    '',
  ].join('\n');
  const envelopes = {
    paper: members.paper.map((m, j) => (m < 0 ? NaN : mean(grid[m][j].map((s) => s.sar)))),
    strong: members.strong.map((m, j) => (m < 0 ? NaN : mean(grid[m][j].map((s) => s.sar)))),
  };
  const strongCi = members.strong.map((m, j) => (m < 0 ? NaN : estimate(grid[m][j].map((s) => s.sar)).ci));
  return { md, summary, envelopes, strongCi };
}

function chartSeries(policies: readonly PolicySpec[], xs: readonly number[], grid: RunStats[][][], envelopes: Record<EnvelopeKind, number[]>, envelopeCi: number[]) {
  const est = (cells: readonly RunStats[]): Estimate => estimate(cells.map((s) => s.sar));
  const shown = policies.map((p, i) => ({ p, i })).filter(({ p }) => p.paperFixed || p.policy === 'tetriserve');
  return [
    ...shown.map(({ p, i }) => ({
      name: p.label,
      dashed: p.ours,
      emphasis: p === TETRISERVE,
      points: xs.map((x, j) => [x, est(grid[i][j]).mean] as const),
      ci: xs.map((_, j) => est(grid[i][j]).ci),
    })),
    { name: 'best strong baseline (envelope)', dashed: true, points: xs.map((x, j) => [x, envelopes.strong[j]] as const), ci: envelopeCi },
  ];
}

// ---------- experiments ----------

/** SAR vs SLO scale for one mix, every policy; the headline experiment. */
export function sloScaleExperiment(cfg: ExperimentConfig, mix: Mix, scales: readonly number[], allPolicies = MAIN_POLICIES, label: string = mix): ExperimentOutput {
  const policies = usable(cfg, allPolicies);
  const grid = policies.map((p) => scales.map((s) => samples(cfg, p, mix, s)));
  const xLabels = scales.map((s) => `SLO ×${s.toFixed(1)}`);
  const t = sweepTables(cfg, policies, xLabels, grid);
  const markdown = [
    `### SLO attainment vs SLO scale — ${label === mix ? `${mix} mix` : label}`,
    '',
    `${seedNote(cfg)}; ${cfg.rate} req/min. SLO attainment in percent. *Italic rows* are our improvements (same workloads and seeds).`,
    '',
    t.md,
  ].join('\n');
  return {
    name: `slo-scale-${label}`,
    markdown,
    lineCharts: [
      {
        file: `slo-scale-${label}.png`,
        spec: {
          title: `SLO attainment vs SLO scale (${label === mix ? `${mix} mix` : label})`,
          subtitle: `${cfg.profile.model.split(' (')[0]}, ${cfg.gpus} GPUs, ${cfg.steps} steps, ${cfg.rate} req/min, ${cfg.requests} requests x ${cfg.seeds.length} seeds, bars: 95% CI`,
          xLabel: 'SLO scale (deadline = base SLO x scale)',
          yLabel: 'SLO attainment',
          yMin: 0,
          yMax: 1,
          yFormat: pctAxis,
          xTicks: scales,
          series: chartSeries(policies, scales, grid, t.envelopes, t.strongCi),
        },
      },
    ],
    barCharts: [],
    summary: t.summary,
  };
}

export function rateExperiment(cfg: ExperimentConfig, mix: Mix, rates: readonly number[], allPolicies = SWEEP_POLICIES, name = `rate-${mix}`, note = 'The strong envelope here is over the baselines listed (the ones that form it in the SLO-scale tables).'): ExperimentOutput {
  const policies = usable(cfg, allPolicies);
  const grid = policies.map((p) => rates.map((r) => samples(cfg, p, mix, cfg.sloScale, r)));
  const t = sweepTables(cfg, policies, rates.map((r) => `${r}/min`), grid);
  const markdown = [
    `### SLO attainment vs arrival rate — ${mix} mix, SLO ×${cfg.sloScale}${name === `rate-${mix}` ? '' : ` (${name})`}`,
    '',
    `${seedNote(cfg)}. ${note}`,
    '',
    t.md,
  ].join('\n');
  return {
    name,
    markdown,
    lineCharts: [
      {
        file: `${name}.png`,
        spec: {
          title: `SLO attainment vs arrival rate (${mix} mix, SLO x${cfg.sloScale})`,
          subtitle: `${cfg.gpus} GPUs, ${cfg.steps} steps, ${cfg.requests} requests x ${cfg.seeds.length} seeds, bars: 95% CI`,
          xLabel: 'arrival rate (requests per minute, Poisson)',
          yLabel: 'SLO attainment',
          yMin: 0,
          yMax: 1,
          yFormat: pctAxis,
          xTicks: rates,
          series: chartSeries(policies, rates, grid, t.envelopes, t.strongCi),
        },
      },
    ],
    barCharts: [],
    summary: t.summary,
  };
}

/** Poisson against bursty arrivals at a few SLO scales (same mean rate, same resolutions per seed). */
export function arrivalsExperiment(cfg: ExperimentConfig, mix: Mix, scales: readonly number[], allPolicies = SWEEP_POLICIES): ExperimentOutput {
  const policies = usable(cfg, allPolicies);
  const procs: ArrivalProcess[] = ['poisson', 'bursty'];
  const points = procs.flatMap((a) => scales.map((s) => ({ a, s })));
  const grid = policies.map((p) => points.map(({ a, s }) => samples(cfg, p, mix, s, cfg.rate, a)));
  const t = sweepTables(cfg, policies, points.map(({ a, s }) => `${a} ×${s.toFixed(1)}`), grid);
  const markdown = [
    `### Poisson vs bursty arrivals — ${mix} mix, ${cfg.rate} req/min`,
    '',
    `${seedNote(cfg)}. Bursty: two-state Markov-modulated Poisson, same mean rate, 15% of the time at 4× (mean burst 20 s).`,
    '',
    t.md,
  ].join('\n');
  return { name: `arrivals-${mix}`, markdown, lineCharts: [], barCharts: [], summary: t.summary };
}

export function perResolutionExperiment(cfg: ExperimentConfig, mix: Mix, allPolicies = MAIN_POLICIES): ExperimentOutput {
  const policies = usable(cfg, allPolicies);
  const resolutions = resolutionsOf(cfg);
  const cells = policies.map((p) => samples(cfg, p, mix, cfg.sloScale));
  const rows = policies.map((p, i) => [
    label(p),
    ...resolutions.map((_, j) => fmtEst(estimate(cells[i].map((s) => s.byRes[j])))),
    fmtEst(estimate(cells[i].map((s) => s.sar))),
  ]);
  const markdown = [
    `### SLO attainment per resolution — ${mix} mix, SLO ×${cfg.sloScale}, ${cfg.rate} req/min`,
    '',
    `${seedNote(cfg)}.`,
    '',
    mdTable(['policy', ...resolutions.map((r) => `${r}²`), 'all'], rows),
    '',
  ].join('\n');
  const shown = policies.map((p, i) => ({ p, i })).filter(({ p }) => p.paperFixed || p.policy === 'tetriserve' || p.label === `RSSP +triage+backfill` || p.label === 'EDF SP=8 +triage+backfill');
  return {
    name: `per-resolution-${mix}`,
    markdown,
    lineCharts: [],
    barCharts: [
      {
        file: `per-resolution-${mix}.png`,
        spec: {
          title: `SLO attainment per resolution (${mix} mix, SLO x${cfg.sloScale})`,
          subtitle: `${cfg.gpus} GPUs, ${cfg.rate} req/min, ${cfg.requests} requests x ${cfg.seeds.length} seeds, bars: 95% CI`,
          yLabel: 'SLO attainment',
          yMin: 0,
          yMax: 1,
          yFormat: pctAxis,
          categories: resolutions.map((r) => `${r}x${r}`),
          series: shown.map(({ p, i }) => ({
            name: p.label,
            emphasis: p === TETRISERVE,
            values: resolutions.map((_, j) => mean(cells[i].map((s) => s.byRes[j]))),
            ci: resolutions.map((_, j) => estimate(cells[i].map((s) => s.byRes[j])).ci),
          })),
        },
      },
    ],
    summary: {},
  };
}

/** Average parallel degree of running requests over time, one seed, TetriServe against baselines. */
export function degreeExperiment(cfg: ExperimentConfig, mix: Mix, bin = 30): ExperimentOutput {
  const specs = [TETRISERVE, TETRISERVE_PLUS_SPEC, PAPER_BASELINES[4], STRONG_BASELINES[4]]; // RSSP works on any cluster
  const seed = cfg.seeds[0];
  const results = specs.map((p) => runOne(cfg, p, { mix, sloScale: cfg.sloScale, rate: cfg.rate, seed }));
  const horizon = Math.max(...results.map((r) => r.makespan));
  const curves = results.map((r) => degreeOverTime(r, bin, horizon));
  const nres = resolutionsOf(cfg).length;
  const rows = specs.map((p, i) => {
    const ds = curves[i].map((c) => c.degree).filter(Number.isFinite);
    const st = statsOf(cfg, results[i]);
    return [label(p), mean(ds).toFixed(2), Math.min(...ds).toFixed(2), Math.max(...ds).toFixed(2), gpuSeconds(results[i]).toFixed(0), String(groupChanges(results[i])), pct(st.sar), fmtRes([st], nres)];
  });
  const markdown = [
    `### Average parallel degree over time — ${mix} mix, SLO ×${cfg.sloScale}, seed ${seed}`,
    '',
    `Time-weighted mean group size of running requests in ${bin} s bins; one seed (a time series), so no intervals. Per resolution: ${resolutionsOf(cfg).map((r) => `${r}²`).join(' · ')}.`,
    '',
    mdTable(['policy', 'mean degree', 'min bin', 'max bin', 'GPU-seconds', 'group changes', 'SLO attainment', 'per resolution'], rows),
    '',
  ].join('\n');
  return {
    name: `degree-${mix}`,
    markdown,
    lineCharts: [
      {
        file: `degree-over-time-${mix}.png`,
        spec: {
          title: `Average parallel degree over time (${mix} mix, SLO x${cfg.sloScale})`,
          subtitle: `seed ${seed}, ${cfg.gpus} GPUs, ${cfg.rate} req/min, ${bin} s bins`,
          xLabel: 'time (s)',
          yLabel: 'mean parallel degree of running requests',
          yMin: 0,
          yMax: Math.max(...cfg.profile.degrees.filter((d) => d <= cfg.gpus)),
          series: specs.map((p, i) => ({ name: p.label, dashed: p.ours, emphasis: p === TETRISERVE, points: curves[i].map((c) => [c.t, c.degree] as const) })),
        },
      },
    ],
    barCharts: [],
    summary: {},
  };
}

export const ABLATION: PolicySpec[] = [
  { label: 'scheduler only', policy: 'tetriserve', tetri: { placement: false, elasticScaleUp: false } },
  { label: '+ placement preservation', policy: 'tetriserve', tetri: { placement: true, elasticScaleUp: false } },
  { label: '+ elastic scale-up (full TetriServe)', policy: 'tetriserve', tetri: { placement: true, elasticScaleUp: true } },
  ...IMPROVEMENTS,
];

export function ablationExperiment(cfg: ExperimentConfig, scales: readonly number[]): ExperimentOutput {
  const mixes: Mix[] = ['uniform', 'skewed'];
  const nres = resolutionsOf(cfg).length;
  const cells = ABLATION.map((p) => mixes.map((m) => scales.map((s) => samples(cfg, p, m, s))));
  // Per seed: the average over SLO scales, so the interval is over seeds.
  const avgOverScales = (byScale: RunStats[][]): RunStats[] =>
    byScale[0].map((_, k) => ({
      sar: mean(byScale.map((xs) => xs[k].sar)),
      byRes: byScale[0][k].byRes.map((_, r) => mean(byScale.map((xs) => xs[k].byRes[r]))),
      groupChanges: mean(byScale.map((xs) => xs[k].groupChanges)),
      keptGroups: mean(byScale.map((xs) => xs[k].keptGroups)),
      rejected: mean(byScale.map((xs) => xs[k].rejected)),
    }));
  const avg = cells.map((byMix) => byMix.map(avgOverScales));
  const at = (i: number): RunStats[] => samples(cfg, ABLATION[i], 'uniform', cfg.sloScale);
  const rows = ABLATION.map((p, i) => [
    label(p),
    ...mixes.map((_, mi) => fmtEst(estimate(avg[i][mi].map((s) => s.sar)))),
    ...mixes.map((_, mi) => fmtRes(avg[i][mi], nres)),
    mean(at(i).map((s) => s.groupChanges)).toFixed(0),
    pct(mean(at(i).map((s) => s.keptGroups))),
  ]);
  const markdown = [
    `### Ablation`,
    '',
    `${seedNote(cfg)}; ${cfg.rate} req/min. SLO attainment averaged over SLO scales ${scales.join(', ')} (mean ± 95% CI of the per-seed average).`,
    `Per resolution: ${resolutionsOf(cfg).map((r) => `${r}²`).join(' · ')}, same average. Group changes and kept groups (later assignments of a request that stay on its previous group) at uniform ×${cfg.sloScale}.`,
    '',
    mdTable(['variant', ...mixes.map((m) => `${m} avg`), ...mixes.map((m) => `${m} per resolution`), 'group changes', 'kept groups'], rows),
    '',
  ].join('\n');
  return {
    name: 'ablation',
    markdown,
    lineCharts: [],
    barCharts: [
      {
        file: 'ablation.png',
        spec: {
          title: 'Ablation: contribution of each TetriServe component',
          subtitle: `mean SLO attainment over SLO scales ${scales.join(', ')}; ${cfg.gpus} GPUs, ${cfg.rate} req/min; bars: 95% CI`,
          yLabel: 'SLO attainment',
          yMin: 0,
          yMax: 1,
          yFormat: pctAxis,
          categories: mixes.map((m) => `${m} mix`),
          series: ABLATION.map((p, i) => ({
            name: p.label,
            emphasis: i === 2,
            values: mixes.map((_, mi) => mean(avg[i][mi].map((s) => s.sar))),
            ci: mixes.map((_, mi) => estimate(avg[i][mi].map((s) => s.sar)).ci),
          })),
        },
      },
    ],
    summary: {},
  };
}

export function roundLengthExperiment(cfg: ExperimentConfig, lengths: readonly number[]): ExperimentOutput {
  const mixes: Mix[] = ['uniform', 'skewed'];
  const nres = resolutionsOf(cfg).length;
  const variants = [
    { label: 'TetriServe (paper algorithm)', tetri: {} as TetriServeOptions, ours: false },
    { label: 'ours: TetriServe+', tetri: TETRISERVE_PLUS, ours: true },
  ];
  const series: { name: string; dashed: boolean; points: (readonly [number, number])[]; ci: number[] }[] = [];
  const rows: string[][] = [];
  const resRows: string[][] = [];
  const all: RunStats[][] = [];
  for (const v of variants) {
    for (const m of mixes) {
      const cells = lengths.map((L) => samples(cfg, { label: v.label, policy: 'tetriserve', tetri: { ...v.tetri, roundSteps: L } }, m, cfg.sloScale));
      all.push(...cells);
      series.push({ name: `${v.label}, ${m}`, dashed: v.ours, points: lengths.map((L, j) => [L, mean(cells[j].map((s) => s.sar))] as const), ci: cells.map((xs) => estimate(xs.map((s) => s.sar)).ci) });
      rows.push([v.ours ? `*${v.label}*` : v.label, m, ...cells.map((xs) => fmtEst(estimate(xs.map((s) => s.sar))))]);
      resRows.push([v.ours ? `*${v.label}*` : v.label, m, ...cells.map((xs) => fmtRes(xs, nres))]);
    }
  }
  const markdown = [
    `### Round-length sweep — SLO ×${cfg.sloScale}, ${cfg.rate} req/min`,
    '',
    `${seedNote(cfg)}. Round length in steps of the reference (the largest profiled resolution at its fastest degree).`,
    '',
    mdTable(['scheduler', 'mix', ...lengths.map((L) => `${L} steps`)], rows),
    '',
    resNote(cfg, maxResCi(all, nres)),
    '',
    mdTable(['scheduler', 'mix', ...lengths.map((L) => `${L} steps`)], resRows),
    '',
  ].join('\n');
  return {
    name: 'round-length',
    markdown,
    lineCharts: [
      {
        file: 'round-length.png',
        spec: {
          title: `SLO attainment vs round length (SLO x${cfg.sloScale})`,
          subtitle: `${cfg.gpus} GPUs, ${cfg.rate} req/min, ${cfg.requests} requests x ${cfg.seeds.length} seeds, bars: 95% CI`,
          xLabel: 'round length (steps)',
          yLabel: 'SLO attainment',
          yMin: 0,
          yMax: 1,
          yFormat: pctAxis,
          xTicks: lengths,
          series,
        },
      },
    ],
    barCharts: [],
    summary: {},
  };
}
