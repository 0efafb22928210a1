import { describe, expect, it } from 'vitest';
import { parseTrace, traceRequests, traceText } from '../../src/sim/trace.js';
import { generateWorkload } from '../../src/sim/workloads.js';

describe('bursty arrivals', () => {
  it('keep the mean rate but cluster arrivals (inter-arrival CV well above Poisson 1)', () => {
    const cv = (arrivals: 'poisson' | 'bursty'): { rate: number; cv: number } => {
      const r = generateWorkload({ seed: 5, count: 6000, ratePerMin: 12, arrivals });
      const gaps = r.map((q, i) => q.arrival - (i ? r[i - 1].arrival : 0));
      const m = gaps.reduce((a, b) => a + b, 0) / gaps.length;
      const sd = Math.sqrt(gaps.reduce((a, b) => a + (b - m) ** 2, 0) / gaps.length);
      return { rate: 60 / m, cv: sd / m };
    };
    const p = cv('poisson');
    const b = cv('bursty');
    expect(p.cv).toBeGreaterThan(0.95);
    expect(p.cv).toBeLessThan(1.05);
    expect(b.rate).toBeGreaterThan(10.5);
    expect(b.rate).toBeLessThan(13.5);
    expect(b.cv).toBeGreaterThan(1.3);
  });
  it('draw the same resolutions as Poisson for a seed (only the clock changes)', () => {
    const p = generateWorkload({ seed: 9, count: 50, mix: 'skewed' });
    const b = generateWorkload({ seed: 9, count: 50, mix: 'skewed', arrivals: 'bursty' });
    expect(b.map((q) => q.resolution)).toEqual(p.map((q) => q.resolution));
    expect(b.map((q) => q.arrival)).not.toEqual(p.map((q) => q.arrival));
  });
  it('reject an unknown process', () => {
    expect(() => generateWorkload({ seed: 1, arrivals: 'uniform' as never })).toThrow(/poisson or bursty/);
  });
});

describe('trace files', () => {
  it('round-trip a generated workload', () => {
    const w = generateWorkload({ seed: 2, count: 40, sloScale: 1.3, steps: 28 });
    const back = traceRequests(parseTrace(traceText(w)), 1, 50);
    expect(back.length).toBe(40);
    back.forEach((q, i) => {
      expect(q.resolution).toBe(w[i].resolution);
      expect(q.steps).toBe(28);
      expect(q.arrival).toBeCloseTo(w[i].arrival, 5);
      expect(q.deadline).toBeCloseTo(w[i].deadline, 5);
    });
  });
  it('scale SLOs, default steps, sort rows, skip comments', () => {
    const rows = parseTrace('arrival_s,resolution,slo_s,steps\n# a comment\n2,512,2\n1,1024,3,20\n');
    const reqs = traceRequests(rows, 1.5, 50);
    expect(reqs.map((q) => [q.arrival, q.resolution, q.steps, q.deadline])).toEqual([
      [1, 1024, 20, 5.5],
      [2, 512, 50, 5],
    ]);
  });
  it('name the line and the fix on bad input', () => {
    expect(() => parseTrace('arrival_s,resolution,slo_s\n1,1000,2\n', 't.csv')).toThrow(/t.csv line 2: .*multiple of 16/);
    expect(() => parseTrace('1,512\n')).toThrow(/line 1: 2 columns/);
    expect(() => parseTrace('x,512,2\n')).toThrow(/arrival_s "x"/);
    expect(() => parseTrace('1,512,-2\n')).toThrow(/slo_s "-2" must be a positive number/);
    expect(() => parseTrace('arrival_s,resolution,slo_s\n')).toThrow(/no requests/);
  });
});
