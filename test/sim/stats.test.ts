import { describe, expect, it } from 'vitest';
import { estimate, paired, t95 } from '../../src/sim/stats.js';

describe('confidence intervals', () => {
  it('match a hand computation (n = 4, t = 3.182)', () => {
    const e = estimate([1, 2, 3, 4]);
    expect(e.mean).toBe(2.5);
    // sd = sqrt(5/3) = 1.29099; half-width = 3.182 * 1.29099 / 2
    expect(e.ci).toBeCloseTo((3.182 * Math.sqrt(5 / 3)) / 2, 6);
    expect(t95(19)).toBe(2.093);
    expect(t95(200)).toBeCloseTo(1.972, 3);
  });
  it('skip NaN samples and report NaN width for a single sample', () => {
    expect(estimate([NaN, 0.5]).ci).toBeNaN();
    expect(estimate([NaN, 0.5]).mean).toBe(0.5);
    expect(estimate([]).n).toBe(0);
  });
  it('cover the true mean about 95% of the time (simulated normal samples, fixed seed)', () => {
    let s = 12345;
    const u = (): number => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
    const normal = (): number => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
    let hit = 0;
    const trials = 2000;
    for (let t = 0; t < trials; t++) {
      const e = estimate(Array.from({ length: 20 }, () => 3 + 2 * normal()));
      if (Math.abs(e.mean - 3) <= e.ci) hit++;
    }
    expect(hit / trials).toBeGreaterThan(0.93);
    expect(hit / trials).toBeLessThan(0.97);
  });
  it('pair samples by seed', () => {
    expect(paired([3, 5], [1, 1])).toEqual([2, 4]);
    expect(() => paired([1], [1, 2])).toThrow(/differ in length/);
  });
});
