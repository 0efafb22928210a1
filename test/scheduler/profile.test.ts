import { describe, expect, it } from 'vitest';
import { CostModel } from '../../src/scheduler/cost-model.js';
import { interpolateStep, makeProfile, parseProfile, PROFILE_FORMAT, profileToJson } from '../../src/scheduler/profile.js';
import { shippedProfile } from './helpers.js';

describe('latency profile', () => {
  it('ships the published xDiT 1024px H100 figures (torch.compile, 28 steps) as per-step latencies', () => {
    const p = shippedProfile();
    const e = p.entries.find((x) => x.resolution === 1024)!;
    expect(e.stepSeconds['1'] * 28).toBeCloseTo(4.3, 3);
    expect(e.stepSeconds['2'] * 28).toBeCloseTo(2.6, 3);
    expect(e.stepSeconds['4'] * 28).toBeCloseTo(1.63, 3);
    // Every number carries its provenance, and only those three say "published".
    let published = 0;
    for (const en of p.entries) {
      for (const d of p.degrees) {
        const why = en.provenance?.[String(d)] ?? '';
        expect(why).toMatch(/^(published|derived)/);
        if (why.startsWith('published')) published++;
      }
      expect(en.provenance?.groupChange).toMatch(/^assumed/);
    }
    expect(published).toBe(3);
  });

  it('interpolates between profiled resolutions monotonically and exactly at profiled points', () => {
    const p = shippedProfile();
    for (const d of p.degrees) {
      expect(interpolateStep(p, 1024, d)).toBe(p.entries.find((x) => x.resolution === 1024)!.stepSeconds[String(d)]);
      let prev = 0;
      for (let r = 128; r <= 2560; r += 64) {
        const t = interpolateStep(p, r, d);
        expect(t).toBeGreaterThan(prev);
        prev = t;
      }
    }
    const m = new CostModel(p, 8);
    const s = m.slot(720);
    expect(m.step(s, 0)).toBeGreaterThan(m.step(m.slot(512), 0));
    expect(m.step(s, 0)).toBeLessThan(m.step(m.slot(768), 0));
  });

  it('rejects malformed profiles and resolutions with errors that name the problem', () => {
    const ok = { format: PROFILE_FORMAT, model: 'm', device: 'd', degrees: [1, 2], entries: [{ resolution: 256, stepSeconds: { 1: 0.1, 2: 0.06 }, groupChangeSeconds: 0 }] };
    expect(() => parseProfile(ok)).not.toThrow();
    expect(() => parseProfile({ ...ok, format: 'x' })).toThrow(/"format" must be/);
    expect(() => parseProfile({ ...ok, degrees: [2, 1] })).toThrow(/strictly ascending/);
    expect(() => parseProfile({ ...ok, entries: [{ resolution: 250, stepSeconds: { 1: 0.1, 2: 0.1 }, groupChangeSeconds: 0 }] })).toThrow(/multiple of 16/);
    expect(() => parseProfile({ ...ok, entries: [{ resolution: 256, stepSeconds: { 1: 0.1 }, groupChangeSeconds: 0 }] })).toThrow(/stepSeconds\["2"\]/);
    expect(() => parseProfile({ ...ok, entries: [{ resolution: 256, stepSeconds: { 1: 0.1, 2: 0.1 }, groupChangeSeconds: -1 }] })).toThrow(/groupChangeSeconds/);
    expect(() => interpolateStep(parseProfile(ok), 1000, 1)).toThrow(/multiple of 16/);
    expect(() => interpolateStep(parseProfile(ok), 256, 4)).toThrow(/degree 4 is not in the latency profile/);
    expect(() => new CostModel(parseProfile({ ...ok, degrees: [2], entries: [{ resolution: 256, stepSeconds: { 2: 0.1 }, groupChangeSeconds: 0 }] }), 1)).toThrow(/no profiled degree fits 1 GPU/);
  });
});

describe('makeProfile / profileToJson (the format dit bench model writes)', () => {
  it('sorts, validates and round-trips', () => {
    const p = makeProfile({
      model: 'm',
      device: 'd',
      degrees: [1, 2],
      entries: [
        { resolution: 512, stepSeconds: { 1: 0.2, 2: 0.12 }, groupChangeSeconds: 0.01, provenance: { 1: 'measured: x', 2: 'measured: y' } },
        { resolution: 256, stepSeconds: { 1: 0.1, 2: 0.07 }, groupChangeSeconds: 0.01 },
      ],
    });
    expect(p.entries.map((e) => e.resolution)).toEqual([256, 512]);
    expect(parseProfile(JSON.parse(profileToJson(p)))).toEqual(p);
    expect(() => makeProfile({ model: 'm', device: 'd', degrees: [1], entries: [{ resolution: 256, stepSeconds: { 1: 0 }, groupChangeSeconds: 0 }] })).toThrow(/positive number/);
  });
});

describe('batched latencies (format ready for the GPU measurement)', () => {
  it('are validated and read back exactly, NaN where not measured', () => {
    const base = { format: PROFILE_FORMAT, model: 'm', device: 'd', degrees: [1, 2] };
    const entry = { resolution: 256, stepSeconds: { '1': 0.03, '2': 0.02 }, groupChangeSeconds: 0.01, batchStepSeconds: { '2': { '1': 0.045 }, '4': { '1': 0.08, '2': 0.05 } } };
    const p = parseProfile({ ...base, entries: [entry, { resolution: 512, stepSeconds: { '1': 0.06, '2': 0.04 }, groupChangeSeconds: 0.01 }] });
    const m = new CostModel(p, 2);
    expect(m.batchStep(256, 1, 2)).toBe(0.045);
    expect(m.batchStep(256, 2, 4)).toBe(0.05);
    expect(m.batchStep(256, 2, 2)).toBeNaN();
    expect(m.batchStep(512, 1, 2)).toBeNaN();
    expect(m.batchStep(256, 2, 1)).toBe(0.02);
    expect(() => parseProfile({ ...base, entries: [{ ...entry, batchStepSeconds: { '1': { '1': 0.03 } } }] })).toThrow(/batch size >= 2/);
    expect(() => parseProfile({ ...base, entries: [{ ...entry, batchStepSeconds: { '2': { '8': 0.03 } } }] })).toThrow(/degree "8", which is not in "degrees"/);
    expect(() => parseProfile({ ...base, entries: [{ ...entry, batchStepSeconds: { '2': { '1': -1 } } }] })).toThrow(/must be a positive number/);
  });
});
