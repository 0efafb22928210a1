// The paper's experiments over the simulator, plus our improvements as extra rows of the same tables
// (same workloads, same seeds). Each experiment returns Markdown and chart specs; the CLI writes them out.
import { CostModel } from '../scheduler/cost-model.js';
import { createScheduler } from '../scheduler/index.js';
import type { LatencyProfile } from '../scheduler/profile.js';
import { TETRISERVE_PLUS, type TetriServeOptions } from '../scheduler/tetriserve.js';
import type { BarChartSpec, LineChartSpec } from './charts.js';
import { degreeOverTime, gpuSeconds, groupChanges, mean, sar, sarByResolution } from './metrics.js';
import { simulate, type SimResult } from './simulator.js';
import { generateWorkload, type Mix } from './workloads.js';

export interface ExperimentConfig {
  profile: LatencyProfile;
  gpus: number;
  requests: number;
  seeds: readonly number[];
  /** Requests per minute for experiments that do not sweep it. */
  rate: number;
  steps: number;
  /** SLO scale for experiments that do not sweep it. */
  sloScale: number;
}

/** A scheduler configuration compared in the tables. */
export interface PolicySpec {
  label: string;
  policy: string;
  tetri?: TetriServeOptions;
  /** true for our improvements (drawn dashed, marked in tables). */
  ours?: boolean;
  /** Part of the "best fixed strategy" envelope (xDiT SP=k and RSSP, as in the paper). */
  fixed?: boolean;
}

export const BASELINES: PolicySpec[] = [
  { label: 'xDiT SP=1', policy: 'xdit:1', fixed: true },
  { label: 'xDiT SP=2', policy: 'xdit:2', fixed: true },
  { label: 'xDiT SP=4', policy: 'xdit:4', fixed: true },
  { label: 'xDiT SP=8', policy: 'xdit:8', fixed: true },
  { label: 'RSSP', policy: 'rssp', fixed: true },
  { label: 'EDF SP=4', policy: 'edf:4' },
  { label: 'EDF SP=8', policy: 'edf:8' },
];
export const TETRISERVE: PolicySpec = { label: 'TetriServe (paper algorithm)', policy: 'tetriserve' };
/** Our best combination: every improvement that helped on its own (queue-aware deferral did not). */
export { TETRISERVE_PLUS };
export const IMPROVEMENTS: PolicySpec[] = [
  { label: 'ours: + idle dispatch', policy: 'tetriserve', tetri: { dispatchOnIdle: true }, ours: true },
  { label: 'ours: + smart late', policy: 'tetriserve', tetri: { smartLate: true }, ours: true },
  { label: 'ours: + queue-aware deferral', policy: 'tetriserve', tetri: { queueAware: true }, ours: true },
  { label: 'ours: + defer margin (1 round)', policy: 'tetriserve', tetri: { deferMarginRounds: 1 }, ours: true },
  { label: 'ours: TetriServe+ (all three)', policy: 'tetriserve', tetri: TETRISERVE_PLUS, ours: true },
];
export const ALL_POLICIES: PolicySpec[] = [...BASELINES, TETRISERVE, ...IMPROVEMENTS];

/** Drops fixed-degree policies whose degree the cluster cannot form (e.g. SP=8 on 4 GPUs). */
export function usable(cfg: ExperimentConfig, policies: readonly PolicySpec[]): PolicySpec[] {
  return policies.filter((p) => {
    const k = Number(p.policy.split(':')[1]);
    return !Number.isFinite(k) || (k <= cfg.gpus && cfg.profile.degrees.includes(k));
  });
}

export interface RunPoint {
  mix: Mix;
  sloScale: number;
  rate: number;
  seed: number;
}

export function runOne(cfg: ExperimentConfig, spec: PolicySpec, pt: RunPoint, gpus = cfg.gpus): SimResult {
  const model = new CostModel(cfg.profile, gpus);
  const reqs = generateWorkload({ count: cfg.requests, ratePerMin: pt.rate, mix: pt.mix, sloScale: pt.sloScale, seed: pt.seed, steps: cfg.steps });
  const sched = createScheduler(spec.policy, model, { ...spec.tetri, name: spec.label });
  return simulate(sched, model, reqs, { gpus });
}

