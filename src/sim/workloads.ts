// Workloads as in the paper's evaluation: Poisson arrivals, a Uniform or Skewed resolution mix, per-resolution
// base deadlines times an SLO scale. The arrival times and resolutions depend only on the seed (not on the
// SLO scale), so a sweep over SLO scales compares the same request stream.
import type { Request } from '../scheduler/types.js';
import { checkResolution } from '../scheduler/profile.js';
import { Rng } from './rng.js';

export type Mix = 'uniform' | 'skewed';

/** Base SLOs in seconds (the and paper's 1.5 / 2 / 3 / 5 s). */
export const BASE_SLO: Readonly<Record<number, number>> = { 256: 1.5, 512: 2, 1024: 3, 2048: 5 };

export interface WorkloadSpec {
  count?: number;
  /** Requests per minute (paper default 12). */
  ratePerMin?: number;
  mix?: Mix;
  sloScale?: number;
  seed: number;
  resolutions?: readonly number[];
  steps?: number;
  /** Skew exponent α of p ∝ exp(α·L/Lmax) (paper: 1). */
  alpha?: number;
  /** Base SLO per resolution; defaults to BASE_SLO. */
  baseSlo?: Readonly<Record<number, number>>;
}

/** Mix probabilities over the resolutions. */
export function mixWeights(mix: Mix, resolutions: readonly number[], alpha = 1): number[] {
  if (mix === 'uniform') return resolutions.map(() => 1 / resolutions.length);
  const L = resolutions.map((r) => (r * r) / 256);
  const lmax = Math.max(...L);
  const w = L.map((l) => Math.exp((alpha * l) / lmax));
  const s = w.reduce((a, b) => a + b, 0);
  return w.map((x) => x / s);
}

export function generateWorkload(spec: WorkloadSpec): Request[] {
  const count = spec.count ?? 300;
  const rate = spec.ratePerMin ?? 12;
  const mix = spec.mix ?? 'uniform';
  const scale = spec.sloScale ?? 1;
  const resolutions = spec.resolutions ?? [256, 512, 1024, 2048];
  const steps = spec.steps ?? 50;
  const base = spec.baseSlo ?? BASE_SLO;
  if (!(rate > 0)) throw new Error(`arrival rate must be > 0 requests/min (got ${rate})`);
  if (!(scale > 0)) throw new Error(`SLO scale must be > 0 (got ${scale})`);
  if (!Number.isInteger(count) || count < 0) throw new Error(`request count must be a non-negative integer (got ${count})`);
  for (const r of resolutions) {
    checkResolution(r);
    if (!(base[r] > 0)) throw new Error(`no base SLO for resolution ${r}: pass baseSlo with an entry for it`);
  }
  const rng = new Rng(spec.seed);
  const weights = mixWeights(mix, resolutions, spec.alpha ?? 1);
  const out: Request[] = [];
  let t = 0;
  for (let i = 0; i < count; i++) {
    t += rng.exponential(60 / rate);
    const resolution = resolutions[rng.pick(weights)];
    out.push({ id: i, resolution, steps, arrival: t, deadline: t + base[resolution] * scale });
  }
  return out;
}
