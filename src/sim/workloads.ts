// Workloads as in the paper's evaluation: Poisson arrivals, a Uniform or Skewed resolution mix, per-resolution
// base deadlines times an SLO scale. The arrival times and resolutions depend only on the seed (not on the
// SLO scale), so a sweep over SLO scales compares the same request stream.
import type { Request } from '../scheduler/types.js';
import { checkResolution } from '../scheduler/profile.js';
import { Rng } from './rng.js';

export type Mix = 'uniform' | 'skewed';

/**
 * Arrival process. poisson: exponential inter-arrival times (the paper's). bursty: a two-state Markov-modulated
 * Poisson process with the same mean rate: 15% of the time in bursts at 4x the mean rate (mean burst 20 s),
 * the rest at 0.47x (mean calm spell 113 s); at 12 req/min a burst brings about 16 requests in 20 s.
 */
export type ArrivalProcess = 'poisson' | 'bursty';
export const BURSTY = { burstShare: 0.15, burstFactor: 4, meanBurstSeconds: 20 } as const;

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
  /** Arrival process (default poisson). */
  arrivals?: ArrivalProcess;
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
  const bursty = spec.arrivals === 'bursty' ? burstyClock(new Rng(spec.seed * 7919 + 17), rate) : null;
  // The bursty clock has its own stream; the draw Poisson would use is still consumed so the resolutions match.
  const next = (t: number): number => {
    const poisson = t + rng.exponential(60 / rate);
    return bursty ? bursty(t) : poisson;
  };
  if (spec.arrivals !== undefined && spec.arrivals !== 'poisson' && spec.arrivals !== 'bursty') {
    throw new Error(`arrival process must be poisson or bursty (got ${JSON.stringify(spec.arrivals)})`);
  }
  let t = 0;
  for (let i = 0; i < count; i++) {
    t = next(t);
    const resolution = resolutions[rng.pick(weights)];
    out.push({ id: i, resolution, steps, arrival: t, deadline: t + base[resolution] * scale });
  }
  return out;
}

/**
 * Next-arrival function of the bursty MMPP (own random stream, so the resolutions drawn from the workload's
 * stream are the same sequence as under Poisson). Memorylessness lets us redraw after every state switch.
 */
function burstyClock(rng: Rng, ratePerMin: number): (t: number) => number {
  const { burstShare, burstFactor, meanBurstSeconds } = BURSTY;
  const calmFactor = (1 - burstShare * burstFactor) / (1 - burstShare);
  const meanCalmSeconds = (meanBurstSeconds * (1 - burstShare)) / burstShare;
  let burst = rng.next() < burstShare;
  let switchAt = rng.exponential(burst ? meanBurstSeconds : meanCalmSeconds);
  return (t: number): number => {
    for (;;) {
      const rate = (ratePerMin / 60) * (burst ? burstFactor : calmFactor);
      const cand = t + rng.exponential(1 / rate);
      if (cand <= switchAt) return cand;
      t = switchAt;
      burst = !burst;
      switchAt = t + rng.exponential(burst ? meanBurstSeconds : meanCalmSeconds);
    }
  };
}