/** Mean SAR over the configured seeds. */
export function meanSar(cfg: ExperimentConfig, spec: PolicySpec, mix: Mix, sloScale: number, rate = cfg.rate): number {
  return mean(cfg.seeds.map((seed) => sar(runOne(cfg, spec, { mix, sloScale, rate, seed }))));
}

export interface ExperimentOutput {
  name: string;
  markdown: string;
  lineCharts: { file: string; spec: LineChartSpec }[];
  barCharts: { file: string; spec: BarChartSpec }[];
  /** Numbers other sections (README, docs) quote. */
  summary: Record<string, number>;
}

const pct = (v: number): string => (Number.isFinite(v) ? `${(100 * v).toFixed(1)}%` : '—');
const pctAxis = (v: number): string => `${Math.round(v * 100)}%`;

export function mdTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n');
}

function seedNote(cfg: ExperimentConfig): string {
  return `${cfg.requests} requests per run, ${cfg.gpus} GPUs, ${cfg.steps} steps, mean over seeds ${cfg.seeds.join(', ')}`;
}

/** SAR vs SLO scale for one mix, every policy; the headline experiment. */
export function sloScaleExperiment(cfg: ExperimentConfig, mix: Mix, scales: readonly number[], allPolicies = ALL_POLICIES): ExperimentOutput {
  const policies = usable(cfg, allPolicies);
  const grid = policies.map((p) => scales.map((s) => meanSar(cfg, p, mix, s)));
  const fixedIdx = policies.map((p, i) => (p.fixed ? i : -1)).filter((i) => i >= 0);
  const bestFixed = scales.map((_, j) => Math.max(...fixedIdx.map((i) => grid[i][j])));
  const rows = policies.map((p, i) => [p.ours ? `*${p.label}*` : p.label, ...grid[i].map(pct)]);
  rows.push(['**best fixed strategy**', ...bestFixed.map(pct)]);
  const summary: Record<string, number> = {};
  const gainRows: string[][] = [];
  for (const [i, p] of policies.entries()) {
    if (p.policy !== 'tetriserve') continue;
    const rel = scales.map((_, j) => grid[i][j] / bestFixed[j] - 1);
    const pp = scales.map((_, j) => grid[i][j] - bestFixed[j]);
    gainRows.push([`${p.label} vs best fixed (relative)`, ...rel.map((v) => `${v >= 0 ? '+' : ''}${(100 * v).toFixed(1)}%`)]);
    gainRows.push([`${p.label} vs best fixed (points)`, ...pp.map((v) => `${v >= 0 ? '+' : ''}${(100 * v).toFixed(1)}`)]);
    summary[`${p.label}|avgRel`] = mean(rel);
    summary[`${p.label}|peakRel`] = Math.max(...rel);
    summary[`${p.label}|avgPts`] = mean(pp);
  }
  const headers = ['policy', ...scales.map((s) => `SLO ×${s.toFixed(1)}`)];
  const markdown = [
    `### SLO attainment vs SLO scale — ${mix} mix`,
    '',
    `${seedNote(cfg)}; ${cfg.rate} req/min. *Italic rows* are our improvements (same workloads and seeds).`,
    '',
    mdTable(headers, rows),
    '',
    'Gain over the best fixed strategy (max of xDiT SP=1/2/4/8 and RSSP at each point):',
    '',
    mdTable(['', ...scales.map((s) => `×${s.toFixed(1)}`)], gainRows),
    '',
  ].join('\n');
  return {
    name: `slo-scale-${mix}`,
    markdown,
    lineCharts: [
      {
        file: `slo-scale-${mix}.png`,
        spec: {
          title: `SLO attainment vs SLO scale (${mix} mix)`,
          subtitle: `FLUX.1-dev profile, ${cfg.gpus} GPUs, ${cfg.rate} req/min, ${cfg.requests} requests x ${cfg.seeds.length} seeds`,
          xLabel: 'SLO scale (deadline = base SLO x scale)',
          yLabel: 'SLO attainment',
          yMin: 0,
          yMax: 1,
          yFormat: pctAxis,
          xTicks: scales,
          series: policies.map((p, i) => ({ name: p.label, dashed: p.ours, emphasis: p === TETRISERVE, points: scales.map((s, j) => [s, grid[i][j]] as const) })),
        },
      },
    ],
    barCharts: [],
    summary,
  };
}

