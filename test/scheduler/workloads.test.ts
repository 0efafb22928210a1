import { describe, expect, it } from 'vitest';
import { BASE_SLO, generateWorkload, mixWeights } from '../../src/sim/workloads.js';

describe('workloads', () => {
  it('skewed mix follows p ∝ exp(α·L/Lmax) with L = H·W/16²', () => {
    const w = mixWeights('skewed', [256, 512, 1024, 2048], 1);
    const raw = [256, 1024, 4096, 16384].map((L) => Math.exp(L / 16384));
    const s = raw.reduce((a, b) => a + b, 0);
    raw.forEach((r, i) => expect(w[i]).toBeCloseTo(r / s, 12));
    expect(mixWeights('uniform', [256, 512], 1)).toEqual([0.5, 0.5]);
  });

  it('is deterministic per seed, Poisson at the given rate, with deadlines = base SLO × scale', () => {
    const a = generateWorkload({ seed: 7, count: 3000, ratePerMin: 12, mix: 'uniform', sloScale: 1.3 });
    const b = generateWorkload({ seed: 7, count: 3000, ratePerMin: 12, mix: 'uniform', sloScale: 1.0 });
    expect(a.map((r) => [r.arrival, r.resolution])).toEqual(b.map((r) => [r.arrival, r.resolution]));
    const rate = (a.length / a[a.length - 1].arrival) * 60;
    expect(rate).toBeGreaterThan(11);
    expect(rate).toBeLessThan(13);
    for (const r of a) expect(r.deadline - r.arrival).toBeCloseTo(BASE_SLO[r.resolution] * 1.3, 9);
    expect(generateWorkload({ seed: 8, count: 5 })).not.toEqual(generateWorkload({ seed: 7, count: 5 }));
    expect(() => generateWorkload({ seed: 1, resolutions: [300] })).toThrow(/multiple of 16/);
    expect(() => generateWorkload({ seed: 1, resolutions: [768] })).toThrow(/no base SLO for resolution 768/);
  });
});
