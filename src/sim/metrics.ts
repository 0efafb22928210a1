// Metrics over simulation results: SLO attainment (overall and per resolution), parallel degree over time,
// GPU-seconds, latency percentiles.
import type { SimResult } from './simulator.js';

/** Fraction of requests that finished by their deadline (the paper's SLO attainment ratio, SAR). */
export function sar(r: SimResult): number {
  if (r.outcomes.length === 0) return 1;
  let met = 0;
  for (const o of r.outcomes) if (o.met) met++;
  return met / r.outcomes.length;
}

export function sarByResolution(r: SimResult): Map<number, number> {
  const tot = new Map<number, number>();
  const met = new Map<number, number>();
  for (const o of r.outcomes) {
    tot.set(o.resolution, (tot.get(o.resolution) ?? 0) + 1);
    if (o.met) met.set(o.resolution, (met.get(o.resolution) ?? 0) + 1);
  }
  const out = new Map<number, number>();
  for (const [res, n] of [...tot].sort((a, b) => a[0] - b[0])) out.set(res, (met.get(res) ?? 0) / n);
  return out;
}

/** GPU-seconds spent running (including group-change delays). */
export function gpuSeconds(r: SimResult): number {
  let s = 0;
  for (const a of r.assignments) s += (a.end - a.start) * a.gpus.length;
  return s;
}

/** Number of assignments that had to move a request to another group. */
export function groupChanges(r: SimResult): number {
  let n = 0;
  for (const a of r.assignments) if (a.firstStep > a.start + 1e-12) n++;
  return n;
}

/**
 * Average parallel degree of running requests over time, in bins of `bin` seconds: the time-weighted mean
 * group size of the assignments overlapping each bin (NaN for bins with nothing running).
 */
export function degreeOverTime(r: SimResult, bin: number, horizon = r.makespan): { t: number; degree: number }[] {
  const nb = Math.max(1, Math.ceil(horizon / bin));
  const wsum = new Float64Array(nb);
  const dsum = new Float64Array(nb);
  for (const a of r.assignments) {
    const k = a.gpus.length;
    const b0 = Math.max(0, Math.floor(a.start / bin));
    const b1 = Math.min(nb - 1, Math.floor(a.end / bin));
    for (let b = b0; b <= b1; b++) {
      const ov = Math.min(a.end, (b + 1) * bin) - Math.max(a.start, b * bin);
      if (ov <= 0) continue;
      wsum[b] += ov;
      dsum[b] += ov * k;
    }
  }
  return Array.from({ length: nb }, (_, b) => ({ t: (b + 0.5) * bin, degree: wsum[b] > 0 ? dsum[b] / wsum[b] : NaN }));
}

export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const i = Math.min(s.length - 1, Math.max(0, Math.round((p / 100) * (s.length - 1))));
  return s[i];
}

export function median(xs: readonly number[]): number {
  return percentile(xs, 50);
}

export function mean(xs: readonly number[]): number {
  return xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length;
}