export function rateExperiment(cfg: ExperimentConfig, mix: Mix, rates: readonly number[], allPolicies = ALL_POLICIES): ExperimentOutput {
  const policies = usable(cfg, allPolicies);
  const grid = policies.map((p) => rates.map((r) => meanSar(cfg, p, mix, cfg.sloScale, r)));
  const rows = policies.map((p, i) => [p.ours ? `*${p.label}*` : p.label, ...grid[i].map(pct)]);
  const markdown = [
    `### SLO attainment vs arrival rate — ${mix} mix, SLO ×${cfg.sloScale}`,
    '',
    `${seedNote(cfg)}.`,
    '',
    mdTable(['policy', ...rates.map((r) => `${r}/min`)], rows),
    '',
  ].join('\n');
  return {
    name: `rate-${mix}`,
    markdown,
    lineCharts: [
      {
        file: `rate-${mix}.png`,
        spec: {
          title: `SLO attainment vs arrival rate (${mix} mix, SLO x${cfg.sloScale})`,
          subtitle: `${cfg.gpus} GPUs, ${cfg.requests} requests x ${cfg.seeds.length} seeds`,
          xLabel: 'arrival rate (requests per minute, Poisson)',
          yLabel: 'SLO attainment',
          yMin: 0,
          yMax: 1,
          yFormat: pctAxis,
          xTicks: rates,
          series: policies.map((p, i) => ({ name: p.label, dashed: p.ours, emphasis: p === TETRISERVE, points: rates.map((r, j) => [r, grid[i][j]] as const) })),
        },
      },
    ],
    barCharts: [],
    summary: {},
  };
}

export function perResolutionExperiment(cfg: ExperimentConfig, mix: Mix, allPolicies = ALL_POLICIES): ExperimentOutput {
  const policies = usable(cfg, allPolicies);
  const resolutions = [256, 512, 1024, 2048];
  const grid = policies.map((p) => {
    const acc = resolutions.map(() => 0);
    for (const seed of cfg.seeds) {
      const by = sarByResolution(runOne(cfg, p, { mix, sloScale: cfg.sloScale, rate: cfg.rate, seed }));
      resolutions.forEach((r, j) => (acc[j] += (by.get(r) ?? NaN) / cfg.seeds.length));
    }
    return acc;
  });
  const rows = policies.map((p, i) => [p.ours ? `*${p.label}*` : p.label, ...grid[i].map(pct)]);
  const markdown = [
    `### SLO attainment per resolution — ${mix} mix, SLO ×${cfg.sloScale}, ${cfg.rate} req/min`,
    '',
    `${seedNote(cfg)}.`,
    '',
    mdTable(['policy', ...resolutions.map((r) => `${r}²`)], rows),
    '',
  ].join('\n');
  return {
    name: `per-resolution-${mix}`,
    markdown,
    lineCharts: [],
    barCharts: [
      {
        file: `per-resolution-${mix}.png`,
        spec: {
          title: `SLO attainment per resolution (${mix} mix, SLO x${cfg.sloScale})`,
          subtitle: `${cfg.gpus} GPUs, ${cfg.rate} req/min, ${cfg.requests} requests x ${cfg.seeds.length} seeds`,
          yLabel: 'SLO attainment',
          yMin: 0,
          yMax: 1,
          yFormat: pctAxis,
          categories: resolutions.map((r) => `${r}x${r}`),
          series: policies.map((p, i) => ({ name: p.label, emphasis: p === TETRISERVE, values: grid[i] })),
        },
      },
    ],
    summary: {},
  };
}

