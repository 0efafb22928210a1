import { describe, expect, it } from 'vitest';
import { FORBIDDEN, Packer } from '../../src/scheduler/packing.js';
import { propertySeed, Rng } from './helpers.js';

describe('Packer (group knapsack DP)', () => {
  it('finds the same optimum as exhaustive enumeration on random small instances', () => {
    const seed = propertySeed();
    const rng = new Rng(seed);
    const packer = new Packer();
    for (let trial = 0; trial < 300; trial++) {
      const n = rng.int(0, 6);
      const weights = [0, 1, 2, 4, 8].slice(0, rng.int(2, 5));
      const cap = rng.int(0, 12);
      packer.reset(n, weights);
      const vals: number[][] = [];
      for (let i = 0; i < n; i++) {
        const row = weights.map(() => (rng.next() < 0.2 ? FORBIDDEN : Math.round(rng.next() * 10) / 4));
        row[0] = rng.next() < 0.5 ? 0 : row[0] === FORBIDDEN ? 0 : row[0]; // skip is always allowed
        row.forEach((v, o) => packer.setValue(i, o, v));
        vals.push(row);
      }
      const out = new Uint8Array(n);
      const got = packer.solve(cap, out);
      // Exhaustive.
      let best = -Infinity;
      const pick = new Array(n).fill(0);
      const rec = (i: number, used: number, val: number): void => {
        if (used > cap || val === -Infinity) return;
        if (i === n) {
          best = Math.max(best, val);
          return;
        }
        for (let o = 0; o < weights.length; o++) {
          if (vals[i][o] === FORBIDDEN) continue;
          pick[i] = o;
          rec(i + 1, used + weights[o], val + vals[i][o]);
        }
      };
      rec(0, 0, 0);
      const ctx = `seed ${seed} trial ${trial}`;
      expect(got, ctx).toBeCloseTo(best, 9);
      let used = 0;
      let val = 0;
      for (let i = 0; i < n; i++) {
        expect(vals[i][out[i]], ctx).not.toBe(FORBIDDEN);
        used += weights[out[i]];
        val += vals[i][out[i]];
      }
      expect(used, ctx).toBeLessThanOrEqual(cap);
      expect(val, ctx).toBeCloseTo(best, 9);
    }
  });

  it('reuses its buffers: a bigger round after a smaller one still solves correctly', () => {
    const p = new Packer();
    p.reset(1, [0, 1]);
    p.setValue(0, 0, 0);
    p.setValue(0, 1, 1);
    expect(p.solve(1, new Uint8Array(1))).toBe(1);
    p.reset(3, [0, 2]);
    for (let i = 0; i < 3; i++) {
      p.setValue(i, 0, 0);
      p.setValue(i, 1, 1);
    }
    const out = new Uint8Array(3);
    expect(p.solve(5, out)).toBe(2);
    expect([...out].filter((o) => o === 1)).toHaveLength(2);
  });
});