/** Average parallel degree of running requests over time, one seed, TetriServe against fixed baselines. */
export function degreeExperiment(cfg: ExperimentConfig, mix: Mix, bin = 30): ExperimentOutput {
  const specs = [TETRISERVE, IMPROVEMENTS[IMPROVEMENTS.length - 1], BASELINES[4]]; // RSSP works on any cluster
  const seed = cfg.seeds[0];
  const results = specs.map((p) => runOne(cfg, p, { mix, sloScale: cfg.sloScale, rate: cfg.rate, seed }));
  const horizon = Math.max(...results.map((r) => r.makespan));
  const curves = results.map((r) => degreeOverTime(r, bin, horizon));
  const rows = specs.map((p, i) => {
    const ds = curves[i].map((c) => c.degree).filter(Number.isFinite);
    return [p.label, mean(ds).toFixed(2), Math.min(...ds).toFixed(2), Math.max(...ds).toFixed(2), gpuSeconds(results[i]).toFixed(0), String(groupChanges(results[i]))];
  });
  const markdown = [
    `### Average parallel degree over time — ${mix} mix, SLO ×${cfg.sloScale}, seed ${seed}`,
    '',
    `Time-weighted mean group size of running requests in ${bin} s bins.`,
    '',
    mdTable(['policy', 'mean degree', 'min bin', 'max bin', 'GPU-seconds', 'group changes'], rows),
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
          yMax: 8,
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
  { label: 'ours: TetriServe+ (idle dispatch, smart late, defer margin)', policy: 'tetriserve', tetri: TETRISERVE_PLUS, ours: true },
];

export function ablationExperiment(cfg: ExperimentConfig, scales: readonly number[]): ExperimentOutput {
  const mixes: Mix[] = ['uniform', 'skewed'];
  const grid = ABLATION.map((p) => mixes.map((m) => scales.map((s) => meanSar(cfg, p, m, s))));
  const moves = ABLATION.map((p) => mean(cfg.seeds.map((seed) => groupChanges(runOne(cfg, p, { mix: 'uniform', sloScale: cfg.sloScale, rate: cfg.rate, seed })))));
  const headers = ['variant', ...mixes.flatMap((m) => scales.map((s) => `${m} ×${s.toFixed(1)}`)), 'avg', `group changes (uniform ×${cfg.sloScale})`];
  const rows = ABLATION.map((p, i) => [p.ours ? `*${p.label}*` : p.label, ...grid[i].flat().map(pct), pct(mean(grid[i].flat())), moves[i].toFixed(0)]);
  const markdown = [`### Ablation`, '', `${seedNote(cfg)}; ${cfg.rate} req/min.`, '', mdTable(headers, rows), ''].join('\n');
  return {
    name: 'ablation',
    markdown,
    lineCharts: [],
    barCharts: [
      {
        file: 'ablation.png',
        spec: {
          title: 'Ablation: contribution of each TetriServe component',
          subtitle: `mean SLO attainment over SLO scales ${scales.join(', ')}; ${cfg.gpus} GPUs, ${cfg.rate} req/min`,
          yLabel: 'SLO attainment',
          yMin: 0,
          yMax: 1,
          yFormat: pctAxis,
          categories: mixes.map((m) => `${m} mix`),
          series: ABLATION.map((p, i) => ({ name: p.label, emphasis: i === 2, values: mixes.map((_, mi) => mean(grid[i][mi])) })),
        },
      },
    ],
    summary: {},
  };
}

export function roundLengthExperiment(cfg: ExperimentConfig, lengths: readonly number[]): ExperimentOutput {
  const mixes: Mix[] = ['uniform', 'skewed'];
  const variants = [
    { label: 'TetriServe (paper algorithm)', tetri: {} as TetriServeOptions, ours: false },
    { label: 'ours: TetriServe+', tetri: TETRISERVE_PLUS, ours: true },
  ];
  const series: { name: string; dashed: boolean; points: (readonly [number, number])[] }[] = [];
  const rows: string[][] = [];
  for (const v of variants) {
    for (const m of mixes) {
      const vals = lengths.map((L) => meanSar(cfg, { label: v.label, policy: 'tetriserve', tetri: { ...v.tetri, roundSteps: L } }, m, cfg.sloScale));
      series.push({ name: `${v.label}, ${m}`, dashed: v.ours, points: lengths.map((L, j) => [L, vals[j]] as const) });
      rows.push([v.ours ? `*${v.label}*` : v.label, m, ...vals.map(pct)]);
    }
  }
  const markdown = [
    `### Round-length sweep — SLO ×${cfg.sloScale}, ${cfg.rate} req/min`,
    '',
    `${seedNote(cfg)}. Round length in steps of the reference (2048² at its fastest degree).`,
    '',
    mdTable(['scheduler', 'mix', ...lengths.map((L) => `${L} steps`)], rows),
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
          subtitle: `${cfg.gpus} GPUs, ${cfg.rate} req/min, ${cfg.requests} requests x ${cfg.seeds.length} seeds`,
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
